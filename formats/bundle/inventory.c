#include "formats/bundle/inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const char *const kind_names[EP_KIND_COUNT] = {
	[EP_KIND_TERRAFORM] = "terraform",
	[EP_KIND_TERRAFORM_JSON] = "terraform-json",
	[EP_KIND_TERRAFORM_VARS] = "terraform-vars",
	[EP_KIND_TERRAFORM_LOCK] = "terraform-lock",
	[EP_KIND_TERRAFORM_STATE] = "terraform-state",
	[EP_KIND_KUBERNETES] = "kubernetes",
	[EP_KIND_KUSTOMIZATION] = "kustomization",
	[EP_KIND_HELM_CHART] = "helm-chart",
	[EP_KIND_HELM_VALUES] = "helm-values",
	[EP_KIND_HELM_TEMPLATE] = "helm-template",
	[EP_KIND_VAGRANTFILE] = "vagrantfile",
	[EP_KIND_HEAT] = "heat",
	[EP_KIND_CLOUD_INIT] = "cloud-init",
	[EP_KIND_OTHER] = "other",
};

const char *ep_file_kind_name(enum ep_file_kind kind)
{
	return kind < EP_KIND_COUNT ? kind_names[kind] : NULL;
}

enum ep_file_kind ep_file_kind_parse(const char *name)
{
	for (int k = EP_KIND_NONE + 1; name && k < EP_KIND_COUNT; k++)
		if (!strcmp(kind_names[k], name))
			return (enum ep_file_kind)k;
	return EP_KIND_NONE;
}

bool ep_inventory_text_ok(const char *s)
{
	size_t n = 0;
	while (s && s[n]) {
		const unsigned char *p = (const unsigned char *)s + n;
		size_t len = ep_utf8_length(p);
		if (!len || *p < 0x20 || *p == 0x7f || (len == 2 && p[0] == 0xc2 && p[1] < 0xa0))
			return false; /* C0 and C1 controls too: terminals act on both */
		n += len;
	}
	return n > 0 && n < EP_INVENTORY_TEXT_MAX;
}

/* ---- building ---- */

struct ep_inventory *ep_inventory_new(void)
{
	return calloc(1, sizeof(struct ep_inventory));
}

