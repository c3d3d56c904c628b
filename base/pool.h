/*
 * An ordered worker pool: the caller fills job slots in sequence, worker
 * threads process them in any order, and the caller takes results back in
 * the order it submitted them. Memory is bounded by slots x buffer sizes.
 */
#ifndef EP_POOL_H
#define EP_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/util.h"

struct ep_job {
	uint8_t *in;  /* in_cap bytes, owned by the pool; with in_cap 0, the caller points it at its own bytes */
	size_t in_len;
	uint8_t *out; /* out_cap bytes, owned by the pool */
	size_t out_len;
	uint8_t digest[EP_DIGEST_LEN];
	uint64_t arg[2]; /* caller's data about the job */
	bool flag;       /* caller's or worker's mark */
	int status;
	struct ep_error err;
};

struct ep_pool_ops {
	void *(*worker_new)(void *shared); /* per-thread state; NULL result means out of memory */
	void (*worker_free)(void *state);
	int (*work)(void *shared, void *state, struct ep_job *job, struct ep_error *err);
};

#define EP_POOL_MAX_SLOTS 24

struct ep_pool;

int ep_pool_new(struct ep_pool **out, const struct ep_pool_ops *ops, void *shared, unsigned threads,
		size_t in_cap, size_t out_cap, struct ep_error *err);
void ep_pool_free(struct ep_pool *pool);
/* The next slot to fill, or NULL while every slot holds a job not yet released. */
struct ep_job *ep_pool_slot(struct ep_pool *pool);
/* Hand the slot returned by ep_pool_slot to the workers. */
void ep_pool_submit(struct ep_pool *pool);
bool ep_pool_pending(const struct ep_pool *pool);
/* Wait for the oldest submitted job; returns its status (its error copied to err). */
int ep_pool_wait(struct ep_pool *pool, struct ep_job **job, struct ep_error *err);
/* Give the oldest job's slot back. */
void ep_pool_release(struct ep_pool *pool);
unsigned ep_cpu_count(void);

#endif
