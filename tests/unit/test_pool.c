#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/fanout.h"
#include "base/pool.h"
#include "tests/unit/unit.h"

static int double_it(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	(void)shared;
	(void)state;
	usleep((useconds_t)(job->arg[0] * 7919 % 500)); /* finish out of order */
	if (job->arg[0] == 77)
		return ep_fail(err, EP_EINTEGRITY, "job %d failed", 77);
	job->arg[1] = job->arg[0] * 2;
	return 0;
}

static const struct ep_pool_ops ops = { NULL, NULL, double_it };

TEST(pool_keeps_order_and_reports_errors)
{
	struct ep_pool *p;
	struct ep_error err = { 0 };
	EXPECT(ep_pool_new(&p, &ops, NULL, 3, 16, 16, &err) == 0);
	uint64_t next = 0, expect = 0;
	int failures = 0;
	while (expect < 200) {
		struct ep_job *job;
		while (next < 200 && (job = ep_pool_slot(p))) {
			job->arg[0] = next++;
			ep_pool_submit(p);
		}
		int rc = ep_pool_wait(p, &job, &err);
		if (expect == 77) {
			EXPECT(rc == EP_EINTEGRITY && strstr(err.msg, "job 77"));
			failures++;
		} else {
			EXPECT(rc == 0 && job->arg[0] == expect && job->arg[1] == expect * 2);
		}
		ep_pool_release(p);
		expect++;
	}
	EXPECT(failures == 1 && !ep_pool_pending(p));
	ep_pool_free(p);
}

/* ep_fanout: every call once, never more than max at a time, the first failure returned. */
struct fan {
	pthread_mutex_t lock;
	unsigned calls[300], running, most;
	size_t fail_at; /* SIZE_MAX: none */
};

static int fan_one(void *ctx, size_t i, struct ep_error *err)
{
	struct fan *f = ctx;
	pthread_mutex_lock(&f->lock);
	f->calls[i]++;
	if (++f->running > f->most)
		f->most = f->running;
	pthread_mutex_unlock(&f->lock);
	usleep((useconds_t)(i * 7919 % 300)); /* finish out of order */
	pthread_mutex_lock(&f->lock);
	f->running--;
	pthread_mutex_unlock(&f->lock);
	return i == f->fail_at ? ep_fail(err, EP_EINTEGRITY, "call %zu failed", i) : 0;
}

TEST(fanout_calls_each_once_bounded)
{
	static struct fan f = { .lock = PTHREAD_MUTEX_INITIALIZER, .fail_at = SIZE_MAX };
	struct ep_error err = { 0 };
	EXPECT(ep_fanout(300, 5, fan_one, &f, &err) == 0);
	unsigned once = 0;
	for (size_t i = 0; i < 300; i++)
		once += f.calls[i] == 1;
	EXPECT(once == 300);
	EXPECT(f.most >= 2 && f.most <= 5);
	EXPECT(ep_fanout(0, 5, fan_one, &f, &err) == 0);
	memset(f.calls, 0, sizeof f.calls);
	f.most = 0;
	f.fail_at = 40;
	EXPECT(ep_fanout(300, 3, fan_one, &f, &err) == EP_EINTEGRITY && strstr(err.msg, "call 40 failed"));
	unsigned called = 0;
	for (size_t i = 0; i < 300; i++)
		called += f.calls[i];
	EXPECT(called < 300 && f.calls[40] == 1 && f.most <= 3); /* the rest not started */
}
