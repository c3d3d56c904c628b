/*
 * Where an image's bytes lie: a local file read with pread, or a byte source
 * read at offsets elsewhere (an object at a URL). Readers parse headers, tables
 * and compressed grains in small reads; over a network each would be a request,
 * so a byte source serves reads from windows it reads ahead. A window that
 * continues another is twice its size (256 KiB up to 8 MiB), so a stream of
 * grains or blocks soon reads 8 MiB at a time while tables scattered through the
 * file cost 256 KiB each; once a stream reads 8 MiB windows, the next few are read
 * by threads of their own while the pipeline works on this one, as a download
 * would run several requests at once.
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
#define PREFETCH 4                    /* windows read ahead of a stream, a thread each */
#define WINDOWS (PREFETCH + 4)        /* and the stream's own, and tables' */

enum window_state { W_EMPTY, W_QUEUED, W_LOADING, W_READY, W_FAILED };

struct window {
	uint8_t *buf; /* AHEAD_MAX bytes, made on first use */
	uint64_t off, len, used;
	bool unread; /* read ahead, and not read from yet: evicted last */
	enum window_state state;
	struct ep_error err; /* W_FAILED */
};

struct ep_disk_file {
	unsigned refs;
	int fd; /* a local file's; -1 for a byte source */
	char *name;
	uint64_t size;
	ep_disk_pread_fn pread;
	void *ctx;
	pthread_mutex_t lock;   /* the windows, for readers in several threads and the prefetchers */
	pthread_cond_t changed; /* a window was queued or read, or stop */
	struct window win[WINDOWS];
	uint64_t tick;
	uint64_t last_end; /* where the last read ended: a read from there on (within a window) streams */
	pthread_t threads[PREFETCH];
	unsigned nthreads;
	bool stop;
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
	pthread_cond_init(&f->changed, NULL);
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

/* The window holding off (at its end too, when `end`), in any state but empty; NULL when none. */
static struct window *window_at(struct ep_disk_file *f, uint64_t off, bool end)
{
	for (size_t i = 0; i < WINDOWS; i++) {
		struct window *w = &f->win[i];
		if (w->state != W_EMPTY && off >= w->off && (off < w->off + w->len || (end && off == w->off + w->len)))
			return w;
	}
	return NULL;
}

/* The window to fill next: an empty one, else the one used longest ago that no thread is
 * reading into, a window read ahead and still unread only when there is no other (else a
 * stream would evict what it is about to read), and, when `dequeue`, one only queued for a
 * prefetcher when nothing else is free (an abandoned stream's must not starve a read).
 * NULL when every one is taken or its buffer cannot be made (*oom). Its buffer is made here. */
static struct window *victim(struct ep_disk_file *f, bool dequeue, bool *oom)
{
	struct window *v = NULL, *queued = NULL;
	for (size_t i = 0; i < WINDOWS; i++) {
		struct window *w = &f->win[i];
		if (w->state == W_QUEUED && (!queued || w->off > queued->off))
			queued = w; /* the farthest ahead: needed last */
		if (w->state == W_QUEUED || w->state == W_LOADING)
			continue;
		if (w->state == W_EMPTY) {
			v = w;
			break;
		}
		if (!v || (v->unread && !w->unread) || (v->unread == w->unread && w->used < v->used))
			v = w;
	}
	if (!v && dequeue)
		v = queued;
	*oom = v && !v->buf && !(v->buf = malloc(AHEAD_MAX));
	return *oom ? NULL : v;
}

static void *prefetcher(void *arg)
{
	struct ep_disk_file *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		struct window *w = NULL;
		for (size_t i = 0; i < WINDOWS && !w; i++)
			if (f->win[i].state == W_QUEUED)
				w = &f->win[i];
		if (!w) {
			pthread_cond_wait(&f->changed, &f->lock);
			continue;
		}
		w->state = W_LOADING;
		pthread_mutex_unlock(&f->lock);
		struct ep_error e = { 0 };
		int rc = f->pread(f->ctx, w->buf, (size_t)w->len, w->off, &e);
		pthread_mutex_lock(&f->lock);
		w->state = rc ? W_FAILED : W_READY;
		w->err = e;
		pthread_cond_broadcast(&f->changed);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* A stream reached `from`: the next PREFETCH windows after it are queued for the prefetchers
 * (started on first use; without them, nothing is read ahead). */
static void read_ahead(struct ep_disk_file *f, uint64_t from)
{
	while (f->nthreads < PREFETCH && pthread_create(&f->threads[f->nthreads], NULL, prefetcher, f) == 0)
		f->nthreads++;
	for (unsigned k = 0; k < PREFETCH && f->nthreads && from < f->size; k++) {
		struct window *w = window_at(f, from, false);
		bool oom;
		if (!w) {
			if (!(w = victim(f, false, &oom)))
				return;
			uint64_t len = f->size - from < AHEAD_MAX ? f->size - from : AHEAD_MAX;
			*w = (struct window){ w->buf, from, len, ++f->tick, true, W_QUEUED, { 0 } };
			pthread_cond_broadcast(&f->changed);
		}
		from = w->off + w->len;
	}
}

/* Reads the window at off that a miss there needs, in this thread: twice the size of the
 * window it continues (a stream), else the smallest. Called and returns with f->lock held. */
static int fill(struct ep_disk_file *f, size_t len, uint64_t off, struct ep_error *err)
{
	struct window *w;
	bool oom;
	/* every window being read into (by prefetchers and other readers): wait for one */
	while (!(w = victim(f, true, &oom)) && !oom)
		pthread_cond_wait(&f->changed, &f->lock);
	if (oom)
		return ep_oom(err);
	if (window_at(f, off, false))
		return 0; /* another reader filled it while this one waited */
	struct window *before = window_at(f, off, true);
	uint64_t want = before && before->len >= AHEAD_MIN ? 2 * before->len : AHEAD_MIN;
	if (want > AHEAD_MAX)
		want = AHEAD_MAX;
	if (want < len)
		want = len;
	if (want > f->size - off)
		want = f->size - off;
	*w = (struct window){ w->buf, off, want, ++f->tick, false, W_LOADING, { 0 } };
	pthread_mutex_unlock(&f->lock);
	int rc = f->pread(f->ctx, w->buf, (size_t)want, off, err);
	pthread_mutex_lock(&f->lock);
	w->state = rc ? W_EMPTY : W_READY;
	pthread_cond_broadcast(&f->changed);
	return rc;
}

/* Called with f->lock held. */
static int remote_read(struct ep_disk_file *f, uint8_t *p, size_t len, uint64_t off, struct ep_error *err)
{
	/* only a stream reads ahead: a table read behind it must not bring back what it passed */
	bool stream = off >= f->last_end && off - f->last_end <= AHEAD_MAX;
	f->last_end = off + len;
	while (len > 0) {
		struct window *w = window_at(f, off, false);
		if (!w) {
			int rc = fill(f, len, off, err);
			if (rc)
				return rc;
			continue;
		}
		if (w->state == W_QUEUED || w->state == W_LOADING) {
			pthread_cond_wait(&f->changed, &f->lock);
			continue;
		}
		if (w->state == W_FAILED) {
			*err = w->err;
			w->state = W_EMPTY;
			return err->code;
		}
		size_t n = w->off + w->len - off < len ? (size_t)(w->off + w->len - off) : len;
		memcpy(p, w->buf + (off - w->off), n);
		w->used = ++f->tick;
		w->unread = false;
		p += n;
		off += n;
		len -= n;
		if (stream && w->len == AHEAD_MAX)
			read_ahead(f, w->off + w->len);
	}
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
	if (len >= AHEAD_MAX)
		return f->pread(f->ctx, buf, len, off, err);
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
	pthread_mutex_lock(&f->lock);
	f->stop = true; /* a read under way ends first */
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	for (size_t i = 0; i < WINDOWS; i++)
		free(f->win[i].buf);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f->name);
	free(f);
}
