/*
 * --rewrite-registry in YAML: Kubernetes objects, Kustomizations and Helm
 * values. One walk through libyaml's event stream finds the scalars that hold
 * image references at the places each kind keeps them; each is written over
 * at its byte position with its quoting kept (marks count characters: one
 * cursor moves through them in order). The result is then parsed beside the
 * original: every event must be the same but the edited scalars, which must
 * read as meant. A file that does not parse as UTF-8 YAML is left as it is.
 */
#include "targets/rewrite.h"

#include "base/util.h"
#include "targets/textedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "formats/image/reference.h"

/* Deeper than any configuration nests: such a file is left as it is (a frame per level). */
#define MAX_DEPTH 1000
#define VALUE_MAX 600 /* longer than any reference, as ep_image_name_parse takes them */

enum key { K_OTHER, K_IMAGE, K_KIND, K_ITEMS, K_IMAGES, K_NAME, K_NEWNAME, K_REGISTRY, K_REPOSITORY, K_GLOBAL, K_IMAGEREGISTRY };
static const char *const key_names[] = { NULL,   "image",      "kind",       "items",  "images",       "name",
					 "newName", "registry", "repository", "global", "imageRegistry" };

/* What a collection is, for the kind of file. */
enum role {
	R_NONE,
	R_OBJECT,      /* Kubernetes: a document's root mapping, or an item of its `items` */
	R_ITEMS,       /* Kubernetes: the `items` of an object (a List's objects) */
	R_KUST_ROOT,   /* Kustomization: the root mapping */
	R_KUST_IMAGES, /* its `images:` list */
	R_KUST_IMAGE,  /* one item of it */
	R_HELM_ROOT,   /* Helm values: the root mapping */
	R_GLOBAL,      /* its `global:` */
	R_IMAGE_MAP,   /* an `image:` mapping: registry, repository (or image), tag, digest */
};

/* A scalar that may be written over. */
struct spot {
	bool set;       /* a node was there */
	bool editable;  /* its text located in the file: written over when its value changes */
	size_t event;   /* its ordinal in the event stream */
	size_t at, end; /* the bytes of its text (after any anchor or tag) */
	char quote;     /* '\'', '"' or 0 for plain */
	char *value;    /* heap: a plain or quoted scalar's value ("" too); NULL for any other node */
};

struct frame {
	enum role role;
	bool mapping, want_key; /* a mapping whose next node is a key */
	enum key key;           /* the key whose value comes next */
	bool kind_seen, crd;    /* R_OBJECT */
	size_t first_edit;      /* R_OBJECT: the edits made inside it start here */
	bool in_global;         /* R_IMAGE_MAP: global.image */
	struct spot registry, repository, image; /* R_IMAGE_MAP */
};

/* A Helm image given in parts: [registry/]repository, or [registry/]image as ingress-nginx
 * writes it. Charts put a global registry in place of the map's own: global.imageRegistry
 * (Bitnami, prometheus-community) before a repository map's registry, global.image.registry
 * (ingress-nginx) after an image map's; so maps are decided at the end of their document. */
struct image_map {
	bool by_image;            /* {registry, image}, else {registry, repository} */
	struct spot registry, path;
};

/* A scalar written over. */
struct edit {
	size_t event;   /* the scalar's ordinal in the event stream */
	size_t at, del; /* its bytes */
	bool quoted;    /* text is quoted: the value is inside the quotes */
	char *text;     /* heap: what is written */
};

struct plan {
	enum ep_file_kind kind;
	const char *text;
	size_t len;
	const struct ep_rewrite *rules;
	size_t nrules;
	struct ep_yaml_cursor cursor;
	struct frame *frames;
	size_t depth, frames_cap;
	size_t event; /* ordinal of the event being visited */
	bool leave;   /* the file is left as it is (does not parse, UTF-16, too deep) */
	/* the edits, sorted by event once the walk is over (Helm's maps add theirs late) */
	struct edit *edits;
	size_t nedits, edits_cap;
	/* Helm: the document's image maps and global registries */
	struct image_map *maps;
	size_t nmaps, maps_cap;
	struct spot global_registry, global_image_registry;
};

