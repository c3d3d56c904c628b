/* Small helpers shared by every module: digests, hex, path checks. */
#ifndef EP_UTIL_H
#define EP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define EP_DIGEST_LEN 32
#define EP_DIGEST_HEX 65 /* 64 hex digits and NUL */

void ep_sha256(const void *data, size_t len, uint8_t out[EP_DIGEST_LEN]);
void ep_hex(const uint8_t *bytes, size_t len, char *out /* 2*len+1 */);
/* Strict lowercase hex of exactly 2*len digits. */
bool ep_unhex(const char *hex, uint8_t *out, size_t len);
/* Orders digests (uint8_t[EP_DIGEST_LEN]) byte by byte, for qsort and bsearch. */
int ep_digest_cmp(const void *a, const void *b);

/* A name safe as one path component: [A-Za-z0-9._-], 1..128 chars, not "." or "..", no leading '.'. */
bool ep_name_ok(const char *name);
/* The longest relative path ep_relpath_ok takes, in bytes: a buffer for one holds EP_RELPATH_MAX + 1. */
#define EP_RELPATH_MAX 4096
/* A relative path: no leading '/', no empty, "." or ".." component, no NUL, at most EP_RELPATH_MAX bytes. */
bool ep_relpath_ok(const char *path);
/* snprintf for a path into out (cap bytes, PATH_MAX for a whole path): a path that does not fit
 * fails with EP_EINPUT naming its start, never silently truncated. */
int ep_path_format(char *out, size_t cap, struct ep_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The length of the UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), or 0 when it is not one. */
size_t ep_utf8_length(const unsigned char *p);
/* Whether s is valid UTF-8 throughout (JSON strings must be: jansson refuses others). */
bool ep_utf8_ok(const char *s);

/* "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, as envpack writes times) in seconds since the
 * epoch; -1 when s is NULL or not such a time. */
int64_t ep_utc_time(const char *s);
/* t (seconds since the epoch) written so: buf of at least EP_UTC_LEN bytes. */
#define EP_UTC_LEN 32
void ep_utc_format(int64_t t, char *buf, size_t cap);

/* Replaces control bytes with '?', in place, so text from untrusted input can reach a terminal; returns s. */
char *ep_printable(char *s);

/* Overflow-checked a + b. */
static inline bool ep_add_overflows(uint64_t a, uint64_t b, uint64_t *sum)
{
	return __builtin_add_overflow(a, b, sum);
}

/* Grows *arr (of elem-sized items, capacity *cap) to hold at least need items. */
bool ep_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* Whether every byte of buf is zero. */
bool ep_is_zero(const void *buf, size_t len);

/* Read exactly len bytes at off, or fail naming `what`. A short read is EP_EINTEGRITY (truncated). */
int ep_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *what, struct ep_error *err);
int ep_pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const char *what, struct ep_error *err);

/* Write-behind for a big file written mostly in order: the range written since the last
 * step; every few MiB its writeback starts, without waiting, so the disk writes while the
 * writer goes on and the final fdatasync waits only for the last step. Advisory: a failed
 * write surfaces at that fdatasync. */
struct ep_write_behind {
	uint64_t lo, hi; /* lo == hi: nothing pending */
};
void ep_write_behind(struct ep_write_behind *wb, int fd, uint64_t off, uint64_t len);

/* The hex digest ("sha256" or "md5") of len bytes of fd at off, or of all from off to the
 * end when len is UINT64_MAX; `what` names the file in messages. hex holds 2*digest+1. */
int ep_hash_fd(int fd, uint64_t off, uint64_t len, const char *algo, char *hex, const char *what,
	       struct ep_error *err);

/* Read a whole small file (at most max bytes) into a NUL-terminated heap buffer. */
int ep_read_file(const char *path, size_t max, char **out, size_t *len, struct ep_error *err);
/* The same from an open descriptor; `what` names the file in messages. */
int ep_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, struct ep_error *err);

/* Why QEMU cannot use this host's KVM for every machine, or NULL when it can: the device is
 * open for reading and writing and answers the API version QEMU speaks (what QEMU checks),
 * and it emulates SMM, which OVMF's Secure Boot builds need. A KVM without SMM is a nested
 * one (PVM) whose emulation failed OVMF even without Secure Boot. */
const char *ep_kvm_why_not(void);

#endif
