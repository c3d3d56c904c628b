/*
 * A bundle's disk read at any offset (serve/export.c, behind `envpack serve`), over a
 * bundle packed by the real pipeline from a sparse raw disk of known bytes, and the
 * header of a qcow2 overlay (formats/disk/qcow2_write.c) that instant recovery puts over it.
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/bundle/chunk_map.h"
#include "formats/disk/disk.h"
#include "formats/disk/qcow2.h"
#include "packer/pack.h"
#include "serve/export.h"
#include "sources/source.h"
#include "tests/unit/unit.h"
#include "verify/check.h"

#define MIB ((uint64_t)1 << 20)
#define VSIZE (20 * MIB)
#define BIG_CACHE ((size_t)64 << 20)
#define PATTERN 0xa5
#define MAX_CHUNKS (VSIZE / EP_BUNDLE_CHUNK_MIN + 8) /* none is smaller but each run's last */

/* The disk's data runs; the rest are holes: [7M,11M) and [18M,19M). */
static const struct {
	uint64_t off, len;
} runs[] = { { 0, 7 * MIB }, { 11 * MIB, 7 * MIB }, { 19 * MIB, 1 * MIB } };
#define NRUNS (sizeof runs / sizeof runs[0])

/* A packed disk: its bytes, the bundle holding it, its component and chunk map. */
struct packed {
	uint8_t *bytes;
	struct ep_bundle *b;
	struct ep_manifest *m;
	const struct ep_component *disk;
	struct ep_chunk_map map;
};

static int write_disk(const uint8_t *bytes, struct ep_error *err)
{
	struct ep_disk *d;
	int rc = ep_disk_raw.create(&d, "disk.raw", VSIZE, NULL, err);
	for (size_t i = 0; !rc && i < NRUNS; i++)
		rc = d->ops->write(d, bytes + runs[i].off, runs[i].len, runs[i].off, err);
	int crc = rc ? 0 : ep_disk_close(d, err);
	return rc ? rc : crc;
}

/* Packs disk.raw into b.envpack (unsigned) and opens it, the disk's extents resolved. */
static bool pack(struct packed *p)
{
	struct ep_error err = { 0 };
	*p = (struct packed){ .bytes = calloc(1, VSIZE) };
	if (!p->bytes)
		return false;
	for (size_t i = 0; i < NRUNS; i++)
		unit_fill(p->bytes + runs[i].off, runs[i].len, i + 1);
	struct ep_source src;
	const struct ep_pack_options opt = { .output = "b.envpack", .name = "env", .level = 1, .threads = 2,
					     .created = 1700000000, .tool = "envpack unit" };
	struct ep_pack_stats stats;
	char signer[EP_KEY_ID_HEX];
	if (write_disk(p->bytes, &err) || ep_source_parse("disk:disk.raw", &src, &err) ||
	    ep_pack(&opt, &src, 1, &stats, &err) || ep_bundle_open(&p->b, "b.envpack", &err) ||
	    ep_bundle_load(p->b, &(struct ep_trust){ .insecure = true }, &p->m, signer, &err)) {
		unit_fail(__FILE__, __LINE__, err.msg);
		return false;
	}
	for (size_t i = 0; i < p->m->ncomponents; i++)
		if (p->m->components[i].type == EP_COMP_DISK)
			p->disk = &p->m->components[i];
	bool ok = p->disk && p->disk->virtual_size == VSIZE && !ep_chunk_map_build(&p->map, p->disk, &err) &&
		  p->map.n >= 6 && p->map.n <= MAX_CHUNKS;
	if (!ok)
		unit_fail(__FILE__, __LINE__, "a disk component of 20 MiB in 6 chunks or more");
	return ok;
}

static void unpack(struct packed *p)
{
	ep_chunk_map_free(&p->map);
	ep_manifest_free(p->m);
	ep_bundle_close(p->b);
	free(p->bytes);
}