static enum key key_of(const yaml_event_t *ev)
{
	if (ev->type != YAML_SCALAR_EVENT)
		return K_OTHER;
	for (size_t k = 1; k < sizeof key_names / sizeof *key_names; k++)
		if (ev->data.scalar.length == strlen(key_names[k]) && !strcmp((const char *)ev->data.scalar.value, key_names[k]))
			return (enum key)k;
	return K_OTHER;
}

static void spot_release(struct spot *s)
{
	free(s->value);
	*s = (struct spot){ 0 };
}

/* Past a node's anchor (&a) and tag (!t), and the blanks and comments around them, to its text. */
static size_t past_properties(const char *text, size_t at, size_t end)
{
	while (at < end) {
		char c = text[at];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			at++;
		else if (c == '#')
			while (at < end && text[at] != '\n')
				at++;
		else if (c == '&' || c == '!')
			while (at < end && !strchr(" \t\r\n", text[at]))
				at++;
		else
			break;
	}
	return at;
}

/* s for a scalar event: its value, and where its text is in the file. */
static int spot_of(struct plan *p, const yaml_event_t *ev, struct spot *s, struct ep_error *err)
{
	yaml_scalar_style_t st = ev->data.scalar.style;
	*s = (struct spot){ .set = true, .event = p->event };
	if ((st != YAML_PLAIN_SCALAR_STYLE && st != YAML_SINGLE_QUOTED_SCALAR_STYLE && st != YAML_DOUBLE_QUOTED_SCALAR_STYLE) ||
	    ev->data.scalar.length > VALUE_MAX || memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return 0; /* a block scalar, longer than any reference, or holding a NUL ("\0") */
	if (!(s->value = strdup((const char *)ev->data.scalar.value)))
		return ep_oom(err);
	if (ev->data.scalar.length == 0)
		return 0;
	s->quote = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ? '\'' : st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? '"' : 0;
	s->at = ep_yaml_byte_at(p->text, p->len, &p->cursor, ev->start_mark.index);
	s->end = ep_yaml_byte_at(p->text, p->len, &p->cursor, ev->end_mark.index);
	if (ev->data.scalar.anchor || ev->data.scalar.tag) /* the start mark is the anchor's or the tag's */
		s->at = past_properties(p->text, s->at, s->end);
	s->editable = s->at < s->end && (!s->quote || (p->text[s->at] == s->quote && p->text[s->end - 1] == s->quote));
	return 0;
}

/* Whether v written plain would not read as itself: a '[' would open a list (a v6 address),
 * and YAML 1.1 readers take a text of digits and dots or colons alone for a number. */
static bool needs_quotes(const char *v)
{
	return strpbrk(v, "[]") || !strpbrk(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/");
}

/* Writes value over s (when it changes it). */
static int add_edit(struct plan *p, const struct spot *s, const char *value, struct ep_error *err)
{
	if (!s->editable || !strcmp(s->value, value))
		return 0;
	if (!ep_grow((void **)&p->edits, &p->edits_cap, p->nedits + 1, sizeof *p->edits))
		return ep_oom(err);
	char q = s->quote ? s->quote : needs_quotes(value) ? '"' : 0;
	struct edit *e = &p->edits[p->nedits];
	*e = (struct edit){ .event = s->event, .at = s->at, .del = s->end - s->at, .quoted = q != 0 };
	if (q ? asprintf(&e->text, "%c%s%c", q, value, q) < 0 : !(e->text = strdup(value)))
		return ep_oom(err);
	p->nedits++;
	return 0;
}

/* Drops the edits from n on. */
static void drop_edits(struct plan *p, size_t n)
{
	while (p->nedits > n)
		free(p->edits[--p->nedits].text);
}

/* A scalar holding a whole reference (nginx:1.25): moved as the rules say. */
static int move_ref(struct plan *p, const yaml_event_t *ev, bool name_only, struct ep_error *err)
{
	struct spot s;
	char moved[VALUE_MAX + 200];
	struct ep_image_name img;
	int rc = spot_of(p, ev, &s, err);
	if (!rc && s.editable && (!name_only || (ep_image_name_parse(s.value, strlen(s.value), &img) && !*img.tag && !*img.digest)) &&
	    ep_rewrite_ref(p->rules, p->nrules, s.value, strlen(s.value), moved, sizeof moved))
		rc = add_edit(p, &s, moved, err);
	spot_release(&s);
	return rc;
}

/* Helm's global.imageRegistry (or global.image.registry) is a registry alone: moved by a rule
 * whose OLD is that registry, to a NEW that is one too (a NEW with a path has no place there). */
static int move_registry(struct plan *p, const struct spot *s, struct ep_error *err)
{
	if (!s->editable || strstr(s->value, "{{"))
		return 0;
	const char *v = !strcmp(s->value, "index.docker.io") ? "docker.io" : s->value;
	for (size_t i = 0; i < p->nrules; i++) {
		const char *from = !strcmp(p->rules[i].from, "index.docker.io") ? "docker.io" : p->rules[i].from;
		if (!strcmp(from, v))
			return strchr(p->rules[i].to, '/') ? 0 : add_edit(p, s, p->rules[i].to, err);
	}
	return 0;
}

/* The end of a Helm `image:` mapping: kept for the end of the document, or, for global.image
 * without a repository, global.image.registry. */
static int finish_image_map(struct plan *p, struct frame *f, struct ep_error *err)
{
	struct spot *path = f->repository.set ? &f->repository : f->image.set ? &f->image : NULL;
	if (!path) {
		if (f->in_global && f->registry.set) {
			spot_release(&p->global_image_registry);
			p->global_image_registry = f->registry;
			f->registry = (struct spot){ 0 };
		}
		return 0;
	}
	if (!ep_grow((void **)&p->maps, &p->maps_cap, p->nmaps + 1, sizeof *p->maps))
		return ep_oom(err);
	p->maps[p->nmaps++] = (struct image_map){ .by_image = path == &f->image, .registry = f->registry, .path = *path };
	f->registry = *path = (struct spot){ 0 };
	return 0;
}

/* Whether a registry is given: a value other than "" (an alias or a block scalar is one too). */
static bool nonempty(const struct spot *s)
{
	return s->set && (!s->value || *s->value);
}

/* The global registry a map's image is composed with, NULL when it is its own. */
static struct spot *global_of(struct plan *p, const struct image_map *m)
{
	if (!m->by_image)
		return nonempty(&p->global_registry) ? &p->global_registry : NULL;
	return nonempty(&m->registry) ? NULL : nonempty(&p->global_image_registry) ? &p->global_image_registry : NULL;
}

/* A map with a registry of its own (or none): registry and path moved together, or neither. */
static int move_own(struct plan *p, const struct image_map *m, struct ep_error *err)
{
	char registry[300], path[VALUE_MAX + 200];
	const struct spot *reg = &m->registry;
	if (!m->path.editable || (reg->set && !reg->value) ||
	    !ep_rewrite_split(p->rules, p->nrules, reg->value ? reg->value : "", m->path.value, registry, sizeof registry,
			      path, sizeof path))
		return 0;
	if (reg->value && strcmp(reg->value, registry) && !reg->editable)
		return 0;
	int rc = reg->value ? add_edit(p, reg, registry, err) : 0;
	return rc ? rc : add_edit(p, &m->path, path, err);
}

/* The maps composed with global registry g move together: g to the one registry they all move
 * to, each path to the rest. When they would not all move, or not to one registry, none does;
 * g alone (no map uses it) moves as move_registry says. */
static int move_group(struct plan *p, struct spot *g, struct ep_error *err)
{
	char first[300] = "", registry[300], path[VALUE_MAX + 200];
	size_t members = 0;
	bool all = true;
	for (size_t i = 0; i < p->nmaps; i++) {
		const struct image_map *m = &p->maps[i];
		if (global_of(p, m) != g)
			continue;
		members++;
		if (!m->path.value || !g->value || !ep_rewrite_split(p->rules, p->nrules, g->value, m->path.value, registry, sizeof registry,
							path, sizeof path) ||
		    (*first && strcmp(first, registry)) || (strcmp(path, m->path.value) && !m->path.editable))
			all = false;
		else
			snprintf(first, sizeof first, "%s", registry);
	}
	if (!members)
		return move_registry(p, g, err);
	if (!all || !g->value || (strcmp(first, g->value) && !g->editable))
		return 0;
	int rc = add_edit(p, g, first, err);
	for (size_t i = 0; !rc && i < p->nmaps; i++) {
		const struct image_map *m = &p->maps[i];
		if (global_of(p, m) != g ||
		    !ep_rewrite_split(p->rules, p->nrules, g->value, m->path.value, registry, sizeof registry, path, sizeof path))
			continue;
		rc = add_edit(p, &m->path, path, err);
		if (!rc && m->registry.value && !strcmp(m->registry.value, g->value)) /* the same registry as g's: it moves with it */
			rc = add_edit(p, &m->registry, registry, err);
	}
	return rc;
}

static void maps_release(struct plan *p)
{
	for (size_t i = 0; i < p->nmaps; i++) {
		spot_release(&p->maps[i].registry);
		spot_release(&p->maps[i].path);
	}
	p->nmaps = 0;
	spot_release(&p->global_registry);
	spot_release(&p->global_image_registry);
}

/* The end of a Helm values document: its image maps and global registries moved. */
static int finish_helm_document(struct plan *p, struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < p->nmaps; i++)
		if (!global_of(p, &p->maps[i]))
			rc = move_own(p, &p->maps[i], err);
	if (!rc && p->global_registry.set)
		rc = move_group(p, &p->global_registry, err);
	if (!rc && p->global_image_registry.set)
		rc = move_group(p, &p->global_image_registry, err);
	maps_release(p);
	return rc;
}

/* The end of a mapping or sequence: what it was decides what becomes of the edits inside. */
static int pop(struct plan *p, struct ep_error *err)
{
	struct frame *f = &p->frames[--p->depth];
	int rc = 0;
	/* a document that is no Kubernetes object, and a CRD (whose image: keys are schema), keep none */
	if (f->role == R_OBJECT && (f->crd || (p->depth == 0 && !f->kind_seen)))
		drop_edits(p, f->first_edit);
	else if (f->role == R_IMAGE_MAP)
		rc = finish_image_map(p, f, err);
	spot_release(&f->registry);
	spot_release(&f->repository);
	spot_release(&f->image);
	return rc;
}

/* The role of a collection starting as the value of key in parent (NULL: the root). */
static enum role role_of(const struct plan *p, const struct frame *parent, enum key key, bool mapping)
{
	enum role in = parent ? parent->role : R_NONE;
	switch (p->kind) {
	case EP_KIND_KUBERNETES:
		if (mapping)
			return !parent || in == R_ITEMS ? R_OBJECT : R_NONE;
		return in == R_OBJECT && key == K_ITEMS ? R_ITEMS : R_NONE;
	case EP_KIND_KUSTOMIZATION:
		if (mapping)
			return !parent ? R_KUST_ROOT : in == R_KUST_IMAGES ? R_KUST_IMAGE : R_NONE;
		return in == R_KUST_ROOT && key == K_IMAGES ? R_KUST_IMAGES : R_NONE;
	case EP_KIND_HELM_VALUES:
		if (!mapping)
			return R_NONE;
		return !parent ? R_HELM_ROOT : key == K_IMAGE ? R_IMAGE_MAP : in == R_HELM_ROOT && key == K_GLOBAL ? R_GLOBAL : R_NONE;
	default:
		return R_NONE;
	}
}

static int push(struct plan *p, const struct frame *parent, enum key key, bool mapping, struct ep_error *err)
{
	if (p->depth == MAX_DEPTH) {
		p->leave = true;
		return 0;
	}
	if (p->depth == p->frames_cap) {
		if (!ep_grow((void **)&p->frames, &p->frames_cap, p->depth + 1, sizeof *p->frames))
			return ep_oom(err);
		parent = p->depth ? &p->frames[p->depth - 1] : NULL; /* it moved */
	}
	enum role role = role_of(p, parent, key, mapping);
	p->frames[p->depth++] = (struct frame){ .role = role, .mapping = mapping, .want_key = mapping,
						 .first_edit = p->nedits,
						 .in_global = role == R_IMAGE_MAP && parent && parent->role == R_GLOBAL };
	return 0;
}

/* Where a Helm image map keeps the value of key, NULL when it is no part of the image. */
static struct spot *map_part(struct frame *f, enum key key)
{
	return key == K_REGISTRY ? &f->registry : key == K_REPOSITORY ? &f->repository : key == K_IMAGE ? &f->image : NULL;
}

/* A scalar that is a value: an image reference, the kind of an object, a part of a Helm image. */
static int visit_scalar(struct plan *p, struct frame *parent, enum key key, const yaml_event_t *ev, struct ep_error *err)
{
	enum role in = parent ? parent->role : R_NONE;
	struct spot *s = NULL;
	switch (p->kind) {
	case EP_KIND_KUBERNETES:
		if (in == R_OBJECT && key == K_KIND) {
			parent->kind_seen = true;
			parent->crd = !strcmp((const char *)ev->data.scalar.value, "CustomResourceDefinition");
		}
		/* the root decides at its end whether the document is an object */
		return key == K_IMAGE && p->depth && p->frames[0].role == R_OBJECT ? move_ref(p, ev, false, err) : 0;
	case EP_KIND_KUSTOMIZATION:
		return in == R_KUST_IMAGE && (key == K_NAME || key == K_NEWNAME) ? move_ref(p, ev, true, err) : 0;
	case EP_KIND_HELM_VALUES:
		s = in == R_IMAGE_MAP ? map_part(parent, key) : in == R_GLOBAL && key == K_IMAGEREGISTRY ? &p->global_registry : NULL;
		if (s) {
			spot_release(s); /* a key given twice: the last one counts, as with Helm */
			return spot_of(p, ev, s, err);
		}
		return key == K_IMAGE ? move_ref(p, ev, false, err) : 0;
	default:
		return 0;
	}
}

/* A part of a Helm image, or global.imageRegistry, that is no scalar (a list, a mapping, an alias). */
static void not_scalar(struct plan *p, struct frame *parent, enum key key)
{
	struct spot *s = parent->role == R_IMAGE_MAP			      ? map_part(parent, key)
			 : parent->role == R_GLOBAL && key == K_IMAGEREGISTRY ? &p->global_registry
									      : NULL;
	if (s) {
		spot_release(s);
		s->set = true; /* there, and not to be written over */
	}
}

/* A node: a key, a value, an item of a sequence, or a document's root. */
static int visit_node(struct plan *p, const yaml_event_t *ev, struct ep_error *err)
{
	struct frame *parent = p->depth ? &p->frames[p->depth - 1] : NULL;
	bool collection = ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT;
	enum key key = K_OTHER;
	if (parent && parent->mapping && parent->want_key) { /* a key: remembered for its value */
		parent->key = key_of(ev);
		parent->want_key = false;
		return collection ? push(p, parent, K_OTHER, ev->type == YAML_MAPPING_START_EVENT, err) : 0;
	}
	if (parent && parent->mapping) {
		key = parent->key;
		parent->want_key = true;
	}
	if (collection) {
		if (parent)
			not_scalar(p, parent, key);
		return push(p, parent, key, ev->type == YAML_MAPPING_START_EVENT, err);
	}
	if (ev->type == YAML_ALIAS_EVENT) {
		if (parent)
			not_scalar(p, parent, key);
		return 0;
	}
	return visit_scalar(p, parent, key, ev, err);
}

static int visit(struct plan *p, const yaml_event_t *ev, struct ep_error *err)
{
	switch (ev->type) {
	case YAML_STREAM_START_EVENT: /* in UTF-16, marks would count 16-bit units */
		p->leave = ev->data.stream_start.encoding != YAML_UTF8_ENCODING;
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return visit_node(p, ev, err);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return pop(p, err);
	case YAML_DOCUMENT_END_EVENT:
		return p->kind == EP_KIND_HELM_VALUES ? finish_helm_document(p, err) : 0;
	default:
		return 0;
	}
}

static void plan_release(struct plan *p)
{
	while (p->depth) {
		struct frame *f = &p->frames[--p->depth];
		spot_release(&f->registry);
		spot_release(&f->repository);
		spot_release(&f->image);
	}
	maps_release(p);
	free(p->maps);
	free(p->frames);
	drop_edits(p, 0);
	free(p->edits);
}

/* One walk through the events: the edits, in order; p->leave when the file is to stay as it is. */
static int plan_edits(struct plan *p, struct ep_error *err)
{
	yaml_parser_t yp;
	if (!yaml_parser_initialize(&yp))
		return ep_oom(err);
	yaml_parser_set_input_string(&yp, (const unsigned char *)p->text, p->len);
	int rc = 0;
	for (bool end = false; !rc && !end && !p->leave; p->event++) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&yp, &ev)) {
			rc = yp.error == YAML_MEMORY_ERROR ? ep_oom(err) : 0;
			p->leave = true; /* not YAML: restored as it was */
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		rc = visit(p, &ev, err);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return rc;
}

