#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#define MAX_TESTS 512

struct unit_test {
	const char *name;
	void (*fn)(void);
};
static struct unit_test tests[MAX_TESTS];
static int ntests, failures_in_test;
static char origin[PATH_MAX];

const char *unit_origin(void)
{
	return origin;
}

void unit_register(const char *name, void (*fn)(void))
{
	if (ntests < MAX_TESTS)
		tests[ntests++] = (struct unit_test){ name, fn };
}

void unit_fail(const char *file, int line, const char *what)
{
	if (failures_in_test++ < 5)
		printf("       %s:%d: expected %s\n", file, line, what);
}

void unit_fill(void *buf, unsigned long len, unsigned long seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	unsigned char *p = buf;
	for (unsigned long i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 56);
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct unit_test *)a)->name, ((const struct unit_test *)b)->name);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
	if (!getcwd(origin, sizeof origin))
		return 1;
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		char dir[] = "/tmp/envpack-unit.XXXXXX";
		if (!mkdtemp(dir) || chdir(dir) != 0)
			return 1;
		failures_in_test = 0;
		tests[i].fn();
		printf("%s - %s\n", failures_in_test ? "FAIL" : "ok  ", tests[i].name);
		failures_in_test ? failed++ : passed++;
		if (chdir(origin) != 0)
			return 1;
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	printf("RESULT %d %d\n", passed, failed);
	return failed != 0;
}

void unit_collect_warning(void *ctx, const char *msg)
{
	struct unit_warnings *w = ctx;
	w->n++;
	snprintf(w->last, sizeof w->last, "%s", msg);
}