static struct ep_export *open_export(const struct packed *p, size_t cache)
{
	struct ep_error err = { 0 };
	struct ep_export *x = NULL;
	if (ep_export_open(&x, p->b, p->disk, cache, &err)) {
		unit_fail(__FILE__, __LINE__, err.msg);
		ep_export_close(x);
		return NULL;
	}
	return x;
}

/* Each test's prologue: packs the disk and, when x is given, opens an export of it with a
 * cache of that many bytes; false when either fails (reported), nothing left to release. */
static bool prepare(struct packed *p, struct ep_export **x, size_t cache)
{
	if (pack(p) && (!x || (*x = open_export(p, cache))))
		return true;
	unpack(p);
	return false;
}

/* Reads len bytes at off and says whether they are the disk's. */
static bool read_right(struct ep_export *x, const struct packed *p, uint64_t off, size_t len)
{
	struct ep_error err = { 0 };
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return false;
	memset(buf, PATTERN, len);
	bool ok = ep_export_read(x, buf, len, off, &err) == 0 && !memcmp(buf, p->bytes + off, len);
	free(buf);
	return ok;
}

static uint64_t fetched(const struct ep_export *x)
{
	return ep_export_fetched(x, NULL);
}

static uint64_t chunk_start(const struct packed *p, size_t i)
{
	return p->map.start[i];
}

static uint64_t chunk_size(const struct packed *p, size_t i)
{
	return p->map.refs[i]->size;
}

static bool all_pattern(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != PATTERN)
			return false;
	return true;
}

/* Waits up to 10 s for the read-ahead thread to have fetched `want` chunks in all. */
static bool fetched_reaches(const struct ep_export *x, uint64_t want)
{
	for (int i = 0; i < 1000 && fetched(x) < want; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	return fetched(x) >= want;
}

TEST(export_packed_disk_has_holes_between_chunks)
{
	struct packed p;
	if (!prepare(&p, NULL, 0))
		return;
	/* the layout the other tests rely on: no chunk in a hole, the last one ends the disk */
	EXPECT(ep_chunk_map_find(&p.map, 7 * MIB) < 0 && ep_chunk_map_find(&p.map, 11 * MIB - 1) < 0);
	EXPECT(ep_chunk_map_find(&p.map, 18 * MIB) < 0 && ep_chunk_map_find(&p.map, 19 * MIB - 1) < 0);
	EXPECT(ep_chunk_map_find(&p.map, 0) == 0 && ep_chunk_map_find(&p.map, VSIZE - 1) == (long long)p.map.n - 1);
	EXPECT(chunk_start(&p, p.map.n - 1) + chunk_size(&p, p.map.n - 1) == VSIZE);
	unpack(&p);
}

TEST(export_reads_any_range)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	struct ep_error err = { 0 };
	EXPECT(ep_export_size(x) == VSIZE);
	uint64_t c1 = chunk_start(&p, 1);
	EXPECT(read_right(x, &p, c1 + 10, 1000));              /* inside one chunk */
	EXPECT(read_right(x, &p, c1 - 100, 200));              /* across two */
	EXPECT(read_right(x, &p, c1 - 100, (size_t)(2 * MIB))); /* across several */
	EXPECT(read_right(x, &p, 7 * MIB - 100, (size_t)(4 * MIB + 200))); /* across a hole */
	EXPECT(read_right(x, &p, 8 * MIB + 7, 4096));          /* inside a hole */
	EXPECT(read_right(x, &p, 0, (size_t)VSIZE));           /* the whole disk */
	EXPECT(read_right(x, &p, VSIZE - 1, 1));               /* the last byte */
	EXPECT(read_right(x, &p, 0, 1));                       /* the first */
	uint8_t buf[16];
	memset(buf, PATTERN, sizeof buf);
	EXPECT(ep_export_read(x, buf, 0, 5 * MIB, &err) == 0 && all_pattern(buf, sizeof buf));
	EXPECT(ep_export_read(x, buf, 0, VSIZE, &err) == 0 && all_pattern(buf, sizeof buf));
	/* past the end: refused, naming the disk, nothing read */
	err = (struct ep_error){ 0 };
	EXPECT(ep_export_read(x, buf, 1, VSIZE, &err) == EP_EINPUT && strstr(err.msg, p.disk->name));
	EXPECT(ep_export_read(x, buf, 2, VSIZE - 1, &err) == EP_EINPUT);
	EXPECT(ep_export_read(x, buf, sizeof buf, VSIZE - 8, &err) == EP_EINPUT);
	EXPECT(ep_export_read(x, buf, 0, VSIZE + 1, &err) == EP_EINPUT);
	EXPECT(ep_export_read(x, buf, 2, UINT64_MAX, &err) == EP_EINPUT);
	EXPECT(all_pattern(buf, sizeof buf));
	ep_export_close(x);
	unpack(&p);
}

