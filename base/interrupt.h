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

#endif
