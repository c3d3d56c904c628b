#include "targets/restore.h"

#include "targets/target.h"
#include "verify/check.h"
#include "verify/chunk_stream.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool named(const struct ep_restore_options *opt, const char *name)
{
	for (size_t i = 0; i < opt->nonly; i++)
		if (!strcmp(opt->only[i], name))
			return true;
	return false;
}

static bool machine_chosen(const struct ep_restore_options *opt, const struct ep_machine *vm)
{
	return !opt->nonly || named(opt, vm->name);
}

/* --only: a component named, or a disk of a machine named. */
static bool component_chosen(const struct ep_restore_options *opt, const struct ep_manifest *m,
			     const struct ep_component *c)
{
	if (!opt->nonly || named(opt, c->name))
		return true;
	for (size_t i = 0; i < m->nmachines; i++)
		for (size_t k = 0; named(opt, m->machines[i].name) && k < m->machines[i].ndisks; k++)
			if (!strcmp(m->machines[i].disks[k].component, c->name))
				return true;
	return false;
}

static int check_only(const struct ep_manifest *m, const struct ep_restore_options *opt, struct ep_error *err)
{
	for (size_t i = 0; i < opt->nonly; i++) {
		bool found = false;
		for (size_t k = 0; !found && k < m->ncomponents; k++)
			found = !strcmp(m->components[k].name, opt->only[i]);
		for (size_t k = 0; !found && k < m->nmachines; k++)
			found = !strcmp(m->machines[k].name, opt->only[i]);
		if (!found)
			return ep_fail(err, EP_EINPUT, "--only %s: the bundle holds no component or machine of that name", opt->only[i]);
	}
	return 0;
}

/* The machine holding disk component `disk`, preferring one --only chose; NULL: none holds it. */
static const struct ep_machine *owner_of(const struct ep_restore_options *opt, const struct ep_manifest *m,
					 const char *disk)
{
	const struct ep_machine *owner = NULL;
	for (size_t i = 0; i < m->nmachines; i++)
		for (size_t k = 0; k < m->machines[i].ndisks; k++)
			if (!strcmp(m->machines[i].disks[k].component, disk) && (!owner || machine_chosen(opt, &m->machines[i])))
				owner = &m->machines[i];
	return owner;
}

/* A machine target writes machines: a disk restored without the machine that holds it is refused
 * now, before anything is converted (the packages could not be made without one). */
static int check_disk_owner(const struct ep_restore_options *opt, const struct ep_manifest *m,
			    const struct ep_component *c, struct ep_error *err)
{
	const struct ep_machine *owner = owner_of(opt, m, c->name);
	if (owner && machine_chosen(opt, owner))
		return 0;
	if (owner)
		return ep_fail(err, EP_EINPUT, "target '%s' writes machines, and disk '%s' is machine '%s''s: restore the machine "
			       "with --only %s, or the disk alone to dir:", opt->to, c->name, owner->name, owner->name);
	return ep_fail(err, EP_EINPUT, "target '%s' writes machines, and disk '%s' belongs to none", opt->to, c->name);
}

/* A component the target can't take; one that takes machines says how to restore the bundle's alone. */
static int refuse_component(const struct ep_target *t, const struct ep_restore_options *opt,
			    const struct ep_manifest *m, const struct ep_component *c, struct ep_error *err)
{
	char names[600] = "";
	size_t at = 0;
	for (size_t i = 0; t->ops->plan_machine && t->ops->put_disk && i < m->nmachines && at < sizeof names; i++)
		at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", m->machines[i].name);
	if (at >= sizeof names)
		memcpy(names + sizeof names - 6, ", ...", 6);
	const char *kind = c->type == EP_COMP_DISK ? "disk" : "file tree";
	if (!*names)
		return ep_fail(err, EP_EINPUT, "target '%s' can't take %s component '%s'", opt->to, kind, c->name);
	if (m->nmachines == 1)
		return ep_fail(err, EP_EINPUT, "target '%s' can't take %s component '%s': it takes machines and their disks "
			       "only; restore machine '%s' alone with --only %s, and the rest to dir:", opt->to, kind, c->name,
			       names, names);
	return ep_fail(err, EP_EINPUT, "target '%s' can't take %s component '%s': it takes machines and their disks only; "
		       "restore machines alone with --only MACHINE (this bundle's: %s), and the rest to dir:", opt->to, kind,
		       c->name, names);
}

/* Disk c as the machine of its own a machine target writes: named after it, of the sizes
 * pack gives disk: sources, on buses and a NIC model every guest has drivers for. */
