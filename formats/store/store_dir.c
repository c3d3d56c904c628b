/*
 * The directory backend of a store: every object a file under PATH, written
 * to a hidden temporary name and renamed into place (never over an existing
 * one when asked), opened relative to PATH's descriptor without following
 * symlinks. Writeback of each object starts as it is written, without waiting;
 * sync() then fsyncs just the objects written since the last sync, and their
 * directories, before a snapshot names them: durable, and never waiting on
 * other programs' writes as a syncfs() would. The lock is flock() on
 * PATH/lock, which the kernel drops when its holder dies, however it dies.
 */
#include "formats/store/store.h"

#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dir_backend {
	struct ep_store_backend base;
	char *path;
	int dirfd;
	int lockfd;
	pthread_mutex_t lock; /* guards written: pack's consumer and importers put from one thread, but be safe */
	char **written;       /* names put since the last sync */
	size_t nwritten, cap;
};

static const char *dir_where(const struct ep_store_backend *be)
{
	return ((const struct dir_backend *)be)->path;
}

/* An object opened for reading: a regular file, never a FIFO or device that would
 * block or never end (O_NONBLOCK only for the open; a regular file ignores it). */
static int open_object(struct dir_backend *d, const char *name, const char *what, struct ep_error *err)
{
	int fd = openat(d->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 && errno == ENOENT)
		return -2;
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", what), -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ep_fail(err, EP_EINTEGRITY, "'%s' is not a regular file", what), -1;
	}
	return fd;
}

static int dir_get(struct ep_store_backend *be, const char *name, size_t max, char **data, size_t *len,
		   struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	char *what; /* for messages only: the object is opened below the store's descriptor */
	if (asprintf(&what, "%s/%s", d->path, name) < 0)
		return ep_oom(err);
	int fd = open_object(d, name, what, err);
	int rc = fd == -2 ? 1 : fd < 0 ? err->code : ep_read_fd(fd, max, what, data, len, err);
	if (fd >= 0)
		close(fd);
	free(what);
	return rc;
}

static int dir_read(struct ep_store_backend *be, const char *name, void *buf, size_t len, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	char *what; /* for messages only, as in dir_get */
	if (asprintf(&what, "%s/%s", d->path, name) < 0)
		return ep_oom(err);
	int fd = open_object(d, name, what, err);
	int rc = fd == -2 ? ep_fail(err, EP_EINTEGRITY, "'%s' is missing", what) : fd < 0 ? err->code : 0;
	struct stat st;
	if (!rc && fstat(fd, &st))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", what);
	else if (!rc && (uint64_t)st.st_size != len)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s' holds %lld bytes, not %zu", what, (long long)st.st_size, len);
	if (!rc)
		rc = ep_pread_full(fd, buf, len, 0, what, err);
	if (fd >= 0)
		close(fd);
	free(what);
	return rc;
}

