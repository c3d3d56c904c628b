/*
 * vm:domain:NAME: a libvirt domain by name, through libvirt's API. The machine is
 * read from the domain's live definition by the same reader as vm:libvirt:FILE.
 * A shut-off domain's disks are read from their image files ("offline"); a running
 * one's through a pull-mode backup job begun at open, so every disk is read as it
 * was at that instant ("full"): qemu serves the disks over NBD from a private
 * socket and keeps the blocks the guest overwrites meanwhile in scratch files.
 * Into a store (opt->history), the job also takes a checkpoint (a dirty bitmap per
 * qcow2 disk), whose name each disk's component records; the next backup into that
 * store asks qemu for what changed since ("incremental") and reads only that, taking
 * the rest from the record of the last one (sources/delta_disk.c). When it cannot (no
 * record, checkpoint gone, disk resized), it reads the disk whole and says why. Once
 * the snapshot is published, the checkpoints this store's backups took before are
 * deleted: only the newest is of use. The job is ended and the scratch files removed
 * however the backup went.
 */
#include "sources/source.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/libvirt_util.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/nbd.h"
#include "formats/vm/libvirt_xml.h"
#include "sources/delta_disk.h"
#include "sources/domain_job.h"

/* What one disk of a running domain is read as. */
struct live_disk {
	char key[128];                    /* its record's name in the store's history */
	const struct ep_component *base;  /* that record, when incremental (borrowed from history) */
	char since[64];                   /* the checkpoint base was taken at, "" for a full read */
	struct ep_disk *nbd;              /* the job's export */
	struct ep_extent *dirty;          /* what the bitmap names, incremental only */
	size_t ndirty;
	uint64_t dirty_bytes;
};

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
	struct ep_domain_job job; /* running domains only */
	const struct ep_source_history *history;
	char name[256];
	struct live_disk *ld; /* one per disk, running domains only */
	char *dac_label; /* the running qemu's user:group ("+64055:+64055"), NULL when not said */
	char **component; /* each disk's component, once packed */
	const struct ep_manifest *manifest; /* where they are */
	enum ep_quiesce quiesce;
};

static int connect_to(const char *uri, struct domain_state *s, struct ep_error *err)
{
	ep_libvirt_quiet();
	const char *named = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");
	if (!(s->conn = virConnectOpen(uri)))
		return ep_fail(err, EP_ERUNTIME, "libvirt: cannot connect to '%s': %s",
			       named && *named ? named : "libvirt's default URI", ep_libvirt_error());
	return 0;
}

static int look_up(const char *name, struct domain_state *s, struct ep_error *err)
{
	if ((s->dom = virDomainLookupByName(s->conn, name)))
		return 0;
	/* taken before any other call resets libvirt's last error */
	bool unknown = virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
	char why[512];
	snprintf(why, sizeof why, "%s", ep_libvirt_error());
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
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': no definition: %s", name, ep_libvirt_error());
	char what[300];
	snprintf(what, sizeof what, "domain '%s'", name);
	struct ep_disk_open_opts ref_opts = { .allow_dirs = opt->allow_dirs, .nallow = opt->nallow };
	int rc = ep_libvirt_parse(xml, strlen(xml), what, &ref_opts, &s->vm, err);
	s->dac_label = ep_libvirt_xml_get(xml, "domain", "/domain/seclabel[@model='dac']/label");
	free(xml);
	if (!rc && (!(s->disks = calloc(s->vm->machine.ndisks, sizeof *s->disks)) ||
		    !(s->disk_data = calloc(s->vm->machine.ndisks, sizeof *s->disk_data))))
		rc = ep_oom(err);
	if (!rc)
		s->ndisks = s->vm->machine.ndisks;
	return rc;
}

static bool is_qcow2(const struct ep_vm_source_disk *w)
{
	return w->format && !strcmp(w->format, "qcow2");
}

/* What each disk is read as: incremental when the store recorded it at a checkpoint the
 * domain still has; else whole, and why (unless it was never backed up here). */
