/* What the fuzz targets that read files share: a scratch directory of their
 * own under $TMPDIR (tests/fuzz/run.sh gives each run its own), and writing
 * a file whole. */
#ifndef EP_FUZZ_SCRATCH_H
#define EP_FUZZ_SCRATCH_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* snprintf for a path; one too long aborts the run rather than naming another file. */
__attribute__((format(printf, 3, 4))) static inline void fuzz_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		abort();
}

/* The directory, made on the first call: envpack-fuzz-NAME.XXXXXX. */
static inline const char *fuzz_scratch(const char *name)
{
	static char dir[PATH_MAX];
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		fuzz_path(dir, sizeof dir, "%s/envpack-fuzz-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

static inline void fuzz_put(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

#endif
