/* libFuzzer target: what inspect reads of an image component. The input is
 * up to 16 JSON documents separated by NUL bytes, each stored under its digest
 * (blobs/sha256/<hex>, and <hex>.json and <hex>.tar for docker-archives). A
 * first document that is a list is a docker-archive's manifest.json; else the
 * component's one image is the first document, an index when it has
 * "manifests". Seeds from real layouts keep their digests, so the mutations
 * that reach the last document of a chain walk all of it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "tests/fuzz/image_mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	json_t *first = json_loadb(p, strnlen(p, size), 0, NULL);
	bool archive = json_is_array(first);
	struct mem_image mi;
	char hex[EP_DIGEST_HEX], first_hex[EP_DIGEST_HEX], path[100];
	size_t first_len = 0;
	mem_init(&mi, archive ? "docker-archive" : "oci");
	for (int part = 0; part < 16 && p <= end; part++) {
		size_t len = strnlen(p, (size_t)(end - p));
		if (part == 0 && archive) {
			mem_file(&mi, "manifest.json", p, len, hex);
		} else {
			mem_file(&mi, NULL, p, len, hex);
			snprintf(path, sizeof path, "%s.json", hex);
			mem_file(&mi, path, p, len, hex);
			snprintf(path, sizeof path, "%s.tar", hex);
			mem_file(&mi, path, p, len, hex);
		}
		if (part == 0) {
			memcpy(first_hex, hex, sizeof hex);
			first_len = len;
		}
		p += len + 1;
	}
	size_t images = archive ? json_array_size(first) : 1;
	for (size_t i = 0; i < images && i < 64; i++)
		mem_descriptor(&mi, json_object_get(first, "manifests") ? "application/vnd.oci.image.index.v1+json"
									 : "application/vnd.oci.image.manifest.v1+json",
			       first_hex, first_len, "t");
	struct ep_image_list *l = NULL;
	struct ep_error err = { 0 };
	if (mem_describe(&mi, &l, &err) == 0)
		ep_image_list_free(l);
	json_decref(first);
	mem_free(&mi);
	return 0;
}
