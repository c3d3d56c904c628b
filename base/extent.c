#include "base/extent.h"

#include <errno.h>
#include <unistd.h>

int ep_file_next_extent(int fd, uint64_t from, uint64_t size, struct ep_extent *out, const char *path,
			struct ep_error *err)
{
	if (from >= size)
		return 0;
	off_t data = lseek(fd, (off_t)from, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		return 0;
	if (data < 0 && errno == EINVAL) { /* no hole support here: all data */
		*out = (struct ep_extent){ from, size - from, EP_EXT_DATA };
		return 1;
	}
	if (data < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot find data in '%s'", path);
	off_t hole = lseek(fd, data, SEEK_HOLE);
	if (hole < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot find holes in '%s'", path);
	uint64_t end = (uint64_t)hole < size ? (uint64_t)hole : size;
	if ((uint64_t)data >= end)
		return 0;
	*out = (struct ep_extent){ (uint64_t)data, end - (uint64_t)data, EP_EXT_DATA };
	return 1;
}

size_t ep_runs_after(const struct ep_extent *runs, size_t n, uint64_t at)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (runs[mid].off + runs[mid].len <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ep_runs_next(const struct ep_extent *runs, size_t n, uint64_t from, struct ep_extent *out)
{
	size_t i = ep_runs_after(runs, n, from);
	if (i == n)
		return 0;
	uint64_t at = runs[i].off > from ? runs[i].off : from;
	*out = (struct ep_extent){ at, runs[i].off + runs[i].len - at, EP_EXT_DATA };
	return 1;
}