TEST(export_holes_need_no_fetch)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	uint64_t stored = 1;
	EXPECT(read_right(x, &p, 8 * MIB, (size_t)MIB));
	EXPECT(read_right(x, &p, 18 * MIB, (size_t)MIB)); /* a whole hole, end to end */
	EXPECT(read_right(x, &p, 7 * MIB, (size_t)(4 * MIB)));
	EXPECT(ep_export_fetched(x, &stored) == 0 && stored == 0);
	/* a byte either side of a hole: its two neighbours, and nothing else */
	EXPECT(read_right(x, &p, 7 * MIB - 1, (size_t)(4 * MIB + 2)));
	EXPECT(fetched(x) == 2);
	ep_export_close(x);
	unpack(&p);
}

/* 100 bytes at `delta` into chunk i, read where no read ended, so nothing is read ahead. */
static bool read_chunk(struct ep_export *x, const struct packed *p, size_t i, uint64_t delta)
{
	return read_right(x, p, chunk_start(p, i) + delta, 100);
}

TEST(export_cache_smaller_than_two_chunks_fetches_again)
{
	struct packed p;
	if (!prepare(&p, NULL, 0))
		return;
	uint64_t a = chunk_size(&p, 0), b = chunk_size(&p, 1);
	struct ep_export *x = open_export(&p, (size_t)(a > b ? a : b) + 1);
	EXPECT(x && read_chunk(x, &p, 0, 10) && read_chunk(x, &p, 1, 20) && read_chunk(x, &p, 0, 30));
	EXPECT(x && fetched(x) == 3);
	ep_export_close(x);
	/* a cache of 1 byte still keeps the chunk being read */
	x = open_export(&p, 1);
	EXPECT(x && read_chunk(x, &p, 0, 10) && read_right(x, &p, chunk_start(&p, 1) - 50, 100));
	EXPECT(x && fetched(x) == 2);
	ep_export_close(x);
	/* large enough: each once */
	x = open_export(&p, BIG_CACHE);
	EXPECT(x && read_chunk(x, &p, 0, 10) && read_chunk(x, &p, 1, 20) && read_chunk(x, &p, 0, 30));
	EXPECT(x && read_chunk(x, &p, 1, 40) && fetched(x) == 2);
	uint64_t stored = 0, sa = 0, sb = 0;
	EXPECT(ep_bundle_chunk_size(p.b, p.map.refs[0]->digest, &sa));
	EXPECT(ep_bundle_chunk_size(p.b, p.map.refs[1]->digest, &sb));
	EXPECT(x && ep_export_fetched(x, &stored) == 2 && stored == sa + sb);
	ep_export_close(x);
	unpack(&p);
}

