/* formats/disk/file.c: a byte source's windows give back the bytes asked for, whatever
 * the order and size of the reads, in few requests; a read past its end or a failed
 * request is an error, never stale bytes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/disk/disk.h"
#include "tests/unit/unit.h"

struct fake {
	const uint8_t *data;
	uint64_t size;
	atomic_uint requests;
	atomic_ullong bytes;
	uint64_t fail_from; /* requests reaching this offset fail; UINT64_MAX: none */
	pthread_t reader;   /* when hold_others: requests from other threads (prefetchers) wait */
	atomic_bool hold_others;
};

static int fake_pread(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct fake *f = ctx;
	atomic_fetch_add(&f->requests, 1);
	atomic_fetch_add(&f->bytes, len);
	while (atomic_load(&f->hold_others) && !pthread_equal(pthread_self(), f->reader))
		usleep(1000);
	if (off + len > f->size)
		return ep_fail(err, EP_ERUNTIME, "fake: read past the end");
	if (off + len > f->fail_from)
		return ep_fail(err, EP_ERUNTIME, "fake: the server went away");
	memcpy(buf, f->data + off, len);
	return 0;
}

#define SIZE ((uint64_t)100 << 20)

static struct ep_disk_file *open_fake(struct fake *fk, uint8_t **data)
{
	*data = malloc(SIZE);
	unit_fill(*data, SIZE, 17);
	*fk = (struct fake){ .data = *data, .size = SIZE, .fail_from = UINT64_MAX, .reader = pthread_self() };
	struct ep_disk_file *f = NULL;
	struct ep_error err = { 0 };
	EXPECT(ep_disk_file_remote(&f, "fake://disk", SIZE, fake_pread, fk, &err) == 0);
	return f;
}

TEST(disk_file_stream_reads_few_and_right)
{
	struct fake fk;
	uint8_t *data, *buf = malloc(1 << 20);
	struct ep_disk_file *f = open_fake(&fk, &data);
	struct ep_error err = { 0 };
	bool same = true;
	/* a stream of small reads, as a streamOptimized VMDK's grains are read */
	for (uint64_t off = 0; off < SIZE; off += 70001) {
		size_t n = SIZE - off < 70001 ? (size_t)(SIZE - off) : 70001;
		EXPECT(ep_disk_file_pread(f, buf, n, off, &err) == 0);
		same = same && !memcmp(buf, data + off, n);
	}
	EXPECT(same);
	/* 100 MiB in windows growing to 8 MiB: about 17 requests, where 4 KiB reads would be 25600 */
	EXPECT(fk.requests <= 24);
	EXPECT(fk.bytes <= SIZE + (8 << 20));
	ep_disk_file_close(f);
	free(buf);
	free(data);
}

TEST(disk_file_tables_read_between_a_stream_do_not_evict_what_it_read_ahead)
{
	struct fake fk;
	uint8_t *data, *buf = malloc(1 << 20);
	struct ep_disk_file *f = open_fake(&fk, &data);
	struct ep_error err = { 0 };
	bool same = true;
	unsigned tables = 0;
	/* a qcow2's data read in order, an L2 table (64 KiB) loaded somewhere behind every 2 MiB */
	for (uint64_t off = 0; off < SIZE; off += 1 << 20) {
		EXPECT(ep_disk_file_pread(f, buf, 1 << 20, off, &err) == 0);
		same = same && !memcmp(buf, data + off, 1 << 20);
		if (off % (2 << 20) == 0 && off > (16 << 20)) {
			uint64_t t = (off / 3) & ~(uint64_t)65535;
			EXPECT(ep_disk_file_pread(f, buf, 65536, t, &err) == 0);
			same = same && !memcmp(buf, data + t, 65536);
			tables++;
		}
	}
	EXPECT(same);
	/* the stream's bytes once, and a window of 256 KiB a table at most */
	EXPECT(fk.bytes <= SIZE + (uint64_t)tables * (256 << 10));
	ep_disk_file_close(f);
	free(buf);
	free(data);
}

