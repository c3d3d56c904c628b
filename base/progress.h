/* Progress reports from library code; the CLI decides whether and how to draw them. */
#ifndef EP_PROGRESS_H
#define EP_PROGRESS_H

#include <stdint.h>

struct ep_progress {
	void (*update)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

static inline void ep_progress_report(const struct ep_progress *p, uint64_t done, uint64_t total)
{
	if (p && p->update)
		p->update(p->ctx, done, total);
}

#endif
