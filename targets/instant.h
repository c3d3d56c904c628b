/*
 * Instant recovery into a directory (restore --instant to dir: or libvirt:): nbdkit serves
 * the backup's disks from DIR/.envpack-instant (socket, pid file, log) and each restored
 * disk is a qcow2 overlay backed by its export, so a machine starts at once and its
 * writes stay local. Finishing copies what the overlays still read from the export into
 * them (qemu-img rebase for a disk no running domain uses, libvirt's block pull for one a
 * running domain does), then stops the server.
 */
#ifndef EP_INSTANT_H
#define EP_INSTANT_H

#include <limits.h>
#include <stddef.h>

#include "base/error.h"
#include "serve/server.h"

#define EP_INSTANT_DIR ".envpack-instant"

/* Starts serving o (its socket set here) for an instant restore into dir, which is
 * created if missing; refuses a dir holding an unfinished one. */
int ep_instant_begin(const char *dir, struct ep_serve_options *o, struct ep_server *s, char *socket, size_t cap,
		     struct ep_error *err);
/* Undoes ep_instant_begin after a failed restore. */
void ep_instant_cancel(const char *dir, struct ep_server *s);

struct ep_instant_done {
	size_t disks;   /* overlays made whole */
	size_t running; /* of them, pulled in while a domain ran on them */
};
/* Makes every overlay in dir backed by its export whole, then stops the server.
 * libvirt_uri: where to look for running domains (NULL: libvirt's default; unreachable:
 * none is taken to run, and qemu-img's lock refuses a disk in use). */
int ep_instant_finish(const char *dir, const char *libvirt_uri, struct ep_instant_done *done, struct ep_error *err);

#endif
