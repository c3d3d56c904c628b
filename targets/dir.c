/*
 * dir:PATH — disks as sparse raw files PATH/NAME.raw, file trees as PATH/NAME/.
 * Everything is written into a hidden staging directory inside PATH and
 * renamed into place at commit, never over an existing name; every path is
 * opened relative to a directory descriptor without following symlinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/vm/libvirt_xml.h"
#include "targets/retarget.h"
#include "targets/rewrite.h"
#include "targets/scratch.h"
#include "targets/target.h"

#define REWRITE_MAX ((uint64_t)16 << 20) /* IaC files larger than this are copied as they are */

#define MAX_TOP 4096

struct dir_target {
	struct ep_target base;
	char *path;
	const struct ep_disk_format *disk_format;
	const struct ep_machine_format *machine_format;
	const struct ep_rewrite *rewrites;
	size_t nrewrites;
	const char *hostname;
	const char *domain_type; /* the machine format's, if it writes one */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	const char *instant_socket; /* disks as overlays over this export; NULL: copied */
	int dirfd;      /* PATH, once staging began */
	bool created;   /* PATH did not exist before */
	char *stage;    /* PATH/.envpack-restore-XXXXXX */
	int stagefd;
	char *names[MAX_TOP]; /* top-level names written in the stage */
	size_t nnames;
};

static int render_json(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		       char **out, size_t *len, struct ep_error *err)
{
	(void)disks, (void)domain_type; /* the disks sit beside it, named after their components */
	json_t *o = ep_machine_to_json(m);
	*out = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (!*out)
		return ep_oom(err);
	*len = strlen(*out);
	return 0;
}

static const struct ep_machine_format json_machines = { "vm.json", render_json };

static int dir_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	const char *instant = opt ? opt->instant_socket : NULL;
	const char *format = opt && opt->disk_format ? opt->disk_format : instant ? "qcow2" : "raw";
	const struct ep_disk_format *df = ep_disk_format_find(format);
	if (!df || !df->create)
		return ep_fail(err, EP_EINPUT, "dir: envpack does not write disks as '%s'", format);
	if (instant && strcmp(format, "qcow2"))
		return ep_fail(err, EP_EINPUT, "an instant restore writes qcow2 overlays, not '%s' disks", format);
	struct stat st;
	if (stat(location, &st) == 0 && !S_ISDIR(st.st_mode))
		return ep_fail(err, EP_EINPUT, "dir:%s is not a directory", location);
	struct dir_target *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(location))) {
		free(t);
		return ep_oom(err);
	}
	t->base.ops = &ep_target_dir;
	t->disk_format = df;
	t->machine_format = opt && opt->machine_format ? opt->machine_format : &json_machines;
	t->rewrites = opt ? opt->rewrites : NULL;
	t->nrewrites = opt ? opt->nrewrites : 0;
	t->hostname = opt ? opt->hostname : NULL;
	t->domain_type = opt ? opt->domain_type : NULL;
	t->warn = opt ? opt->warn : NULL;
	t->warn_ctx = opt ? opt->warn_ctx : NULL;
	t->instant_socket = instant;
	t->dirfd = t->stagefd = -1;
	*out = &t->base;
	return 0;
}

static void dest_name(const struct dir_target *t, const struct ep_component *c, char *name, size_t cap)
{
	if (c->type == EP_COMP_DISK)
		snprintf(name, cap, "%s.%s", c->name, t->disk_format->extension);
	else
		snprintf(name, cap, "%s", c->name);
}

