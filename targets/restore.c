#include "targets/restore.h"

#include "targets/target.h"
#include "verify/check.h"
#include "verify/chunk_stream.h"

#include <limits.h>
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

int ep_restore(const struct ep_bundle *b, const struct ep_manifest *m, const struct ep_restore_options *opt,
	       struct ep_error *err)
{
	struct ep_verify_stats vs;
	int rc = check_only(m, opt, err);
	if (!rc)
		rc = ep_verify_chunks(b, m, false, opt->threads, NULL, &vs, err);
	struct ep_target *t = NULL;
	struct ep_target_options topt = opt->target;
	topt.manifest = m;
	if (!rc)
		rc = ep_target_open(&t, opt->to, &topt, err);
	if (rc)
		return rc;
	uint64_t total = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		char dest[PATH_MAX]; /* a path, or a few words on where it goes */
		if (!component_chosen(opt, m, c))
			continue;
		if (!(c->type == EP_COMP_DISK ? t->ops->put_disk : t->ops->put_files))
			rc = ep_fail(err, EP_EINPUT, "target '%s' can't take %s component '%s'", opt->to,
				     c->type == EP_COMP_DISK ? "disk" : "file tree", c->name);
		else if (!(rc = t->ops->plan(t, c, dest, sizeof dest, err)) && opt->planned)
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
