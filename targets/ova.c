/*
 * ova:FILE.ova and ovf:DIR — one machine as an OVF package: the descriptor,
 * its disks as streamOptimized VMDKs and a .mf manifest of SHA-256 digests.
 * Everything is built by the dir target in a hidden staging directory beside
 * the destination; at commit the manifest is added and the package published
 * at once: as a tar in the order OVA requires (descriptor, manifest, then the
 * disks in the order the descriptor lists them), or the directory renamed.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "formats/vm/ovf.h"
#include "target.h"

#define MAX_FILES 66 /* a descriptor, a manifest and 64 disks */

struct ova_target {
	struct ep_target base;
	struct ep_target *dir; /* the dir target on stage */
	char *dest, *stage;
	bool tar; /* ova: (else ovf:) */
	bool planned; /* a machine is planned: one package holds one */
	char *files[MAX_FILES]; /* in package order, the manifest second */
	size_t nfiles;
};

static const struct ep_machine_format ovf_format = { "ovf", ep_ovf_write };

static int open_common(struct ep_target **out, const char *location, const struct ep_target_options *opt, bool tar,
		       const struct ep_target_ops *ops, struct ep_error *err)
{
	struct stat st;
	if (lstat(location, &st) == 0)
		return ep_fail(err, EP_EINPUT, "'%s' exists; restore never overwrites", location);
	struct ova_target *t = calloc(1, sizeof *t);
	char *copy = strdup(location);
	if (!t || !copy || !(t->dest = strdup(location)) || asprintf(&t->stage, "%s/.envpack-ova-XXXXXX", dirname(copy)) < 0) {
		free(copy);
		if (t)
			free(t->dest);
		free(t);
		return ep_oom(err);
	}
	free(copy);
	t->base.ops = ops;
	t->tar = tar;
	int rc = mkdtemp(t->stage) ? 0 : ep_fail_errno(err, EP_ERUNTIME, "cannot create a staging directory for '%s'", location);
	struct ep_target_options o = *opt;
	o.disk_format = "vmdk"; /* streamOptimized, what OVF importers take */
	o.machine_format = &ovf_format;
	if (!rc)
		rc = ep_target_dir.open(&t->dir, t->stage, &o, err);
	if (rc) {
		rmdir(t->stage);
		free(t->stage);
		free(t->dest);
		free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

static int ova_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	return open_common(out, location, opt, true, &ep_target_ova, err);
}

static int ovf_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	return open_common(out, location, opt, false, &ep_target_ovf, err);
}

static int ova_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	if (c->type != EP_COMP_DISK)
		return ep_fail(err, EP_EINPUT, "%s: holds a machine and its disks only ('%s' is not a disk; restore it to dir:)",
			       t->tar ? "ova" : "ovf", c->name);
	snprintf(dest, cap, "%s/%s.vmdk", t->dest, c->name);
	return 0;
}

static int ova_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	return t->dir->ops->put_disk(t->dir, c, s, err);
}

static int ova_plan_machine(struct ep_target *base, const struct ep_machine *m, char *dest, size_t cap,
			    struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	if (t->planned)
		return ep_fail(err, EP_EINPUT, "%s: one package holds one machine ('%s' is a second)", t->tar ? "ova" : "ovf",
			       m->name);
	snprintf(dest, cap, "%s (%s.ovf)", t->dest, m->name);
	t->planned = true;
	return 0;
}

static int ova_put_machine(struct ep_target *base, const struct ep_manifest *manifest, const struct ep_machine *m,
			   struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	int rc = t->dir->ops->put_machine(t->dir, manifest, m, err);
	/* the package's order: descriptor, manifest, then the disks as the descriptor lists them */
	for (size_t i = 0; !rc && i < m->ndisks + 2 && i < MAX_FILES; i++) {
		int n = i == 0 ? asprintf(&t->files[i], "%s.ovf", m->name)
			: i == 1 ? asprintf(&t->files[i], "%s.mf", m->name)
				 : asprintf(&t->files[i], "%s.vmdk", m->disks[i - 2].component);
		if (n < 0)
			rc = ep_oom(err);
		else
			t->nfiles++;
	}
	return rc;
}

