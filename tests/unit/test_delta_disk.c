/*
 * The incremental reader of a live disk (sources/delta_disk.c): its windows (dirty runs
 * widened to the earlier record's chunks) and the bytes it reads inside them, over a fake
 * live disk and a fake chunk loader.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sources/delta_disk.h"
#include "tests/unit/unit.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define VSIZE 12288

/* ---- the earlier record: chunks [1000,2000) [2000,3500) [3500,4000), a hole, [6000,8000) [8000,9000) ---- */

#define NCHUNKS 5
static struct ep_chunk_ref base_chunks[NCHUNKS] = {
	{ .digest = { 1 }, .size = 1000 }, { .digest = { 2 }, .size = 1500 }, { .digest = { 3 }, .size = 500 },
	{ .digest = { 4 }, .size = 2000 }, { .digest = { 5 }, .size = 1000 },
};
static struct ep_extent_rec base_extents[] = {
	{ .offset = 1000, .length = 3000, .first = 0, .count = 3 },
	{ .offset = 6000, .length = 3000, .first = 3, .count = 2 },
};
static const uint64_t chunk_start[NCHUNKS] = { 1000, 2000, 3500, 6000, 8000 };

static struct ep_component base_record(void)
{
	return (struct ep_component){ .type = EP_COMP_DISK, .virtual_size = VSIZE, .extents = base_extents,
				      .nextents = N(base_extents), .chunks = base_chunks, .nchunks = NCHUNKS };
}

/* The base chunk holding `at`, or -1 in a hole of base. */
static int base_chunk_at(uint64_t at)
{
	for (int i = 0; i < NCHUNKS; i++)
		if (at >= chunk_start[i] && at < chunk_start[i] + base_chunks[i].size)
			return i;
	return -1;
}

/* ---- a live disk over a buffer, with data runs; the rest are holes, which must not be read ---- */

static const struct ep_disk_format fake_format = { .name = "fake" };

struct fake_disk {
	struct ep_disk d;
	const uint8_t *bytes;
	const struct ep_extent *data; /* in order, apart */
	size_t ndata;
	unsigned hole_reads;
};

static bool fake_is_data(const struct fake_disk *f, uint64_t at)
{
	for (size_t i = 0; i < f->ndata; i++)
		if (at >= f->data[i].off && at < f->data[i].off + f->data[i].len)
			return true;
	return false;
}

static int fake_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)err;
	struct fake_disk *f = (struct fake_disk *)d;
	for (size_t i = 0; i < f->ndata; i++) {
		uint64_t end = f->data[i].off + f->data[i].len;
		if (end > from) {
			uint64_t at = f->data[i].off > from ? f->data[i].off : from;
			*out = (struct ep_extent){ .off = at, .len = end - at, .flags = EP_EXT_DATA };
			return 1;
		}
	}
	return 0;
}

static int fake_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	(void)err;
	struct fake_disk *f = (struct fake_disk *)d;
	for (size_t i = 0; i < len; i++)
		f->hole_reads += !fake_is_data(f, off + i);
	memcpy(buf, f->bytes + off, len);
	return 0;
}

static int fake_close(struct ep_disk *d, struct ep_error *err)
{
	(void)d;
	(void)err;
	return 0;
}

static const struct ep_disk_ops fake_ops = {
	.next_extent = fake_next_extent,
	.read = fake_read,
	.write = ep_disk_no_write,
	.close = fake_close,
};

static struct fake_disk fake_live(const uint8_t *bytes, const struct ep_extent *data, size_t ndata)
{
	return (struct fake_disk){ .d = { .ops = &fake_ops, .format = &fake_format, .virtual_size = VSIZE },
				   .bytes = bytes, .data = data, .ndata = ndata };
}

/* ---- a loader serving base's chunks from the disk as base recorded it, counting calls ---- */

struct fake_store {
	const uint8_t *content;
	unsigned loads[NCHUNKS];
	long extra; /* bytes served beyond (or, negative, short of) a chunk's size */
	bool fail;
};

static int fake_load(void *ctx, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err)
{
	struct fake_store *st = ctx;
	if (st->fail)
		return ep_fail(err, EP_ERUNTIME, "store: cannot read chunk %u", ref->digest[0]);
	for (int i = 0; i < NCHUNKS; i++) {
		if (memcmp(ref->digest, base_chunks[i].digest, sizeof ref->digest))
			continue;
		st->loads[i]++;
		*len = (size_t)((long)ref->size + st->extra);
		if (!(*data = malloc(*len + 1)))
			return ep_oom(err);
		memcpy(*data, st->content + chunk_start[i], *len);
		return 0;
	}
	return ep_fail(err, EP_EINTEGRITY, "store: no chunk %u", ref->digest[0]);
}

