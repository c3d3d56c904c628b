/*
 * A running libvirt domain's pull-mode backup job, as vm:domain: runs it: a private
 * directory for the NBD socket and scratch files (given to the user qemu runs as), a job
 * an earlier envpack left ended first, the guest's file systems frozen for the instant it
 * begins when asked, a checkpoint when a store will want the next backup incremental; at
 * the end the job aborted, the directory removed, and checkpoints no longer of use deleted.
 */
#ifndef EP_DOMAIN_JOB_H
#define EP_DOMAIN_JOB_H

#include <limits.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

#include "formats/vm/libvirt_xml.h"
#include "sources/source.h"

struct ep_domain_job {
	virDomainPtr dom; /* borrowed */
	const char *name; /* the domain's, for messages; borrowed */
	ep_warn_fn warn;
	void *warn_ctx;
	bool live;           /* begun: abort it at the end */
	char dir[PATH_MAX];  /* "" when none */
	char socket[PATH_MAX];
	char **scratch;      /* one per disk */
	size_t ndisks;
	char checkpoint[64]; /* "envpack-<hex>", "" when none was taken */
};

/* Warns through j's warn function, if any. */
void ep_domain_job_warn(const struct ep_domain_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends a job of ours an earlier run left (refusing anyone else's), then makes the private
 * directory for ndisks disks, owned by the user dac_label names ("+64055:+64055", NULL: ours). */
int ep_domain_job_prepare(struct ep_domain_job *j, size_t ndisks, const char *dac_label, struct ep_error *err);
/* Begins the job over disks[0..ndisks) (their scratch files set here); with tag, takes a
 * checkpoint its description names so, on the disks holding a bitmap. */
int ep_domain_job_begin(struct ep_domain_job *j, struct ep_libvirt_backup_disk *disks, const char *tag,
			enum ep_quiesce quiesce, struct ep_error *err);
/* Aborts the job (qemu stops serving and drops its scratch) and removes the directory. */
void ep_domain_job_end(struct ep_domain_job *j);
/* Deletes the checkpoints of the domain described by tag, but keep (NULL: none kept). */
void ep_domain_job_delete_checkpoints(struct ep_domain_job *j, const char *tag, const char *keep);

#endif
