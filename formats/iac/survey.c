#include "formats/iac/survey.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/iac/classify.h"
#include "base/digestmap.h"
#include "base/links.h"
#include "base/util.h"
#include "formats/iac/k8s.h"
#include "formats/iac/terraform.h"

struct surveyor {
	const struct ep_tree *t;
	const struct ep_iac_options *opt;
	struct ep_iac_survey *s;
	struct ep_terraform *tf;
	struct ep_strings charts; /* directories holding a Chart.yaml */
	struct ep_error *err;
};

__attribute__((format(printf, 2, 3))) static void warn(const struct surveyor *sv, const char *fmt, ...)
{
	char msg[4608];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (sv->opt->warn)
		sv->opt->warn(sv->opt->warn_ctx, msg);
}

static int find_charts(struct surveyor *sv)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < sv->t->count; i++) {
		const struct ep_tree_entry *e = &sv->t->entries[i];
		const char *slash = strrchr(e->path, '/');
		char *dir = strndup(e->path, slash ? (size_t)(slash - e->path) : 0);
		if (!dir)
			rc = ep_oom(sv->err);
		else if (e->type == EP_FILE_REG && !strcmp(slash ? slash + 1 : e->path, "Chart.yaml"))
			rc = ep_strings_append(&sv->charts, dir, sv->err);
		free(dir);
	}
	return rc;
}

/* Why a file is left out, warned once; a secret is never read. */
static void leave_out(struct surveyor *sv, size_t i, const char *why)
{
	sv->s->left_out[i] = true;
	warn(sv, "leaving out '%s/%s': %s (pack --include-state packs it)", sv->t->root, sv->t->entries[i].path, why);
}

/* Reads what the inventory wants from a file's content; may change its kind or leave it out. */
static int read_content(struct surveyor *sv, size_t i, int fd, const char *what)
{
	const struct ep_tree_entry *e = &sv->t->entries[i];
	enum ep_file_kind *kind = &sv->s->kinds[i];
	char *buf = NULL;
	size_t len = 0;
	if (e->size > EP_IAC_READ_MAX) {
		warn(sv, "'%s' is larger than 64 MiB: its content is not inventoried", what);
		return 0;
	}
	int rc = ep_read_fd(fd, EP_IAC_READ_MAX, what, &buf, &len, sv->err);
	if (rc)
		return rc;
	if (*kind == EP_KIND_TERRAFORM)
		rc = ep_terraform_read_hcl(sv->tf, e->path, buf, len, what, sv->err);
	else if (*kind == EP_KIND_TERRAFORM_LOCK)
		rc = ep_terraform_read_lock(sv->tf, buf, len, what, sv->err);
	else if (*kind == EP_KIND_TERRAFORM_JSON)
		rc = ep_terraform_read_json(sv->tf, e->path, buf, len, what, sv->err);
	if (rc == EP_EINPUT) {
		/* terraform itself would refuse the file; packing it is still right */
		warn(sv, "%s: the inventory may miss what follows", sv->err->msg);
		rc = 0;
	}
	if (*kind == EP_KIND_OTHER) {
		struct ep_yaml_facts facts;
		size_t before = sv->s->inventory->nobjects;
		if ((rc = ep_k8s_read(buf, len, e->path, what, sv->s->inventory, &facts, sv->err)))
			goto out;
		if (*facts.invalid)
			warn(sv, "'%s' is not valid YAML (%s): its content is not inventoried", what, facts.invalid);
		*kind = facts.heat ? EP_KIND_HEAT : facts.objects ? EP_KIND_KUBERNETES : EP_KIND_OTHER;
		if (facts.secret && !sv->opt->include_secrets) {
			ep_inventory_drop_objects(sv->s->inventory, before);
			leave_out(sv, i, facts.secret);
		}
	}
out:
	free(buf);
	return rc;
}

