/* A disk read over NBD (libnbd) from a server on a unix socket: a live domain's
 * backup export. Not in the format table: there is no file to probe. */
#ifndef EP_NBD_H
#define EP_NBD_H

#include <stdint.h>

#include "formats/disk/disk.h"

/* Connects to export `name` at the unix socket `socket`; extents come from the
 * server's base:allocation block status, so holes and zeros are not read. `bitmap`,
 * when not NULL, is a dirty bitmap's meta context ("qemu:dirty-bitmap:backup-sda")
 * the server must offer, for ep_disk_nbd_dirty. */
int ep_disk_nbd_open(struct ep_disk **out, const char *socket, const char *name, const char *bitmap,
		     struct ep_error *err);
/* The runs the bitmap marks dirty, in order and merged (heap, free()). */
int ep_disk_nbd_dirty(struct ep_disk *d, struct ep_extent **ranges, size_t *n, struct ep_error *err);
/* The bytes read from the server so far. */
uint64_t ep_disk_nbd_bytes_read(const struct ep_disk *d);

#endif
