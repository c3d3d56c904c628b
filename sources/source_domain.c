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

#include <errno.h>
#include <stdarg.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <dirent.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/nbd.h"
#include "formats/vm/libvirt_xml.h"
#include "sources/delta_disk.h"

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
	bool live;       /* a backup job was begun: abort it at close */
	char dir[PATH_MAX]; /* the job's private directory (socket, scratch files), "" when none */
	char socket[PATH_MAX];
	char **scratch; /* one per disk */
	char checkpoint[64]; /* "envpack-<hex>", "" when none was taken */
	const struct ep_source_history *history;
	ep_warn_fn warn;
	void *warn_ctx;
	char name[256];
	struct live_disk *ld; /* one per disk, running domains only */
	char *dac_label; /* the running qemu's user:group ("+64055:+64055"), NULL when not said */
	char **component; /* each disk's component, once packed */
	const struct ep_manifest *manifest; /* where they are */
	enum ep_quiesce quiesce;
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
	s->dac_label = ep_libvirt_xml_get(xml, "domain", "/domain/seclabel[@model='dac']/label");
	free(xml);
	if (!rc && (!(s->disks = calloc(s->vm->machine.ndisks, sizeof *s->disks)) ||
		    !(s->disk_data = calloc(s->vm->machine.ndisks, sizeof *s->disk_data))))
		rc = ep_oom(err);
	if (!rc)
		s->ndisks = s->vm->machine.ndisks;
	return rc;
}

/* One side of a DAC label: "+N" is a number, anything else a name. */
static bool dac_id(const char *text, bool group, unsigned *out)
{
	if (text[0] == '+') {
		char *end;
		errno = 0;
		unsigned long n = strtoul(text + 1, &end, 10);
		if (errno || end == text + 1 || *end || n > UINT32_MAX)
			return false;
		*out = (unsigned)n;
		return true;
	}
	struct passwd *pw = group ? NULL : getpwnam(text);
	struct group *gr = group ? getgrnam(text) : NULL;
	if (pw)
		*out = pw->pw_uid;
	if (gr)
		*out = gr->gr_gid;
	return pw || gr;
}

/* The user and group a DAC label ("USER:GROUP") names. */
static bool dac_owner(const char *label, uid_t *uid, gid_t *gid)
{
	char user[128];
	const char *colon = label ? strchr(label, ':') : NULL;
	unsigned u, g;
	if (!colon || (size_t)(colon - label) >= sizeof user)
		return false;
	memcpy(user, label, (size_t)(colon - label));
	user[colon - label] = 0;
	if (!dac_id(user, false, &u) || !dac_id(colon + 1, true, &g))
		return false;
	*uid = u;
	*gid = g;
	return true;
}

/* The job's private directory (0700, as mkdtemp makes it, owned by the user qemu runs as)
 * and the names in it. */
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
	/* qemu makes the socket and scratch files in it: as root, hand it to qemu's user */
	uid_t uid;
	gid_t gid;
	if (geteuid() == 0 && dac_owner(s->dac_label, &uid, &gid) && uid != 0 && chown(s->dir, uid, gid) != 0)
		return ep_fail_errno(err, EP_ERUNTIME, "domain '%s': cannot give '%s' to qemu's user", name, s->dir);
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

static bool is_qcow2(const struct ep_vm_source_disk *w)
{
	return w->format && !strcmp(w->format, "qcow2");
}

static void warn(struct domain_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct domain_state *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s->warn)
		s->warn(s->warn_ctx, msg);
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
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': no UUID: %s", s->name, last_error());
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
			warn(s, "domain '%s': disk %s is read whole: %s", s->name, target, why);
	}
	return 0;
}

