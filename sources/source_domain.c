/*
 * vm:domain:NAME: a libvirt domain by name, through libvirt's API. The machine is
 * read from the domain's live definition by the same reader as vm:libvirt:FILE.
 * A shut-off domain's disks are read from their image files ("offline"); a running
 * one's through a pull-mode backup job begun at open, so every disk is read as it
 * was at that instant ("full"): qemu serves the disks over NBD from a private
 * socket and keeps the blocks the guest overwrites meanwhile in scratch files.
 * The job takes a checkpoint (a dirty bitmap per qcow2 disk), whose name each
 * disk's component records for a later incremental backup. The job is ended and
 * the scratch files removed at close, however the backup went.
 */
#include "sources/source.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/nbd.h"
#include "formats/vm/libvirt_xml.h"

struct domain_state {
	virConnectPtr conn;
	virDomainPtr dom;
	struct ep_vm_source *vm;
	struct ep_disk **disks; /* one per machine disk */
	size_t ndisks;
	uint64_t data;
	uint64_t *disk_data; /* offline: each disk's data bytes, which pack reads */
	ep_source_report_fn report;
	void *report_ctx;
	bool live;       /* a backup job was begun: abort it at close */
	char dir[PATH_MAX]; /* the job's private directory (socket, scratch files), "" when none */
	char socket[PATH_MAX];
	char **scratch; /* one per disk */
	char checkpoint[64]; /* "envpack-<hex>", "" when none was taken */
};

/* libvirt prints every error on stderr unless told otherwise: only the CLI prints. */
static void quiet(void *ctx, virErrorPtr e)
{
	(void)ctx, (void)e;
}

static const char *last_error(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown error";
}

static int connect_to(const char *uri, struct domain_state *s, struct ep_error *err)
{
	virSetErrorFunc(NULL, quiet);
	const char *named = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");
	if (!(s->conn = virConnectOpen(uri)))
		return ep_fail(err, EP_ERUNTIME, "libvirt: cannot connect to '%s': %s",
			       named && *named ? named : "libvirt's default URI", last_error());
	return 0;
}

static int look_up(const char *name, struct domain_state *s, struct ep_error *err)
{
	if ((s->dom = virDomainLookupByName(s->conn, name)))
		return 0;
	/* taken before any other call resets libvirt's last error */
	bool unknown = virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
	char why[512];
	snprintf(why, sizeof why, "%s", last_error());
	char *uri = virConnectGetURI(s->conn);
	int rc = unknown ? ep_fail(err, EP_EINPUT, "libvirt: no domain named '%s' at '%s'", name, uri ? uri : "?")
			 : ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s' at '%s': %s", name, uri ? uri : "?", why);
	free(uri);
	return rc;
}

static int read_definition(const char *name, const struct ep_source_options *opt, struct domain_state *s,
			   struct ep_error *err)
{
	char *xml = virDomainGetXMLDesc(s->dom, 0);
	if (!xml)
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': no definition: %s", name, last_error());
	char what[300];
	snprintf(what, sizeof what, "domain '%s'", name);
	struct ep_disk_open_opts ref_opts = { .allow_dirs = opt->allow_dirs, .nallow = opt->nallow };
	int rc = ep_libvirt_parse(xml, strlen(xml), what, &ref_opts, &s->vm, err);
	free(xml);
	if (!rc && (!(s->disks = calloc(s->vm->machine.ndisks, sizeof *s->disks)) ||
		    !(s->disk_data = calloc(s->vm->machine.ndisks, sizeof *s->disk_data))))
		rc = ep_oom(err);
	if (!rc)
		s->ndisks = s->vm->machine.ndisks;
	return rc;
}

/* The job's private directory (0700, as mkdtemp makes it) and the names in it. */
static int make_dir(const char *name, struct domain_state *s, struct ep_error *err)
{
	const char *tmp = getenv("TMPDIR");
	if (ep_path_format(s->dir, sizeof s->dir, err, "%s/envpack-domain-XXXXXX", tmp && *tmp ? tmp : "/tmp"))
		return err->code;
	if (!mkdtemp(s->dir)) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "domain '%s': cannot create a private directory '%s'", name, s->dir);
		s->dir[0] = 0;
		return rc;
	}
	/* a unix socket's path is at most 107 bytes */
	if (snprintf(s->socket, sizeof s->socket, "%s/nbd.sock", s->dir) > 107)
		return ep_fail(err, EP_ERUNTIME, "domain '%s': the NBD socket path '%s' is too long (set TMPDIR shorter)",
			       name, s->socket);
	if (!(s->scratch = calloc(s->ndisks, sizeof *s->scratch)))
		return ep_oom(err);
	for (size_t k = 0; k < s->ndisks; k++) {
		char path[PATH_MAX];
		if (ep_path_format(path, sizeof path, err, "%s/scratch-%zu.qcow2", s->dir, k))
			return err->code;
		if (!(s->scratch[k] = strdup(path)))
			return ep_oom(err);
	}
	return 0;
}