static int plan_disks(struct domain_state *s, struct ep_error *err)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	if (!(s->ld = calloc(s->ndisks, sizeof *s->ld)))
		return ep_oom(err);
	if (!s->history)
		return 0;
	if (virDomainGetUUIDString(s->dom, uuid) < 0)
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': no UUID: %s", s->name, ep_libvirt_error());
	for (size_t k = 0; k < s->ndisks; k++) {
		struct live_disk *d = &s->ld[k];
		const char *target = s->vm->where[k].target;
		if (!is_qcow2(&s->vm->where[k]) || !target)
			continue;
		snprintf(d->key, sizeof d->key, "vm:domain:%s:%s", uuid, target);
		const char *cp = NULL;
		char why[256] = "";
		d->base = s->history->previous(s->history->ctx, d->key, &cp, why, sizeof why);
		virDomainCheckpointPtr found = d->base ? virDomainCheckpointLookupByName(s->dom, cp, 0) : NULL;
		if (d->base && !found) {
			snprintf(why, sizeof why, "its checkpoint %s is gone", cp);
			d->base = NULL;
		}
		if (found)
			virDomainCheckpointFree(found);
		if (d->base)
			snprintf(d->since, sizeof d->since, "%s", cp);
		else if (why[0])
			ep_domain_job_warn(&s->job, "domain '%s': disk %s is read whole: %s", s->name, target, why);
	}
	return 0;
}

static int begin_job(struct domain_state *s, enum ep_quiesce quiesce, struct ep_error *err)
{
	struct ep_libvirt_backup_disk *bd = calloc(s->ndisks, sizeof *bd);
	if (!bd)
		return ep_oom(err);
	int rc = 0;
	for (size_t k = 0; !rc && k < s->ndisks; k++) {
		const struct ep_vm_source_disk *w = &s->vm->where[k];
		if (!w->target)
			rc = ep_fail(err, EP_ERUNTIME, "domain '%s': disk %zu has no target device", s->name, k + 1);
		bd[k] = (struct ep_libvirt_backup_disk){ .target = w->target, .bitmap = is_qcow2(w),
							 .since = s->ld[k].since[0] ? s->ld[k].since : NULL };
	}
	/* raw disks cannot hold a bitmap: read whole every time; a bundle has no next time */
	if (!rc)
		rc = ep_domain_job_begin(&s->job, bd, s->history ? s->history->tag : NULL, quiesce, err);
	free(bd);
	return rc;
}

/* Disk k's export; incremental, its dirty runs and the disk that reads only those. */
static int open_export(struct domain_state *s, size_t k, struct ep_error *err)
{
	struct live_disk *d = &s->ld[k];
	const char *target = s->vm->where[k].target;
	char bitmap[128];
	snprintf(bitmap, sizeof bitmap, "qemu:dirty-bitmap:backup-%s", target);
	int rc = ep_disk_nbd_open(&d->nbd, s->job.socket, target, d->since[0] ? bitmap : NULL, err);
	if (!rc && d->since[0] && d->nbd->virtual_size != d->base->virtual_size) {
		ep_domain_job_warn(&s->job, "domain '%s': disk %s is read whole: it was resized since checkpoint %s", s->name, target, d->since);
		d->since[0] = 0;
	}
	if (rc || !d->since[0]) {
		s->disks[k] = d->nbd;
		return rc ? rc : ep_source_disk_data(d->nbd, &s->data, err);
	}
	if ((rc = ep_disk_nbd_dirty(d->nbd, &d->dirty, &d->ndirty, err)))
		return rc;
	for (size_t i = 0; i < d->ndirty; i++)
		d->dirty_bytes += d->dirty[i].len;
	s->data += d->dirty_bytes;
	return ep_delta_disk_open(&s->disks[k], d->nbd, d->dirty, d->ndirty, d->base, s->history->load,
				  s->history->ctx, err);
}