void ep_strings_release(struct ep_strings *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void object_release(struct ep_k8s_object *o)
{
	free(o->path);
	free(o->kind);
	free(o->name);
	free(o->namespace);
	ep_strings_release(&o->images);
}

void ep_inventory_free(struct ep_inventory *inv)
{
	if (!inv)
		return;
	ep_strings_release(&inv->providers);
	for (size_t i = 0; i < inv->nmodules; i++) {
		free(inv->modules[i].name);
		free(inv->modules[i].source);
		free(inv->modules[i].path);
	}
	free(inv->modules);
	for (size_t i = 0; i < inv->resources.n; i++)
		free(inv->resources.v[i].name);
	free(inv->resources.v);
	for (size_t i = 0; i < inv->data.n; i++)
		free(inv->data.v[i].name);
	free(inv->data.v);
	ep_inventory_drop_objects(inv, 0);
	free(inv->objects);
	free(inv);
}

/* Inserts a copy of s at index at of l. */
static int strings_insert(struct ep_strings *l, size_t at, const char *s, struct ep_error *err)
{
	char *copy = strdup(s);
	if (!copy || !ep_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) {
		free(copy);
		return ep_oom(err);
	}
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
	l->v[at] = copy;
	l->n++;
	return 0;
}

/* Binary search over n items of `stride` bytes, each starting with its name; *at is where
 * name is or belongs. */
static bool find_sorted(const void *base, size_t n, size_t stride, const char *name, size_t *at)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(*(char *const *)((const char *)base + mid * stride), name);
		if (c == 0) {
			*at = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return false;
}

int ep_strings_add_sorted(struct ep_strings *l, const char *s, struct ep_error *err)
{
	size_t at;
	return find_sorted(l->v, l->n, sizeof *l->v, s, &at) ? 0 : strings_insert(l, at, s, err);
}

bool ep_strings_has(const struct ep_strings *l, const char *s)
{
	size_t at;
	return find_sorted(l->v, l->n, sizeof *l->v, s, &at);
}

int ep_strings_append(struct ep_strings *l, const char *s, struct ep_error *err)
{
	return strings_insert(l, l->n, s, err);
}

int ep_tally_add(struct ep_tallies *t, const char *name, uint64_t n, struct ep_error *err)
{
	size_t at;
	if (find_sorted(t->v, t->n, sizeof *t->v, name, &at)) {
		t->v[at].count += n;
		return 0;
	}
	char *copy = strdup(name);
	if (!copy || !ep_grow((void **)&t->v, &t->cap, t->n + 1, sizeof *t->v)) {
		free(copy);
		return ep_oom(err);
	}
	memmove(t->v + at + 1, t->v + at, (t->n - at) * sizeof *t->v);
	t->v[at] = (struct ep_tally){ copy, n };
	t->n++;
	return 0;
}

int ep_inventory_add_module(struct ep_inventory *inv, const char *name, const char *path, struct ep_error *err)
{
	if (!ep_grow((void **)&inv->modules, &inv->cap_modules, inv->nmodules + 1, sizeof *inv->modules))
		return ep_oom(err);
	struct ep_module_ref *m = &inv->modules[inv->nmodules];
	*m = (struct ep_module_ref){ .name = strdup(name), .path = strdup(path) };
	if (!m->name || !m->path) {
		free(m->name);
		free(m->path);
		return ep_oom(err);
	}
	inv->nmodules++;
	return 0;
}

int ep_inventory_add_object(struct ep_inventory *inv, const char *path, const char *kind, struct ep_k8s_object **out,
			    struct ep_error *err)
{
	if (!ep_grow((void **)&inv->objects, &inv->cap_objects, inv->nobjects + 1, sizeof *inv->objects))
		return ep_oom(err);
	struct ep_k8s_object *o = &inv->objects[inv->nobjects];
	*o = (struct ep_k8s_object){ .path = strdup(path), .kind = strdup(kind) };
	if (!o->path || !o->kind) {
		object_release(o);
		return ep_oom(err);
	}
	inv->nobjects++;
	*out = o;
	return 0;
}

void ep_inventory_drop_objects(struct ep_inventory *inv, size_t keep)
{
	while (inv->nobjects > keep)
		object_release(&inv->objects[--inv->nobjects]);
}

bool ep_inventory_has_terraform(const struct ep_inventory *inv)
{
	return inv->providers.n || inv->nmodules || inv->resources.n || inv->data.n;
}

/* ---- JSON ---- */

static json_t *strings_json(const struct ep_strings *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append_new(a, json_string(l->v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *tallies_json(const struct ep_tallies *t)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < t->n; i++)
		if (json_object_set_new(o, t->v[i].name, json_integer((json_int_t)t->v[i].count))) {
			json_decref(o);
			return NULL;
		}
	return o;
}

static json_t *terraform_json(const struct ep_inventory *inv)
{
	json_t *mods = json_array();
	for (size_t i = 0; mods && i < inv->nmodules; i++) {
		const struct ep_module_ref *m = &inv->modules[i];
		if (json_array_append_new(mods, json_pack("{s:s,s:s*,s:s}", "name", m->name, "source", m->source,
							  "path", m->path))) {
			json_decref(mods);
			mods = NULL;
		}
	}
	return json_pack("{s:o,s:o,s:o,s:o}", "providers", strings_json(&inv->providers), "modules", mods,
			 "resources", tallies_json(&inv->resources), "data", tallies_json(&inv->data));
}

json_t *ep_inventory_to_json(const struct ep_inventory *inv)
{
	json_t *o = json_object();
	bool ok = o != NULL;
	if (ok && ep_inventory_has_terraform(inv))
		ok = !json_object_set_new(o, "terraform", terraform_json(inv));
	if (ok && inv->nobjects) {
		json_t *objs = json_array();
		ok = !json_object_set_new(o, "kubernetes", objs);
		for (size_t i = 0; ok && i < inv->nobjects; i++) {
			const struct ep_k8s_object *k = &inv->objects[i];
			ok = !json_array_append_new(objs, json_pack("{s:s,s:s,s:s*,s:s*,s:o}", "path", k->path, "kind",
								     k->kind, "name", k->name, "namespace",
								     k->namespace, "images", strings_json(&k->images)));
		}
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- parsing untrusted inventories ---- */

/* Messages say what is wrong; ep_inventory_parse prefixes where. */
struct parser {
	ep_inventory_file_fn is_file;
	void *ctx;
	struct ep_error *err;
};

/* Refuses keys other than those listed (NULL-terminated), so nothing unchecked rides along. */
static int only_keys(struct parser *p, json_t *o, const char *where, const char *const *keys)
{
	const char *key;
	json_t *v;
	if (!json_is_object(o))
		return ep_fail(p->err, EP_EINPUT, "%s is not an object", where);
	json_object_foreach(o, key, v)
	{
		const char *const *k = keys;
		while (*k && strcmp(*k, key) != 0)
			k++;
		if (!*k)
			return ep_fail(p->err, EP_EINPUT, "%s has an unknown key", where);
	}
	return 0;
}

/* A text field; optional ones may be absent (*out NULL). */
static int text(struct parser *p, json_t *o, const char *key, bool optional, const char *where, const char **out)
{
	json_t *v = json_object_get(o, key);
	*out = json_string_value(v);
	if ((!v && optional) || ep_inventory_text_ok(*out))
		return 0;
	return ep_fail(p->err, EP_EINPUT, "%s has a missing or malformed '%s'", where, key);
}

static int file_path(struct parser *p, json_t *o, const char *where, const char **out)
{
	int rc = text(p, o, "path", false, where, out);
	if (!rc && !p->is_file(p->ctx, *out))
		rc = ep_fail(p->err, EP_EINPUT, "%s names a path that is no file of the tree", where);
	return rc;
}

static int parse_strings(struct parser *p, json_t *a, bool sorted, const char *where, struct ep_strings *out)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return ep_fail(p->err, EP_EINPUT, "%s is not a list", where);
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);
		if (!ep_inventory_text_ok(s))
			return ep_fail(p->err, EP_EINPUT, "%s holds a malformed text", where);
		if (sorted && out->n && strcmp(out->v[out->n - 1], s) >= 0)
			return ep_fail(p->err, EP_EINPUT, "%s is not sorted or repeats an item", where);
		int rc = ep_strings_append(out, s, p->err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_tallies(struct parser *p, json_t *o, const char *where, struct ep_tallies *out)
{
	const char *key;
	json_t *v;
	if (!json_is_object(o))
		return ep_fail(p->err, EP_EINPUT, "%s is not an object", where);
	json_object_foreach(o, key, v)
	{
		if (!ep_inventory_text_ok(key) || (out->n && strcmp(out->v[out->n - 1].name, key) >= 0))
			return ep_fail(p->err, EP_EINPUT, "%s has a malformed or unsorted type name", where);
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX)
			return ep_fail(p->err, EP_EINPUT, "the count of '%s' in %s is out of range", key, where);
		int rc = ep_tally_add(out, key, (uint64_t)json_integer_value(v), p->err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_terraform(struct parser *p, json_t *o, struct ep_inventory *inv)
{
	static const char *const keys[] = { "providers", "modules", "resources", "data", NULL };
	static const char *const module_keys[] = { "name", "source", "path", NULL };
	int rc;
	if ((rc = only_keys(p, o, "terraform", keys)) ||
	    (rc = parse_strings(p, json_object_get(o, "providers"), true, "providers", &inv->providers)) ||
	    (rc = parse_tallies(p, json_object_get(o, "resources"), "resources", &inv->resources)) ||
	    (rc = parse_tallies(p, json_object_get(o, "data"), "data", &inv->data)))
		return rc;
	json_t *mods = json_object_get(o, "modules"), *m;
	size_t i;
	if (!json_is_array(mods))
		return ep_fail(p->err, EP_EINPUT, "modules is not a list");
	json_array_foreach(mods, i, m)
	{
		const char *name, *source, *path;
		if ((rc = only_keys(p, m, "a module", module_keys)) || (rc = text(p, m, "name", false, "a module", &name)) ||
		    (rc = text(p, m, "source", true, "a module", &source)) ||
		    (rc = file_path(p, m, "a module", &path)) ||
		    (rc = ep_inventory_add_module(inv, name, path, p->err)))
			return rc;
		if (source && !(inv->modules[inv->nmodules - 1].source = strdup(source)))
			return ep_oom(p->err);
	}
	return 0;
}

static int parse_kubernetes(struct parser *p, json_t *a, struct ep_inventory *inv)
{
	static const char *const keys[] = { "path", "kind", "name", "namespace", "images", NULL };
	size_t i;
	json_t *o;
	if (!json_is_array(a))
		return ep_fail(p->err, EP_EINPUT, "kubernetes is not a list");
	json_array_foreach(a, i, o)
	{
		const char *path, *kind, *name, *ns;
		struct ep_k8s_object *k;
		int rc;
		if ((rc = only_keys(p, o, "a Kubernetes object", keys)) ||
		    (rc = file_path(p, o, "a Kubernetes object", &path)) ||
		    (rc = text(p, o, "kind", false, "a Kubernetes object", &kind)) ||
		    (rc = text(p, o, "name", true, "a Kubernetes object", &name)) ||
		    (rc = text(p, o, "namespace", true, "a Kubernetes object", &ns)) ||
		    (rc = ep_inventory_add_object(inv, path, kind, &k, p->err)))
			return rc;
		if ((name && !(k->name = strdup(name))) || (ns && !(k->namespace = strdup(ns))))
			return ep_oom(p->err);
		if ((rc = parse_strings(p, json_object_get(o, "images"), false, "images", &k->images)))
			return rc;
	}
	return 0;
}

int ep_inventory_parse(json_t *o, ep_inventory_file_fn is_file, void *ctx, const char *what, const char *component,
		       struct ep_inventory **out, struct ep_error *err)
{
	static const char *const keys[] = { "terraform", "kubernetes", NULL };
	struct parser p = { is_file, ctx, err };
	struct ep_inventory *inv = ep_inventory_new();
	json_t *tf = json_object_get(o, "terraform"), *k8s = json_object_get(o, "kubernetes");
	int rc = inv ? only_keys(&p, o, "the inventory", keys) : ep_oom(err);
	if (!rc && tf)
		rc = parse_terraform(&p, tf, inv);
	if (!rc && k8s)
		rc = parse_kubernetes(&p, k8s, inv);
	/* what the writer leaves out must be absent, so that a manifest serialises back to its bytes */
	if (!rc && ((tf && !ep_inventory_has_terraform(inv)) || (k8s && !inv->nobjects)))
		rc = ep_fail(err, EP_EINPUT, "an empty part is present");
	if (rc) {
		if (rc == EP_EINPUT)
			ep_error_prefix(err, "%s: manifest: inventory of '%s': ", what, component);
		ep_inventory_free(inv);
		return rc;
	}
	*out = inv;
	return 0;
}
