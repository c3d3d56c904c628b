/*
 * Targets that package one machine into one file or directory:
 *   ova:FILE.ova, ovf:DIR — the OVF descriptor, its disks as streamOptimized
 *     VMDKs and a .mf manifest of SHA-256 digests; an OVA is a tar in the
 *     order the format requires (descriptor, manifest, then the disks in the
 *     order the descriptor lists them);
 *   vagrant:FILE.box — a libvirt-provider box: metadata.json, a Vagrantfile
 *     and the disk as box.img (qcow2).
 * Everything is built by the dir target in a hidden staging directory beside
 * the destination and published at once at commit: the tar renamed into
 * place, or the directory.
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


#include "formats/vm/ovf.h"
#include "targets/target.h"

#define MAX_FILES 66 /* a descriptor, a manifest and 64 disks */

struct ova_target;

/* What sets one kind of package apart. */
struct package_kind {
	const char *scheme;
	bool tar; /* one file, else a directory */
	const char *disk_format;
	size_t max_disks; /* 0: any number */
	const struct ep_machine_format *machine_format;
	/* Names the members of machine m: member[i] in the package is staged[i] in the stage. */
	int (*members)(struct ova_target *t, const struct ep_manifest *manifest, const struct ep_machine *m,
		       struct ep_error *err);
	/* Writes the generated members (a manifest, metadata) into the stage once the rest is there. */
	int (*finish)(struct ova_target *t, int dirfd, struct ep_error *err);
};

struct ova_target {
	struct ep_target base;
	const struct package_kind *kind;
	struct ep_target *dir; /* the dir target on stage */
	char *dest, *stage;
	bool planned; /* a machine is planned: one package holds one */
	char *member[MAX_FILES], *staged[MAX_FILES]; /* in package order */
	size_t nfiles;
	uint64_t disk_bytes; /* vagrant: the box's virtual size */
};

static int add_member(struct ova_target *t, const char *member, const char *staged, struct ep_error *err)
{
	if (t->nfiles == MAX_FILES)
		return ep_fail(err, EP_EINPUT, "%s: too many disks for one package", t->kind->scheme);
	if (!(t->member[t->nfiles] = strdup(member)) || !(t->staged[t->nfiles] = strdup(staged))) {
		free(t->member[t->nfiles]);
		return ep_oom(err);
	}
	t->nfiles++;
	return 0;
}

static int open_common(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		       const struct package_kind *kind, const struct ep_target_ops *ops, struct ep_error *err)
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
	t->kind = kind;
	int rc = mkdtemp(t->stage) ? 0 : ep_fail_errno(err, EP_ERUNTIME, "cannot create a staging directory for '%s'", location);
	struct ep_target_options o = *opt;
	o.disk_format = kind->disk_format;
	o.machine_format = kind->machine_format;
	o.domain_type = ops->domain_type ? ep_target_domain_type(opt->domain_type, NULL, 0) : NULL;
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


static int ova_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	if (c->type != EP_COMP_DISK)
		return ep_fail(err, EP_EINPUT, "%s: holds a machine and its disks only ('%s' is not a disk; restore it to dir:)",
			       t->kind->scheme, c->name);
	snprintf(dest, cap, "%s (%s.%s)", t->dest, c->name, t->kind->disk_format);
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
		return ep_fail(err, EP_EINPUT, "%s: one package holds one machine ('%s' is a second; pick one with --only)", t->kind->scheme, m->name);
	if (t->kind->max_disks && m->ndisks > t->kind->max_disks)
		return ep_fail(err, EP_EINPUT, "%s: a package holds %zu disk at most; '%s' has %zu (restore it to libvirt:)",
			       t->kind->scheme, t->kind->max_disks, m->name, m->ndisks);
	snprintf(dest, cap, "%s (%s.%s)", t->dest, m->name, t->kind->machine_format->extension);
	t->planned = true;
	return 0;
}

