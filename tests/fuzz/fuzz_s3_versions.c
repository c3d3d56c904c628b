/* libFuzzer target: a page of S3's ListObjectVersions answer (recover, snapshots --as-of), as
 * a server, or whoever stands in for it, could send: every entry handed on must have a key
 * under the prefix, a version id and a time; a truncated page must name its next one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/s3_versions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int each(void *ctx, const struct ep_s3_version *v, struct ep_error *err)
{
	(void)err;
	if (strncmp(v->key, ctx, strlen(ctx)) || !*v->version || v->modified == 0 || strlen(v->etag) >= EP_S3_ETAG_MAX)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_error err;
	char *km = NULL, *vm = NULL;
	bool more;
	int rc = ep_s3_versions_page((const char *)data, size, "fuzz", "dr/", each, "dr/", &more, &km, &vm, &err);
	if (!rc && more && (!km || !*km || !vm))
		abort();
	free(km);
	free(vm);
	return 0;
}