TEST(export_cache_drops_least_recently_read)
{
	struct packed p;
	if (!prepare(&p, NULL, 0))
		return;
	/* room for any two of chunks 0, 1, 2 but not all three */
	struct ep_export *x = open_export(&p, (size_t)(chunk_size(&p, 0) + chunk_size(&p, 1) + chunk_size(&p, 2) - 1));
	if (!x) {
		unpack(&p);
		return;
	}
	EXPECT(read_chunk(x, &p, 0, 10) && read_chunk(x, &p, 1, 20) && read_chunk(x, &p, 0, 30));
	EXPECT(read_chunk(x, &p, 2, 40) && fetched(x) == 3); /* drops 1, read longer ago than 0 */
	EXPECT(read_chunk(x, &p, 0, 50) && fetched(x) == 3);
	EXPECT(read_chunk(x, &p, 1, 60) && fetched(x) == 4);
	ep_export_close(x);
	unpack(&p);
}

TEST(export_reuses_evicted_chunks_buffers_and_one_decoder)
{
	struct packed p;
	if (!pack(&p)) {
		unpack(&p);
		return;
	}
	/* the chunks from the largest down, in a cache with room for one: each chunk's buffer
	 * is the one of the chunk evicted before it (never freed, so M_PERTURB can't poison
	 * it: stale bytes would be another chunk's, which differ) */
	size_t order[MAX_CHUNKS] = { 0 }, n = p.map.n;
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		for (; j > 0 && chunk_size(&p, order[j - 1]) < chunk_size(&p, i); j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	struct ep_export *x = open_export(&p, (size_t)chunk_size(&p, order[0]) + 1);
	bool right = x != NULL;
	for (size_t k = 0; x && k < n; k++)
		right &= read_chunk(x, &p, order[k], chunk_size(&p, order[k]) / 2);
	uint64_t buffers = 0, decoders = 0;
	if (x)
		ep_export_allocated(x, &buffers, &decoders);
	EXPECT(right && x && fetched(x) == n);
	EXPECT(buffers == 2); /* the first chunk's, and the second's while the first was kept */
	EXPECT(decoders == 1); /* one thread loading: one decoder, however many chunks */
	/* and read again, each from its middle to the end of the disk: what comes back is right */
	for (size_t k = 0; x && k < n; k++)
		right &= read_right(x, &p, chunk_start(&p, order[k]) + chunk_size(&p, order[k]) / 2,
				    (size_t)(VSIZE - chunk_start(&p, order[k]) - chunk_size(&p, order[k]) / 2));
	EXPECT(right);
	ep_export_close(x);
	unpack(&p);
}

TEST(export_sequential_reads_fetch_each_chunk_once)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	bool right = true;
	for (uint64_t at = 0; at < VSIZE; at += 128 << 10)
		right &= read_right(x, &p, at, 128 << 10);
	EXPECT(right);
	uint64_t stored = 0, want = 0;
	for (size_t i = 0; i < p.map.n; i++) {
		uint64_t s = 0;
		EXPECT(ep_bundle_chunk_size(p.b, p.map.refs[i]->digest, &s));
		want += s;
	}
	EXPECT(ep_export_fetched(x, &stored) == p.map.n && stored == want);
	ep_export_close(x);
	unpack(&p);
}

/* Where chunk k starts, the disk's end for k past the last. */
static uint64_t start_or_end(const struct packed *p, size_t k)
{
	return k < p->map.n ? chunk_start(p, k) : VSIZE;
}

/* Marks chunks [from, from + EP_EXPORT_READ_AHEAD) as wanted (those the disk has); how many are now. */
static size_t want_ahead(bool *want, const struct packed *p, size_t from)
{
	size_t n = 0;
	for (size_t i = from; i < p->map.n && i < from + EP_EXPORT_READ_AHEAD; i++)
		want[i] = true;
	for (size_t i = 0; i < p->map.n; i++)
		n += want[i];
	return n;
}