static int ova_put_machine(struct ep_target *base, const struct ep_manifest *manifest, const struct ep_machine *m,
			   struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	int rc = t->dir->ops->put_machine(t->dir, manifest, m, err);
	return rc ? rc : t->kind->members(t, manifest, m, err);
}

/* ---- OVF ---- */

static int ovf_members(struct ova_target *t, const struct ep_manifest *manifest, const struct ep_machine *m,
		       struct ep_error *err)
{
	(void)manifest;
	char name[300];
	snprintf(name, sizeof name, "%s.ovf", m->name);
	int rc = add_member(t, name, name, err);
	snprintf(name, sizeof name, "%s.mf", m->name);
	if (!rc)
		rc = add_member(t, name, name, err);
	for (size_t i = 0; !rc && i < m->ndisks; i++) {
		snprintf(name, sizeof name, "%s.vmdk", m->disks[i].component);
		rc = add_member(t, name, name, err);
	}
	return rc;
}

static int sha256_file(int dirfd, const char *name, char hex[EP_DIGEST_HEX], struct ep_error *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = fd < 0 ? ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", name)
			: ep_hash_fd(fd, 0, UINT64_MAX, "sha256", hex, name, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int write_member(struct ova_target *t, int dirfd, const char *name, const char *text, size_t len,
			struct ep_error *err)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int rc = fd < 0 ? ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s/%s'", t->stage, name)
			: ep_pwrite_full(fd, text, len, 0, name, err);
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
		if (i != 1 && !(rc = sha256_file(dirfd, t->staged[i], hex, err)))
			fprintf(f, "SHA256(%s)= %s\n", t->member[i], hex);
	}
	if (f)
		fclose(f);
	if (!rc)
		rc = write_member(t, dirfd, t->staged[1], text, len, err);
	free(text);
	return rc;
}

