#include "base/pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ep_pool {
	const struct ep_pool_ops *ops;
	void *shared;
	pthread_mutex_t lock;
	pthread_cond_t work_ready; /* workers wait here */
	pthread_cond_t job_done;   /* the caller waits here */
	struct ep_job *jobs;
	uint8_t **in; /* each slot's input buffer as allocated (a caller may point jobs[i].in elsewhere) */
	bool *done;
	unsigned nslots;
	uint64_t head;   /* oldest job not yet released */
	uint64_t next;   /* next job a worker takes */
	uint64_t tail;   /* next job to submit */
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

unsigned ep_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static void *worker_main(void *arg)
{
	struct ep_pool *p = arg;
	void *state = p->ops->worker_new ? p->ops->worker_new(p->shared) : NULL;
	bool state_ok = !p->ops->worker_new || state;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stopping && p->next == p->tail)
			pthread_cond_wait(&p->work_ready, &p->lock);
		if (p->stopping)
			break;
		unsigned i = (unsigned)(p->next++ % p->nslots);
		pthread_mutex_unlock(&p->lock);
		struct ep_job *job = &p->jobs[i];
		job->err.code = 0;
		job->status = state_ok ? p->ops->work(p->shared, state, job, &job->err) : ep_oom(&job->err);
		pthread_mutex_lock(&p->lock);
		p->done[i] = true;
		pthread_cond_broadcast(&p->job_done);
	}
	pthread_mutex_unlock(&p->lock);
	if (state && p->ops->worker_free)
		p->ops->worker_free(state);
	return NULL;
}

int ep_pool_new(struct ep_pool **out, const struct ep_pool_ops *ops, void *shared, unsigned threads,
		size_t in_cap, size_t out_cap, struct ep_error *err)
{
	struct ep_pool *p = calloc(1, sizeof *p);
	if (!p)
		return ep_oom(err);
	p->ops = ops;
	p->shared = shared;
	/* enough slots to keep every worker busy, few enough to bound memory
	 * (the callers' buffers are at most ~8 MiB a slot) */
	p->nslots = threads * 2 + 2 < EP_POOL_MAX_SLOTS ? threads * 2 + 2 : EP_POOL_MAX_SLOTS;
	if (threads > p->nslots)
		threads = p->nslots;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_ready, NULL);
	pthread_cond_init(&p->job_done, NULL);
	p->jobs = calloc(p->nslots, sizeof *p->jobs);
	p->in = calloc(p->nslots, sizeof *p->in);
	p->done = calloc(p->nslots, sizeof *p->done);
	p->threads = calloc(threads, sizeof *p->threads);
	if (!p->jobs || !p->in || !p->done || !p->threads)
		goto oom;
	for (unsigned i = 0; i < p->nslots; i++) {
		p->jobs[i].in = p->in[i] = malloc(in_cap ? in_cap : 1);
		p->jobs[i].out = malloc(out_cap ? out_cap : 1);
		if (!p->in[i] || !p->jobs[i].out)
			goto oom;
	}
	for (; p->nthreads < threads; p->nthreads++) {
		if (pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) != 0) {
			ep_pool_free(p);
			return ep_fail(err, EP_ERUNTIME, "cannot start worker thread");
		}
	}
	*out = p;
	return 0;
oom:
	ep_pool_free(p);
	return ep_oom(err);
}

void ep_pool_free(struct ep_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work_ready);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	if (p->jobs && p->in)
		for (unsigned i = 0; i < p->nslots; i++) {
			free(p->in[i]);
			free(p->jobs[i].out);
		}
	free(p->jobs);
	free(p->in);
	free(p->done);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work_ready);
	pthread_cond_destroy(&p->job_done);
	free(p);
}

struct ep_job *ep_pool_slot(struct ep_pool *p)
{
	/* head and tail are only moved by the caller's thread */
	if (p->tail - p->head >= p->nslots)
		return NULL;
	return &p->jobs[p->tail % p->nslots];
}

void ep_pool_submit(struct ep_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->done[p->tail % p->nslots] = false;
	p->tail++;
	pthread_cond_signal(&p->work_ready);
	pthread_mutex_unlock(&p->lock);
}

bool ep_pool_pending(const struct ep_pool *p)
{
	return p->head != p->tail;
}

int ep_pool_wait(struct ep_pool *p, struct ep_job **job, struct ep_error *err)
{
	unsigned i = (unsigned)(p->head % p->nslots);
	pthread_mutex_lock(&p->lock);
	while (!p->done[i])
		pthread_cond_wait(&p->job_done, &p->lock);
	pthread_mutex_unlock(&p->lock);
	*job = &p->jobs[i];
	if ((*job)->status && err)
		*err = (*job)->err;
	return (*job)->status;
}

void ep_pool_release(struct ep_pool *p)
{
	p->head++;
}
