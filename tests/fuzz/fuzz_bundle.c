/* libFuzzer target: open a bundle made of arbitrary bytes, read its manifest and
 * signature, and check every chunk, as `verify --deep --insecure-skip-verify` does;
 * an encrypted one with the test key tests/fuzz/sealed.key (a test key, public on
 * purpose), so that sealed entries are opened and authenticated too. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/bundle/bundle.h"
#include "formats/bundle/seal.h"
#include "verify/check.h"
#include "formats/bundle/keys.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];
	const char *tmp = getenv("TMPDIR"); /* tests/fuzz/run.sh gives each run its own */
	fuzz_path(path, sizeof path, "%s/envpack-fuzz-%d.envpack", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	fuzz_put(path, data, size);
	struct ep_bundle *b;
	struct ep_error err = { 0 };
	static struct ep_seal *seal; /* the process's: loaded once */
	if (!seal && ep_seal_new(&seal, NULL, "tests/fuzz/sealed.key", &err))
		abort();
	if (ep_bundle_open_file(&b, path, seal, &err) == 0) {
		struct ep_manifest *m = NULL;
		char signer[EP_KEY_ID_HEX];
		struct ep_signature sig;
		size_t len;
		const char *sigjson = ep_bundle_signature(b, &len);
		if (sigjson)
			ep_signature_parse(sigjson, len, path, &sig, &err);
		const struct ep_trust trust = { .insecure = true };
		if (ep_bundle_load_lazily(b, &trust, &m, signer, &err) == 0) {
			struct ep_verify_stats stats;
			ep_verify_chunks(b, m, true, 1, NULL, &stats, &err);
			ep_manifest_free(m);
		}
		ep_bundle_close(b);
	}
	unlink(path);
	return 0;
}
