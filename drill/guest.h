/*
 * A machine of a backup booted in qemu-system-x86_64 for a drill: the machine model's
 * CPUs, memory, firmware (OVMF for UEFI, its Secure Boot build with Microsoft's keys when
 * the machine enforces Secure Boot) and disk buses, each disk a qcow2 overlay over
 * the served backup, its serial console in a file, an isolated user-mode network (no
 * route out) whose only way in is the host ports forwarded for the checks. KVM where
 * /dev/kvm is usable, else TCG. qemu ends with this process, however that ends.
 */
#ifndef EP_GUEST_H
#define EP_GUEST_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "formats/bundle/machine.h"

#define EP_GUEST_FORWARDS 8

struct ep_guest_forward {
	unsigned guest, host; /* a guest TCP port reached at 127.0.0.1:host */
};

struct ep_guest {
	pid_t pid;
	char serial[PATH_MAX]; /* the console's file */
	char log[PATH_MAX];    /* qemu's own stderr */
	bool kvm;
};

/* Boots m, disk i from overlays[i] (qcow2, for m->disks[i]), its files in dir. */
int ep_guest_start(struct ep_guest *g, const struct ep_machine *m, char *const *overlays, const char *dir,
		   const struct ep_guest_forward *fwd, size_t nfwd, struct ep_error *err);
/* Whether qemu still runs; when not, why (its last line) into why. */
bool ep_guest_running(struct ep_guest *g, char *why, size_t cap);
/* Whether the console shows the firmware gave up: OVMF tried every boot option and waits
 * for a key; why says so, and that Secure Boot refused a boot loader when it did. */
bool ep_guest_gave_up(const char *console, char *why, size_t cap);
/* Powers it off (SIGTERM, then SIGKILL) and reaps it. */
void ep_guest_stop(struct ep_guest *g);

#endif