/* ---- windows ---- */

/* Whether the windows a delta disk yields (next_extent from each one's end) are want[0..nwant). */
static bool windows_are(const struct ep_extent *dirty, size_t ndirty, const struct ep_extent *want, size_t nwant)
{
	static const struct ep_extent all[] = { { 0, VSIZE, EP_EXT_DATA } };
	struct fake_disk live = fake_live(NULL, all, N(all));
	struct ep_component base = base_record();
	struct ep_error err = { 0 };
	struct ep_disk *d;
	if (ep_delta_disk_open(&d, &live.d, dirty, ndirty, &base, NULL, NULL, &err)) {
		if (d)
			ep_disk_close(d, NULL);
		return false;
	}
	bool same = true;
	size_t n = 0;
	struct ep_extent e;
	int rc;
	for (uint64_t from = 0; (rc = ep_disk_next_extent(d, from, &e, &err)) == 1; from = e.off + e.len, n++)
		same &= n < nwant && e.off == want[n].off && e.len == want[n].len && e.flags == EP_EXT_DATA;
	ep_disk_close(d, NULL);
	return same && rc == 0 && n == nwant;
}

#define WINDOWS_ARE(dirty, want) windows_are(dirty, N(dirty), want, N(want))

TEST(delta_window_inside_one_chunk_is_that_chunk)
{
	static const struct ep_extent dirty[] = { { 2100, 100, 0 } }, want[] = { { 2000, 1500, 0 } };
	EXPECT(WINDOWS_ARE(dirty, want));
	/* a run on a chunk's very edges takes that chunk only, not its neighbours */
	static const struct ep_extent first_byte[] = { { 2000, 1, 0 } }, last_byte[] = { { 3499, 1, 0 } };
	EXPECT(WINDOWS_ARE(first_byte, want));
	EXPECT(WINDOWS_ARE(last_byte, want));
	static const struct ep_extent whole[] = { { 2000, 1500, 0 } };
	EXPECT(WINDOWS_ARE(whole, want));
}

TEST(delta_window_across_chunks_takes_each)
{
	static const struct ep_extent two[] = { { 1900, 200, 0 } }, want_two[] = { { 1000, 2500, 0 } };
	EXPECT(WINDOWS_ARE(two, want_two));
	static const struct ep_extent three[] = { { 1999, 1502, 0 } }, want_three[] = { { 1000, 3000, 0 } };
	EXPECT(WINDOWS_ARE(three, want_three));
}

TEST(delta_window_in_a_base_hole_stays)
{
	/* before base's first chunk, between its extents, after its last */
	static const struct ep_extent dirty[] = { { 100, 100, 0 }, { 4500, 100, 0 }, { 10000, 2288, 0 } };
	EXPECT(WINDOWS_ARE(dirty, dirty));
	/* a run from a hole into a chunk widens on the chunk's side only, and the other way */
	static const struct ep_extent into[] = { { 5500, 1000, 0 } }, want_into[] = { { 5500, 2500, 0 } };
	EXPECT(WINDOWS_ARE(into, want_into));
	static const struct ep_extent out_of[] = { { 3900, 600, 0 } }, want_out_of[] = { { 3500, 1000, 0 } };
	EXPECT(WINDOWS_ARE(out_of, want_out_of));
	/* base with no chunks at all: the windows are the runs */
	static const struct ep_extent all[] = { { 0, VSIZE, EP_EXT_DATA } }, runs[] = { { 2100, 100, 0 } };
	struct fake_disk live = fake_live(NULL, all, N(all));
	struct ep_component empty = { .type = EP_COMP_DISK, .virtual_size = VSIZE };
	struct ep_error err = { 0 };
	struct ep_disk *d;
	struct ep_extent e;
	EXPECT(ep_delta_disk_open(&d, &live.d, runs, N(runs), &empty, NULL, NULL, &err) == 0);
	EXPECT(ep_disk_next_extent(d, 0, &e, &err) == 1 && e.off == 2100 && e.len == 100);
	EXPECT(ep_disk_next_extent(d, 2200, &e, &err) == 0);
	ep_disk_close(d, NULL);
}

