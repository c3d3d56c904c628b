/* libFuzzer target: --rewrite-registry's YAML rewriter on arbitrary bytes read as a
 * Kubernetes manifest, Helm values and a Kustomization. It either leaves the text,
 * refuses it (EP_ERUNTIME, nothing given back) or gives back text in which a second
 * pass finds nothing left to move: what it wrote is under NEW, and all else is as it was. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "targets/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ep_rewrite rules[] = { { "docker.io", "mirror.example:5000/hub" }, { "quay.io", "reg.example" } };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ep_file_kind kinds[] = { EP_KIND_KUBERNETES, EP_KIND_HELM_VALUES, EP_KIND_KUSTOMIZATION };
	char *text = malloc(size ? size : 1); /* exactly size bytes: a read past them is caught */
	if (!text)
		abort();
	memcpy(text, data, size);
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		char *out = NULL, *again = NULL;
		size_t out_len = 0, again_len = 0;
		struct ep_error err = { 0 };
		int rc = ep_rewrite_file(kinds[k], text, size, "fuzz.yaml", rules, 2, &out, &out_len, &err);
		if ((rc != 0 && rc != EP_ERUNTIME) || (rc != 0 && out) || (out && out_len == 0))
			abort();
		if (out && (ep_rewrite_file(kinds[k], out, out_len, "fuzz.yaml", rules, 2, &again, &again_len, &err) != 0 || again))
			abort();
		free(out);
	}
	free(text);
	return 0;
}