TEST(export_reads_ahead_after_reading_on)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	/* a read that begins where the last one ended: the next chunks are fetched unasked */
	bool want[MAX_CHUNKS] = { true };
	size_t n = want_ahead(want, &p, 1);
	EXPECT(read_right(x, &p, 0, 4096) && read_right(x, &p, 4096, 4096));
	EXPECT(fetched_reaches(x, n));
	uint64_t before = fetched(x);
	EXPECT(read_right(x, &p, chunk_start(&p, 1), (size_t)(start_or_end(&p, n) - chunk_start(&p, 1))));
	EXPECT(fetched(x) == before && before == n);
	ep_export_close(x);

	/* reading on again from an earlier place reads ahead there too */
	x = open_export(&p, BIG_CACHE);
	if (!x) {
		unpack(&p);
		return;
	}
	long long far = ep_chunk_map_find(&p.map, 11 * MIB);
	EXPECT(far >= 5);
	uint64_t off = chunk_start(&p, (size_t)far);
	memset(want, 0, sizeof want);
	want[far] = true;
	n = want_ahead(want, &p, (size_t)far + 1);
	EXPECT(read_right(x, &p, off, 4096) && read_right(x, &p, off + 4096, 4096));
	EXPECT(fetched_reaches(x, n));
	want[0] = true;
	n = want_ahead(want, &p, 1);
	EXPECT(read_right(x, &p, 0, 4096) && read_right(x, &p, 4096, 4096));
	EXPECT(fetched_reaches(x, n));
	before = fetched(x);
	size_t last = p.map.n < 1 + EP_EXPORT_READ_AHEAD ? p.map.n : 1 + EP_EXPORT_READ_AHEAD;
	EXPECT(read_right(x, &p, chunk_start(&p, 1), (size_t)(start_or_end(&p, last) - chunk_start(&p, 1))));
	EXPECT(fetched(x) == before && before == n);
	ep_export_close(x);
	unpack(&p);
}

/* read ahead no further than half the cache holds: what it fetches is still there when read */
TEST(export_reads_ahead_within_half_the_cache)
{
	struct packed p;
	if (!pack(&p)) {
		unpack(&p);
		return;
	}
	/* room for chunks 1 and 2 in half of it, not for 3 as well */
	uint64_t half = chunk_size(&p, 1) + chunk_size(&p, 2) + chunk_size(&p, 3) - 1;
	struct ep_export *x = open_export(&p, (size_t)(2 * half + 1));
	EXPECT(x && read_right(x, &p, 0, 4096) && read_right(x, &p, 4096, 4096));
	EXPECT(x && fetched_reaches(x, 3));
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	EXPECT(x && fetched(x) == 3);
	/* and they are still cached: reading them fetches nothing */
	EXPECT(x && read_right(x, &p, chunk_start(&p, 1), (size_t)(chunk_start(&p, 3) - chunk_start(&p, 1))));
	EXPECT(x && fetched(x) == 3);
	ep_export_close(x);
	unpack(&p);
}

/* Flips a byte in the middle of chunk i's stored bytes in b.envpack. */
static bool damage(const struct packed *p, size_t i)
{
	struct ep_error err = { 0 };
	uint64_t size = 0;
	char *file = NULL, *stored = NULL;
	size_t len = 0;
	bool ok = ep_bundle_chunk_size(p->b, p->map.refs[i]->digest, &size) && (stored = malloc(size)) &&
		  !ep_bundle_read_chunk(p->b, p->map.refs[i]->digest, stored, size, &err) &&
		  !ep_read_file("b.envpack", 1 << 30, &file, &len, &err);
	const char *at = ok ? memmem(file, len, stored, size) : NULL;
	int fd = open("b.envpack", O_RDWR);
	uint8_t byte = 0;
	uint64_t where = at ? (uint64_t)(at - file) + size / 2 : 0;
	ok = at && fd >= 0 && pread(fd, &byte, 1, (off_t)where) == 1;
	byte ^= 0x40;
	ok = ok && pwrite(fd, &byte, 1, (off_t)where) == 1;
	if (fd >= 0)
		close(fd);
	free(file);
	free(stored);
	return ok;
}