static int survey_file(struct surveyor *sv, size_t i)
{
	const struct ep_tree_entry *e = &sv->t->entries[i];
	enum ep_file_kind kind = ep_iac_kind_by_name(e->path, (const char *const *)sv->charts.v, sv->charts.n);
	const char *secret = ep_iac_secret_name(e->path, kind);
	sv->s->kinds[i] = kind;
	if (secret && !sv->opt->include_secrets) {
		leave_out(sv, i, secret);
		return 0;
	}
	bool yaml = kind == EP_KIND_OTHER && ep_iac_is_yaml(e->path);
	/* the inventory names files by their paths, so those must be text it can hold */
	if ((kind != EP_KIND_OTHER && kind != EP_KIND_TERRAFORM && kind != EP_KIND_TERRAFORM_LOCK &&
	     kind != EP_KIND_TERRAFORM_JSON) ||
	    !ep_inventory_text_ok(e->path))
		return 0;
	char what[2 * PATH_MAX]; /* the root and a relative path, each up to PATH_MAX */
	int fd, rc = ep_tree_open(sv->t, e, &fd, sv->err);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "%s/%s", sv->t->root, e->path);
	if (kind == EP_KIND_OTHER) {
		char head[EP_IAC_HEAD];
		ssize_t n = pread(fd, head, sizeof head, 0);
		if (n < 0)
			rc = ep_fail_errno(sv->err, EP_ERUNTIME, "cannot read '%s'", what);
		else if ((secret = ep_iac_secret_head(head, (size_t)n)) && !sv->opt->include_secrets) {
			leave_out(sv, i, secret);
			goto out;
		} else if (ep_iac_is_cloud_config(head, (size_t)n))
			sv->s->kinds[i] = EP_KIND_CLOUD_INIT;
		else if (!yaml)
			goto out;
	}
	if (!rc && sv->s->kinds[i] != EP_KIND_CLOUD_INIT)
		rc = read_content(sv, i, fd, what);
out:
	close(fd);
	return rc;
}

static void path_key(const char *path, uint8_t key[EP_DIGEST_LEN])
{
	ep_sha256(path, strlen(path), key);
}

/* A symlink to a file left out would restore dangling and tell where a secret was: it is
 * left out too. Links are followed through each other to where they end (base/links.h). */
static int leave_out_links(struct surveyor *sv)
{
	const struct ep_tree *t = sv->t;
	struct ep_links *links = ep_links_new();
	struct ep_digestmap *gone = ep_digestmap_new(); /* the files left out, by path */
	bool ok = links && gone;
	uint8_t key[EP_DIGEST_LEN];
	for (size_t i = 0; ok && i < t->count; i++) {
		const struct ep_tree_entry *e = &t->entries[i];
		if (e->type == EP_FILE_SYMLINK)
			ok = ep_links_add(links, e->path, e->target);
		else if (sv->s->left_out[i]) {
			path_key(e->path, key);
			ok = ep_digestmap_put(gone, key, i);
		}
	}
	for (size_t i = 0; ok && i < t->count; i++) {
		const struct ep_tree_entry *e = &t->entries[i];
		char end[EP_RELPATH_MAX + 1], why[EP_RELPATH_MAX + 64];
		uint64_t file;
		if (e->type != EP_FILE_SYMLINK || ep_link_follow(e->path, e->target, ep_links_lookup, links, end) != EP_LINK_INSIDE)
			continue;
		path_key(end, key);
		if (!ep_digestmap_get(gone, key, &file))
			continue;
		snprintf(why, sizeof why, "it is a symlink to '%s', which is left out", t->entries[file].path);
		leave_out(sv, i, why);
	}
	ep_links_free(links);
	ep_digestmap_free(gone);
	return ok ? 0 : ep_oom(sv->err);
}

int ep_iac_survey(const struct ep_tree *t, const struct ep_iac_options *opt, struct ep_iac_survey **out,
		  struct ep_error *err)
{
	struct surveyor sv = { .t = t, .opt = opt, .err = err };
	struct ep_iac_survey *s = calloc(1, sizeof *s);
	sv.s = s;
	int rc = s && (s->kinds = calloc(t->count + 1, sizeof *s->kinds)) &&
			 (s->left_out = calloc(t->count + 1, sizeof *s->left_out)) && (s->inventory = ep_inventory_new())
		 ? 0
		 : ep_oom(err);
	if (!rc)
		rc = ep_terraform_new(&sv.tf, s->inventory, err);
	if (!rc)
		rc = find_charts(&sv);
	for (size_t i = 0; !rc && i < t->count; i++)
		if (t->entries[i].type == EP_FILE_REG)
			rc = survey_file(&sv, i);
	if (!rc && !opt->include_secrets)
		rc = leave_out_links(&sv);
	if (!rc)
		rc = ep_terraform_finish(sv.tf, err);
	ep_terraform_free(sv.tf);
	ep_strings_release(&sv.charts);
	if (rc) {
		ep_iac_survey_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void ep_iac_survey_free(struct ep_iac_survey *s)
{
	if (!s)
		return;
	free(s->kinds);
	free(s->left_out);
	ep_inventory_free(s->inventory);
	free(s);
}
