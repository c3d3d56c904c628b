/* A minimal unit-test harness: TEST(name) registers, EXPECT records failures.
 * Each test runs in a fresh temporary directory. */
#ifndef EP_UNIT_H
#define EP_UNIT_H

#include <stdbool.h>

void unit_register(const char *name, void (*fn)(void));
void unit_fail(const char *file, int line, const char *what);

#define TEST(name)                                                              \
	static void name(void);                                                 \
	__attribute__((constructor)) static void register_##name(void)          \
	{                                                                       \
		unit_register(#name, name);                                     \
	}                                                                       \
	static void name(void)

#define EXPECT(cond)                                                            \
	do {                                                                    \
		if (!(cond))                                                    \
			unit_fail(__FILE__, __LINE__, #cond);                   \
	} while (0)

/* The directory unit-tests was started in (the repository's root under
 * tests/run.sh and `make unit`), for tests that read files kept in the repo. */
const char *unit_origin(void);

/* Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
void unit_fill(void *buf, unsigned long len, unsigned long seed);

/* Warnings a store call reports (ep_store_warn_fn): how many, and the last one. */
struct unit_warnings {
	int n;
	char last[1024];
};
void unit_collect_warning(void *ctx, const char *msg);

#endif
