/*
 * A run of a disk or file: where it is and whether it holds data or reads as
 * zeros. Disk readers yield them (formats/disk/disk.h); plain files give theirs
 * through SEEK_DATA/SEEK_HOLE, for any layer that sends only allocated ranges.
 */
#ifndef EP_EXTENT_H
#define EP_EXTENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum { EP_EXT_DATA = 1, EP_EXT_ZERO = 2 };

struct ep_extent {
	uint64_t off, len;
	unsigned flags;
};

/* The first run of data at or after from in a plain file of size bytes (SEEK_DATA/SEEK_HOLE):
 * 1 and *out, or 0 when none is left. A file system without hole support is all data. */
int ep_file_next_extent(int fd, uint64_t from, uint64_t size, struct ep_extent *out, const char *path,
			struct ep_error *err);

/* The first of n sorted, disjoint runs ending after at (n when none does). */
size_t ep_runs_after(const struct ep_extent *runs, size_t n, uint64_t at);
/* The data at or after from that n sorted, disjoint runs hold, as a disk's next_extent
 * answers: 1 and *out (the run, cut to start at from), or 0 when none is left. */
int ep_runs_next(const struct ep_extent *runs, size_t n, uint64_t from, struct ep_extent *out);

#endif
