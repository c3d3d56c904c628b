/*
 * --rewrite-registry in Terraform's native syntax: the string literals that hold
 * container images in the resource types that run containers, found by the HCL
 * scanner with their byte positions. Anything else (google_compute_instance's
 * boot disk image, digitalocean_droplet's image, variables, locals, templates,
 * expressions) stays as it is.
 */
#include "targets/rewrite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "formats/iac/hcl.h"
#include "formats/image/reference.h"
#include "targets/textedit.h"

/* The resource types that hold container images, by where they keep them. */
enum family {
	FAM_NONE,
	FAM_KUBERNETES,  /* kubernetes_*: `image` in the resource's blocks (container, init_container) */
	FAM_MANIFEST,    /* kubernetes_manifest: "image" keys anywhere in the manifest object */
	FAM_DOCKER_RUN,  /* docker_container: `image` */
	FAM_DOCKER_NAME, /* docker_image, docker_registry_image: `name` */
	FAM_DOCKER_SVC,  /* docker_service: task_spec { container_spec { image } } */
	FAM_CLOUD_RUN,   /* Cloud Run services and jobs: `image` in containers blocks */
	FAM_AZURE,       /* Azure container groups and apps: `image` in container blocks */
	FAM_ECS,         /* aws_ecs_task_definition: container_definitions = jsonencode([{ image }]) */
	FAM_HELM,        /* helm_release: set { name = "image", value } */
};

static enum family family_of(const char *block, const char *type)
{
	static const struct {
		const char *type;
		enum family family;
	} types[] = {
		{ "kubernetes_manifest", FAM_MANIFEST },
		{ "docker_container", FAM_DOCKER_RUN },
		{ "docker_image", FAM_DOCKER_NAME },
		{ "docker_registry_image", FAM_DOCKER_NAME },
		{ "docker_service", FAM_DOCKER_SVC },
		{ "google_cloud_run_service", FAM_CLOUD_RUN },
		{ "google_cloud_run_v2_service", FAM_CLOUD_RUN },
		{ "google_cloud_run_v2_job", FAM_CLOUD_RUN },
		{ "azurerm_container_group", FAM_AZURE },
		{ "azurerm_container_app", FAM_AZURE },
		{ "aws_ecs_task_definition", FAM_ECS },
		{ "helm_release", FAM_HELM },
	};
	bool resource = !strcmp(block, "resource");
	if (!resource && strcmp(block, "data"))
		return FAM_NONE;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (!strcmp(type, types[i].type))
			/* a data source names an image to look up, as docker_registry_image does */
			return resource || types[i].family == FAM_DOCKER_NAME ? types[i].family : FAM_NONE;
	return resource && !strncmp(type, "kubernetes_", 11) ? FAM_KUBERNETES : FAM_NONE;
}

/* A block or object open around the scan. Names longer than any this file looks for are kept as "". */
struct frame {
	char name[48];
	char label[48]; /* a dynamic block's: the block its content stands for */
	bool block, inner;
};

/* A helm_release `set`: its name, and where its value's literal is (when it is one). */
struct helm_set {
	char name[256];
	size_t at, len;
	bool literal;
};

struct walk {
	const char *text;
	const struct ep_rewrite *rules;
	size_t n;
	enum family family; /* of the top-level block open */
	struct frame frames[EP_HCL_MAX_DEPTH + 1];
	struct ep_text_edit *edits;
	size_t nedits, cap;
	struct helm_set *sets, set; /* a helm_release's sets; the one open */
	size_t nsets, setcap;
	bool in_set;
};

static void copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		n = 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcasecmp(s + n - k, suffix);
}

/* Called with each string a heredoc walk finds: src[at..at+len), as written. */
typedef int (*heredoc_string_fn)(void *ctx, size_t at, size_t len, struct ep_error *err);

/* Where the string whose bytes start at s[i] ends (its closing quote), or end when it does not. */
static size_t string_end(const char *s, size_t i, size_t end)
{
	while (i < end && s[i] != '"' && s[i] != '\n')
		i += s[i] == '\\' ? 2 : 1;
	return i < end && s[i] == '"' ? i : end;
}

/* After "${" or "%{" at s[i - 2]: past the matching '}', strings in between stepped over. */
static size_t template_end(const char *s, size_t i, size_t end)
{
	for (size_t open = 1; i < end && open; i++) {
		if (s[i] == '"')
			i = string_end(s, i + 1, end);
		else
			open += s[i] == '{' ? 1 : s[i] == '}' ? -1 : 0;
	}
	return i;
}

/* ECS's container definitions written as JSON in a heredoc: the "image" string of each
 * object of the top-level array, in src[at..at+len). Lenient, as the heredoc is a
 * template: ${...} and %{...} are stepped over, and text it cannot follow ends the walk. */
