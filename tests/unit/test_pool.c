#include <string.h>
#include <unistd.h>

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
