/* Raw images: the file is the disk. Holes are found with SEEK_DATA/SEEK_HOLE
 * and left as holes on write, so sparse images stay sparse both ways; a byte
 * source (a URL) tells no holes, and the pipeline leaves its zero blocks out. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/disk/disk.h"

#define HOLE_BLOCK 4096

struct raw_disk {
	struct ep_disk disk;
	int fd;                    /* the writer's, or file's own descriptor (-1: a byte source) */
	struct ep_disk_file *file; /* the reader's */
	char *path;
	bool writable;
	bool seek_data; /* the file system reports holes */
	struct ep_write_behind wb;
};

static int raw_probe(const uint8_t *head, size_t len)
{
	(void)head;
	(void)len;
	return 1; /* anything can be a raw disk; every real format scores higher */
}

static int raw_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	struct raw_disk *r = (struct raw_disk *)d;
	if (!r->seek_data && r->fd >= 0 && from < d->virtual_size) { /* a block device: all data */
		*out = (struct ep_extent){ from, d->virtual_size - from, EP_EXT_DATA };
		return 1;
	}
	return r->file ? ep_disk_file_next_extent(r->file, from, d->virtual_size, out, err)
		       : ep_file_next_extent(r->fd, from, d->virtual_size, out, r->path, err);
}

static int raw_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct raw_disk *r = (struct raw_disk *)d;
	return r->file ? ep_disk_file_pread(r->file, buf, len, off, err) : ep_pread_full(r->fd, buf, len, off, r->path, err);
}

int ep_disk_raw_write_sparse(int fd, const void *buf, size_t len, uint64_t off, const char *path,
			     struct ep_error *err)
{
	const uint8_t *p = buf;
	size_t data_from = 0; /* start of the pending run of non-zero blocks */
	for (size_t i = 0; i < len;) {
		/* blocks aligned to the disk, so holes line up with the file system's */
		size_t n = HOLE_BLOCK - (size_t)((off + i) % HOLE_BLOCK);
		if (n > len - i)
			n = len - i;
		if (ep_is_zero(p + i, n)) {
			int rc = i > data_from ? ep_pwrite_full(fd, p + data_from, i - data_from, off + data_from, path, err)
					       : 0;
			if (rc)
				return rc;
			data_from = i + n;
		}
		i += n;
	}
	if (len > data_from)
		return ep_pwrite_full(fd, p + data_from, len - data_from, off + data_from, path, err);
	return 0;
}

static int raw_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct raw_disk *r = (struct raw_disk *)d;
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "'%s': write past the virtual size", r->path);
	int rc = ep_disk_raw_write_sparse(r->fd, buf, len, off, r->path, err);
	ep_write_behind(&r->wb, r->fd, off, len);
	return rc;
}

static int raw_close(struct ep_disk *d, struct ep_error *err)
{
	struct raw_disk *r = (struct raw_disk *)d;
	int rc = 0;
	if (r->writable && fdatasync(r->fd) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot sync '%s'", r->path);
	if (r->file)
		ep_disk_file_close(r->file);
	else
		close(r->fd);
	free(r->path);
	free(r);
	return rc;
}

static const struct ep_disk_ops raw_ops = {
	.next_extent = raw_next_extent,
	.read = raw_read,
	.write = raw_write,
	.close = raw_close,
};

/* A raw disk over fd (a writer's), or over file (a reader's, taken over). */
static int raw_new(struct ep_disk **out, const char *path, int fd, struct ep_disk_file *file, uint64_t size,
		   struct ep_error *err)
{
	struct raw_disk *r = calloc(1, sizeof *r);
	if (!r || !(r->path = strdup(path))) {
		free(r);
		if (file)
			ep_disk_file_close(file);
		else
			close(fd);
		return ep_oom(err);
	}
	r->disk = (struct ep_disk){ &raw_ops, &ep_disk_raw, size };
	r->file = file;
	r->fd = file ? ep_disk_file_fd(file) : fd;
	r->writable = !file;
	r->seek_data = r->fd >= 0 && (lseek(r->fd, 0, SEEK_DATA) >= 0 || errno == ENXIO);
	*out = &r->disk;
	return 0;
}

static int raw_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		    struct ep_error *err)
{
	struct ep_disk_file *f;
	int rc = ep_disk_file_get(&f, path, opts, true, err);
	return rc ? rc : raw_new(out, path, -1, f, ep_disk_file_size(f), err);
}

static int raw_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		      const struct ep_disk_create_opts *opts, struct ep_error *err)
{
	if (opts && opts->subformat)
		return ep_fail(err, EP_EINPUT, "raw: no subformat '%s'", opts->subformat);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	if (ftruncate(fd, (off_t)virtual_size) != 0) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "cannot size '%s' to %llu bytes", path,
				       (unsigned long long)virtual_size);
		close(fd);
		unlink(path);
		return rc;
	}
	return raw_new(out, path, fd, NULL, virtual_size, err);
}

const struct ep_disk_format ep_disk_raw = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.create = raw_create,
	.extension = "raw",
};
