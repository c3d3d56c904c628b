#include "base/http_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct ep_http_pool {
	ep_http_make_fn make;
	void *ctx;
	pthread_mutex_t lock;
	pthread_cond_t returned;
	unsigned max, nidle, nmade;
	struct ep_http *idle[]; /* max of them */
};

int ep_http_pool_new(struct ep_http_pool **out, unsigned max, ep_http_make_fn make, void *ctx, struct ep_error *err)
{
	struct ep_http_pool *p = calloc(1, sizeof *p + max * sizeof *p->idle);
	if (!p)
		return ep_oom(err);
	p->make = make;
	p->ctx = ctx;
	p->max = max;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->returned, NULL);
	*out = p;
	return 0;
}

void ep_http_pool_adopt(struct ep_http_pool *p, struct ep_http *first)
{
	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = first;
	p->nmade++;
	pthread_mutex_unlock(&p->lock);
}

int ep_http_pool_take(struct ep_http_pool *p, struct ep_http **out, struct ep_error *err)
{
	pthread_mutex_lock(&p->lock);
	while (!p->nidle && p->nmade >= p->max)
		pthread_cond_wait(&p->returned, &p->lock);
	if (p->nidle) {
		*out = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	p->nmade++; /* counted before it exists, so that others wait rather than pass the bound */
	pthread_mutex_unlock(&p->lock);
	int rc = p->make(p->ctx, out, err);
	if (rc) {
		pthread_mutex_lock(&p->lock);
		p->nmade--;
		pthread_cond_signal(&p->returned);
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

void ep_http_pool_give_back(struct ep_http_pool *p, struct ep_http *c)
{
	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = c;
	pthread_cond_signal(&p->returned);
	pthread_mutex_unlock(&p->lock);
}

void ep_http_pool_free(struct ep_http_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nidle; i++)
		ep_http_free(p->idle[i]);
	pthread_cond_destroy(&p->returned);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