static int begin_job(const char *name, struct domain_state *s, struct ep_error *err)
{
	struct ep_libvirt_backup_disk *bd = calloc(s->ndisks, sizeof *bd);
	if (!bd)
		return ep_oom(err);
	uint8_t raw[8];
	bool any_bitmap = false;
	int rc = RAND_bytes(raw, sizeof raw) == 1 ? 0 : ep_fail(err, EP_ERUNTIME, "no random bytes for a checkpoint name");
	for (size_t k = 0; !rc && k < s->ndisks; k++) {
		const struct ep_vm_source_disk *w = &s->vm->where[k];
		if (!w->target)
			rc = ep_fail(err, EP_ERUNTIME, "domain '%s': disk %zu has no target device", name, k + 1);
		bd[k] = (struct ep_libvirt_backup_disk){ .target = w->target, .scratch = s->scratch[k],
							 .bitmap = w->format && !strcmp(w->format, "qcow2") };
		any_bitmap |= bd[k].bitmap;
	}
	char hex[2 * sizeof raw + 1], *bxml = NULL, *cxml = NULL;
	ep_hex(raw, sizeof raw, hex);
	if (!rc && any_bitmap) /* raw disks cannot hold a bitmap: read whole every time */
		snprintf(s->checkpoint, sizeof s->checkpoint, "envpack-%s", hex);
	if (!rc)
		rc = ep_libvirt_backup_xml(s->socket, bd, s->ndisks, &bxml, err);
	if (!rc && any_bitmap)
		rc = ep_libvirt_checkpoint_xml(s->checkpoint, bd, s->ndisks, &cxml, err);
	/* armed before the job exists, so that Ctrl-C at any moment it does ends it in close, as any failure does */
	if (!rc)
		ep_interrupt_arm();
	if (!rc && virDomainBackupBegin(s->dom, bxml, cxml, 0) < 0) {
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot begin a backup job: %s", name, last_error());
		ep_interrupt_disarm();
	}
	if (!rc)
		s->live = true;
	free(bxml);
	free(cxml);
	free(bd);
	return rc;
}

static int domain_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		       struct ep_error *err)
{
	struct domain_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	const char *name = src->path;
	s->report = opt->report;
	s->report_ctx = opt->report_ctx;
	int rc = connect_to(opt->libvirt_uri, s, err);
	if (!rc)
		rc = look_up(name, s, err);
	if (!rc)
		rc = read_definition(name, opt, s, err);
	int active = rc ? 0 : virDomainIsActive(s->dom);
	if (!rc && active < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': %s", name, last_error());
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		rc = ep_source_disk_open(s->vm->where[k].path, s->vm->where[k].format, opt, &s->disks[k], &s->disk_data[k],
					 err);
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		s->data += s->disk_data[k];
	if (!rc && active && !(rc = make_dir(name, s, err)))
		rc = begin_job(name, s, err);
	for (size_t k = 0; !rc && active && k < s->ndisks; k++) {
		rc = ep_disk_nbd_open(&s->disks[k], s->socket, s->vm->where[k].target, err);
		if (!rc)
			rc = ep_source_disk_data(s->disks[k], &s->data, err);
	}
	return rc;
}

static uint64_t domain_size(const void *state)
{
	return ((const struct domain_state *)state)->data;
}

static int domain_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		       struct ep_error *err)
{
	struct domain_state *s = state;
	struct ep_component **comps = calloc(s->ndisks, sizeof *comps);
	if (!comps)
		return ep_oom(err);
	int rc = ep_source_vm_pack(s->vm, s->disks, sink, comps, err);
	if (!rc && s->live && ep_interrupted()) /* after the last read: still not published */
		rc = ep_fail(err, EP_ERUNTIME, "domain '%s': interrupted", src->path);
	for (size_t k = 0; !rc && s->checkpoint[0] && k < s->ndisks; k++)
		if (s->vm->where[k].format && !strcmp(s->vm->where[k].format, "qcow2") &&
		    !(comps[k]->checkpoint = strdup(s->checkpoint)))
			rc = ep_oom(err);
	for (size_t k = 0; !rc && s->report && k < s->ndisks; k++)
		s->report(s->report_ctx, comps[k]->name, s->live ? "full" : "offline",
			  s->live ? ep_disk_nbd_bytes_read(s->disks[k]) : s->disk_data[k]);
	free(comps);
	return rc;
}

/* Ends the job (qemu stops serving and drops its scratch), then removes what is left of the directory. */
static void end_job(struct domain_state *s)
{
	if (s->live) {
		virDomainAbortJob(s->dom);
		ep_interrupt_disarm();
	}
	for (size_t k = 0; s->scratch && k < s->ndisks; k++) {
		if (s->scratch[k])
			unlink(s->scratch[k]);
		free(s->scratch[k]);
	}
	free(s->scratch);
	if (s->dir[0]) {
		unlink(s->socket);
		rmdir(s->dir);
	}
}

static void domain_close(void *state)
{
	struct domain_state *s = state;
	if (!s)
		return;
	for (size_t k = 0; k < s->ndisks; k++)
		if (s->disks[k])
			ep_disk_close(s->disks[k], NULL);
	free(s->disks);
	free(s->disk_data);
	end_job(s);
	ep_vm_source_free(s->vm);
	if (s->dom)
		virDomainFree(s->dom);
	if (s->conn)
		virConnectClose(s->conn);
	free(s);
}

const struct ep_source_ops ep_source_vm_domain = {
	.prefix = "vm:domain:",
	.usage = "vm:domain:NAME",
	.open = domain_open,
	.size = domain_size,
	.pack = domain_pack,
	.close = domain_close,
};