/* The directory part of name ("chunks/ab" of "chunks/ab/x.zst"), made when missing. */
static int make_parent(struct dir_backend *d, const char *name, struct ep_error *err)
{
	const char *slash = strrchr(name, '/');
	if (!slash)
		return 0;
	char dir[PATH_MAX];
	if (ep_path_format(dir, sizeof dir, err, "%.*s", (int)(slash - name), name))
		return err->code;
	if (mkdirat(d->dirfd, dir, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno == ENOENT) { /* "chunks/ab": its parent first */
		int rc = make_parent(d, dir, err);
		if (!rc && mkdirat(d->dirfd, dir, 0755) != 0 && errno != EEXIST)
			rc = ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot create %s", d->path, dir);
		return rc;
	}
	return ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot create %s", d->path, dir);
}

static int dir_put(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
		   struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	char tmp[PATH_MAX];
	const char *slash = strrchr(name, '/');
	/* beside its final name, hidden: listing skips it, and a rename within one directory is atomic */
	int rc = ep_path_format(tmp, sizeof tmp, err, "%.*s.tmp-%ld-%lx", slash ? (int)(slash - name + 1) : 0, name,
				(long)getpid(), (unsigned long)random());
	if (!rc)
		rc = make_parent(d, name, err);
	int fd = rc ? -1 : openat(d->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (!rc && fd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot create %s", d->path, tmp);
	if (!rc)
		rc = ep_pwrite_full(fd, data, len, 0, name, err);
	if (!rc)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* start writeback now; sync() waits for it */
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot write %s", d->path, name);
	if (!rc && if_absent && renameat2(d->dirfd, tmp, d->dirfd, name, RENAME_NOREPLACE) != 0)
		rc = errno == EEXIST ? ep_fail(err, EP_EINPUT, "store '%s': %s exists", d->path, name)
				     : ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot publish %s", d->path, name);
	else if (!rc && !if_absent && renameat(d->dirfd, tmp, d->dirfd, name) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot publish %s", d->path, name);
	if (rc && fd >= 0)
		unlinkat(d->dirfd, tmp, 0);
	if (!rc) {
		pthread_mutex_lock(&d->lock);
		if (!ep_grow((void **)&d->written, &d->cap, d->nwritten + 1, sizeof *d->written) ||
		    !(d->written[d->nwritten] = strdup(name)))
			rc = ep_oom(err);
		else
			d->nwritten++;
		pthread_mutex_unlock(&d->lock);
	}
	return rc;
}

static int dir_remove(struct ep_store_backend *be, const char *name, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	if (unlinkat(d->dirfd, name, 0) != 0 && errno != ENOENT)
		return ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot remove %s", d->path, name);
	return 0;
}

typedef int (*each_fn)(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err);

/* Files under prefix, into subdirectories up to depth levels down; hidden names skipped.
 * Without sizes, a file the directory entry says is one is passed with EP_STORE_SIZE_UNKNOWN
 * and no stat(): at 10 M chunks most of a listing's time was the kernel building an inode
 * for each stat(), for sizes the caller wanted of a few. */
static int walk(struct dir_backend *d, const char *prefix, int depth, bool sizes, each_fn each, void *ctx,
		struct ep_error *err)
{
	int fd = openat(d->dirfd, prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot list %s", d->path, prefix);
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return ep_oom(err);
	}
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		char name[PATH_MAX];
		struct stat st;
		/* one byte kept back for the '/' a subdirectory's name gets */
		int n = snprintf(name, sizeof name - 1, "%s%s", prefix, e->d_name);
		if (n < 0 || (size_t)n >= sizeof name - 1) {
			rc = ep_fail(err, EP_EINPUT, "store '%s': the path %s%s is too long", d->path, prefix, e->d_name);
			break;
		}
		if (!sizes && e->d_type == DT_REG) {
			rc = each(ctx, name, EP_STORE_SIZE_UNKNOWN, 0, err);
			continue;
		}
		if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed meanwhile */
		if (S_ISDIR(st.st_mode) && depth > 0) {
			memcpy(name + n, "/", 2);
			rc = walk(d, name, depth - 1, sizes, each, ctx, err);
		} else if (S_ISREG(st.st_mode))
			rc = each(ctx, name, (uint64_t)st.st_size, (int64_t)st.st_mtime, err);
	}
	closedir(dir);
	return rc;
}

static int dir_list(struct ep_store_backend *be, const char *prefix, each_fn each, void *ctx, struct ep_error *err)
{
	return walk((struct dir_backend *)be, prefix, 1, true, each, ctx, err);
}

static int dir_list_names(struct ep_store_backend *be, const char *prefix, each_fn each, void *ctx,
			  struct ep_error *err)
{
	return walk((struct dir_backend *)be, prefix, 1, false, each, ctx, err);
}

/* Hidden temporaries (".tmp-*") in dir and its subdirectories, removed. */
static int sweep_dir(struct dir_backend *d, const char *dir, int depth, uint64_t *removed, struct ep_error *err)
{
	int fd = openat(d->dirfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot list %s", d->path, dir);
	DIR *dh = fdopendir(fd);
	if (!dh) {
		close(fd);
		return ep_oom(err);
	}
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(dh))) {
		char sub[PATH_MAX];
		if ((rc = ep_path_format(sub, sizeof sub, err, "%s/%s", dir, e->d_name)))
			break;
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			if (unlinkat(dirfd(dh), e->d_name, 0) == 0)
				(*removed)++;
		} else if (e->d_name[0] != '.' && depth > 0 && e->d_type == DT_DIR)
			rc = sweep_dir(d, sub, depth - 1, removed, err);
	}
	closedir(dh);
	return rc;
}

static int dir_sweep(struct ep_store_backend *be, uint64_t *removed, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	*removed = 0;
	int rc = sweep_dir(d, "chunks", 1, removed, err);
	if (!rc)
		rc = sweep_dir(d, "snapshots", 0, removed, err);
	if (!rc)
		rc = sweep_dir(d, "drills", 0, removed, err);
	return rc;
}

static int fsync_at(struct dir_backend *d, const char *name, int flags, struct ep_error *err)
{
	int fd = openat(d->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags);
	if (fd < 0 && errno == ENOENT)
		return 0; /* removed since (a lock record): nothing to make durable */
	int rc = fd < 0 || fsync(fd) != 0 ? ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot sync %s", d->path, name) : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dir_sync(struct ep_store_backend *be, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	pthread_mutex_lock(&d->lock);
	int rc = 0;
	if (d->nwritten)
		qsort(d->written, d->nwritten, sizeof *d->written, cmp_str); /* by directory, each synced once */
	char last_dir[PATH_MAX] = "";
	for (size_t i = 0; !rc && i < d->nwritten; i++) {
		const char *slash = strrchr(d->written[i], '/');
		char dir[PATH_MAX];
		rc = ep_path_format(dir, sizeof dir, err, "%.*s", slash ? (int)(slash - d->written[i]) : 1,
				    slash ? d->written[i] : ".");
		if (!rc)
			rc = fsync_at(d, d->written[i], 0, err);
		if (!rc && strcmp(dir, last_dir)) {
			rc = fsync_at(d, dir, O_DIRECTORY, err); /* the rename into it */
			snprintf(last_dir, sizeof last_dir, "%s", dir);
		}
	}
	for (size_t i = 0; i < d->nwritten; i++)
		free(d->written[i]);
	d->nwritten = 0;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int dir_lock(struct ep_store_backend *be, bool exclusive, unsigned wait_s, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	if (d->lockfd < 0)
		d->lockfd = openat(d->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (d->lockfd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot open its lock", d->path);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (flock(d->lockfd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return ep_fail_errno(err, EP_ERUNTIME, "store '%s': cannot lock", d->path);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)wait_s)
			return 1;
		nanosleep(&(struct timespec){ 0, 200000000 }, NULL);
	}
}

static void dir_unlock(struct ep_store_backend *be)
{
	struct dir_backend *d = (struct dir_backend *)be;
	if (d->lockfd >= 0) {
		flock(d->lockfd, LOCK_UN);
		close(d->lockfd);
		d->lockfd = -1;
	}
}

static void dir_close(struct ep_store_backend *be)
{
	struct dir_backend *d = (struct dir_backend *)be;
	dir_unlock(be);
	if (d->dirfd >= 0)
		close(d->dirfd);
	for (size_t i = 0; i < d->nwritten; i++)
		free(d->written[i]);
	free(d->written);
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d);
}

static int dir_stat(struct ep_store_backend *be, const char *name, uint64_t *size, struct ep_error *err)
{
	struct dir_backend *d = (struct dir_backend *)be;
	struct stat st;
	if (fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		*size = (uint64_t)st.st_size;
		return S_ISREG(st.st_mode) ? 0 : 1;
	}
	return errno == ENOENT || errno == ENOTDIR ? 1 : ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s/%s'", d->path, name);
}

static const struct ep_store_backend_ops dir_ops = { dir_get,  dir_read, dir_put,    dir_remove, dir_list,  dir_sweep,
						     dir_sync, dir_lock, dir_unlock, dir_close,  dir_where, NULL,
						     dir_stat, dir_list_names };

static bool empty_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	bool empty = dir != NULL;
	while (empty && (e = readdir(dir)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (dir)
		closedir(dir);
	return empty;
}

int ep_store_dir_backend(struct ep_store_backend **out, const char *location, const struct ep_s3_options *opt,
			 bool create, struct ep_error *err)
{
	(void)opt;
	const char *path = !strncmp(location, "dir:", 4) ? location + 4 : location;
	if (!*path)
		return ep_fail(err, EP_EINPUT, "store '%s' names no place", location);
	if (strstr(location, "://"))
		return ep_fail(err, EP_EINPUT, "store '%s': stores are dir:PATH or s3://BUCKET/PREFIX", location);
	if (create && mkdir(path, 0755) != 0 && !(errno == EEXIST && empty_dir(path)))
		return errno == EEXIST ? ep_fail(err, EP_EINPUT, "'%s' exists and is not empty: a new store needs an empty place", path)
				       : ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	struct dir_backend *d = calloc(1, sizeof *d);
	if (!d || !(d->path = strdup(path))) {
		free(d);
		return ep_oom(err);
	}
	d->base.ops = &dir_ops;
	d->lockfd = -1;
	pthread_mutex_init(&d->lock, NULL);
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		int rc = errno == ENOENT ? ep_fail(err, EP_EINPUT, "'%s' is not an envpack store (there is nothing; 'envpack backup --init' makes one)", path)
			 : ep_fail_errno(err, errno == ENOTDIR ? EP_EINPUT : EP_ERUNTIME, "cannot open the store '%s'", path);
		dir_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}