static int sha256_file(int dirfd, const char *name, char hex[EP_DIGEST_HEX], struct ep_error *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[1 << 16], d[EP_DIGEST_LEN];
	ssize_t n = 0;
	int rc = fd < 0 ? ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", name)
		 : !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? ep_oom(err)
									: 0;
	while (!rc && (n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (!rc && n < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s'", name);
	if (!rc) {
		EVP_DigestFinal_ex(ctx, d, NULL);
		ep_hex(d, EP_DIGEST_LEN, hex);
	}
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* NAME.mf: "SHA256(FILE)= HEX" for the descriptor and each disk. */
static int write_manifest(struct ova_target *t, int dirfd, struct ep_error *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc = f ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < t->nfiles; i++) {
		char hex[EP_DIGEST_HEX];
		if (i != 1 && !(rc = sha256_file(dirfd, t->files[i], hex, err)))
			fprintf(f, "SHA256(%s)= %s\n", t->files[i], hex);
	}
	if (f)
		fclose(f);
	int fd = rc ? -1 : openat(dirfd, t->files[1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (!rc && fd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s/%s'", t->stage, t->files[1]);
	if (!rc)
		rc = ep_pwrite_full(fd, text, len, 0, t->files[1], err);
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

static int add_to_tar(struct archive *a, int dirfd, const char *name, struct ep_error *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", name);
	}
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, st.st_size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : ep_fail(err, EP_ERUNTIME, "ova: %s", archive_error_string(a));
	archive_entry_free(e);
	size_t cap = (size_t)1 << 20;
	char *buf = rc ? NULL : malloc(cap);
	ssize_t n;
	if (!rc && !buf)
		rc = ep_oom(err);
	while (!rc && (n = read(fd, buf, cap)) > 0)
		if (archive_write_data(a, buf, (size_t)n) != n)
			rc = ep_fail(err, EP_ERUNTIME, "ova: %s", archive_error_string(a));
	free(buf);
	close(fd);
	return rc;
}

/* The package as one tar, written beside the destination and renamed into place. */
static int write_ova(struct ova_target *t, int dirfd, struct ep_error *err)
{
	char *tmp = NULL;
	if (asprintf(&tmp, "%s/package.ova", t->stage) < 0)
		return ep_oom(err);
	struct archive *a = archive_write_new();
	int rc = a && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK && archive_write_open_filename(a, tmp) == ARCHIVE_OK
			 ? 0
			 : ep_fail(err, EP_ERUNTIME, "ova: cannot write '%s'", tmp);
	for (size_t i = 0; !rc && i < t->nfiles; i++)
		rc = add_to_tar(a, dirfd, t->files[i], err);
	if (a && archive_write_close(a) != ARCHIVE_OK && !rc)
		rc = ep_fail(err, EP_ERUNTIME, "ova: %s", archive_error_string(a));
	archive_write_free(a);
	int fd = rc ? -1 : open(tmp, O_RDONLY | O_CLOEXEC);
	if (!rc && (fd < 0 || fsync(fd) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot sync '%s'", tmp);
	if (fd >= 0)
		close(fd);
	if (!rc && renameat2(AT_FDCWD, tmp, AT_FDCWD, t->dest, RENAME_NOREPLACE) != 0)
		rc = ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot publish '%s'", t->dest);
	free(tmp);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void ova_free(struct ova_target *t)
{
	if (t->stage)
		nftw(t->stage, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->stage);
	free(t->dest);
	free(t);
}

static int ova_commit(struct ep_target *base, struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	int rc = t->nfiles ? 0 : ep_fail(err, EP_EINPUT, "%s: the bundle holds no machine to package", t->tar ? "ova" : "ovf");
	struct ep_target *dir = t->dir;
	t->dir = NULL;
	if (rc)
		dir->ops->abort(dir);
	else
		rc = dir->ops->commit(dir, err);
	int dirfd = rc ? -1 : open(t->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && dirfd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", t->stage);
	if (!rc)
		rc = write_manifest(t, dirfd, err);
	if (!rc && t->tar)
		rc = write_ova(t, dirfd, err);
	if (!rc && !t->tar) {
		if (fchmod(dirfd, 0755) != 0 || fsync(dirfd) != 0 ||
		    renameat2(AT_FDCWD, t->stage, AT_FDCWD, t->dest, RENAME_NOREPLACE) != 0) {
			rc = ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot publish '%s'", t->dest);
		} else { /* the staging directory is the package now */
			free(t->stage);
			t->stage = NULL;
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	ova_free(t);
	return rc;
}

static void ova_abort(struct ep_target *base)
{
	struct ova_target *t = (struct ova_target *)base;
	if (t->dir)
		t->dir->ops->abort(t->dir);
	ova_free(t);
}

const struct ep_target_ops ep_target_ova = {
	.scheme = "ova",
	.summary = "one machine as an OVA: OVF descriptor, streamOptimized VMDKs, SHA-256 manifest",
	.open = ova_open,
	.plan = ova_plan,
	.put_disk = ova_put_disk,
	.plan_machine = ova_plan_machine,
	.put_machine = ova_put_machine,
	.commit = ova_commit,
	.abort = ova_abort,
};

const struct ep_target_ops ep_target_ovf = {
	.scheme = "ovf",
	.summary = "one machine as an unpacked OVF package in a new directory",
	.open = ovf_open,
	.plan = ova_plan,
	.put_disk = ova_put_disk,
	.plan_machine = ova_plan_machine,
	.put_machine = ova_put_machine,
	.commit = ova_commit,
	.abort = ova_abort,
};
