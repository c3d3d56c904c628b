/* What the fuzz targets that read files share: a scratch directory of their
 * own under $TMPDIR (tests/fuzz/run.sh gives each run its own), and writing
 * a file whole. */
#ifndef EP_FUZZ_SCRATCH_H
#define EP_FUZZ_SCRATCH_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* The directory, made on the first call: envpack-fuzz-NAME.XXXXXX. */
static const char *fuzz_scratch(const char *name)
{
	static char dir[4096];
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/envpack-fuzz-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

static void fuzz_put(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

#endif