TEST(export_damaged_chunk_is_never_handed_out)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	struct ep_error err = { 0 };
	long long found = ep_chunk_map_find(&p.map, 3 * MIB);
	size_t k = found > 0 ? (size_t)found : 1;
	EXPECT(found == (long long)k && k + 1 < p.map.n && damage(&p, k));
	char hex[EP_DIGEST_HEX];
	ep_hex(p.map.refs[k]->digest, EP_DIGEST_LEN, hex);
	uint64_t ks = chunk_start(&p, k);
	uint8_t buf[4096];
	/* inside it, twice (a failed chunk is not kept), and from the chunk before into it */
	for (int i = 0; i < 2; i++) {
		memset(buf, PATTERN, 4096);
		err = (struct ep_error){ 0 };
		EXPECT(ep_export_read(x, buf, 4096, ks + 100, &err) == EP_EINTEGRITY && strstr(err.msg, hex));
		EXPECT(all_pattern(buf, 4096));
	}
	memset(buf, PATTERN, 4096);
	err = (struct ep_error){ 0 };
	EXPECT(ep_export_read(x, buf, 4096, ks - 1000, &err) == EP_EINTEGRITY && strstr(err.msg, hex));
	EXPECT(all_pattern(buf + 1000, 4096 - 1000));
	/* elsewhere, reads go on */
	EXPECT(read_right(x, &p, ks - 5000, 4000));
	EXPECT(read_right(x, &p, chunk_start(&p, k + 1) + 10, 4000));
	EXPECT(read_right(x, &p, 12 * MIB, 4096));
	EXPECT(read_right(x, &p, 9 * MIB, 4096));
	ep_export_close(x);

	/* read through in order (reading ahead): what needs it fails, the rest is right */
	x = open_export(&p, BIG_CACHE);
	if (!x) {
		unpack(&p);
		return;
	}
	bool as_expected = true;
	uint8_t *piece = malloc(MIB);
	for (uint64_t at = 0; piece && at < VSIZE; at += MIB) {
		bool needs = at < ks + chunk_size(&p, k) && at + MIB > ks;
		memset(piece, PATTERN, MIB);
		err = (struct ep_error){ 0 };
		int rc = ep_export_read(x, piece, MIB, at, &err);
		as_expected &= needs ? rc == EP_EINTEGRITY && strstr(err.msg, hex)
				     : rc == 0 && !memcmp(piece, p.bytes + at, MIB);
	}
	EXPECT(piece && as_expected);
	free(piece);
	ep_export_close(x);
	unpack(&p);
}

TEST(export_run_reports_data_and_holes)
{
	struct packed p;
	struct ep_export *x;
	if (!prepare(&p, &x, BIG_CACHE))
		return;
	static const struct {
		bool data;
		uint64_t len;
	} want[] = { { true, 7 * MIB }, { false, 4 * MIB }, { true, 7 * MIB }, { false, MIB }, { true, MIB } };
	uint64_t at = 0;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		bool data = !want[i].data;
		uint64_t len = 0;
		ep_export_run(x, at, VSIZE, &data, &len);
		EXPECT(data == want[i].data && len == want[i].len);
		at += want[i].len;
	}
	EXPECT(at == VSIZE);
	bool data;
	uint64_t len;
	ep_export_run(x, 3 * MIB, VSIZE, &data, &len); /* from inside a run, across its chunks */
	EXPECT(data && len == 4 * MIB);
	ep_export_run(x, 8 * MIB, VSIZE, &data, &len);
	EXPECT(!data && len == 3 * MIB);
	ep_export_run(x, 18 * MIB + 5, VSIZE, &data, &len);
	EXPECT(!data && len == MIB - 5);
	ep_export_run(x, VSIZE - 1, VSIZE, &data, &len);
	EXPECT(data && len == 1);
	/* clipped to max */
	ep_export_run(x, 0, 1000, &data, &len);
	EXPECT(data && len == 1000);
	ep_export_run(x, 7 * MIB, 100, &data, &len);
	EXPECT(!data && len == 100);
	ep_export_run(x, 3 * MIB, 4 * MIB, &data, &len);
	EXPECT(data && len == 4 * MIB);
	EXPECT(fetched(x) == 0);
	ep_export_close(x);
	unpack(&p);
}

