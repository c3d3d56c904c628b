/* libFuzzer target: the manifest parser and validator on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/bundle/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_manifest *m = NULL;
	struct ep_error err = { 0 };
	if (ep_manifest_parse((const char *)data, size, "fuzz", &m, &err) == 0) {
		char *json;
		size_t len;
		/* whatever parses must serialise again */
		if (ep_manifest_to_json(m, &json, &len, &err) != 0)
			abort();
		free(json);
		ep_manifest_free(m);
	}
	return 0;
}