TEST(delta_windows_sharing_or_touching_join)
{
	/* two runs in one chunk */
	static const struct ep_extent same[] = { { 2100, 100, 0 }, { 3000, 100, 0 } }, want_same[] = { { 2000, 1500, 0 } };
	EXPECT(WINDOWS_ARE(same, want_same));
	/* runs in neighbouring chunks: their windows meet at 2000 and are one */
	static const struct ep_extent next[] = { { 1900, 50, 0 }, { 2100, 50, 0 } }, want_next[] = { { 1000, 2500, 0 } };
	EXPECT(WINDOWS_ARE(next, want_next));
	/* a run in a hole ending where a chunk's window starts */
	static const struct ep_extent hole[] = { { 5000, 1000, 0 }, { 6500, 10, 0 } }, want_hole[] = { { 5000, 3000, 0 } };
	EXPECT(WINDOWS_ARE(hole, want_hole));
	/* a chain of windows over chunks 0, 1 and 2, each touching the next, is one */
	static const struct ep_extent many[] = { { 1500, 10, 0 }, { 1999, 1, 0 }, { 2000, 10, 0 }, { 3600, 10, 0 } },
				      want_many[] = { { 1000, 3000, 0 } };
	EXPECT(WINDOWS_ARE(many, want_many));
	/* chunks apart stay apart: [1000,2000) and [3500,4000) leave [2000,3500) to be copied */
	static const struct ep_extent apart[] = { { 1500, 10, 0 }, { 3600, 10, 0 } },
				      want_apart[] = { { 1000, 1000, 0 }, { 3500, 500, 0 } };
	EXPECT(WINDOWS_ARE(apart, want_apart));
}

TEST(delta_windows_in_order_and_clipped)
{
	static const struct ep_extent all[] = { { 0, VSIZE, EP_EXT_DATA } };
	static const struct ep_extent dirty[] = { { 100, 100, 0 }, { 2100, 100, 0 }, { 4500, 100, 0 }, { 8500, 100, 0 } };
	static const struct ep_extent want[] = { { 100, 100, 0 }, { 2000, 1500, 0 }, { 4500, 100, 0 }, { 8000, 1000, 0 } };
	EXPECT(WINDOWS_ARE(dirty, want));
	struct fake_disk live = fake_live(NULL, all, N(all));
	struct ep_component base = base_record();
	struct ep_error err = { 0 };
	struct ep_disk *d;
	struct ep_extent e;
	EXPECT(ep_delta_disk_open(&d, &live.d, dirty, N(dirty), &base, NULL, NULL, &err) == 0);
	EXPECT(d->virtual_size == VSIZE && d->format == &fake_format);
	EXPECT(ep_disk_next_extent(d, 0, &e, &err) == 1 && e.off == 100 && e.len == 100);
	EXPECT(ep_disk_next_extent(d, 150, &e, &err) == 1 && e.off == 150 && e.len == 50);
	EXPECT(ep_disk_next_extent(d, 200, &e, &err) == 1 && e.off == 2000 && e.len == 1500);
	EXPECT(ep_disk_next_extent(d, 2500, &e, &err) == 1 && e.off == 2500 && e.len == 1000);
	EXPECT(ep_disk_next_extent(d, 3499, &e, &err) == 1 && e.off == 3499 && e.len == 1);
	EXPECT(ep_disk_next_extent(d, 3500, &e, &err) == 1 && e.off == 4500 && e.len == 100);
	EXPECT(ep_disk_next_extent(d, 8999, &e, &err) == 1 && e.off == 8999 && e.len == 1 && e.flags == EP_EXT_DATA);
	EXPECT(ep_disk_next_extent(d, 9000, &e, &err) == 0);
	ep_disk_close(d, NULL);
	/* no dirty runs: nothing to read again */
	EXPECT(ep_delta_disk_open(&d, &live.d, NULL, 0, &base, NULL, NULL, &err) == 0);
	EXPECT(ep_disk_next_extent(d, 0, &e, &err) == 0);
	ep_disk_close(d, NULL);
}

/* ---- reads ---- */

/* Dirty runs: all of chunk 0; part of chunk 1 over a live hole; a base hole across a live hole;
 * a hole into chunk 3; chunk 4's last byte. Windows: [1000,3500) [4500,5100) [5900,9000), which
 * leave chunk 2 [3500,4000) outside. */
static const struct ep_extent scene_dirty[] = {
	{ 1000, 1000, 0 }, { 2500, 200, 0 }, { 4500, 600, 0 }, { 5900, 200, 0 }, { 8999, 1, 0 },
};
static const struct ep_extent scene_windows[] = { { 1000, 2500, 0 }, { 4500, 600, 0 }, { 5900, 3100, 0 } };
/* the live disk's data; [2600,2800) and [5000,5200) are holes */
static const struct ep_extent scene_data[] = { { 0, 2600, 0 }, { 2800, 2200, 0 }, { 5200, VSIZE - 5200, 0 } };

