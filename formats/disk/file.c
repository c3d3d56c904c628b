/*
 * Where an image's bytes lie: a local file read with pread, or a byte source
 * read at offsets elsewhere (an object at a URL). Readers parse headers, tables
 * and compressed grains in small reads; over a network each would be a request,
 * so a remote source serves small reads from a few windows it reads ahead,
 * growing while reads go forward (a stream of grains, a run of blocks) and
 * staying small where they jump (tables scattered through the file).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/disk/disk.h"

#define AHEAD_MIN ((uint64_t)256 << 10)
#define AHEAD_MAX ((uint64_t)8 << 20) /* reads this large go straight through */
#define WINDOWS 4

struct window {
	uint8_t *buf; /* AHEAD_MAX bytes, made on first use */
	uint64_t off, len, used;
};

struct ep_disk_file {
	unsigned refs;
	int fd; /* a local file's; -1 for a byte source */
	char *name;
	uint64_t size;
	ep_disk_pread_fn pread;
	void *ctx;
	pthread_mutex_t lock; /* the windows, for readers in several threads */
	struct window win[WINDOWS];
	uint64_t tick;
	uint64_t ahead;             /* how far the next window reads */
	uint64_t last_off, last_end; /* the last read sent: a read within it goes forward */
};

static int file_new(struct ep_disk_file **out, const char *name, struct ep_error *err)
{
	struct ep_disk_file *f = calloc(1, sizeof *f);
	if (!f || !(f->name = strdup(name))) {
		free(f);
		return ep_oom(err);
	}
	f->refs = 1;
	f->fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

int ep_disk_file_open(struct ep_disk_file **out, const char *path, bool block_ok, struct ep_error *err)
{
	struct ep_disk_file *f;
	int rc = file_new(&f, path, err);
	if (rc)
		return rc;
	struct stat st;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		rc = ep_fail_errno(err, EP_EINPUT, "cannot open disk '%s'", path);
	else if (fstat(f->fd, &st) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", path);
	else if (S_ISREG(st.st_mode))
		f->size = (uint64_t)st.st_size;
	else if (!block_ok)
		rc = ep_fail(err, EP_EINPUT, "'%s' is not a regular file", path);
	else if (!S_ISBLK(st.st_mode) || ioctl(f->fd, BLKGETSIZE64, &f->size) != 0)
		rc = ep_fail(err, EP_EINPUT, "'%s' is neither a regular file nor a block device", path);
	if (rc) {
		ep_disk_file_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int ep_disk_file_remote(struct ep_disk_file **out, const char *name, uint64_t size, ep_disk_pread_fn pread,
			void *ctx, struct ep_error *err)
{
	int rc = file_new(out, name, err);
	if (!rc) {
		(*out)->size = size;
		(*out)->pread = pread;
		(*out)->ctx = ctx;
	}
	return rc;
}

int ep_disk_file_get(struct ep_disk_file **out, const char *path, const struct ep_disk_open_opts *opts, bool block_ok,
		     struct ep_error *err)
{
	if (opts && opts->file) {
		opts->file->refs++;
		*out = opts->file;
		return 0;
	}
	return ep_disk_file_open(out, path, block_ok, err);
}

uint64_t ep_disk_file_size(const struct ep_disk_file *f)
{
	return f->size;
}

int ep_disk_file_fd(const struct ep_disk_file *f)
{
	return f->fd;
}

/* The window to fill next: an empty one, else the one used longest ago. */
static struct window *victim(struct ep_disk_file *f)
{
	struct window *v = &f->win[0];
	for (size_t i = 0; i < WINDOWS; i++) {
		if (!f->win[i].len)
			return &f->win[i];
		if (f->win[i].used < v->used)
			v = &f->win[i];
	}
	return v;
}

static int remote_read(struct ep_disk_file *f, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	for (size_t i = 0; i < WINDOWS; i++) {
		struct window *w = &f->win[i];
		if (w->len && off >= w->off && off + len <= w->off + w->len) {
			memcpy(buf, w->buf + (off - w->off), len);
			w->used = ++f->tick;
			return 0;
		}
	}
	bool forward = f->ahead && off >= f->last_off && off <= f->last_end;
	f->ahead = !forward ? AHEAD_MIN : f->ahead * 2 < AHEAD_MAX ? f->ahead * 2 : AHEAD_MAX;
	f->last_off = off;
	f->last_end = off + len;
	if (len >= AHEAD_MAX)
		return f->pread(f->ctx, buf, len, off, err);
	uint64_t want = len > f->ahead ? len : f->ahead;
	if (want > f->size - off)
		want = f->size - off;
	struct window *w = victim(f);
	w->len = 0;
	if (!w->buf && !(w->buf = malloc(AHEAD_MAX)))
		return ep_oom(err);
	int rc = f->pread(f->ctx, w->buf, (size_t)want, off, err);
	if (rc)
		return rc;
	*w = (struct window){ w->buf, off, want, ++f->tick };
	f->last_end = off + want;
	memcpy(buf, w->buf, len);
	return 0;
}

int ep_disk_file_pread(struct ep_disk_file *f, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	if (f->fd >= 0)
		return ep_pread_full(f->fd, buf, len, off, f->name, err);
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > f->size)
		return ep_fail(err, EP_EINPUT, "'%s' is truncated: %zu bytes at offset %llu lie past its end (%llu bytes)",
			       f->name, len, (unsigned long long)off, (unsigned long long)f->size);
	if (!len)
		return 0;
	pthread_mutex_lock(&f->lock);
	int rc = remote_read(f, buf, len, off, err);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int ep_disk_file_pread_or_zero(struct ep_disk_file *f, void *buf, size_t n, uint64_t host, struct ep_error *err)
{
	uint64_t have = host < f->size ? f->size - host : 0;
	if (have > n)
		have = n;
	memset((uint8_t *)buf + have, 0, n - (size_t)have);
	return ep_disk_file_pread(f, buf, (size_t)have, host, err);
}

int ep_disk_file_next_extent(struct ep_disk_file *f, uint64_t from, uint64_t size, struct ep_extent *out,
			     struct ep_error *err)
{
	if (f->fd >= 0)
		return ep_file_next_extent(f->fd, from, size, out, f->name, err);
	if (from >= size)
		return 0;
	/* a byte source tells no holes: all of it is read, and the pipeline leaves out zero blocks */
	*out = (struct ep_extent){ from, size - from, EP_EXT_DATA };
	return 1;
}

void ep_disk_file_close(struct ep_disk_file *f)
{
	if (!f || --f->refs)
		return;
	if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < WINDOWS; i++)
		free(f->win[i].buf);
	pthread_mutex_destroy(&f->lock);
	free(f->name);
	free(f);
}
