/* libFuzzer target: a page of Azure's Get Page Ranges answer (vm:azure: captures), as a
 * server, or whoever stands in for it, could send: every range handed on must be whole
 * 512-byte pages, in order, not overlapping and within the blob's length. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/extent.h"
#include "cloud/azure_blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t length = (uint64_t)64 << 20;
	struct ep_extent *ranges = NULL;
	size_t n = 0, cap = 0;
	char marker[256];
	struct ep_error err;
	if (ep_azure_page_list_parse((const char *)data, size, length, &ranges, &n, &cap, marker, sizeof marker, &err) == 0)
		for (size_t i = 0; i < n; i++) {
			const struct ep_extent *r = &ranges[i];
			if (r->len == 0 || r->off % 512 || r->len % 512 || r->off + r->len > length ||
			    (i > 0 && r->off < ranges[i - 1].off + ranges[i - 1].len))
				abort();
		}
	free(ranges);
	return 0;
}
