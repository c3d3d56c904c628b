/* Raw images: the file is the disk. Holes are found with SEEK_DATA/SEEK_HOLE
 * and left as holes on write, so sparse images stay sparse both ways. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/disk/disk.h"

#define HOLE_BLOCK 4096

struct raw_disk {
	struct ep_disk disk;
	int fd;
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
	if (!r->seek_data && from < d->virtual_size) { /* a block device: all data */
		*out = (struct ep_extent){ from, d->virtual_size - from, EP_EXT_DATA };
		return 1;
	}
	return ep_file_next_extent(r->fd, from, d->virtual_size, out, r->path, err);
}

static int raw_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct raw_disk *r = (struct raw_disk *)d;
	return ep_pread_full(r->fd, buf, len, off, r->path, err);
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

static int raw_new(struct ep_disk **out, const char *path, int fd, uint64_t size, bool writable,
		   struct ep_error *err)
{
	struct raw_disk *r = calloc(1, sizeof *r);
	if (!r || !(r->path = strdup(path))) {
		free(r);
		close(fd);
		return ep_oom(err);
	}
	r->disk = (struct ep_disk){ &raw_ops, &ep_disk_raw, size };
	r->fd = fd;
	r->writable = writable;
	r->seek_data = lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
	*out = &r->disk;
	return 0;
}

static int raw_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		    struct ep_error *err)
{
	(void)opts;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ep_fail_errno(err, EP_EINPUT, "cannot open disk '%s'", path);
	struct stat st;
	uint64_t size = 0;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", path);
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (!S_ISBLK(st.st_mode) || ioctl(fd, BLKGETSIZE64, &size) != 0) {
		close(fd);
		return ep_fail(err, EP_EINPUT, "'%s' is neither a regular file nor a block device", path);
	}
	return raw_new(out, path, fd, size, false, err);
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
	return raw_new(out, path, fd, virtual_size, true, err);
}

const struct ep_disk_format ep_disk_raw = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_open,
	.create = raw_create,
	.extension = "raw",
};