/* ---- reading the result back ---- */

static bool same_text(const yaml_char_t *a, const yaml_char_t *b)
{
	return (!a && !b) || (a && b && !strcmp((const char *)a, (const char *)b));
}

/* Whether two events are the same node or marker (what an edit must not change). */
static bool same_event(const yaml_event_t *a, const yaml_event_t *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case YAML_ALIAS_EVENT:
		return same_text(a->data.alias.anchor, b->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return same_text(a->data.scalar.anchor, b->data.scalar.anchor) && same_text(a->data.scalar.tag, b->data.scalar.tag);
	case YAML_SEQUENCE_START_EVENT:
		return same_text(a->data.sequence_start.anchor, b->data.sequence_start.anchor) &&
		       same_text(a->data.sequence_start.tag, b->data.sequence_start.tag);
	case YAML_MAPPING_START_EVENT:
		return same_text(a->data.mapping_start.anchor, b->data.mapping_start.anchor) &&
		       same_text(a->data.mapping_start.tag, b->data.mapping_start.tag);
	default:
		return true;
	}
}

/* The value an edit means its scalar to read as: what it writes, unquoted. */
static void meant(const struct edit *e, char *out, size_t cap)
{
	size_t n = strlen(e->text);
	snprintf(out, cap, "%.*s", (int)(e->quoted ? n - 2 : n), e->text + (e->quoted ? 1 : 0));
}

