/*
 * docker-archive:FILE.tar — an image component packed from a docker-archive,
 * written back as the tar `docker load` and skopeo read: the same entries,
 * byte for byte, so the config and layer digests are the source's. Written
 * beside FILE and renamed into place (never over an existing file) at commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/util.h"
#include "targets/target.h"

struct da_target {
	struct ep_target base;
	char *path, *tmp;
	int fd;
	bool used;
};

static int da_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		   struct ep_error *err)
{
	(void)opt;
	struct da_target *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(location))) {
		free(t);
		return ep_oom(err);
	}
	t->base.ops = &ep_target_docker_archive;
	t->fd = -1;
	*out = &t->base;
	return 0;
}

static int da_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	if (c->type != EP_COMP_IMAGE || !c->format || strcmp(c->format, "docker-archive") != 0)
		return ep_fail(err, EP_EINPUT,
			       "docker-archive: takes images packed from a docker-archive ('%s' is not one; use oci: or dir:)",
			       c->name);
	if (t->used)
		return ep_fail(err, EP_EINPUT, "docker-archive: one file takes one image component");
	if (ep_path_format(dest, cap, err, "%s", t->path))
		return err->code;
	if (access(t->path, F_OK) == 0)
		return ep_fail(err, EP_EINPUT, "'%s' exists; restore never overwrites", t->path);
	return 0;
}

static la_ssize_t write_cb(struct archive *ar, void *ctx, const void *buf, size_t len)
{
	(void)ar;
	struct da_target *t = ctx;
	struct ep_error ignored;
	off_t at = lseek(t->fd, 0, SEEK_END);
	return at >= 0 && !ep_pwrite_full(t->fd, buf, len, (uint64_t)at, t->tmp, &ignored) ? (la_ssize_t)len : -1;
}

static int da_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	char dest[PATH_MAX];
	int rc = da_plan(base, c, dest, sizeof dest, err);
	if (rc)
		return rc;
	t->used = true;
	char *dir = strdup(t->path), *name = strdup(t->path);
	if (!dir || !name || asprintf(&t->tmp, "%s/.%s.XXXXXX", dirname(dir), basename(name)) < 0)
		t->tmp = NULL;
	free(dir);
	free(name);
	if (!t->tmp)
		return ep_oom(err);
	if ((t->fd = mkostemp(t->tmp, O_CLOEXEC)) < 0) {
		free(t->tmp);
		t->tmp = NULL;
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create a file beside '%s'", t->path);
	}
	struct archive *ar = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	if (!ar || !e || archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    archive_write_open(ar, t, NULL, write_cb, NULL) != ARCHIVE_OK)
		rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s'", t->path);
	ep_chunk_stream_start(s, c->chunks, c->nchunks);
	for (size_t i = 0; !rc && i < c->nfiles; i++) {
		const struct ep_file_rec *f = &c->files[i];
		if (f->type == EP_FILE_DIR)
			continue; /* implied by the entries beneath */
		archive_entry_clear(e);
		archive_entry_set_pathname(e, f->path);
		archive_entry_set_mtime(e, (time_t)f->mtime, 0);
		archive_entry_set_perm(e, f->mode ? f->mode & 0777 : 0777);
		if (f->type == EP_FILE_SYMLINK) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, f->target);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)f->size);
		}
		if (archive_write_header(ar, e) != ARCHIVE_OK) {
			rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
			break;
		}
		for (size_t k = 0; !rc && k < f->count; k++) {
			const uint8_t *data;
			size_t len;
			if ((rc = ep_chunk_stream_pull(s, &data, &len, err)))
				break;
			if (archive_write_data(ar, data, len) != (la_ssize_t)len)
				rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
		}
	}
	if (!rc && archive_write_close(ar) != ARCHIVE_OK)
		rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
	if (ar)
		archive_write_free(ar);
	archive_entry_free(e);
	return rc;
}

static void da_free(struct da_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t->tmp);
	free(t->path);
	free(t);
}

static void da_abort(struct ep_target *base)
{
	struct da_target *t = (struct da_target *)base;
	if (t->tmp)
		unlink(t->tmp);
	da_free(t);
}

static int da_commit(struct ep_target *base, struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	int rc = 0;
	if (t->tmp) {
		mode_t mask = umask(0);
		umask(mask);
		fchmod(t->fd, 0666 & ~mask);
		if (fsync(t->fd) != 0 || renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->path, RENAME_NOREPLACE) != 0) {
			rc = ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot create '%s'", t->path);
			da_abort(base);
			return rc;
		}
	}
	da_free(t);
	return rc;
}

const struct ep_target_ops ep_target_docker_archive = {
	.scheme = "docker-archive",
	.summary = "a docker-archive tar (an image packed from one), as docker load and skopeo read it",
	.open = da_open,
	.plan = da_plan,
	.put_files = da_put_files,
	.commit = da_commit,
	.abort = da_abort,
};
