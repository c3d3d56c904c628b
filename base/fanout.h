/*
 * Many small independent calls at once, a few at a time: one(ctx, i) for every
 * i below n on up to max threads, each taking the next i as it finishes one.
 * For round trips (HEADs, retentions) that would otherwise be sent one after
 * another; what each call does must be safe on many threads.
 */
#ifndef EP_FANOUT_H
#define EP_FANOUT_H

#include <stddef.h>

#include "base/error.h"

#define EP_FANOUT_MAX 16

/* Every call answered before it returns; the first failure stops the ones not yet started and
 * is returned (its error into err). Runs here, alone, when no thread can be had. */
int ep_fanout(size_t n, unsigned max, int (*one)(void *ctx, size_t i, struct ep_error *err), void *ctx,
	      struct ep_error *err);

#endif