/* Removes what a job of ours left in its directory (the socket, scratch files), then the directory. */
static void remove_job_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		bool scratch = !strncmp(e->d_name, "scratch-", 8) && n > 6 && !strcmp(e->d_name + n - 6, ".qcow2");
		char path[PATH_MAX];
		if ((scratch || !strcmp(e->d_name, "nbd.sock")) &&
		    snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* A backup job an earlier envpack left running (killed with SIGKILL: its close never ran),
 * known by its socket in a directory of ours, is ended and its directory removed. Anyone
 * else's job is left alone, and the backup refused: a domain runs one job at a time. */
static int end_orphan(struct domain_state *s, struct ep_error *err)
{
	char *xml = virDomainBackupGetXMLDesc(s->dom, 0);
	if (!xml)
		return 0; /* no backup job */
	char *sock = ep_libvirt_xml_get(xml, "domainbackup", "/domainbackup/server/@socket");
	free(xml);
	char dir[PATH_MAX];
	const char *slash = sock ? strrchr(sock, '/') : NULL;
	size_t n = slash ? (size_t)(slash - sock) : 0;
	if (slash && n < sizeof dir) {
		memcpy(dir, sock, n);
		dir[n] = 0;
	}
	const char *base = slash && n < sizeof dir ? strrchr(dir, '/') : NULL;
	bool ours = base && !strcmp(slash, "/nbd.sock") && !strncmp(base + 1, "envpack-domain-", 15);
	int rc = 0;
	if (!ours)
		rc = ep_fail(err, EP_ERUNTIME,
			     "libvirt: domain '%s' runs a backup job envpack did not start (socket %s): let it end, or end it "
			     "with 'virsh domjobabort %s'",
			     s->name, sock ? sock : "unknown", s->name);
	else if (virDomainAbortJob(s->dom) < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot end the backup job an interrupted envpack left: %s",
			     s->name, last_error());
	else {
		remove_job_dir(dir);
		warn(s, "domain '%s': ended the backup job an interrupted envpack left (%s)", s->name, dir);
	}
	free(sock);
	return rc;
}

/* With --quiesce, the guest's file systems are frozen through its agent for the instant the
 * job begins, so that the backup is application-consistent. */
static int freeze(struct domain_state *s, bool *frozen, struct ep_error *err)
{
	*frozen = false;
	if (s->quiesce == EP_QUIESCE_NONE)
		return 0;
	if (virDomainFSFreeze(s->dom, NULL, 0, 0) >= 0) {
		*frozen = true;
		return 0;
	}
	if (s->quiesce == EP_QUIESCE_REQUIRE)
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot quiesce its file systems (--require-quiesce): %s",
			       s->name, last_error());
	warn(s, "domain '%s': not quiesced, the backup is crash-consistent: %s", s->name, last_error());
	return 0;
}

/* Thaws what freeze froze, however the job's start went: a few tries, as a busy agent may
 * not answer at once. */
static int thaw(struct domain_state *s, struct ep_error *err)
{
	for (int i = 0; i < 5; i++) {
		if (virDomainFSThaw(s->dom, NULL, 0, 0) >= 0)
			return 0;
		sleep(1);
	}
	return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': its file systems stay frozen: %s; run 'virsh domfsthaw %s'",
		       s->name, last_error(), s->name);
}

