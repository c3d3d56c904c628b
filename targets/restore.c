#include "restore.h"

#include "target.h"
#include "verify/check.h"
#include "verify/chunks.h"

int ep_restore(const struct ep_bundle *b, const struct ep_manifest *m, const struct ep_restore_options *opt,
	       struct ep_error *err)
{
	struct ep_verify_stats vs;
	int rc = ep_verify_chunks(b, m, false, opt->threads, NULL, &vs, err);
	struct ep_target *t = NULL;
	if (!rc)
		rc = ep_target_open(&t, opt->to, &opt->target, err);
	if (rc)
		return rc;
	uint64_t total = 0;
	for (size_t i = 0; !rc && i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		char dest[4400];
		if (!(c->type == EP_COMP_DISK ? t->ops->put_disk : t->ops->put_files))
			rc = ep_fail(err, EP_EINPUT, "target '%s' can't take %s component '%s'", opt->to,
				     c->type == EP_COMP_DISK ? "disk" : "file tree", c->name);
		else if (!(rc = t->ops->plan(t, c, dest, sizeof dest, err)) && opt->planned)
			opt->planned(opt->ctx, c, dest);
		total += ep_component_data_size(c);
	}
	for (size_t i = 0; !rc && i < m->nmachines; i++) {
		char dest[4400];
		if (!t->ops->plan_machine)
			continue; /* an image or object store keeps the disks only */
		if (!(rc = t->ops->plan_machine(t, &m->machines[i], dest, sizeof dest, err)) && opt->planned_machine)
			opt->planned_machine(opt->ctx, &m->machines[i], dest);
	}
	struct ep_chunk_stream *s = NULL;
	if (!rc && !opt->dry_run && !(rc = ep_chunk_stream_new(&s, b, opt->threads, err))) {
		ep_chunk_stream_progress(s, opt->progress, total);
		for (size_t i = 0; !rc && i < m->ncomponents; i++) {
			const struct ep_component *c = &m->components[i];
			rc = c->type == EP_COMP_DISK ? t->ops->put_disk(t, c, s, err) : t->ops->put_files(t, c, s, err);
		}
		for (size_t i = 0; !rc && t->ops->put_machine && i < m->nmachines; i++)
			rc = t->ops->put_machine(t, m, &m->machines[i], err);
	}
	ep_chunk_stream_free(s);
	if (rc || opt->dry_run)
		t->ops->abort(t);
	else
		rc = t->ops->commit(t, err);
	return rc;
}
