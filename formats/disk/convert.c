/*
 * Copying a disk: one reader thread (the ordered pool with a single worker, as
 * readers keep caches that are not thread-safe) reads blocks ahead while this
 * thread writes the ones before, so reading and writing overlap.
 */
#include "formats/disk/convert.h"

#include <stdlib.h>

#include "base/pool.h"

#define COPY_BLOCK ((size_t)4 << 20)

struct extents {
	struct ep_extent *v;
	size_t n, cap;
	uint64_t total; /* data bytes */
};

/* The data extents, listed before reading starts: the reader thread alone touches src after. */
static int list_extents(struct ep_disk *src, struct extents *x, struct ep_error *err)
{
	struct ep_extent e;
	int rc;
	for (uint64_t from = 0; (rc = ep_disk_next_extent(src, from, &e, err)) == 1; from = e.off + e.len) {
		if (!ep_grow((void **)&x->v, &x->cap, x->n + 1, sizeof *x->v))
			return ep_oom(err);
		x->v[x->n++] = e;
		x->total += e.len;
	}
	return rc < 0 ? rc : 0;
}

/* In the reader thread: job->arg holds the offset and length to read into job->out. */
static int read_block(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	struct ep_disk *src = shared;
	(void)state;
	job->out_len = (size_t)job->arg[1];
	return src->ops->read(src, job->out, job->out_len, job->arg[0], err);
}

static const struct ep_pool_ops reader_ops = { NULL, NULL, read_block };

/* Writes the oldest block read; *done counts the bytes copied. */
static int write_oldest(struct ep_pool *pool, struct ep_disk *dst, uint64_t *done, struct ep_error *err)
{
	struct ep_job *job;
	int rc = ep_pool_wait(pool, &job, err);
	if (!rc)
		rc = dst->ops->write(dst, job->out, job->out_len, job->arg[0], err);
	*done += job->out_len;
	ep_pool_release(pool);
	return rc;
}

static int copy_extents(struct ep_pool *pool, const struct extents *x, struct ep_disk *dst,
			const struct ep_progress *progress, struct ep_error *err)
{
	uint64_t done = 0;
	int rc = 0;
	for (size_t i = 0; !rc && i < x->n; i++) {
		uint64_t end = x->v[i].off + x->v[i].len;
		for (uint64_t off = x->v[i].off; !rc && off < end;) {
			struct ep_job *job = ep_pool_slot(pool);
			if (!job) { /* every slot is read or being read: write the oldest */
				rc = write_oldest(pool, dst, &done, err);
				ep_progress_report(progress, done, x->total);
				continue;
			}
			job->arg[0] = off;
			job->arg[1] = end - off < COPY_BLOCK ? end - off : COPY_BLOCK;
			off += job->arg[1];
			ep_pool_submit(pool);
		}
	}
	while (!rc && ep_pool_pending(pool)) {
		rc = write_oldest(pool, dst, &done, err);
		ep_progress_report(progress, done, x->total);
	}
	/* after a failure the reader may still hold jobs: ep_pool_free waits for them */
	return rc;
}

int ep_disk_copy(struct ep_disk *src, struct ep_disk *dst, const struct ep_progress *progress, struct ep_error *err)
{
	struct extents x = { 0 };
	struct ep_pool *pool = NULL;
	int rc = list_extents(src, &x, err);
	if (!rc && x.n)
		rc = ep_pool_new(&pool, &reader_ops, src, 1, 0, COPY_BLOCK, err);
	if (!rc && x.n)
		rc = copy_extents(pool, &x, dst, progress, err);
	ep_pool_free(pool);
	free(x.v);
	return rc;
}