static int heredoc_images(const char *s, size_t at, size_t len, heredoc_string_fn fn, void *ctx, struct ep_error *err)
{
	char open[2] = { 0 }; /* the two outer brackets: a container is '{' in '[' */
	size_t depth = 0, end = at + len;
	bool image_key = false; /* "image": was the last thing, at a container's level */
	for (size_t i = at; i < end;) {
		char c = s[i];
		if (c == '"') {
			size_t close = string_end(s, i + 1, end), k = close + 1;
			if (close == end)
				return 0;
			while (k < end && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n'))
				k++;
			bool key = k < end && s[k] == ':';
			int rc = image_key && !key ? fn(ctx, i + 1, close - i - 1, err) : 0;
			if (rc)
				return rc;
			image_key = key && depth == 2 && open[0] == '[' && open[1] == '{' && close - i - 1 == 5 &&
				    !memcmp(s + i + 1, "image", 5);
			i = key ? k + 1 : close + 1;
			continue;
		}
		if ((c == '$' || c == '%') && i + 1 < end && s[i + 1] == '{') {
			i = template_end(s, i + 2, end);
			image_key = false;
			continue;
		}
		if (c == '[' || c == '{') {
			if (depth < sizeof open)
				open[depth] = c;
			depth++;
		} else if ((c == ']' || c == '}') && !depth) {
			return 0;
		} else if (c == ']' || c == '}') {
			depth--;
		}
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			image_key = false;
		i++;
	}
	return 0;
}

/* Whether the attribute is where its family keeps a container image (or, for docker_image, its name). */
static bool image_place(const struct walk *w, const struct ep_hcl_item *it)
{
	unsigned d = it->depth;
	const struct frame *up = d ? &w->frames[d - 1] : NULL;
	bool image = !strcmp(it->name, "image");
	switch (w->family) {
	case FAM_KUBERNETES: /* in blocks all the way up: a map attribute (labels, a config map's data) holds no image */
		for (unsigned i = 1; i < d; i++)
			if (!w->frames[i].block)
				return false;
		return image;
	case FAM_MANIFEST:
		return image && d >= 2 && !w->frames[1].block && !w->frames[1].inner && !strcmp(w->frames[1].name, "manifest");
	case FAM_DOCKER_RUN:
		return image && d == 1;
	case FAM_DOCKER_NAME:
		return !strcmp(it->name, "name") && d == 1;
	case FAM_DOCKER_SVC:
		return image && d >= 3 && up->block && !strcmp(up->name, "container_spec") && w->frames[d - 2].block &&
		       !strcmp(w->frames[d - 2].name, "task_spec");
	case FAM_CLOUD_RUN:
		return image && d >= 2 && up->block && !strcmp(up->name, "containers");
	case FAM_AZURE:
		return image && d >= 2 && up->block && (!strcmp(up->name, "container") || !strcmp(up->name, "init_container"));
	case FAM_ECS:
		return image && d == 2 && up->inner && !strcmp(up->name, "container_definitions");
	case FAM_NONE:
	case FAM_HELM:
		break;
	}
	return false;
}

/* Whether text[at..at+len) is a literal as written, nothing escaped: the only kind edited. */
static bool plain(const struct walk *w, const struct ep_hcl_item *it)
{
	return it->value && it->value_len == strlen(it->value) && !memcmp(w->text + it->value_at, it->value, it->value_len);
}

static int add_edit(struct walk *w, size_t at, size_t len, const char *text, struct ep_error *err)
{
	if (len == strlen(text) && !memcmp(w->text + at, text, len))
		return 0;
	for (size_t i = 0; i < w->nedits; i++)
		if (w->edits[i].at == at)
			return 0; /* a Helm registry two repositories share: moved once */
	if (!ep_grow((void **)&w->edits, &w->cap, w->nedits + 1, sizeof *w->edits))
		return ep_oom(err);
	struct ep_text_edit *e = &w->edits[w->nedits++];
	e->at = at;
	e->del = len;
	snprintf(e->text, sizeof e->text, "%s", text);
	return 0;
}

/* The reference at text[at..at+len) moved; name_only: a repository, which must have no tag or digest. */
static int move_ref(struct walk *w, size_t at, size_t len, bool name_only, struct ep_error *err)
{
	struct ep_image_name img;
	char out[sizeof ((struct ep_text_edit *)0)->text];
	if (name_only && (!ep_image_name_parse(w->text + at, len, &img) || *img.tag || *img.digest))
		return 0;
	return ep_rewrite_ref(w->rules, w->n, w->text + at, len, out, sizeof out) ? add_edit(w, at, len, out, err) : 0;
}

static const struct helm_set *helm_find(const struct walk *w, const char *name)
{
	const struct helm_set *found = NULL;
	for (size_t i = 0; i < w->nsets; i++)
		if (!strcmp(w->sets[i].name, name))
			found = &w->sets[i]; /* the last, as Helm takes it */
	return found;
}

/* P.image.repository beside P.image.registry: Helm's split form, both moved together. */
static int helm_split(struct walk *w, const struct helm_set *repo, const struct helm_set *reg, struct ep_error *err)
{
	char registry[256], repository[600], reg_out[256], repo_out[600];
	if (!reg->literal || reg->len >= sizeof registry || repo->len >= sizeof repository)
		return 0; /* a registry given by an expression: where the image is cannot be known */
	snprintf(registry, sizeof registry, "%.*s", (int)reg->len, w->text + reg->at);
	snprintf(repository, sizeof repository, "%.*s", (int)repo->len, w->text + repo->at);
	if (!ep_rewrite_split(w->rules, w->n, registry, repository, reg_out, sizeof reg_out, repo_out, sizeof repo_out))
		return 0;
	int rc = add_edit(w, reg->at, reg->len, reg_out, err);
	return rc ? rc : add_edit(w, repo->at, repo->len, repo_out, err);
}

/* A helm_release's sets, once all are read: "image" and "*.image" hold references,
 * "*image.repository" a name (with "*image.registry" beside it, the split form). */
static int helm_edits(struct walk *w, struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < w->nsets; i++) {
		const struct helm_set *s = &w->sets[i];
		size_t n = strlen(s->name);
		if (!s->literal)
			continue;
		if (!strcasecmp(s->name, "image") || ends_with(s->name, ".image")) {
			rc = move_ref(w, s->at, s->len, false, err);
		} else if (ends_with(s->name, "image.repository")) {
			char registry[sizeof s->name + 8];
			snprintf(registry, sizeof registry, "%.*sregistry", (int)(n - strlen("repository")), s->name);
			const struct helm_set *reg = helm_find(w, registry);
			rc = reg ? helm_split(w, s, reg, err) : move_ref(w, s->at, s->len, true, err);
		}
	}
	w->nsets = 0;
	return rc;
}