static int begin_job(struct domain_state *s, struct ep_error *err)
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
			rc = ep_fail(err, EP_ERUNTIME, "domain '%s': disk %zu has no target device", s->name, k + 1);
		bd[k] = (struct ep_libvirt_backup_disk){ .target = w->target, .scratch = s->scratch[k],
							 .bitmap = is_qcow2(w),
							 .since = s->ld[k].since[0] ? s->ld[k].since : NULL };
		any_bitmap |= bd[k].bitmap;
	}
	char hex[2 * sizeof raw + 1], *bxml = NULL, *cxml = NULL;
	ep_hex(raw, sizeof raw, hex);
	/* raw disks cannot hold a bitmap: read whole every time; a bundle has no next time */
	if (!rc && any_bitmap && s->history)
		snprintf(s->checkpoint, sizeof s->checkpoint, "envpack-%s", hex);
	if (!rc)
		rc = ep_libvirt_backup_xml(s->socket, bd, s->ndisks, &bxml, err);
	if (!rc && s->checkpoint[0])
		rc = ep_libvirt_checkpoint_xml(s->checkpoint, s->history->tag, bd, s->ndisks, &cxml, err);
	/* armed before the job exists, so that Ctrl-C at any moment it does ends it in close, as any failure does */
	if (!rc)
		ep_interrupt_arm();
	bool frozen = false;
	if (!rc)
		rc = freeze(s, &frozen, err);
	if (!rc && virDomainBackupBegin(s->dom, bxml, cxml, 0) < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot begin a backup job: %s", s->name, last_error());
	else if (!rc)
		s->live = true;
	if (frozen) {
		struct ep_error thaw_err = { 0 };
		int thawed = thaw(s, &thaw_err);
		if (!rc && thawed)
			*err = thaw_err, rc = thawed;
	}
	if (!s->live) {
		s->checkpoint[0] = 0;
		ep_interrupt_disarm();
	}
	free(bxml);
	free(cxml);
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
	int rc = ep_disk_nbd_open(&d->nbd, s->socket, target, d->since[0] ? bitmap : NULL, err);
	if (!rc && d->since[0] && d->nbd->virtual_size != d->base->virtual_size) {
		warn(s, "domain '%s': disk %s is read whole: it was resized since checkpoint %s", s->name, target, d->since);
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
	s->warn = opt->warn;
	s->warn_ctx = opt->warn_ctx;
	s->quiesce = opt->quiesce;
	int rc = connect_to(opt->libvirt_uri, s, err);
	if (!rc)
		rc = look_up(s->name, s, err);
	if (!rc)
		rc = read_definition(s->name, opt, s, err);
	int active = rc ? 0 : virDomainIsActive(s->dom);
	if (!rc && active < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': %s", s->name, last_error());
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		rc = ep_source_disk_open(s->vm->where[k].path, s->vm->where[k].format, opt, &s->disks[k], &s->disk_data[k],
					 err);
	for (size_t k = 0; !rc && !active && k < s->ndisks; k++)
		s->data += s->disk_data[k];
	if (!rc && active && !(rc = end_orphan(s, err)) && !(rc = make_dir(s->name, s, err)) &&
	    !(rc = plan_disks(s, err)))
		rc = begin_job(s, err);
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
	if (!rc && s->live && ep_interrupted()) /* after the last read: still not published */
		rc = ep_fail(err, EP_ERUNTIME, "domain '%s': interrupted", src->path);
	for (size_t k = 0; !rc && s->checkpoint[0] && k < s->ndisks; k++)
		if (s->ld[k].key[0] && (!(comps[k]->checkpoint = strdup(s->checkpoint)) ||
					(rc = s->history->packed(s->history->ctx, s->ld[k].key, comps[k]->name,
								 s->checkpoint, err))))
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

/* Ends the job (qemu stops serving and drops its scratch), then removes what is left of the directory. */
static void end_job(struct domain_state *s)
{
	if (s->live) {
		virDomainAbortJob(s->dom);
		ep_interrupt_disarm();
		s->live = false;
	}
	for (size_t k = 0; s->scratch && k < s->ndisks; k++) {
		if (s->scratch[k])
			unlink(s->scratch[k]);
		free(s->scratch[k]);
	}
	free(s->scratch);
	s->scratch = NULL;
	if (s->dir[0]) {
		unlink(s->socket);
		rmdir(s->dir);
		s->dir[0] = 0;
	}
}

/* Deletes this store's checkpoints of the domain but `keep` (NULL: none kept). A deleted
 * checkpoint's bitmap is merged into its neighbours by libvirt, so nothing is lost. */
static void delete_checkpoints(struct domain_state *s, const char *keep)
{
	virDomainCheckpointPtr *list = NULL;
	int n = virDomainListAllCheckpoints(s->dom, &list, 0);
	for (int i = 0; i < n; i++) {
		const char *name = virDomainCheckpointGetName(list[i]);
		char *xml = virDomainCheckpointGetXMLDesc(list[i], VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
		char *tag = ep_libvirt_xml_get(xml, "domaincheckpoint", "/domaincheckpoint/description");
		bool ours = name && !strncmp(name, "envpack-", 8) && tag && !strcmp(tag, s->history->tag);
		free(tag);
		if (ours && (!keep || strcmp(name, keep)) && virDomainCheckpointDelete(list[i], 0) < 0)
			warn(s, "domain '%s': checkpoint %s is not deleted: %s", s->name, name, last_error());
		free(xml);
		virDomainCheckpointFree(list[i]);
	}
	free(list);
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
	bool taken = s->checkpoint[0] != 0;
	end_job(s);
	if (taken) /* published: only the new one is of use; else the new one is of no use */
		delete_checkpoints(s, yes ? s->checkpoint : NULL);
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
	end_job(s);
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