struct scene {
	uint8_t live[VSIZE], base[VSIZE];
	const struct ep_extent *dirty;
	size_t ndirty;
	struct fake_disk disk;
	struct fake_store store;
	struct ep_component record;
	struct ep_disk *d;
	struct ep_error err;
};

/* A delta disk over the scene with these dirty runs, reading clean bytes through the fake
 * store when with_store. */
static struct scene *scene_open_dirty(const struct ep_extent *dirty, size_t ndirty, bool with_store)
{
	struct scene *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->dirty = dirty;
	s->ndirty = ndirty;
	/* what lies under the live disk's holes is not zeros: reading it would show */
	unit_fill(s->live, VSIZE, 1);
	unit_fill(s->base, VSIZE, 2);
	s->disk = fake_live(s->live, scene_data, N(scene_data));
	s->store.content = s->base;
	s->record = base_record();
	EXPECT(ep_delta_disk_open(&s->d, &s->disk.d, dirty, ndirty, &s->record, with_store ? fake_load : NULL,
				  with_store ? &s->store : NULL, &s->err) == 0);
	return s;
}

static struct scene *scene_open(bool with_store)
{
	return scene_open_dirty(scene_dirty, N(scene_dirty), with_store);
}

static void scene_close(struct scene *s)
{
	EXPECT(ep_disk_close(s->d, &s->err) == 0);
	free(s);
}

/* What the delta disk must read at `at`: dirty bytes from the live disk (its holes zeros), clean
 * ones as base holds them (its holes zeros), or from the live disk too without a store. */
static uint8_t scene_byte(const struct scene *s, uint64_t at, bool with_store)
{
	bool dirty = false;
	for (size_t i = 0; i < s->ndirty; i++)
		dirty |= at >= s->dirty[i].off && at < s->dirty[i].off + s->dirty[i].len;
	if (dirty || !with_store)
		return fake_is_data(&s->disk, at) ? s->live[at] : 0;
	return base_chunk_at(at) >= 0 ? s->base[at] : 0;
}

/* Whether buf holds the scene's bytes [off, off+len). */
static bool scene_matches(const struct scene *s, const uint8_t *buf, uint64_t off, size_t len, bool with_store)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != scene_byte(s, off + i, with_store))
			return false;
	return true;
}

/* Reads every window in order, `piece` bytes at a time as the packer would; whether each
 * matched the scene and the windows were scene_windows. */
static bool read_windows(struct scene *s, size_t piece, bool with_store)
{
	uint8_t buf[4096];
	struct ep_extent e;
	size_t n = 0;
	bool ok = true;
	int rc;
	for (uint64_t from = 0; (rc = ep_disk_next_extent(s->d, from, &e, &s->err)) == 1; from = e.off + e.len, n++) {
		ok &= n < N(scene_windows) && e.off == scene_windows[n].off && e.len == scene_windows[n].len;
		for (uint64_t at = e.off; ok && at < e.off + e.len; at += piece) {
			size_t len = e.off + e.len - at < piece ? (size_t)(e.off + e.len - at) : piece;
			ok &= s->d->ops->read(s->d, buf, len, at, &s->err) == 0 && scene_matches(s, buf, at, len, with_store);
		}
	}
	return ok && rc == 0 && n == N(scene_windows);
}

TEST(delta_read_dirty_from_live_clean_from_base)
{
	struct scene *s = scene_open(true);
	uint8_t buf[VSIZE];
	/* chunk 1's window: [2000,2500) base, [2500,2600) live, [2600,2700) a live hole, [2700,3500) base */
	EXPECT(s->d->ops->read(s->d, buf, 1500, 2000, &s->err) == 0);
	EXPECT(!memcmp(buf, s->base + 2000, 500));
	EXPECT(!memcmp(buf + 500, s->live + 2500, 100));
	EXPECT(ep_is_zero(buf + 600, 100));
	EXPECT(!memcmp(buf + 700, s->base + 2700, 800)); /* clean under a live hole: base's bytes */
	/* the windows whole, in one read each and in pieces across every edge */
	EXPECT(read_windows(s, 4096, true));
	EXPECT(read_windows(s, 333, true));
	EXPECT(read_windows(s, 1, true));
	/* and anywhere, windows or not: clean bytes in a hole of base read as zeros */
	EXPECT(s->d->ops->read(s->d, buf, 1000, 4000, &s->err) == 0 && ep_is_zero(buf, 500));
	EXPECT(scene_matches(s, buf, 4000, 1000, true));
	EXPECT(s->d->ops->read(s->d, buf, 500, 0, &s->err) == 0 && ep_is_zero(buf, 500));
	EXPECT(s->d->ops->read(s->d, buf, 3000, 9000, &s->err) == 0 && ep_is_zero(buf, 3000));
	for (uint64_t off = 0; off < VSIZE; off += 777) {
		size_t len = VSIZE - off < 2345 ? (size_t)(VSIZE - off) : 2345;
		EXPECT(s->d->ops->read(s->d, buf, len, off, &s->err) == 0 && scene_matches(s, buf, off, len, true));
	}
	EXPECT(s->d->ops->read(s->d, buf, VSIZE, 0, &s->err) == 0 && scene_matches(s, buf, 0, VSIZE, true));
	EXPECT(s->disk.hole_reads == 0);
	scene_close(s);
}

