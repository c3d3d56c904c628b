/* Error object filled by every fallible function; only the CLI prints it. */
#ifndef EP_ERROR_H
#define EP_ERROR_H

/* Status codes: 0 ok, negative failure. The CLI's exit code is -code. */
enum {
	EP_OK = 0,
	EP_ERUNTIME = -1,   /* I/O, memory, network */
	EP_EINPUT = -2,     /* usage error or malformed input */
	EP_EINTEGRITY = -3, /* digest, signature or structure check failed */
};

struct ep_error {
	int code;
	char msg[1024];
};

/* Record a failure, replacing any earlier one in err (a caller that already failed keeps its
 * first by not calling again: `if (... && !rc) rc = ep_fail(...)`); returns code so callers
 * can `return ep_fail(...)`. */
int ep_fail(struct ep_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like ep_fail, with ": strerror(errno)" appended. */
int ep_fail_errno(struct ep_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix an existing message with context ("restore: " ...). */
void ep_error_prefix(struct ep_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ep_oom(struct ep_error *err);

#endif
