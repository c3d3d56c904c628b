/*
 * Connections for many threads: a curl handle serves one thread at a time, so
 * each request takes a connection of its own from the pool and gives it back.
 * Idle ones are reused; a new one is made while all are busy, up to a bound;
 * past it a thread waits for one to come back. The lock is held only to take
 * or give back, never over a request.
 */
#ifndef EP_HTTP_POOL_H
#define EP_HTTP_POOL_H

#include "base/error.h"
#include "base/http.h"

/* Makes a new connection like the others (an S3 client's, a clone of a model). */
typedef int (*ep_http_make_fn)(void *ctx, struct ep_http **out, struct ep_error *err);

struct ep_http_pool;

/* At most max connections (max >= 1), made by make with ctx (borrowed). */
int ep_http_pool_new(struct ep_http_pool **out, unsigned max, ep_http_make_fn make, void *ctx, struct ep_error *err);
/* Hands first (made already, e.g. by a first request) to the pool as an idle connection. */
void ep_http_pool_adopt(struct ep_http_pool *p, struct ep_http *first);
int ep_http_pool_take(struct ep_http_pool *p, struct ep_http **out, struct ep_error *err);
void ep_http_pool_give_back(struct ep_http_pool *p, struct ep_http *c);
/* Frees the pool and its connections, all given back by now. */
void ep_http_pool_free(struct ep_http_pool *p);

#endif