TEST(disk_file_scattered_reads_are_right)
{
	struct fake fk;
	uint8_t *data, *buf = malloc(9 << 20);
	struct ep_disk_file *f = open_fake(&fk, &data);
	struct ep_error err = { 0 };
	bool same = true;
	unsigned long seed = 5;
	for (int i = 0; i < 400; i++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		uint64_t off = (seed >> 11) % SIZE;
		size_t n = (size_t)((seed >> 40) % (i % 7 == 0 ? (9u << 20) : 70000u)) + 1; /* some direct, past 8 MiB */
		if (n > SIZE - off)
			n = (size_t)(SIZE - off);
		EXPECT(ep_disk_file_pread(f, buf, n, off, &err) == 0);
		same = same && !memcmp(buf, data + off, n);
		/* then a stream from there, so that windows are read ahead and evicted */
		for (int k = 0; k < 40 && off + n + 65536 <= SIZE; k++, off += n, n = 65536) {
			EXPECT(ep_disk_file_pread(f, buf, 65536, off + n, &err) == 0);
			same = same && !memcmp(buf, data + off + n, 65536);
		}
	}
	EXPECT(same);
	ep_disk_file_close(f);
	free(buf);
	free(data);
}

/* Reads 64 KiB at a time from off until the stream reads 8 MiB windows, and so queues windows ahead. */
static bool stream_until_read_ahead(struct ep_disk_file *f, const uint8_t *data, uint64_t off)
{
	uint8_t buf[65536];
	struct ep_error err = { 0 };
	bool same = true;
	for (uint64_t end = off + (15 << 20); off < end; off += sizeof buf) {
		EXPECT(ep_disk_file_pread(f, buf, sizeof buf, off, &err) == 0);
		same = same && !memcmp(buf, data + off, sizeof buf);
	}
	return same;
}

TEST(disk_file_a_read_is_served_while_every_window_waits_on_a_stalled_prefetch)
{
	struct fake fk;
	uint8_t *data, buf[65536];
	struct ep_disk_file *f = open_fake(&fk, &data);
	struct ep_error err = { 0 };
	atomic_store(&fk.hold_others, true);
	/* two streams abandoned while their windows ahead are read (4) or queued (4)... */
	EXPECT(stream_until_read_ahead(f, data, 0));
	EXPECT(stream_until_read_ahead(f, data, 50 << 20));
	/* ...and a read elsewhere still gets its bytes (it once failed as out of memory) */
	EXPECT(ep_disk_file_pread(f, buf, sizeof buf, 99 << 20, &err) == 0);
	EXPECT(!memcmp(buf, data + (99 << 20), sizeof buf));
	atomic_store(&fk.hold_others, false);
	ep_disk_file_close(f);
	free(data);
}

TEST(disk_file_refuses_reads_past_its_end_and_failed_requests)
{
	struct fake fk;
	uint8_t *data, buf[4096];
	struct ep_disk_file *f = open_fake(&fk, &data);
	struct ep_error err = { 0 };
	EXPECT(ep_disk_file_pread(f, buf, sizeof buf, SIZE - 100, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "fake://disk") && strstr(err.msg, "truncated"));
	EXPECT(fk.requests == 0);
	/* a request failing mid-stream (a prefetch's too) fails the read that needs its bytes */
	fk.fail_from = 40 << 20;
	err = (struct ep_error){ 0 };
	int rc = 0;
	uint64_t off = 0;
	for (; off < SIZE && !rc; off += sizeof buf)
		rc = ep_disk_file_pread(f, buf, sizeof buf, off, &err);
	EXPECT(rc == EP_ERUNTIME && strstr(err.msg, "went away"));
	EXPECT(off > (30u << 20) && off <= (40u << 20) + sizeof buf);
	/* and once the server is back, the same bytes read right */
	fk.fail_from = UINT64_MAX;
	err = (struct ep_error){ 0 };
	EXPECT(ep_disk_file_pread(f, buf, sizeof buf, off - sizeof buf, &err) == 0);
	EXPECT(!memcmp(buf, data + off - sizeof buf, sizeof buf));
	ep_disk_file_close(f);
	free(data);
}
