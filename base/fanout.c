#include "base/fanout.h"

#include <pthread.h>
#include <stdbool.h>

struct fanout {
	size_t n, next;
	int (*one)(void *ctx, size_t i, struct ep_error *err);
	void *ctx;
	pthread_mutex_t lock;
	int rc; /* the first failure, and its error */
	struct ep_error err;
};

static void *worker(void *arg)
{
	struct fanout *f = arg;
	struct ep_error err = { 0 };
	for (;;) {
		pthread_mutex_lock(&f->lock);
		size_t i = f->next;
		bool stop = f->rc || i >= f->n;
		f->next += !stop;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
		int rc = f->one(f->ctx, i, &err);
		if (rc) {
			pthread_mutex_lock(&f->lock);
			if (!f->rc)
				f->rc = rc, f->err = err;
			pthread_mutex_unlock(&f->lock);
		}
	}
	return NULL;
}

int ep_fanout(size_t n, unsigned max, int (*one)(void *ctx, size_t i, struct ep_error *err), void *ctx,
	      struct ep_error *err)
{
	struct fanout f = { .n = n, .one = one, .ctx = ctx };
	pthread_t threads[EP_FANOUT_MAX];
	size_t want = max < EP_FANOUT_MAX ? max : EP_FANOUT_MAX, started = 0;
	if (want > n)
		want = n;
	pthread_mutex_init(&f.lock, NULL);
	while (started < want && pthread_create(&threads[started], NULL, worker, &f) == 0)
		started++;
	if (!started && n)
		worker(&f);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&f.lock);
	if (f.rc)
		*err = f.err;
	return f.rc;
}
