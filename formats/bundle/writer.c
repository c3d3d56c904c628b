#include "formats/bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "formats/bundle/seal.h"

struct ep_bundle_writer {
	struct archive *ar;
	struct archive_entry *entry;
	int fd;
	char *path, *tmp;
	int64_t mtime;
	uint64_t bytes;
	const struct ep_seal *seal; /* an encrypted bundle's, else NULL */
	struct ep_error io_err; /* set by the write callback */
	struct ep_write_behind wb;
};

/* libarchive hands its blocks to write_cb: large ones cost few system calls. The end is
 * padded to a multiple of its default 10240 bytes, as before (the block size is one too),
 * so the file's bytes do not change. */
#define LAST_BLOCK 10240
#define WRITE_BLOCK (LAST_BLOCK * 100)

static la_ssize_t write_cb(struct archive *ar, void *ctx, const void *buf, size_t len)
{
	(void)ar;
	struct ep_bundle_writer *w = ctx;
	if (ep_pwrite_full(w->fd, buf, len, w->bytes, w->tmp, &w->io_err))
		return -1;
	ep_write_behind(&w->wb, w->fd, w->bytes, len); /* so that commit's fsync waits for little */
	w->bytes += len;
	return (la_ssize_t)len;
}

static int archive_fail(struct ep_bundle_writer *w, struct ep_error *err)
{
	if (w->io_err.code)
		return ep_fail(err, w->io_err.code, "%s", w->io_err.msg);
	return ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", w->path, archive_error_string(w->ar));
}

static void writer_free(struct ep_bundle_writer *w)
{
	if (w->ar)
		archive_write_free(w->ar);
	archive_entry_free(w->entry);
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->tmp);
	free(w);
}

int ep_bundle_writer_open(struct ep_bundle_writer **out, const char *path, int64_t mtime, struct ep_error *err)
{
	struct ep_bundle_writer *w = calloc(1, sizeof *w);
	if (!w)
		return ep_oom(err);
	w->fd = -1;
	w->mtime = mtime;
	w->path = strdup(path);
	char *dircopy = strdup(path), *basecopy = strdup(path);
	if (w->path && dircopy && basecopy &&
	    asprintf(&w->tmp, "%s/.%s.XXXXXX", dirname(dircopy), basename(basecopy)) < 0)
		w->tmp = NULL;
	free(dircopy);
	free(basecopy);
	if (!w->tmp || !(w->entry = archive_entry_new()) || !(w->ar = archive_write_new())) {
		writer_free(w);
		return ep_oom(err);
	}
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create a file beside '%s'", path);
		writer_free(w);
		return rc;
	}
	mode_t mask = umask(0);
	umask(mask);
	fchmod(w->fd, 0666 & ~mask);
	if (archive_write_set_format_pax_restricted(w->ar) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->ar, WRITE_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->ar, LAST_BLOCK) != ARCHIVE_OK ||
	    archive_write_open(w->ar, w, NULL, write_cb, NULL) != ARCHIVE_OK) {
		int rc = archive_fail(w, err);
		ep_bundle_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

void ep_bundle_writer_seal(struct ep_bundle_writer *w, const struct ep_seal *seal)
{
	w->seal = seal;
}

static int add_entry(struct ep_bundle_writer *w, const char *name, const void *data, size_t len, struct ep_error *err)
{
	archive_entry_clear(w->entry);
	archive_entry_set_pathname(w->entry, name);
	archive_entry_set_filetype(w->entry, AE_IFREG);
	archive_entry_set_perm(w->entry, 0644);
	archive_entry_set_size(w->entry, (la_int64_t)len);
	archive_entry_set_mtime(w->entry, (time_t)w->mtime, 0);
	if (archive_write_header(w->ar, w->entry) != ARCHIVE_OK ||
	    archive_write_data(w->ar, data, len) != (la_ssize_t)len)
		return archive_fail(w, err);
	return 0;
}

int ep_bundle_writer_add(struct ep_bundle_writer *w, const char *name, const void *data, size_t len,
			 struct ep_error *err)
{
	if (!w->seal)
		return add_entry(w, name, data, len, err);
	char *sealed;
	size_t n;
	int rc = ep_seal_wrap_copy(w->seal, name, strlen(name), data, len, &sealed, &n, err);
	if (!rc)
		rc = add_entry(w, name, sealed, n, err);
	free(sealed);
	return rc;
}

int ep_bundle_writer_add_chunk(struct ep_bundle_writer *w, const uint8_t digest[EP_DIGEST_LEN], const void *zdata,
			       size_t zlen, struct ep_error *err)
{
	char name[96], hex[EP_DIGEST_HEX];
	uint8_t oid[EP_DIGEST_LEN];
	if (w->seal)
		ep_seal_object_id(w->seal, digest, oid);
	else
		memcpy(oid, digest, sizeof oid);
	ep_hex(oid, EP_DIGEST_LEN, hex);
	snprintf(name, sizeof name, "chunks/%s.zst", hex);
	return add_entry(w, name, zdata, zlen, err);
}

static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -1;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int ep_bundle_writer_commit(struct ep_bundle_writer *w, struct ep_error *err)
{
	int rc = 0;
	if (archive_write_close(w->ar) != ARCHIVE_OK)
		rc = archive_fail(w, err);
	else if (fsync(w->fd) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot sync '%s'", w->tmp);
	else if (rename(w->tmp, w->path) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot rename into '%s'", w->path);
	if (rc) {
		ep_bundle_writer_abort(w);
		return rc;
	}
	fsync_dir_of(w->path); /* best effort: the data itself is already on disk */
	writer_free(w);
	return 0;
}

void ep_bundle_writer_abort(struct ep_bundle_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		unlink(w->tmp);
	writer_free(w);
}
