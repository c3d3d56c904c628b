#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <openssl/evp.h>

void ep_sha256(const void *data, size_t len, uint8_t out[EP_DIGEST_LEN])
{
	unsigned int n = 0;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void ep_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool ep_unhex(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int ep_digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, EP_DIGEST_LEN);
}

bool ep_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int ep_path_format(char *out, size_t cap, struct ep_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < cap)
		return 0;
	return ep_fail(err, EP_EINPUT, "the path '%.200s...' is too long (%d bytes, at most %zu)", cap ? out : "", n,
		       cap ? cap - 1 : 0);
}

bool ep_relpath_ok(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > EP_RELPATH_MAX || path[0] == '/')
		return false;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return false; /* trailing slash */
	}
	return true;
}

bool ep_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return false;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

bool ep_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	/* check the first bytes, then compare the buffer against itself shifted */
	size_t head = len < 16 ? len : 16;
	for (size_t i = 0; i < head; i++)
		if (p[i])
			return false;
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

int ep_pread_full(int fd, void *buf, size_t len, uint64_t off, const char *what, struct ep_error *err)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ep_fail_errno(err, EP_ERUNTIME, "cannot read %s at offset %llu", what,
					     (unsigned long long)off);
		}
		if (n == 0)
			return ep_fail(err, EP_EINTEGRITY, "%s is truncated at offset %llu", what,
				       (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int ep_pwrite_full(int fd, const void *buf, size_t len, uint64_t off, const char *what, struct ep_error *err)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ep_fail_errno(err, EP_ERUNTIME, "cannot write %s at offset %llu", what,
					     (unsigned long long)off);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

#define WRITE_BEHIND_STEP ((uint64_t)16 << 20)

void ep_write_behind(struct ep_write_behind *wb, int fd, uint64_t off, uint64_t len)
{
	if (wb->lo == wb->hi) {
		wb->lo = off;
		wb->hi = off + len;
	} else { /* one range covering both: rewrites in place are rare and small */
		wb->lo = off < wb->lo ? off : wb->lo;
		wb->hi = off + len > wb->hi ? off + len : wb->hi;
	}
	if (wb->hi - wb->lo < WRITE_BEHIND_STEP)
		return;
	sync_file_range(fd, (off_t)wb->lo, (off_t)(wb->hi - wb->lo), SYNC_FILE_RANGE_WRITE);
	wb->lo = wb->hi = 0;
}

int ep_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, struct ep_error *err)
{
	struct stat st;
	char *buf = NULL;
	int rc;
	if (fstat(fd, &st) < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", what);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		return ep_fail(err, EP_EINPUT, "'%s' is not a regular file of at most %zu bytes", what, max);
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return ep_oom(err);
	if ((rc = ep_pread_full(fd, buf, (size_t)st.st_size, 0, what, err))) {
		free(buf);
		return rc;
	}
	buf[st.st_size] = '\0';
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

int ep_read_file(const char *path, size_t max, char **out, size_t *len, struct ep_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", path);
	int rc = ep_read_fd(fd, max, path, out, len, err);
	close(fd);
	return rc;
}

size_t ep_utf8_length(const unsigned char *p)
{
	size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

bool ep_utf8_ok(const char *s)
{
	for (size_t n; *s; s += n)
		if (!(n = ep_utf8_length((const unsigned char *)s)))
			return false;
	return true;
}

int64_t ep_utc_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? (int64_t)timegm(&tm) : -1;
}

void ep_utc_format(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "?");
}

char *ep_printable(char *s)
{
	for (char *p = s; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

int ep_hash_fd(int fd, uint64_t off, uint64_t len, const char *algo, char *hex, const char *what,
	       struct ep_error *err)
{
	const EVP_MD *md = !strcmp(algo, "md5") ? EVP_md5() : EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[1 << 16], d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int rc = ctx && EVP_DigestInit_ex(ctx, md, NULL) ? 0 : ep_oom(err);
	for (uint64_t at = 0; !rc && at < len;) {
		size_t want = len - at < sizeof buf ? (size_t)(len - at) : sizeof buf;
		ssize_t got = pread(fd, buf, want, (off_t)(off + at));
		if (got < 0)
			rc = ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s'", what);
		else if (got == 0 && len != UINT64_MAX)
			rc = ep_fail(err, EP_ERUNTIME, "'%s' ended early", what);
		else if (got == 0)
			break;
		else {
			EVP_DigestUpdate(ctx, buf, (size_t)got);
			at += (uint64_t)got;
		}
	}
	if (!rc) {
		EVP_DigestFinal_ex(ctx, d, &n);
		ep_hex(d, n, hex);
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

const char *ep_kvm_why_not(void)
{
	const char *why_not = NULL;
	struct stat st;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return strerror(errno);
	if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
		why_not = "not a device";
	else if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		why_not = "not the KVM API version QEMU speaks";
	else if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM) <= 0)
		why_not = "no SMM (KVM_CAP_X86_SMM), which OVMF needs";
	close(fd);
	return why_not;
}
