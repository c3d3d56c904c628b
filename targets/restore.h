/* Restoring a verified manifest's components onto a target. */
#ifndef EP_RESTORE_H
#define EP_RESTORE_H

#include <stdbool.h>

#include "base/error.h"
#include "base/progress.h"
#include "formats/bundle/bundle.h"
#include "formats/bundle/manifest.h"
#include "targets/target.h"

struct ep_restore_options {
	const char *to; /* target URI */
	struct ep_target_options target;
	bool dry_run;
	const char *const *only; /* restore only these components and machines (a machine brings its disks) */
	size_t nonly;
	unsigned threads;
	const struct ep_progress *progress;
	/* called once a component with where it goes (and, on a dry run, nothing else happens) */
	void (*planned)(void *ctx, const struct ep_component *c, const char *dest);
	void (*planned_machine)(void *ctx, const struct ep_machine *m, const char *dest);
	void *ctx;
};

/* What a disk that belongs to no machine becomes on a machine target (pack's --vcpus and --memory default the same). */
#define EP_DEFAULT_VCPUS 1
#define EP_DEFAULT_MEMORY_MIB 1024

/* A machine target (libvirt:, hyperv:, ova:, ovf:, vagrant:) writes machines: each disk opt
 * chooses that belongs to no machine of m becomes one, built from defaults (named after the
 * disk, EP_DEFAULT_VCPUS, EP_DEFAULT_MEMORY_MIB, BIOS, OS "other", the disk its boot disk,
 * one NIC on the default network), and opt->target.warn says so. Called before --set is
 * applied, which can then change them. Other targets: m stays as it was. */
int ep_restore_default_machines(struct ep_manifest *m, const struct ep_restore_options *opt, struct ep_error *err);

/* Checks that every chunk is present before writing, then streams each component,
 * chunk by chunk verified, to the target, which publishes only when all succeeded. */
int ep_restore(const struct ep_bundle *b, const struct ep_manifest *m, const struct ep_restore_options *opt,
	       struct ep_error *err);

#endif