static int helm_item(struct walk *w, const struct ep_hcl_item *it, struct ep_error *err)
{
	bool set_frame = it->depth == 1 && it->name && !strcmp(it->name, "set");
	if ((it->event == EP_HCL_BLOCK || (it->event == EP_HCL_OBJECT && it->inner)) && set_frame) {
		w->in_set = true; /* set { } blocks, and the provider's newer set = [{ }] */
		memset(&w->set, 0, sizeof w->set);
	} else if (it->event == EP_HCL_ATTR && w->in_set && it->depth == 2) {
		if (!strcmp(it->name, "name"))
			copy_name(w->set.name, sizeof w->set.name, it->value);
		else if (!strcmp(it->name, "value") && (w->set.literal = plain(w, it))) {
			w->set.at = it->value_at;
			w->set.len = it->value_len;
		}
	} else if (it->event == EP_HCL_END && it->depth == 1 && w->in_set) {
		w->in_set = false;
		if (!ep_grow((void **)&w->sets, &w->setcap, w->nsets + 1, sizeof *w->sets))
			return ep_oom(err);
		w->sets[w->nsets++] = w->set;
	} else if (it->event == EP_HCL_END && it->depth == 0) {
		return helm_edits(w, err);
	}
	return 0;
}

static void open_frame(struct walk *w, const struct ep_hcl_item *it)
{
	struct frame *f = &w->frames[it->depth];
	const struct frame *up = it->depth ? &w->frames[it->depth - 1] : NULL;
	f->block = it->event == EP_HCL_BLOCK;
	f->inner = it->inner;
	copy_name(f->name, sizeof f->name, it->name);
	copy_name(f->label, sizeof f->label, f->block && it->nlabels ? it->labels[0] : "");
	/* dynamic "container" { content { ... } }: the content is a container block */
	if (f->block && up && up->block && !strcmp(f->name, "content") && !strcmp(up->name, "dynamic"))
		memcpy(f->name, up->label, sizeof f->name);
	if (it->depth == 0)
		w->family = f->block && it->nlabels ? family_of(it->name, it->labels[0]) : FAM_NONE;
}

static int heredoc_image(void *ctx, size_t at, size_t len, struct ep_error *err)
{
	return move_ref(ctx, at, len, false, err);
}