/* ---- readers in several threads, as nbdkit's PARALLEL model has them ---- */

struct reader {
	struct ep_export *x;
	const struct packed *p;
	unsigned long seed;
	atomic_bool *stop;
	unsigned long reads, wrong;
};

static uint64_t next_random(unsigned long *s)
{
	uint64_t v = *s;
	v ^= v << 13;
	v ^= v >> 7;
	v ^= v << 17;
	return *s = (unsigned long)v;
}

/* Random ranges up to 3 MiB (across chunks and holes), one in four reading on from the last. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct ep_error err = { 0 };
	uint8_t *buf = malloc(3 * MIB);
	uint64_t end = 0;
	while (buf && !atomic_load(r->stop)) {
		uint64_t off = next_random(&r->seed) % 4 == 0 && end < VSIZE ? end : next_random(&r->seed) % VSIZE;
		size_t len = (size_t)(next_random(&r->seed) % (3 * MIB) + 1);
		if (len > VSIZE - off)
			len = (size_t)(VSIZE - off);
		if (ep_export_read(r->x, buf, len, off, &err) || memcmp(buf, r->p->bytes + off, len))
			r->wrong++;
		r->reads++;
		end = off + len;
	}
	if (!buf)
		r->wrong++;
	free(buf);
	return NULL;
}

/* Reads for half a second in 4 threads; the chunks fetched. */
static uint64_t read_in_threads(const struct packed *p, size_t cache)
{
	struct ep_export *x = open_export(p, cache);
	if (!x)
		return 0;
	atomic_bool stop = false;
	struct reader r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct reader){ .x = x, .p = p, .seed = 7919ul * (unsigned long)(i + 1), .stop = &stop };
		EXPECT(pthread_create(&t[i], NULL, reader_main, &r[i]) == 0);
	}
	nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 500 * 1000 * 1000 }, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT(r[i].reads > 0 && r[i].wrong == 0);
	}
	uint64_t n = fetched(x);
	ep_export_close(x);
	return n;
}

TEST(export_concurrent_reads_are_right)
{
	struct packed p;
	if (!prepare(&p, NULL, 0))
		return;
	/* glibc overwrites what is freed at once: bytes copied from a chunk another thread
	 * has evicted come out wrong, not right by luck (ASan ignores this, and finds them) */
	mallopt(M_PERTURB, 0x5a);
	read_in_threads(&p, 1); /* chunks evicted while others read them */
	EXPECT(read_in_threads(&p, BIG_CACHE) <= p.map.n); /* each once, however many threads want it at once */
	mallopt(M_PERTURB, 0);
	unpack(&p);
}

/* ---- the qcow2 overlay's header: a backing file name and its format, as qemu reads them ---- */

/* The data of header extension `type` in cluster 0, its length into *len; NULL when absent,
 * or when the extensions run into the backing file name or out of the cluster. */
static const uint8_t *find_extension(const uint8_t *h, size_t cluster, uint32_t type, uint32_t *len)
{
	uint64_t name_at = ep_be64(h + 8), limit = name_at ? name_at : cluster;
	for (uint64_t at = ep_be32(h + 100); at + 8 <= limit;) {
		uint32_t t = ep_be32(h + at), l = ep_be32(h + at + 4);
		if (t == 0 || at + 8 + l > limit)
			return NULL;
		if (t == type) {
			*len = l;
			return h + at + 8;
		}
		at += 8 + ((uint64_t)l + 7) / 8 * 8;
	}
	return NULL;
}

