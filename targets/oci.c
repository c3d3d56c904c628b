/*
 * oci:DIR — an image component restored as an OCI image layout at DIR, which
 * skopeo, umoci and container runtimes read. It is the dir target writing one
 * component under DIR's name into DIR's parent: staged, verified blob by blob,
 * and renamed into place only when complete.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "targets/target.h"

struct oci_target {
	struct ep_target base;
	struct ep_target *dir; /* the dir target on DIR's parent */
	char *name;            /* DIR's last element */
	bool planned, used;
};

static int oci_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	char *a = strdup(location), *b = strdup(location);
	struct oci_target *t = calloc(1, sizeof *t);
	int rc = a && b && t ? 0 : ep_oom(err);
	if (!rc) {
		t->base.ops = &ep_target_oci;
		t->name = strdup(basename(a));
		if (!t->name)
			rc = ep_oom(err);
		else if (!ep_name_ok(t->name))
			rc = ep_fail(err, EP_EINPUT, "oci:%s: the layout's name must be letters, digits, '.', '_' or '-'",
				     location);
		else
			rc = ep_target_dir.open(&t->dir, dirname(b), opt, err);
	}
	free(a);
	free(b);
	if (rc) {
		if (t)
			free(t->name);
		free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* The component as the dir target should see it: named after DIR. */
static int renamed(struct oci_target *t, const struct ep_component *c, struct ep_component *copy, struct ep_error *err)
{
	if (c->type != EP_COMP_IMAGE)
		return ep_fail(err, EP_EINPUT, "oci: takes container images only ('%s' is not one; use dir:)", c->name);
	if (c->format && strcmp(c->format, "oci") != 0)
		return ep_fail(err, EP_EINPUT, "oci: '%s' was packed from a %s; restore it with docker-archive: or dir:",
			       c->name, c->format);
	*copy = *c;
	copy->name = t->name;
	return 0;
}

static int oci_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct oci_target *t = (struct oci_target *)base;
	struct ep_component copy;
	int rc = renamed(t, c, &copy, err);
	if (!rc && t->planned)
		rc = ep_fail(err, EP_EINPUT, "oci: one layout takes one image component (restore to dir: for several)");
	t->planned = true;
	return rc ? rc : t->dir->ops->plan(t->dir, &copy, dest, cap, err);
}

static int oci_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err)
{
	struct oci_target *t = (struct oci_target *)base;
	struct ep_component copy;
	int rc = renamed(t, c, &copy, err);
	if (rc)
		return rc;
	if (t->used)
		return ep_fail(err, EP_EINPUT, "oci: one layout takes one image component (restore to dir: for several)");
	t->used = true;
	return t->dir->ops->put_files(t->dir, &copy, s, err);
}

static int oci_commit(struct ep_target *base, struct ep_error *err)
{
	struct oci_target *t = (struct oci_target *)base;
	int rc = t->dir->ops->commit(t->dir, err);
	free(t->name);
	free(t);
	return rc;
}

static void oci_abort(struct ep_target *base)
{
	struct oci_target *t = (struct oci_target *)base;
	t->dir->ops->abort(t->dir);
	free(t->name);
	free(t);
}

const struct ep_target_ops ep_target_oci = {
	.scheme = "oci",
	.summary = "an OCI image layout (one image component), as skopeo and umoci read it",
	.open = oci_open,
	.plan = oci_plan,
	.put_files = oci_put_files,
	.commit = oci_commit,
	.abort = oci_abort,
};
