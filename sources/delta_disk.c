#include "sources/delta_disk.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/bundle/chunk_map.h"

struct delta_disk {
	struct ep_disk base_disk;
	struct ep_disk *live;
	const struct ep_extent *dirty;
	size_t ndirty;
	struct ep_chunk_map base; /* base's chunks in disk order */
	struct ep_extent *windows;
	size_t nwindows;
	ep_chunk_load_fn load;
	void *load_ctx;
	size_t cached; /* the chunk in `data`, SIZE_MAX when none: windows are read in order */
	char *data;
};

static int delta_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)err;
	struct delta_disk *dd = (struct delta_disk *)d;
	return ep_runs_next(dd->windows, dd->nwindows, from, out);
}

/* [at, end) from the live disk, its holes as zeros without a read. */
static int read_live(struct delta_disk *dd, uint8_t *p, uint64_t at, uint64_t end, struct ep_error *err)
{
	while (at < end) {
		struct ep_extent e;
		int rc = ep_disk_next_extent(dd->live, at, &e, err);
		if (rc < 0)
			return rc;
		uint64_t data = rc == 1 && e.off < end ? (e.off > at ? e.off : at) : end;
		memset(p, 0, data - at);
		p += data - at;
		at = data;
		if (at == end)
			break;
		uint64_t stop = e.off + e.len < end ? e.off + e.len : end;
		if ((rc = dd->live->ops->read(dd->live, p, stop - at, at, err)))
			return rc;
		p += stop - at;
		at = stop;
	}
	return 0;
}

/* [at, end), none of it dirty: as base holds it. */
static int read_clean(struct delta_disk *dd, uint8_t *p, uint64_t at, uint64_t end, struct ep_error *err)
{
	if (!dd->load)
		return read_live(dd, p, at, end, err);
	while (at < end) {
		long long ci = ep_chunk_map_find(&dd->base, at);
		uint64_t stop;
		if (ci < 0) { /* a hole of base */
			size_t next = (size_t)(-ci - 1);
			stop = next < dd->base.n && dd->base.start[next] < end ? dd->base.start[next] : end;
			memset(p, 0, stop - at);
		} else {
			size_t i = (size_t)ci;
			if (dd->cached != i) {
				size_t len;
				free(dd->data);
				dd->data = NULL;
				dd->cached = SIZE_MAX;
				int rc = dd->load(dd->load_ctx, dd->base.refs[i], &dd->data, &len, err);
				if (rc)
					return rc;
				if (len != dd->base.refs[i]->size)
					return ep_fail(err, EP_EINTEGRITY, "a chunk of the earlier backup holds %zu bytes, not %u",
						       len, dd->base.refs[i]->size);
				dd->cached = i;
			}
			uint64_t chunk_end = dd->base.start[i] + dd->base.refs[i]->size;
			stop = chunk_end < end ? chunk_end : end;
			memcpy(p, dd->data + (at - dd->base.start[i]), stop - at);
		}
		p += stop - at;
		at = stop;
	}
	return 0;
}

static int delta_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct delta_disk *dd = (struct delta_disk *)d;
	uint8_t *p = buf;
	uint64_t at = off, end = off + len;
	int rc = 0;
	while (!rc && at < end) {
		size_t k = ep_runs_after(dd->dirty, dd->ndirty, at);
		bool dirty = k < dd->ndirty && dd->dirty[k].off <= at;
		uint64_t edge = k == dd->ndirty ? end : dirty ? dd->dirty[k].off + dd->dirty[k].len : dd->dirty[k].off;
		uint64_t stop = edge < end ? edge : end;
		rc = dirty ? read_live(dd, p, at, stop, err) : read_clean(dd, p, at, stop, err);
		p += stop - at;
		at = stop;
	}
	return rc;
}

static int delta_close(struct ep_disk *d, struct ep_error *err)
{
	(void)err;
	struct delta_disk *dd = (struct delta_disk *)d;
	ep_chunk_map_free(&dd->base);
	free(dd->windows);
	free(dd->data);
	free(dd);
	return 0;
}

static const struct ep_disk_ops delta_ops = {
	.next_extent = delta_next_extent,
	.read = delta_read,
	.write = ep_disk_no_write,
	.close = delta_close,
};

/* Each dirty run, widened to the base chunks it touches; runs that meet are joined. */
static int make_windows(struct delta_disk *dd, struct ep_error *err)
{
	size_t cap = 0;
	for (size_t k = 0; k < dd->ndirty; k++) {
		uint64_t a = dd->dirty[k].off, b = a + dd->dirty[k].len;
		long long first = ep_chunk_map_find(&dd->base, a), last = ep_chunk_map_find(&dd->base, b - 1);
		if (first >= 0)
			a = dd->base.start[first];
		if (last >= 0)
			b = dd->base.start[last] + dd->base.refs[last]->size;
		struct ep_extent *prev = dd->nwindows ? &dd->windows[dd->nwindows - 1] : NULL;
		if (prev && a <= prev->off + prev->len) {
			if (b > prev->off + prev->len)
				prev->len = b - prev->off;
			continue;
		}
		if (!ep_grow((void **)&dd->windows, &cap, dd->nwindows + 1, sizeof *dd->windows))
			return ep_oom(err);
		dd->windows[dd->nwindows++] = (struct ep_extent){ .off = a, .len = b - a, .flags = EP_EXT_DATA };
	}
	return 0;
}

int ep_delta_disk_open(struct ep_disk **out, struct ep_disk *live, const struct ep_extent *dirty, size_t ndirty,
		       const struct ep_component *base, ep_chunk_load_fn load, void *load_ctx, struct ep_error *err)
{
	*out = NULL;
	struct delta_disk *dd = calloc(1, sizeof *dd);
	if (!dd)
		return ep_oom(err);
	*dd = (struct delta_disk){ .base_disk = { .ops = &delta_ops, .format = live->format,
						  .virtual_size = live->virtual_size },
				   .live = live, .dirty = dirty, .ndirty = ndirty, .load = load, .load_ctx = load_ctx,
				   .cached = SIZE_MAX };
	*out = &dd->base_disk;
	int rc = ep_chunk_map_build(&dd->base, base, err);
	return rc ? rc : make_windows(dd, err);
}