static int add_to_tar(struct archive *a, int dirfd, const char *name, const char *staged, struct ep_error *err)
{
	int fd = openat(dirfd, staged, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
		rc = add_to_tar(a, dirfd, t->member[i], t->staged[i], err);
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
	for (size_t i = 0; i < t->nfiles; i++) {
		free(t->member[i]);
		free(t->staged[i]);
	}
	free(t->stage);
	free(t->dest);
	free(t);
}

static int ova_commit(struct ep_target *base, struct ep_error *err)
{
	struct ova_target *t = (struct ova_target *)base;
	int rc = t->nfiles ? 0 : ep_fail(err, EP_EINPUT, "%s: the bundle holds no machine to package", t->kind->scheme);
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
		rc = t->kind->finish(t, dirfd, err);
	if (!rc && t->kind->tar)
		rc = write_ova(t, dirfd, err);
	if (!rc && !t->kind->tar) {
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

/* ---- Vagrant ---- */

/* The box's Vagrantfile: the machine's size and buses for the libvirt provider. */
static int render_vagrantfile(const struct ep_machine *m, const struct ep_vm_target_disk *disks,
			      const char *domain_type, char **out, size_t *len, struct ep_error *err)
{
	(void)disks;
	FILE *f = open_memstream(out, len);
	if (!f)
		return ep_oom(err);
	const char *bus = ep_libvirt_bus(m);
	fprintf(f, "# The box of '%s', restored by envpack.\n"
		   "Vagrant.configure(\"2\") do |config|\n"
		   "  config.vm.provider :libvirt do |libvirt|\n"
		   "    libvirt.driver = \"%s\"\n"
		   "    libvirt.cpus = %u\n"
		   "    libvirt.memory = %llu\n"
		   "    libvirt.disk_bus = \"%s\"\n"
		   "    libvirt.nic_model_type = \"%s\"\n",
		m->name, domain_type, m->vcpus, (unsigned long long)m->memory_mib, bus, strcmp(bus, "virtio") ? "e1000" : "virtio");
	if (ep_machine_q35(m))
		fputs("    libvirt.machine_type = \"q35\"\n", f);
	if (!strcmp(m->firmware, "uefi")) /* Debian's and Ubuntu's OVMF */
		fputs("    libvirt.loader = \"/usr/share/OVMF/OVMF_CODE.fd\"\n", f);
	fputs("  end\nend\n", f);
	return fclose(f) == 0 ? 0 : ep_oom(err);
}

static const struct ep_machine_format vagrantfile = { "Vagrantfile", render_vagrantfile };

static int vagrant_members(struct ova_target *t, const struct ep_manifest *manifest, const struct ep_machine *m,
			   struct ep_error *err)
{
	char staged[300];
	for (size_t c = 0; c < manifest->ncomponents; c++)
		if (!strcmp(manifest->components[c].name, m->disks[0].component))
			t->disk_bytes = manifest->components[c].virtual_size;
	int rc = add_member(t, "metadata.json", "metadata.json", err);
	snprintf(staged, sizeof staged, "%s.Vagrantfile", m->name);
	if (!rc)
		rc = add_member(t, "Vagrantfile", staged, err);
	snprintf(staged, sizeof staged, "%s.qcow2", m->disks[0].component);
	if (!rc)
		rc = add_member(t, "box.img", staged, err);
	return rc;
}

static int vagrant_finish(struct ova_target *t, int dirfd, struct ep_error *err)
{
	char text[200]; /* virtual_size is in whole GiB, rounded up */
	int n = snprintf(text, sizeof text, "{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": %llu}\n",
			 (unsigned long long)((t->disk_bytes + (1ull << 30) - 1) >> 30));
	return write_member(t, dirfd, t->staged[0], text, (size_t)n, err);
}

static int render_ovf(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		      char **out, size_t *len, struct ep_error *err)
{
	(void)domain_type; /* OVF names no hypervisor */
	return ep_ovf_write(m, disks, out, len, err);
}

static const struct ep_machine_format ovf_format = { "ovf", render_ovf };
static const struct package_kind ova_kind = { "ova", true, "vmdk", 0, &ovf_format, ovf_members, write_manifest };
static const struct package_kind ovf_kind = { "ovf", false, "vmdk", 0, &ovf_format, ovf_members, write_manifest };
static const struct package_kind box_kind = { "vagrant", true, "qcow2", 1, &vagrantfile, vagrant_members, vagrant_finish };

/* One open function and one table per kind; everything else is shared. */
#define PACKAGE_TARGET(NAME, KIND, SCHEME, DOMAIN_TYPE, SUMMARY)                                                  \
	static int NAME##_open(struct ep_target **out, const char *location, const struct ep_target_options *opt, \
			       struct ep_error *err)                                                              \
	{                                                                                                        \
		return open_common(out, location, opt, &KIND, &ep_target_##NAME, err);                            \
	}                                                                                                        \
	const struct ep_target_ops ep_target_##NAME = {                                                          \
		.scheme = SCHEME,                                                                                \
		.summary = SUMMARY,                                                                              \
		.machines = true,                                                                                \
		.domain_type = DOMAIN_TYPE,                                                                      \
		.open = NAME##_open,                                                                             \
		.plan = ova_plan,                                                                                \
		.put_disk = ova_put_disk,                                                                        \
		.plan_machine = ova_plan_machine,                                                                \
		.put_machine = ova_put_machine,                                                                  \
		.commit = ova_commit,                                                                            \
		.abort = ova_abort,                                                                              \
	}

PACKAGE_TARGET(ova, ova_kind, "ova", false, "one machine as an OVA: OVF descriptor, streamOptimized VMDKs, SHA-256 manifest");
PACKAGE_TARGET(ovf, ovf_kind, "ovf", false, "one machine as an unpacked OVF package in a new directory");
PACKAGE_TARGET(vagrant, box_kind, "vagrant", true,
	       "one machine as a Vagrant box for the libvirt provider (box.img, metadata.json, Vagrantfile)");
