/* libFuzzer target: the OCI layout reader. The input becomes index.json of a layout
 * whose blobs/sha256/ holds the input itself too (under its own digest), so
 * descriptors can point at fuzzed manifests and indexes as well. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/image/oci_layout.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool made;
	const char *dir = fuzz_scratch("oci");
	char path[PATH_MAX], hex[EP_DIGEST_HEX];
	if (!made) {
		made = true;
		fuzz_path(path, sizeof path, "%s/blobs", dir);
		mkdir(path, 0755);
		fuzz_path(path, sizeof path, "%s/blobs/sha256", dir);
		mkdir(path, 0755);
		fuzz_path(path, sizeof path, "%s/oci-layout", dir);
		fuzz_put(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	}
	uint8_t digest[EP_DIGEST_LEN];
	ep_sha256(data, size, digest);
	ep_hex(digest, EP_DIGEST_LEN, hex);
	fuzz_path(path, sizeof path, "%s/index.json", dir);
	fuzz_put(path, data, size);
	fuzz_path(path, sizeof path, "%s/blobs/sha256/%s", dir, hex);
	fuzz_put(path, data, size);
	struct ep_oci_image *img;
	struct ep_error err = { 0 };
	if (ep_oci_collect(dir, NULL, &img, &err) == 0)
		ep_oci_free(img);
	unlink(path);
	return 0;
}
