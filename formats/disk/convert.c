#include "formats/disk/convert.h"

#include <stdlib.h>

#define COPY_BLOCK ((size_t)4 << 20)

int ep_disk_copy(struct ep_disk *src, struct ep_disk *dst, const struct ep_progress *progress, struct ep_error *err)
{
	uint64_t total = 0, done = 0;
	struct ep_extent e;
	int rc;
	for (uint64_t from = 0; (rc = ep_disk_next_extent(src, from, &e, err)) == 1; from = e.off + e.len)
		total += e.len;
	if (rc < 0)
		return rc;
	uint8_t *buf = malloc(COPY_BLOCK);
	if (!buf)
		return ep_oom(err);
	for (uint64_t from = 0; (rc = ep_disk_next_extent(src, from, &e, err)) == 1; from = e.off + e.len) {
		for (uint64_t off = e.off; off < e.off + e.len;) {
			size_t n = e.off + e.len - off < COPY_BLOCK ? (size_t)(e.off + e.len - off) : COPY_BLOCK;
			if ((rc = src->ops->read(src, buf, n, off, err)) || (rc = dst->ops->write(dst, buf, n, off, err)))
				break;
			off += n;
			done += n;
			ep_progress_report(progress, done, total);
		}
		if (rc)
			break;
	}
	free(buf);
	return rc < 0 ? rc : 0;
}