/* Compares the next events of a (the original) and b (the result); why says how they differ. */
static int compare_step(yaml_parser_t *a, yaml_parser_t *b, const struct plan *p, size_t i, size_t *k, bool *end,
			char *why, size_t why_cap)
{
	yaml_event_t ea, eb;
	if (!yaml_parser_parse(a, &ea)) {
		snprintf(why, why_cap, "the original no longer parses");
		return -1;
	}
	if (!yaml_parser_parse(b, &eb)) {
		snprintf(why, why_cap, "it does not parse: %s at line %zu", b->problem ? b->problem : "malformed",
			 b->problem_mark.line + 1);
		yaml_event_delete(&ea);
		return -1;
	}
	char want[VALUE_MAX + 200];
	bool edited = *k < p->nedits && p->edits[*k].event == i;
	if (edited)
		meant(&p->edits[(*k)++], want, sizeof want);
	int rc = 0;
	if (!same_event(&ea, &eb))
		snprintf(why, why_cap, "its structure differs at line %zu", eb.start_mark.line + 1), rc = -1;
	else if (ea.type == YAML_SCALAR_EVENT &&
		 (edited ? strlen(want) != eb.data.scalar.length || strcmp((const char *)eb.data.scalar.value, want)
			 : ea.data.scalar.length != eb.data.scalar.length ||
				   memcmp(ea.data.scalar.value, eb.data.scalar.value, ea.data.scalar.length)))
		snprintf(why, why_cap, "the value at line %zu reads '%.80s', not '%.80s'", eb.start_mark.line + 1,
			 (const char *)eb.data.scalar.value, edited ? want : (const char *)ea.data.scalar.value),
			rc = -1;
	else if (edited && ea.type != YAML_SCALAR_EVENT)
		snprintf(why, why_cap, "an edit fell on no scalar at line %zu", eb.start_mark.line + 1), rc = -1;
	*end = ea.type == YAML_STREAM_END_EVENT;
	yaml_event_delete(&ea);
	yaml_event_delete(&eb);
	return rc;
}