static int on_item(void *ctx, const struct ep_hcl_item *it, struct ep_error *err)
{
	struct walk *w = ctx;
	if (it->depth > EP_HCL_MAX_DEPTH)
		return 0; /* the scanner stops before: no frame is kept so deep */
	int rc = 0;
	if (it->event == EP_HCL_BLOCK || it->event == EP_HCL_OBJECT)
		open_frame(w, it);
	if (w->family == FAM_HELM)
		rc = helm_item(w, it, err);
	else if (it->event == EP_HCL_ATTR && plain(w, it) && image_place(w, it))
		rc = move_ref(w, it->value_at, it->value_len, false, err);
	else if (it->event == EP_HCL_ATTR && it->heredoc && w->family == FAM_ECS && it->depth == 1 &&
		 !strcmp(it->name, "container_definitions"))
		rc = heredoc_images(w->text, it->value_at, it->value_len, heredoc_image, w, err);
	if (it->event == EP_HCL_END && it->depth == 0)
		w->family = FAM_NONE; /* what follows at the top is no resource's */
	return rc;
}

/* The read back: each moved value a literal string, where it was put and as it was
 * meant. As the edits replace nothing but those strings' bytes, all else reads as before. */
struct check {
	const char *text; /* the result */
	const struct ep_text_edit *edits;
	size_t n, k;
	long long shift; /* how far the edits before edits[k] moved what follows them */
	unsigned line;   /* of the attribute being read; of a value that reads back otherwise */
	bool bad;
};

/* A string read back (raw_len bytes at `at`, reading as value[0..len)): the next edit's when it is where that was put. */
static void check_string(struct check *c, size_t at, size_t raw_len, const char *value, size_t len)
{
	if (c->k == c->n || c->bad)
		return;
	const struct ep_text_edit *e = &c->edits[c->k];
	size_t want = (size_t)((long long)e->at + c->shift), n = strlen(e->text);
	if (at < want)
		return;
	if (at > want || raw_len != n || len != n || memcmp(value, e->text, n)) {
		c->bad = true;
		return;
	}
	c->shift += (long long)n - (long long)e->del;
	c->k++;
}

static int check_heredoc_string(void *ctx, size_t at, size_t len, struct ep_error *err)
{
	struct check *c = ctx;
	(void)err;
	check_string(c, at, len, c->text + at, len);
	return 0;
}

static int on_check(void *ctx, const struct ep_hcl_item *it, struct ep_error *err)
{
	struct check *c = ctx;
	if (it->event != EP_HCL_ATTR || c->bad)
		return 0;
	c->line = it->line;
	if (it->value)
		check_string(c, it->value_at, it->value_len, it->value, strlen(it->value));
	else if (it->heredoc)
		return heredoc_images(c->text, it->value_at, it->value_len, check_heredoc_string, c, err);
	return 0;
}

int ep_rewrite_hcl_edit(const char *what, const char *text, size_t len, const struct ep_text_edit *edits, size_t n,
			char **out, size_t *out_len, struct ep_error *err)
{
	struct check c = { .edits = edits, .n = n };
	struct ep_error scan = { 0 };
	int rc = ep_text_apply(text, len, edits, n, out, out_len, err);
	c.text = *out;
	if (!rc && (rc = ep_hcl_scan(*out, *out_len, what, on_check, &c, &scan)) == EP_ERUNTIME)
		ep_fail(err, rc, "%s", scan.msg);
	else if (rc == EP_EINPUT)
		rc = ep_fail(err, EP_ERUNTIME,
			     "rewriting image references in '%s' would not leave Terraform that reads back (%s); refusing it",
			     what, scan.msg);
	else if (!rc && c.k < n && c.bad)
		rc = ep_fail(err, EP_ERUNTIME,
			     "rewriting image references in '%s' would not leave Terraform that reads back as meant (the string at line %u reads otherwise); refusing it",
			     what, c.line);
	else if (!rc && c.k < n)
		rc = ep_fail(err, EP_ERUNTIME,
			     "rewriting image references in '%s' would not leave Terraform that reads back as meant (a moved reference is no string where it was put); refusing it",
			     what);
	if (rc) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	return rc;
}

static int by_position(const void *a, const void *b)
{
	size_t x = ((const struct ep_text_edit *)a)->at, y = ((const struct ep_text_edit *)b)->at;
	return x < y ? -1 : x > y;
}

int ep_rewrite_hcl(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		   const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err)
{
	struct walk w = { .text = text, .rules = rules, .n = n };
	struct ep_error scan = { 0 };
	*out = NULL;
	*out_len = 0;
	if (kind != EP_KIND_TERRAFORM || !n)
		return 0;
	int rc = ep_hcl_scan(text, len, what, on_item, &w, &scan);
	if (rc == EP_EINPUT)
		rc = 0, w.nedits = 0; /* not HCL as the scanner reads it: left as it is */
	else if (rc)
		ep_fail(err, rc, "%s", scan.msg);
	if (!rc && w.nedits) {
		qsort(w.edits, w.nedits, sizeof *w.edits, by_position); /* a helm_release's come in the order of its sets */
		rc = ep_rewrite_hcl_edit(what, text, len, w.edits, w.nedits, out, out_len, err);
	}
	free(w.edits);
	free(w.sets);
	return rc;
}
