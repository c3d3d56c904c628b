/*
 * Ctrl-C and SIGTERM while remote work is under way. Library code that has
 * something to undo remotely (a half-written blob to delete) arms this; the
 * CLI's handler then only records the signal, and that code, seeing
 * ep_interrupted(), fails and cleans up as on any error. Unarmed, or at a
 * second signal, the signal takes its default course at once, as before.
 */
#ifndef EP_INTERRUPT_H
#define EP_INTERRUPT_H

#include <stdbool.h>

/* The handler the CLI installs for SIGINT and SIGTERM (async-signal-safe). */
void ep_interrupt_signal(int sig);
/* Counted: each arm is matched by a disarm. */
void ep_interrupt_arm(void);
void ep_interrupt_disarm(void);
bool ep_interrupted(void);
/* Sleeps seconds, in steps of 0.1 s so that a signal ends it soon: whether one did. */
bool ep_interrupt_pause(unsigned seconds);

struct ep_error;
enum ep_wait_end { EP_WAIT_DONE, EP_WAIT_TIMED_OUT, EP_WAIT_INTERRUPTED };
/* Asks look(ctx, err) every `seconds` until it answers 1 (done) or an error (returned), for
 * `minutes` at most: 0 with *end saying whether it was done, would have asked past the
 * limit next, or was interrupted while it paused (each caller says which it gave up on). */
int ep_interrupt_wait(int (*look)(void *ctx, struct ep_error *err), void *ctx, unsigned seconds, unsigned minutes,
		      enum ep_wait_end *end, struct ep_error *err);

#endif