/* The result read beside the original: the same events, the edited scalars reading as meant. */
static int check_result(const struct plan *p, const char *out, size_t out_len, const char *what, struct ep_error *err)
{
	yaml_parser_t a, b;
	bool ia = yaml_parser_initialize(&a), ib = ia && yaml_parser_initialize(&b);
	if (!ib) {
		if (ia)
			yaml_parser_delete(&a);
		return ep_oom(err);
	}
	yaml_parser_set_input_string(&a, (const unsigned char *)p->text, p->len);
	yaml_parser_set_input_string(&b, (const unsigned char *)out, out_len);
	char why[300] = "";
	size_t k = 0;
	int bad = 0;
	for (size_t i = 0; !bad;) {
		bool end = false;
		bad = compare_step(&a, &b, p, i++, &k, &end, why, sizeof why);
		if (end)
			break;
	}
	bool oom = a.error == YAML_MEMORY_ERROR || b.error == YAML_MEMORY_ERROR;
	yaml_parser_delete(&a);
	yaml_parser_delete(&b);
	if (oom)
		return ep_oom(err);
	if (bad || k != p->nedits)
		return ep_fail(err, EP_ERUNTIME,
			       "rewriting image references in '%s' would not leave YAML that reads back (%s); refusing it", what,
			       *why ? why : "an edit was not found again");
	return 0;
}

