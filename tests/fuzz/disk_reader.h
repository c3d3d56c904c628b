/* The body of every disk-reader fuzz target: open arbitrary bytes as FUZZ_FORMAT,
 * walk its extents and read them (at most 16 MiB), as convert and pack do. The
 * image sits alone in its own directory, so a reference can only find itself. */
#ifndef FUZZ_FORMAT
#error define FUZZ_FORMAT before including disk_reader.h
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "formats/disk/disk.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX];
	if (!path[0])
		fuzz_path(path, sizeof path, "%s/image." FUZZ_FORMAT, fuzz_scratch(FUZZ_FORMAT));
	fuzz_put(path, data, size);
	struct ep_disk *d;
	struct ep_error err = { 0 };
	struct ep_disk_open_opts opts = { .format = FUZZ_FORMAT };
	if (ep_disk_open(&d, path, &opts, &err) == 0) {
		static uint8_t buf[1 << 16];
		uint64_t budget = 16 << 20, from = 0;
		struct ep_extent e;
		while (budget > 0 && ep_disk_next_extent(d, from, &e, &err) == 1) {
			uint64_t n = e.len < sizeof buf ? e.len : sizeof buf;
			if (d->ops->read(d, buf, (size_t)n, e.off, &err) != 0)
				break;
			budget = budget > n ? budget - n : 0;
			from = e.off + e.len;
		}
		ep_disk_close(d, NULL);
	}
	return 0;
}
