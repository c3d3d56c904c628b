/*
 * A gzip stream written to a file, for archives whose members are mostly
 * zeros (a disk image's holes). Deflating zeros costs 3 to 6 s a GiB, so a run
 * of EP_GZIP_ZERO_RUN zeros or more is one full flush and then copies of a
 * deflate of that many zeros made once at open, its CRC combined, not computed:
 * a mostly empty disk costs its data, not its size.
 */
#ifndef EP_GZIP_H
#define EP_GZIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define EP_GZIP_ZERO_RUN ((size_t)1 << 20)
#define EP_GZIP_ZERO_RUN_MAX 1100 /* what one run deflates to (1037 bytes at zlib's level 6), and some */

struct ep_gzip;

/* Starts the stream at the beginning of fd (borrowed; path names it in messages). The header
 * carries no name and no time, so the same data makes the same bytes. */
int ep_gzip_open(struct ep_gzip **out, int fd, const char *path, struct ep_error *err);
int ep_gzip_write(struct ep_gzip *g, const void *data, size_t len, struct ep_error *err);
/* Ends the deflate stream and writes the trailer (CRC-32, length modulo 2^32). */
int ep_gzip_finish(struct ep_gzip *g, struct ep_error *err);
void ep_gzip_free(struct ep_gzip *g);

#endif