static int by_event(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	return (x->event > y->event) - (x->event < y->event);
}

/* The edits applied, in the order of the text. */
static int apply(struct plan *p, const char *what, char **out, size_t *out_len, struct ep_error *err)
{
	qsort(p->edits, p->nedits, sizeof *p->edits, by_event);
	struct ep_text_edit *te = calloc(p->nedits, sizeof *te);
	if (!te)
		return ep_oom(err);
	int rc = 0;
	for (size_t i = 0; !rc && i < p->nedits; i++) {
		const struct edit *e = &p->edits[i];
		if (i > 0 && e->at < te[i - 1].at + te[i - 1].del) /* a scalar's bytes are its own: never so */
			rc = ep_fail(err, EP_ERUNTIME, "rewriting image references in '%s' would not leave YAML that reads back (two edits overlap); refusing it", what);
		te[i] = (struct ep_text_edit){ .at = e->at, .del = e->del };
		snprintf(te[i].text, sizeof te[i].text, "%s", e->text);
	}
	rc = rc ? rc : ep_text_apply(p->text, p->len, te, p->nedits, out, out_len, err);
	free(te);
	return rc;
}

int ep_rewrite_yaml(enum ep_file_kind kind, const char *text, size_t len, const char *what,
		    const struct ep_rewrite *rules, size_t n, char **out, size_t *out_len, struct ep_error *err)
{
	struct plan p = { .kind = kind, .text = text, .len = len, .rules = rules, .nrules = n };
	*out = NULL;
	*out_len = 0;
	int rc = plan_edits(&p, err);
	if (!rc && !p.leave && p.nedits > 0 && !(rc = apply(&p, what, out, out_len, err)) &&
	    (rc = check_result(&p, *out, *out_len, what, err))) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	plan_release(&p);
	return rc;
}
