/* iac:DIR: a tree of infrastructure code, surveyed (kinds, inventory) and packed as a
 * files component; the secrets the survey leaves out are not packed. */
#include "sources/source.h"

#include <stdlib.h>
#include <unistd.h>

#include "formats/iac/classify.h"
#include "formats/iac/survey.h"

struct iac_state {
	struct ep_tree *tree;
	struct ep_iac_survey *survey;
	uint64_t data; /* bytes of the files packed */
};

static int iac_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	struct iac_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	const struct ep_iac_options iac = { opt->include_secrets, opt->warn, opt->warn_ctx };
	int rc = ep_tree_scan(src->path, ep_iac_prune, opt->warn, opt->warn_ctx, &s->tree, err);
	if (!rc)
		rc = ep_iac_survey(s->tree, &iac, &s->survey, err);
	for (size_t k = 0; !rc && k < s->tree->count; k++)
		s->data += s->survey->left_out[k] ? 0 : s->tree->entries[k].size;
	return rc;
}

static uint64_t iac_size(const void *state)
{
	return ((const struct iac_state *)state)->data;
}

/* One open file of the tree, as the sink reads it. */
struct tree_file {
	int fd;
	const char *root, *path;
};

static ssize_t read_file(void *src, void *buf, size_t cap, struct ep_error *err)
{
	struct tree_file *f = src;
	ssize_t n = read(f->fd, buf, cap);
	return n >= 0 ? n : ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s/%s'", f->root, f->path);
}

static int pack_file(const struct ep_source_sink *sink, size_t record, const struct ep_tree *t,
		     const struct ep_tree_entry *e, struct ep_error *err)
{
	struct tree_file f = { -1, t->root, e->path };
	int rc = ep_tree_open(t, e, &f.fd, err);
	if (rc)
		return rc;
	rc = sink->feed_from(sink->ctx, record, read_file, &f, err);
	close(f.fd);
	return rc;
}

static int iac_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		    struct ep_error *err)
{
	(void)src;
	struct iac_state *s = state;
	const struct ep_tree *t = s->tree;
	struct ep_component *c;
	int rc = sink->add_component(sink->ctx, EP_COMP_FILES, t->root, &c, err);
	if (!rc) {
		c->inventory = s->survey->inventory;
		s->survey->inventory = NULL;
	}
	for (size_t i = 0; !rc && i < t->count; i++) {
		const struct ep_tree_entry *e = &t->entries[i];
		if (s->survey->left_out[i])
			continue;
		if ((rc = ep_component_add_file(c, e->path, e->type, e->mode, e->mtime, e->target, err)))
			break;
		size_t record = c->nfiles - 1;
		c->files[record].kind = s->survey->kinds[i];
		if (e->type == EP_FILE_REG)
			rc = pack_file(sink, record, t, e, err);
	}
	return rc;
}

static void iac_close(void *state)
{
	struct iac_state *s = state;
	if (!s)
		return;
	ep_tree_free(s->tree);
	ep_iac_survey_free(s->survey);
	free(s);
}

const struct ep_source_ops ep_source_iac = {
	.prefix = "iac:",
	.usage = "iac:DIR",
	.open = iac_open,
	.size = iac_size,
	.pack = iac_pack,
	.close = iac_close,
};
