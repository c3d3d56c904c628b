#include "base/ring.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ep_ring {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *buf;
	size_t cap, head, count;
	bool done, cancel;
	int rc; /* fill's, once done */
	struct ep_error err;
	ep_ring_fill_fn fill;
	void *ctx;
};

static void *run(void *arg)
{
	struct ep_ring *r = arg;
	struct ep_error err = { 0 };
	int rc = r->fill(r->ctx, r, &err);
	pthread_mutex_lock(&r->lock);
	r->done = true, r->rc = rc, r->err = err;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void ring_free(struct ep_ring *r)
{
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->buf);
	free(r);
}

int ep_ring_start(struct ep_ring **out, size_t cap, ep_ring_fill_fn fill, void *ctx, struct ep_error *err)
{
	struct ep_ring *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r || !(r->buf = malloc(cap))) {
		free(r);
		return ep_oom(err);
	}
	r->cap = cap, r->fill = fill, r->ctx = ctx;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	int e = pthread_create(&r->thread, NULL, run, r);
	if (e) {
		ring_free(r);
		return ep_fail(err, EP_ERUNTIME, "cannot start a download thread: %s", strerror(e));
	}
	*out = r;
	return 0;
}

int ep_ring_push(void *ring, const void *data, size_t len, struct ep_error *err)
{
	struct ep_ring *r = ring;
	const uint8_t *p = data;
	pthread_mutex_lock(&r->lock);
	while (len && !r->cancel) {
		while (r->count == r->cap && !r->cancel)
			pthread_cond_wait(&r->cond, &r->lock);
		size_t tail = (r->head + r->count) % r->cap, room = r->cap - r->count;
		size_t n = len < room ? len : room;
		if (n > r->cap - tail)
			n = r->cap - tail;
		if (r->cancel)
			break;
		memcpy(r->buf + tail, p, n);
		r->count += n, p += n, len -= n;
		pthread_cond_broadcast(&r->cond);
	}
	bool cancel = r->cancel;
	pthread_mutex_unlock(&r->lock);
	return cancel ? ep_fail(err, EP_ERUNTIME, "the download was stopped") : 0;
}

ssize_t ep_ring_take(struct ep_ring *r, void *buf, size_t cap, struct ep_error *err)
{
	pthread_mutex_lock(&r->lock);
	while (!r->count && !r->done)
		pthread_cond_wait(&r->cond, &r->lock);
	size_t n = r->count < cap ? r->count : cap;
	if (n > r->cap - r->head)
		n = r->cap - r->head;
	memcpy(buf, r->buf + r->head, n);
	r->head = (r->head + n) % r->cap, r->count -= n;
	pthread_cond_broadcast(&r->cond);
	int rc = !n && r->rc ? r->rc : 0;
	if (rc)
		*err = r->err;
	pthread_mutex_unlock(&r->lock);
	return rc ? rc : (ssize_t)n;
}

void ep_ring_close(struct ep_ring *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->cancel = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	ring_free(r);
}
