/*
 * A download streamed into a consumer: one thread of its own runs fill, which hands
 * the bytes it gets to ep_ring_push in order; the consumer (pack's thread) takes them
 * with ep_ring_take. A ring of cap bytes lies between them, so memory stays at cap
 * whatever the size, and the download runs while the consumer works.
 */
#ifndef EP_RING_H
#define EP_RING_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

struct ep_ring;

/* Runs on the ring's thread: 0 once every byte was pushed, else its failure, which the
 * consumer gets after the bytes pushed before it. */
typedef int (*ep_ring_fill_fn)(void *ctx, struct ep_ring *ring, struct ep_error *err);

int ep_ring_start(struct ep_ring **out, size_t cap, ep_ring_fill_fn fill, void *ctx, struct ep_error *err);
/* The producer's: copies len bytes in, waiting for room; fails once the ring is closed.
 * Its signature is a sink's (ring is the struct ep_ring). */
int ep_ring_push(void *ring, const void *data, size_t len, struct ep_error *err);
/* Up to cap bytes into buf: the count, 0 at the end, or fill's failure (< 0, in err). */
ssize_t ep_ring_take(struct ep_ring *ring, void *buf, size_t cap, struct ep_error *err);
/* Stops a fill still running (its next push fails), waits for it, frees the ring. */
void ep_ring_close(struct ep_ring *ring);

#endif
