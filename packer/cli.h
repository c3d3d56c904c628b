/* What the commands share: messages, exit codes, sizes, the progress bar. The
 * CLI layer is the only place that prints or chooses an exit code. */
#ifndef EP_CLI_H
#define EP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/progress.h"

#ifndef EP_VERSION
#define EP_VERSION "0.0.0"
#endif

struct cli_bar {
	const char *label;
	bool enabled;
	bool drawn;
	struct timespec start, last;
};

/* Prints "envpack: MESSAGE" and returns the exit code for err. */
int cli_fail(const struct ep_error *err);
/* Prints a usage problem with a pointer to --help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(void *ctx, const char *msg);
/* A bar on stderr only when it is a terminal and not quiet; silent under cron. */
void cli_bar_init(struct cli_bar *bar, struct ep_progress *progress, const char *label, bool quiet);
void cli_bar_finish(struct cli_bar *bar);
void cli_human(uint64_t bytes, char *buf, size_t cap);
/* Parses a whole number in [min, max]. */
bool cli_number(const char *s, long min, long max, long *out);
/* Prints the command's help for -h/--help. */
int cli_help(const char *text);

int cmd_keygen(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
