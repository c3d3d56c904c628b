#include "sources/domain_job.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/libvirt_util.h"
#include "base/util.h"

void ep_domain_job_warn(const struct ep_domain_job *j, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (j->warn)
		j->warn(j->warn_ctx, msg);
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
static int end_orphan(struct ep_domain_job *j, struct ep_error *err)
{
	char *xml = virDomainBackupGetXMLDesc(j->dom, 0);
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
			     j->name, sock ? sock : "unknown", j->name);
	else if (virDomainAbortJob(j->dom) < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot end the backup job an interrupted envpack left: %s",
			     j->name, ep_libvirt_error());
	else {
		remove_job_dir(dir);
		ep_domain_job_warn(j, "domain '%s': ended the backup job an interrupted envpack left (%s)", j->name, dir);
	}
	free(sock);
	return rc;
}

/* The job's private directory (0700, as mkdtemp makes it) and the names in it. */
static int make_dir(struct ep_domain_job *j, const char *dac_label, struct ep_error *err)
{
	const char *tmp = getenv("TMPDIR");
	if (ep_path_format(j->dir, sizeof j->dir, err, "%s/envpack-domain-XXXXXX", tmp && *tmp ? tmp : "/tmp"))
		return err->code;
	if (!mkdtemp(j->dir)) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "domain '%s': cannot create a private directory '%s'", j->name,
				       j->dir);
		j->dir[0] = 0;
		return rc;
	}
	/* qemu makes the socket and scratch files in it: as root, hand it to qemu's user */
	uid_t uid;
	gid_t gid;
	if (geteuid() == 0 && dac_owner(dac_label, &uid, &gid) && uid != 0 && chown(j->dir, uid, gid) != 0)
		return ep_fail_errno(err, EP_ERUNTIME, "domain '%s': cannot give '%s' to qemu's user", j->name, j->dir);
	/* a unix socket's path is at most 107 bytes */
	if (snprintf(j->socket, sizeof j->socket, "%s/nbd.sock", j->dir) > 107)
		return ep_fail(err, EP_ERUNTIME, "domain '%s': the NBD socket path '%s' is too long (set TMPDIR shorter)",
			       j->name, j->socket);
	if (!(j->scratch = calloc(j->ndisks ? j->ndisks : 1, sizeof *j->scratch)))
		return ep_oom(err);
	for (size_t k = 0; k < j->ndisks; k++) {
		char path[PATH_MAX];
		if (ep_path_format(path, sizeof path, err, "%s/scratch-%zu.qcow2", j->dir, k))
			return err->code;
		if (!(j->scratch[k] = strdup(path)))
			return ep_oom(err);
	}
	return 0;
}

int ep_domain_job_prepare(struct ep_domain_job *j, size_t ndisks, const char *dac_label, struct ep_error *err)
{
	j->ndisks = ndisks;
	int rc = end_orphan(j, err);
	return rc ? rc : make_dir(j, dac_label, err);
}

/* With --quiesce, the guest's file systems are frozen through its agent for the instant the
 * job begins, so that the backup is application-consistent. */
static int freeze(struct ep_domain_job *j, enum ep_quiesce quiesce, bool *frozen, struct ep_error *err)
{
	*frozen = false;
	if (quiesce == EP_QUIESCE_NONE)
		return 0;
	if (virDomainFSFreeze(j->dom, NULL, 0, 0) >= 0) {
		*frozen = true;
		return 0;
	}
	if (quiesce == EP_QUIESCE_REQUIRE)
		return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot quiesce its file systems (--require-quiesce): %s",
			       j->name, ep_libvirt_error());
	ep_domain_job_warn(j, "domain '%s': not quiesced, the backup is crash-consistent: %s", j->name,
			   ep_libvirt_error());
	return 0;
}

/* Thaws what freeze froze, however the job's start went: a few tries, as a busy agent may
 * not answer at once. */
