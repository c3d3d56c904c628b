#include "base/interrupt.h"

#include <signal.h>
#include <stdatomic.h>
#include <time.h>

static atomic_int armed;
static volatile sig_atomic_t interrupted;

void ep_interrupt_signal(int sig)
{
	if (atomic_load(&armed) <= 0 || interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = 1;
}

void ep_interrupt_arm(void)
{
	atomic_fetch_add(&armed, 1);
}

void ep_interrupt_disarm(void)
{
	atomic_fetch_sub(&armed, 1);
}

bool ep_interrupted(void)
{
	return interrupted != 0;
}

bool ep_interrupt_pause(unsigned seconds)
{
	for (unsigned i = 0; i < seconds * 10 && !ep_interrupted(); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	return ep_interrupted();
}

int ep_interrupt_wait(int (*look)(void *ctx, struct ep_error *err), void *ctx, unsigned seconds, unsigned minutes,
		      enum ep_wait_end *end, struct ep_error *err)
{
	time_t deadline = time(NULL) + (time_t)minutes * 60;
	*end = EP_WAIT_DONE;
	for (;;) {
		int rc = look(ctx, err);
		if (rc)
			return rc == 1 ? 0 : rc;
		if (time(NULL) + (time_t)seconds > deadline) {
			*end = EP_WAIT_TIMED_OUT;
			return 0;
		}
		if (ep_interrupt_pause(seconds)) {
			*end = EP_WAIT_INTERRUPTED;
			return 0;
		}
	}
}