static int domain_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		       struct ep_error *err)
{
	struct domain_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	snprintf(s->name, sizeof s->name, "%s", src->path);
	s->report = opt->report;
	s->report_ctx = opt->report_ctx;
	s->history = opt->history;
	s->job = (struct ep_domain_job){ .name = s->name, .warn = opt->warn, .warn_ctx = opt->warn_ctx };
	int rc = connect_to(opt->libvirt_uri, s, err);
	if (!rc)
		rc = look_up(s->name, s, err);
	s->job.dom = s->dom;
	if (!rc)
		rc = read_definition(s->name, opt, s, err);
	int active = rc ? 0 : virDomainIsActive(s->dom);
	if (!rc && active < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': %s", s->name, ep_libvirt_error());
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		rc = ep_source_disk_open(s->vm->where[k].path, s->vm->where[k].format, opt, &s->disks[k], &s->disk_data[k],
					 err);
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		s->data += s->disk_data[k];
	if (!rc && active && !(rc = ep_domain_job_prepare(&s->job, s->ndisks, s->dac_label, err)) &&
	    !(rc = plan_disks(s, err)))
		rc = begin_job(s, opt->quiesce, err);
	for (size_t k = 0; !rc && active && k < s->ndisks; k++)
		rc = open_export(s, k, err);
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
	const struct ep_component **bases = calloc(s->ndisks, sizeof *bases);
	int rc = comps && bases ? 0 : ep_oom(err);
	for (size_t k = 0; !rc && s->ld && k < s->ndisks; k++)
		bases[k] = s->ld[k].since[0] ? s->ld[k].base : NULL;
	if (!rc)
		rc = ep_source_vm_pack(s->vm, s->disks, bases, sink, comps, err);
	if (!rc && s->job.live && ep_interrupted()) /* after the last read: still not published */
		rc = ep_fail(err, EP_ERUNTIME, "domain '%s': interrupted", src->path);
	for (size_t k = 0; !rc && s->job.checkpoint[0] && k < s->ndisks; k++)
		if (s->ld[k].key[0] && (!(comps[k]->checkpoint = strdup(s->job.checkpoint)) ||
					(rc = s->history->packed(s->history->ctx, s->ld[k].key, comps[k]->name,
								 s->job.checkpoint, err))))
			rc = rc ? rc : ep_oom(err);
	if (!rc && !(s->component = calloc(s->ndisks, sizeof *s->component)))
		rc = ep_oom(err);
	for (size_t k = 0; !rc && k < s->ndisks; k++) /* reported once published: then all is added */
		if (!(s->component[k] = strdup(comps[k]->name)))
			rc = ep_oom(err);
	s->manifest = sink->manifest;
	free(bases);
	free(comps);
	return rc;
}

/* How each disk was read and what it added, now that every chunk is in. */
static void report(struct domain_state *s)
{
	for (size_t k = 0; s->report && s->component && k < s->ndisks; k++) {
		const struct live_disk *d = s->ld ? &s->ld[k] : NULL;
		struct ep_source_disk_report r = {
			.component = s->component[k],
			.mode = !d ? "offline" : d->since[0] ? "incremental" : "full",
			.bytes_read = d ? ep_disk_nbd_bytes_read(d->nbd) : s->disk_data[k],
			.dirty_bytes = d ? d->dirty_bytes : 0,
		};
		for (size_t i = 0; r.component && i < s->manifest->ncomponents; i++)
			if (!strcmp(s->manifest->components[i].name, r.component))
				r.added_bytes = s->manifest->components[i].added_bytes;
		if (r.component)
			s->report(s->report_ctx, &r);
	}
}

static void domain_published(void *state, bool yes)
{
	struct domain_state *s = state;
	if (!s || !s->dom)
		return;
	if (yes)
		report(s);
	bool taken = s->job.checkpoint[0] != 0;
	ep_domain_job_end(&s->job);
	if (taken) /* published: only the new one is of use; else the new one is of no use */
		ep_domain_job_delete_checkpoints(&s->job, s->history->tag, yes ? s->job.checkpoint : NULL);
}

static void domain_close(void *state)
{
	struct domain_state *s = state;
	if (!s)
		return;
	for (size_t k = 0; k < s->ndisks; k++) {
		if (s->ld && s->ld[k].nbd && s->ld[k].nbd != s->disks[k])
			ep_disk_close(s->ld[k].nbd, NULL);
		if (s->disks[k])
			ep_disk_close(s->disks[k], NULL);
		if (s->ld)
			free(s->ld[k].dirty);
		if (s->component)
			free(s->component[k]);
	}
	free(s->component);
	free(s->ld);
	free(s->disks);
	free(s->disk_data);
	ep_domain_job_end(&s->job);
	ep_vm_source_free(s->vm);
	free(s->dac_label);
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
	.published = domain_published,
	.close = domain_close,
};