/* Whether the extensions end (type 0) before the backing file name begins. */
static bool extensions_end_before_name(const uint8_t *h)
{
	uint64_t name_at = ep_be64(h + 8);
	for (uint64_t at = ep_be32(h + 100); at + 8 <= name_at; at += 8 + ((uint64_t)ep_be32(h + at + 4) + 7) / 8 * 8)
		if (ep_be32(h + at) == 0)
			return ep_be32(h + at + 4) == 0;
	return false;
}

static bool create_overlay(const char *path, const char *backing, const char *format)
{
	struct ep_error err = { 0 };
	struct ep_disk *d;
	const struct ep_disk_create_opts o = { .backing = backing, .backing_format = format };
	uint8_t block[4096];
	unit_fill(block, sizeof block, 9);
	int rc = ep_disk_qcow2.create(&d, path, 1ull << 30, &o, &err);
	if (!rc) {
		rc = d->ops->write(d, block, sizeof block, 1 << 20, &err); /* the overlay holds a written cluster */
		int crc = ep_disk_close(d, &err);
		rc = rc ? rc : crc;
	}
	if (rc)
		unit_fail(__FILE__, __LINE__, err.msg);
	return rc == 0;
}

static uint8_t *read_cluster0(const char *path, uint8_t *h, size_t cluster)
{
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, h, cluster, 0) == (ssize_t)cluster;
	if (fd >= 0)
		close(fd);
	return ok ? h : NULL;
}

TEST(qcow2_overlay_names_backing_file_and_format)
{
	static const char name[] = "nbd+unix:///d?socket=/x";
	static const struct {
		const char *file, *format, *want;
	} cases[] = { { "o.qcow2", "raw", "raw" },
		      { "o8.qcow2", "qcow2raw", "qcow2raw" }, /* 8 bytes: no padding */
		      { "od.qcow2", NULL, "raw" } };
	static uint8_t h[1 << 16];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *file = cases[i].file;
		if (!create_overlay(file, name, cases[i].format) || !read_cluster0(file, h, sizeof h)) {
			EXPECT(!"an overlay written and read back");
			continue;
		}
		EXPECT(ep_be32(h) == QCOW2_MAGIC && ep_be32(h + 4) == 3 && ep_be32(h + 20) == 16);
		EXPECT(ep_be64(h + 24) == 1ull << 30);
		uint64_t at = ep_be64(h + 8);
		uint32_t size = ep_be32(h + 16), flen = 0;
		EXPECT(size == strlen(name) && at >= ep_be32(h + 100) && at + size <= sizeof h);
		EXPECT(at + size <= sizeof h && !memcmp(h + at, name, size));
		const uint8_t *f = find_extension(h, sizeof h, QCOW2_EXT_BACKING_FORMAT, &flen);
		EXPECT(f && flen == strlen(cases[i].want) && !memcmp(f, cases[i].want, flen));
		EXPECT(extensions_end_before_name(h));
	}
	/* no backing file: no name, no format */
	uint32_t flen;
	EXPECT(create_overlay("plain.qcow2", NULL, NULL) && read_cluster0("plain.qcow2", h, sizeof h));
	EXPECT(ep_be64(h + 8) == 0 && ep_be32(h + 16) == 0);
	EXPECT(!find_extension(h, sizeof h, QCOW2_EXT_BACKING_FORMAT, &flen));
	/* a name longer than qemu takes: refused, nothing written */
	char long_name[1100];
	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	struct ep_error err = { 0 };
	struct ep_disk *d;
	const struct ep_disk_create_opts long_backing = { .backing = long_name };
	EXPECT(ep_disk_qcow2.create(&d, "long.qcow2", 1 << 20, &long_backing, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "backing file name is too long") && access("long.qcow2", F_OK) != 0);
	const struct ep_disk_create_opts long_format = { .backing = name, .backing_format = "a-format-of-17-ch" };
	EXPECT(ep_disk_qcow2.create(&d, "long.qcow2", 1 << 20, &long_format, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "format 'a-format-of-17-ch' is too long") && access("long.qcow2", F_OK) != 0);
}