static int dir_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap,
		    struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	char name[160];
	struct stat st;
	dest_name(t, c, name, sizeof name);
	if (ep_path_format(dest, cap, err, "%s/%s%s", t->path, name, c->type == EP_COMP_FILES ? "/" : ""))
		return err->code;
	if (fstatat(t->dirfd >= 0 ? t->dirfd : AT_FDCWD, t->dirfd >= 0 ? name : dest, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return ep_fail(err, EP_EINPUT, "'%s' exists; restore never overwrites", dest);
	return 0;
}

static int stage_begin(struct dir_target *t, struct ep_error *err)
{
	if (t->stagefd >= 0)
		return 0;
	if (mkdir(t->path, 0755) == 0)
		t->created = true;
	else if (errno != EEXIST)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", t->path);
	t->dirfd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", t->path);
	if (asprintf(&t->stage, "%s/.envpack-restore-XXXXXX", t->path) < 0) {
		t->stage = NULL;
		return ep_oom(err);
	}
	if (!mkdtemp(t->stage)) {
		free(t->stage);
		t->stage = NULL;
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create a staging directory in '%s'", t->path);
	}
	t->stagefd = open(t->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->stagefd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", t->stage);
	return 0;
}

/* Checks the destination, starts staging and remembers the top-level name. */
static int begin_component(struct dir_target *t, const struct ep_component *c, char *name, size_t cap,
			   struct ep_error *err)
{
	char dest[PATH_MAX];
	int rc = dir_plan(&t->base, c, dest, sizeof dest, err);
	if (!rc)
		rc = stage_begin(t, err);
	if (rc)
		return rc;
	if (t->nnames == MAX_TOP)
		return ep_fail(err, EP_EINPUT, "more than %d components", MAX_TOP);
	dest_name(t, c, name, cap);
	if (!(t->names[t->nnames] = strdup(name)))
		return ep_oom(err);
	t->nnames++;
	return 0;
}

static int dir_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	char name[160], path[PATH_MAX];
	int rc = begin_component(t, c, name, sizeof name, err);
	if (!rc)
		rc = ep_path_format(path, sizeof path, err, "%s/%s", t->stage, name);
	if (rc)
		return rc;
	struct ep_disk *d;
	char backing[PATH_MAX + 200];
	struct ep_disk_create_opts overlay = { .backing = backing, .backing_format = "raw" };
	if (t->instant_socket &&
	    ep_path_format(backing, sizeof backing, err, "nbd+unix:///%s?socket=%s", c->name, t->instant_socket))
		return err->code;
	if ((rc = t->disk_format->create(&d, path, c->virtual_size, t->instant_socket ? &overlay : NULL, err)))
		return rc;
	if (!t->instant_socket) /* an overlay reads all it lacks from the export */
		rc = ep_target_write_disk(d, c, s, err);
	int crc = ep_disk_close(d, err);
	return rc ? rc : crc;
}

/* Opens the directory holding `path` inside root, refusing symlinks on the way. */
static int open_parent(int rootfd, const char *path, const char **leaf, struct ep_error *err)
{
	int fd = dup(rootfd);
	const char *p = path, *slash;
	while (fd >= 0 && (slash = strchr(p, '/'))) {
		char part[EP_RELPATH_MAX + 1]; /* a component of a checked relative path */
		size_t n = (size_t)(slash - p);
		memcpy(part, p, n);
		part[n] = '\0';
		int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open the directory of '%s'", path);
	*leaf = p;
	return fd;
}

/* In an image, a blob must hash to its name: the digests a registry or runtime
 * checks are the ones the source had. NULL when f is not a blob. */
static const char *blob_digest(const struct ep_component *c, const struct ep_file_rec *f)
{
	static const char prefix[] = "blobs/sha256/";
	if (c->type != EP_COMP_IMAGE || strncmp(f->path, prefix, sizeof prefix - 1) != 0)
		return NULL;
	return f->path + sizeof prefix - 1;
}

/* Whether f is an IaC file retargeting changes: image references, or a cloud-init host name. */
static bool retargeted(const struct dir_target *t, const struct ep_file_rec *f)
{
	return f->size <= REWRITE_MAX && ((t->nrewrites && ep_rewrite_applies(f->kind)) ||
					  (t->hostname && f->kind == EP_KIND_CLOUD_INIT));
}

/* --set hostname= in a cloud-init file; one it cannot edit safely stays as it was, with a warning. */
static int set_hostname(const struct dir_target *t, const struct ep_component *c, const struct ep_file_rec *f,
			const char *text, size_t len, char **out, size_t *out_len, struct ep_error *err)
{
	char what[4400], why[256], msg[4800];
	snprintf(what, sizeof what, "%s/%s", c->name, f->path); /* as restored, below PATH */
	int rc = ep_set_hostname(text, len, t->hostname, what, out, out_len, why, sizeof why, err);
	if (!rc && !*out && *why && t->warn) {
		snprintf(msg, sizeof msg, "--set hostname: left '%s' as it was: %s", what, why);
		t->warn(t->warn_ctx, msg);
	}
	return rc;
}

/* A retargeted file: read whole, changed, written. */
static int write_rewritten(const struct dir_target *t, int fd, const struct ep_component *c, const struct ep_file_rec *f,
			   struct ep_chunk_stream *s, struct ep_error *err)
{
	char *text = malloc(f->size + 1), *out = NULL;
	size_t at = 0, out_len = 0;
	int rc = text ? 0 : ep_oom(err);
	for (size_t k = 0; !rc && k < f->count; k++) {
		const uint8_t *data;
		size_t len;
		if (!(rc = ep_chunk_stream_pull(s, &data, &len, err)) && len > f->size - at)
			rc = ep_fail(err, EP_EINTEGRITY, "'%s' holds more than its declared size", f->path);
		if (!rc)
			memcpy(text + at, data, len), at += len;
	}
	if (!rc && f->kind == EP_KIND_CLOUD_INIT)
		rc = set_hostname(t, c, f, text, at, &out, &out_len, err);
	else if (!rc) {
		char what[4400];
		snprintf(what, sizeof what, "%s/%s", c->name, f->path); /* as restored, below PATH */
		rc = ep_rewrite_file(f->kind, text, at, what, t->rewrites, t->nrewrites, &out, &out_len, err);
	}
	if (!rc)
		rc = ep_pwrite_full(fd, out ? out : text, out ? out_len : at, 0, f->path, err);
	free(out);
	free(text);
	return rc;
}

static int write_file(const struct dir_target *t, int dirfd, const char *leaf, const struct ep_component *c,
		      const struct ep_file_rec *f, struct ep_chunk_stream *s, struct ep_error *err)
{
	int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", f->path);
	const char *digest = blob_digest(c, f);
	EVP_MD_CTX *md = digest ? EVP_MD_CTX_new() : NULL;
	int rc = digest && (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) ? ep_oom(err) : 0;
	uint64_t off = 0;
	if (!rc && retargeted(t, f))
		rc = write_rewritten(t, fd, c, f, s, err);
	else
		for (size_t k = 0; !rc && k < f->count; k++) {
			const uint8_t *data;
			size_t len;
			if (!(rc = ep_chunk_stream_pull(s, &data, &len, err)))
				rc = ep_pwrite_full(fd, data, len, off, f->path, err);
			if (!rc && md)
				EVP_DigestUpdate(md, data, len);
			off += len;
		}
	if (!rc && md) {
		uint8_t raw[EP_DIGEST_LEN];
		char hex[EP_DIGEST_HEX];
		EVP_DigestFinal_ex(md, raw, NULL);
		ep_hex(raw, EP_DIGEST_LEN, hex);
		if (strcmp(hex, digest) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "image blob '%s' hashes to %s, not to its name", f->path, hex);
	}
	EVP_MD_CTX_free(md);
	struct timespec times[2] = { { 0, UTIME_OMIT }, { f->mtime, 0 } };
	/* setuid and setgid bits are not restored */
	if (!rc && (fchmod(fd, f->mode & 01777) != 0 || futimens(fd, times) != 0 || fsync(fd) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot finish '%s'", f->path);
	close(fd);
	return rc;
}

enum pass { PASS_CONTENT, PASS_SYMLINKS, PASS_DIR_ATTRS };

static int put_entry(const struct dir_target *t, int rootfd, const struct ep_component *c, const struct ep_file_rec *f,
		     enum pass pass, struct ep_chunk_stream *s, struct ep_error *err)
{
	const char *leaf;
	int dirfd = open_parent(rootfd, f->path, &leaf, err);
	if (dirfd < 0)
		return dirfd;
	int rc = 0;
	struct timespec times[2] = { { 0, UTIME_OMIT }, { f->mtime, 0 } };
	if (pass == PASS_CONTENT && f->type == EP_FILE_DIR && mkdirat(dirfd, leaf, 0700) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create directory '%s'", f->path);
	else if (pass == PASS_CONTENT && f->type == EP_FILE_REG)
		rc = write_file(t, dirfd, leaf, c, f, s, err);
	else if (pass == PASS_SYMLINKS && f->type == EP_FILE_SYMLINK &&
		 (symlinkat(f->target, dirfd, leaf) != 0 || utimensat(dirfd, leaf, times, AT_SYMLINK_NOFOLLOW) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create symlink '%s'", f->path);
	else if (pass == PASS_DIR_ATTRS && f->type == EP_FILE_DIR &&
		 (fchmodat(dirfd, leaf, f->mode & 01777, 0) != 0 || utimensat(dirfd, leaf, times, AT_SYMLINK_NOFOLLOW) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot set the mode of directory '%s'", f->path);
	close(dirfd);
	return rc;
}

static int dir_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	char name[160];
	int rc = begin_component(t, c, name, sizeof name, err);
	if (rc)
		return rc;
	if (mkdirat(t->stagefd, name, 0755) != 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s/%s'", t->stage, name);
	int rootfd = openat(t->stagefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s/%s'", t->stage, name);
	ep_chunk_stream_start(s, c->chunks, c->nchunks);
	/* content first, symlinks once nothing else is written, and directory modes last
	 * (deepest first) so a read-only directory can still be filled */
	for (size_t i = 0; !rc && i < c->nfiles; i++)
		rc = put_entry(t, rootfd, c, &c->files[i], PASS_CONTENT, s, err);
	for (size_t i = 0; !rc && i < c->nfiles; i++)
		rc = put_entry(t, rootfd, c, &c->files[i], PASS_SYMLINKS, s, err);
	for (size_t i = c->nfiles; !rc && i-- > 0;)
		rc = put_entry(t, rootfd, c, &c->files[i], PASS_DIR_ATTRS, s, err);
	close(rootfd);
	return rc;
}

static int dir_plan_machine(struct ep_target *base, const struct ep_machine *m, char *dest, size_t cap,
			    struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	struct stat st;
	if (ep_path_format(dest, cap, err, "%s/%s.%s", t->path, m->name, t->machine_format->extension))
		return err->code;
	if (lstat(dest, &st) == 0)
		return ep_fail(err, EP_EINPUT, "'%s' exists; restore never overwrites", dest);
	return 0;
}

/* The machine's definition, naming its disks where commit will have put them. */
static int dir_put_machine(struct ep_target *base, const struct ep_manifest *manifest, const struct ep_machine *m,
			   struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	char dest[PATH_MAX], name[300], root[PATH_MAX];
	int rc = dir_plan_machine(base, m, dest, sizeof dest, err);
	if (!rc)
		rc = stage_begin(t, err);
	if (!rc && !realpath(t->path, root))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot resolve '%s'", t->path);
	if (!rc && t->nnames == MAX_TOP)
		rc = ep_fail(err, EP_EINPUT, "more than %d components", MAX_TOP);
	if (rc)
		return rc;
	struct ep_vm_target_disk *disks = calloc(m->ndisks + 1, sizeof *disks);
	char (*paths)[PATH_MAX] = calloc(m->ndisks + 1, sizeof *paths);
	char *text = NULL;
	size_t len = 0;
	rc = disks && paths ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < m->ndisks; i++) {
		if ((rc = ep_path_format(paths[i], sizeof *paths, err, "%s/%s.%s", root, m->disks[i].component,
					 t->disk_format->extension)))
			break;
		disks[i] = (struct ep_vm_target_disk){ paths[i], t->disk_format->name, 0 };
		for (size_t c = 0; c < manifest->ncomponents; c++)
			if (!strcmp(manifest->components[c].name, m->disks[i].component))
				disks[i].virtual_size = manifest->components[c].virtual_size;
	}
	if (!rc)
		rc = t->machine_format->render(m, disks, t->domain_type, &text, &len, err);
	snprintf(name, sizeof name, "%s.%s", m->name, t->machine_format->extension);
	int fd = rc ? -1 : openat(t->stagefd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (!rc && fd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s/%s'", t->stage, name);
	if (!rc)
		rc = ep_pwrite_full(fd, text, len, 0, name, err);
	if (!rc && fsync(fd) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot write '%s/%s'", t->stage, name);
	if (fd >= 0)
		close(fd);
	if (!rc && !(t->names[t->nnames] = strdup(name)))
		rc = ep_oom(err);
	else if (!rc)
		t->nnames++;
	free(text);
	free(paths);
	free(disks);
	return rc;
}

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D && (st->st_mode & 0700) != 0700)
		chmod(path, 0700);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void dir_free(struct dir_target *t)
{
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	if (t->stagefd >= 0)
		close(t->stagefd);
	if (t->dirfd >= 0)
		close(t->dirfd);
	free(t->stage);
	free(t->path);
	free(t);
}

static void dir_abort(struct ep_target *base)
{
	struct dir_target *t = (struct dir_target *)base;
	if (t->stage) {
		/* directories restored read-only must be opened up before their content goes */
		nftw(t->stage, open_up, 32, FTW_PHYS);
		nftw(t->stage, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
	}
	if (t->created)
		rmdir(t->path);
	dir_free(t);
}

static int dir_commit(struct ep_target *base, struct ep_error *err)
{
	struct dir_target *t = (struct dir_target *)base;
	int rc = 0;
	size_t moved = 0;
	for (; !rc && moved < t->nnames; moved++) {
		const char *n = t->names[moved];
		if (renameat2(t->stagefd, n, t->dirfd, n, RENAME_NOREPLACE) != 0) {
			rc = ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot move '%s' into '%s'", n,
					   t->path);
			break;
		}
	}
	if (rc) {
		/* put back what already moved, so the destination is as it was */
		while (moved-- > 0)
			renameat2(t->dirfd, t->names[moved], t->stagefd, t->names[moved], RENAME_NOREPLACE);
		dir_abort(base);
		return rc;
	}
	if (t->stage) {
		rmdir(t->stage);
		fsync(t->dirfd);
	}
	dir_free(t);
	return 0;
}

const struct ep_target_ops ep_target_dir = {
	.scheme = "dir",
	.summary = "a directory: disks as NAME.raw (or --format FMT), file trees and images as NAME/",
	.open = dir_open,
	.plan = dir_plan,
	.put_disk = dir_put_disk,
	.put_files = dir_put_files,
	.plan_machine = dir_plan_machine,
	.put_machine = dir_put_machine,
	.commit = dir_commit,
	.abort = dir_abort,
};