static int thaw(struct ep_domain_job *j, struct ep_error *err)
{
	for (int i = 0; i < 5; i++) {
		if (virDomainFSThaw(j->dom, NULL, 0, 0) >= 0)
			return 0;
		sleep(1);
	}
	return ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': its file systems stay frozen: %s; run 'virsh domfsthaw %s'",
		       j->name, ep_libvirt_error(), j->name);
}

int ep_domain_job_begin(struct ep_domain_job *j, struct ep_libvirt_backup_disk *disks, const char *tag,
			enum ep_quiesce quiesce, struct ep_error *err)
{
	uint8_t raw[8];
	bool any_bitmap = false;
	for (size_t k = 0; k < j->ndisks; k++) {
		disks[k].scratch = j->scratch[k];
		any_bitmap |= disks[k].bitmap;
	}
	int rc = RAND_bytes(raw, sizeof raw) == 1 ? 0 : ep_fail(err, EP_ERUNTIME, "no random bytes for a checkpoint name");
	char hex[2 * sizeof raw + 1], *bxml = NULL, *cxml = NULL;
	ep_hex(raw, sizeof raw, hex);
	if (!rc && any_bitmap && tag)
		snprintf(j->checkpoint, sizeof j->checkpoint, "envpack-%s", hex);
	if (!rc)
		rc = ep_libvirt_backup_xml(j->socket, disks, j->ndisks, &bxml, err);
	if (!rc && j->checkpoint[0])
		rc = ep_libvirt_checkpoint_xml(j->checkpoint, tag, disks, j->ndisks, &cxml, err);
	/* armed before the job exists, so that Ctrl-C at any moment it does ends it in close, as any failure does */
	if (!rc)
		ep_interrupt_arm();
	bool frozen = false;
	if (!rc)
		rc = freeze(j, quiesce, &frozen, err);
	if (!rc && virDomainBackupBegin(j->dom, bxml, cxml, 0) < 0)
		rc = ep_fail(err, EP_ERUNTIME, "libvirt: domain '%s': cannot begin a backup job: %s", j->name,
			     ep_libvirt_error());
	else if (!rc)
		j->live = true;
	if (frozen) {
		struct ep_error thaw_err = { 0 };
		int thawed = thaw(j, &thaw_err);
		if (!rc && thawed)
			*err = thaw_err, rc = thawed;
	}
	if (!j->live) {
		j->checkpoint[0] = 0;
		ep_interrupt_disarm();
	}
	free(bxml);
	free(cxml);
	return rc;
}

void ep_domain_job_end(struct ep_domain_job *j)
{
	if (j->live) {
		virDomainAbortJob(j->dom);
		ep_interrupt_disarm();
		j->live = false;
	}
	for (size_t k = 0; j->scratch && k < j->ndisks; k++)
		free(j->scratch[k]);
	free(j->scratch);
	j->scratch = NULL;
	if (j->dir[0])
		remove_job_dir(j->dir);
	j->dir[0] = 0;
}

/* A deleted checkpoint's bitmap is merged into its neighbours by libvirt: nothing is lost. */
void ep_domain_job_delete_checkpoints(struct ep_domain_job *j, const char *tag, const char *keep)
{
	virDomainCheckpointPtr *list = NULL;
	int n = virDomainListAllCheckpoints(j->dom, &list, 0);
	for (int i = 0; i < n; i++) {
		const char *name = virDomainCheckpointGetName(list[i]);
		char *xml = virDomainCheckpointGetXMLDesc(list[i], VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN);
		char *description = ep_libvirt_xml_get(xml, "domaincheckpoint", "/domaincheckpoint/description");
		bool ours = name && !strncmp(name, "envpack-", 8) && description && !strcmp(description, tag);
		if (ours && (!keep || strcmp(name, keep)) && virDomainCheckpointDelete(list[i], 0) < 0)
			ep_domain_job_warn(j, "domain '%s': checkpoint %s is not deleted: %s", j->name, name,
					   ep_libvirt_error());
		free(description);
		free(xml);
		virDomainCheckpointFree(list[i]);
	}
	free(list);
}