static int add_default_machine(struct ep_manifest *m, const struct ep_component *c, struct ep_error *err)
{
	for (size_t i = 0; i < m->nmachines; i++)
		if (!strcmp(m->machines[i].name, c->name))
			return ep_fail(err, EP_EINPUT, "disk '%s' belongs to no machine, and the one it would become would "
				       "take the name of machine '%s': restore the disk alone to dir:", c->name, c->name);
	struct ep_machine *vm = ep_manifest_add_machine(m);
	if (!vm || !(vm->name = strdup(c->name)) || !(vm->firmware = strdup("bios")) || !(vm->os = strdup("other")))
		return ep_oom(err);
	vm->vcpus = EP_DEFAULT_VCPUS;
	vm->memory_mib = EP_DEFAULT_MEMORY_MIB;
	int rc = ep_machine_add_disk(vm, c->name, "sata", "disk", 1, err);
	if (!rc)
		rc = ep_machine_add_nic(vm, "e1000", NULL, NULL, err);
	return rc ? rc : ep_machine_check(vm, "restore", err);
}

int ep_restore_default_machines(struct ep_manifest *m, const struct ep_restore_options *opt, struct ep_error *err)
{
	const struct ep_target_ops *ops = opt->to ? ep_target_find(opt->to) : NULL;
	int rc = 0;
	for (size_t i = 0; !rc && ops && ops->machines && i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		if (c->type != EP_COMP_DISK || !component_chosen(opt, m, c) || owner_of(opt, m, c->name))
			continue;
		if ((rc = add_default_machine(m, c, err)) || !opt->target.warn)
			continue;
		char msg[600];
		snprintf(msg, sizeof msg, "disk '%s' belongs to no machine: %s restores it as machine '%s' built from "
			 "defaults: %u vCPU, %u MiB, BIOS, '%s' its boot disk on SATA or IDE, one e1000 NIC on the "
			 "default network (--set vcpus=N, memory_mib=MIB, network=NAME change them)",
			 c->name, opt->to, c->name, EP_DEFAULT_VCPUS, EP_DEFAULT_MEMORY_MIB, c->name);
		opt->target.warn(opt->target.warn_ctx, msg);
	}
	return rc;
}

int ep_restore(const struct ep_bundle *b, const struct ep_manifest *m, const struct ep_restore_options *opt,
	       struct ep_error *err)
{
	struct ep_verify_stats vs;
	int rc = check_only(m, opt, err);
	/* a bundle file's index says at once that every chunk is there, before anything is written; a
	 * store's snapshot would be asked chunk by chunk twice: a restore that reads every chunk (not a
	 * dry run, not overlays over a served export) fetches each instead, and one missing fails it
	 * before the target publishes anything */
	bool reads_all = !opt->dry_run && !opt->target.instant_socket;
	if (!rc && !(reads_all && ep_bundle_asks_per_chunk(b)))
		rc = ep_verify_chunks(b, m, false, opt->threads, NULL, &vs, err);
	struct ep_target *t = NULL;
	struct ep_target_options topt = opt->target;
	topt.manifest = m;
	if (!rc)
		rc = ep_target_open(&t, opt->to, &topt, err);
	if (rc)
		return rc;
	const struct ep_target_ops *ops = ep_target_find(opt->to);
	bool machine_target = ops && ops->machines;
	uint64_t total = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		char dest[PATH_MAX]; /* a path, or a few words on where it goes */
		if (!component_chosen(opt, m, c))
			continue;
		if (!(c->type == EP_COMP_DISK ? t->ops->put_disk : t->ops->put_files))
			rc = refuse_component(t, opt, m, c, err);
		else if (c->type == EP_COMP_DISK && machine_target)
			rc = check_disk_owner(opt, m, c, err);
		if (!rc && !(rc = t->ops->plan(t, c, dest, sizeof dest, err)) && opt->planned)
			opt->planned(opt->ctx, c, dest);
		total += ep_component_data_size(c);
	}
	for (size_t i = 0; !rc && i < m->nmachines; i++) {
		char dest[PATH_MAX]; /* a path, or a few words on where it goes */
		if (!t->ops->plan_machine || !machine_chosen(opt, &m->machines[i]))
			continue; /* an image or object store keeps the disks only */
		if (!(rc = t->ops->plan_machine(t, &m->machines[i], dest, sizeof dest, err)) && opt->planned_machine)
			opt->planned_machine(opt->ctx, &m->machines[i], dest);
	}
	struct ep_chunk_stream *s = NULL;
	if (!rc && !opt->dry_run && !(rc = ep_chunk_stream_new(&s, b, opt->threads, err))) {
		ep_chunk_stream_progress(s, opt->progress, total);
		for (size_t i = 0; !rc && i < m->ncomponents; i++) {
			const struct ep_component *c = &m->components[i];
			if (!component_chosen(opt, m, c))
				continue;
			rc = c->type == EP_COMP_DISK ? t->ops->put_disk(t, c, s, err) : t->ops->put_files(t, c, s, err);
		}
		for (size_t i = 0; !rc && t->ops->put_machine && i < m->nmachines; i++)
			if (machine_chosen(opt, &m->machines[i]))
				rc = t->ops->put_machine(t, m, &m->machines[i], err);
	}
	ep_chunk_stream_free(s);
	if (rc || opt->dry_run)
		t->ops->abort(t);
	else
		rc = t->ops->commit(t, err);
	return rc;
}