TEST(delta_read_clean_across_a_base_hole)
{
	/* outside the windows, a clean read from a hole of base into its next chunk (and past its last) */
	static const struct ep_extent dirty[] = { { 8500, 100, 0 } };
	struct scene *s = scene_open_dirty(dirty, N(dirty), true);
	uint8_t buf[VSIZE];
	EXPECT(s->d->ops->read(s->d, buf, 1500, 5000, &s->err) == 0);
	EXPECT(ep_is_zero(buf, 1000) && !memcmp(buf + 1000, s->base + 6000, 500));
	EXPECT(s->d->ops->read(s->d, buf, 1500, 500, &s->err) == 0);
	EXPECT(ep_is_zero(buf, 500) && !memcmp(buf + 500, s->base + 1000, 1000));
	EXPECT(s->d->ops->read(s->d, buf, VSIZE, 0, &s->err) == 0 && scene_matches(s, buf, 0, VSIZE, true));
	EXPECT(s->disk.hole_reads == 0);
	scene_close(s);
}

TEST(delta_read_without_a_store_reads_live)
{
	struct scene *s = scene_open(false);
	uint8_t buf[VSIZE];
	EXPECT(read_windows(s, 4096, false));
	EXPECT(read_windows(s, 333, false));
	/* chunk 1's clean bytes from the live disk, the live hole in them as zeros */
	EXPECT(s->d->ops->read(s->d, buf, 1500, 2000, &s->err) == 0);
	EXPECT(!memcmp(buf, s->live + 2000, 600) && ep_is_zero(buf + 600, 200) && !memcmp(buf + 800, s->live + 2800, 700));
	EXPECT(s->d->ops->read(s->d, buf, VSIZE, 0, &s->err) == 0 && scene_matches(s, buf, 0, VSIZE, false));
	EXPECT(s->disk.hole_reads == 0);
	scene_close(s);
}

TEST(delta_read_loads_each_chunk_once_in_order)
{
	/* a chunk all dirty (0) or outside every window (2) is never loaded */
	static const unsigned want[NCHUNKS] = { 0, 1, 0, 1, 1 };
	for (size_t piece = 1; piece <= 4096; piece *= 8) {
		struct scene *s = scene_open(true);
		EXPECT(read_windows(s, piece, true));
		EXPECT(!memcmp(s->store.loads, want, sizeof want));
		scene_close(s);
	}
}

TEST(delta_read_refuses_a_chunk_of_the_wrong_length)
{
	for (long extra = -1; extra <= 1; extra += 2) {
		struct scene *s = scene_open(true);
		uint8_t buf[1500];
		s->store.extra = extra;
		EXPECT(s->d->ops->read(s->d, buf, sizeof buf, 2000, &s->err) == EP_EINTEGRITY);
		EXPECT(strstr(s->err.msg, "earlier backup") && strstr(s->err.msg, extra < 0 ? "1499 bytes" : "1501 bytes"));
		/* not kept as if it were good: asked again, it is loaded and refused again */
		EXPECT(s->d->ops->read(s->d, buf, 10, 3000, &s->err) == EP_EINTEGRITY);
		EXPECT(s->store.loads[1] == 2);
		scene_close(s);
	}
	/* the loader's own failure comes through as it is */
	struct scene *s = scene_open(true);
	uint8_t buf[16];
	s->store.fail = true;
	EXPECT(s->d->ops->read(s->d, buf, sizeof buf, 6200, &s->err) == EP_ERUNTIME);
	EXPECT(strstr(s->err.msg, "cannot read chunk 4") != NULL);
	/* dirty bytes need no loader */
	EXPECT(s->d->ops->read(s->d, buf, sizeof buf, 1000, &s->err) == 0 && !memcmp(buf, s->live + 1000, sizeof buf));
	scene_close(s);
}
