#include "formats/iac/terraform.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/util.h"
#include "formats/iac/hcl.h"

/* Provider local names are per module (a directory of the tree): each is kept as
 * the key "LENGTH:DIRNAME", LENGTH being the directory's, so no name is ambiguous. */
struct ep_terraform {
	struct ep_inventory *inv;
	struct ep_strings required; /* declared in required_providers */
	struct ep_strings used;     /* named by provider blocks */
};

int ep_terraform_new(struct ep_terraform **out, struct ep_inventory *inv, struct ep_error *err)
{
	if (!(*out = calloc(1, sizeof **out)))
		return ep_oom(err);
	(*out)->inv = inv;
	return 0;
}

void ep_terraform_free(struct ep_terraform *tf)
{
	if (!tf)
		return;
	ep_strings_release(&tf->required);
	ep_strings_release(&tf->used);
	free(tf);
}

static int names_add(struct ep_strings *l, const char *dir, const char *name, struct ep_error *err)
{
	char *key;
	if (asprintf(&key, "%zu:%s%s", strlen(dir), dir, name) < 0)
		return ep_oom(err);
	int rc = ep_strings_add_sorted(l, key, err);
	free(key);
	return rc;
}

/* The local name in a key of names_add. */
static const char *key_name(const char *key)
{
	char *colon;
	size_t dirlen = strtoul(key, &colon, 10);
	return colon + 1 + dirlen;
}

void ep_terraform_provider_address(const char *source, char *out, size_t cap)
{
	size_t slashes = 0;
	for (const char *p = source; *p; p++)
		slashes += *p == '/';
	snprintf(out, cap, "%s%s", slashes == 0 ? "registry.terraform.io/hashicorp/" : slashes == 1 ? "registry.terraform.io/" : "",
		 source);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static int add_provider(struct ep_terraform *tf, const char *source, struct ep_error *err)
{
	char addr[EP_INVENTORY_TEXT_MAX + 64];
	ep_terraform_provider_address(source, addr, sizeof addr);
	return ep_inventory_text_ok(addr) ? ep_strings_add_sorted(&tf->inv->providers, addr, err) : 0;
}

/* A required_providers entry: the local name and, when given, its source. */
static int require(struct ep_terraform *tf, const char *dir, const char *name, const char *source,
		   struct ep_error *err)
{
	int rc = add_provider(tf, source ? source : name, err);
	return rc ? rc : names_add(&tf->required, dir, name, err);
}

static int count_type(struct ep_tallies *t, const char *type, uint64_t n, struct ep_error *err)
{
	return n && ep_inventory_text_ok(type) ? ep_tally_add(t, type, n, err) : 0;
}

static int add_module(struct ep_terraform *tf, const char *name, const char *path, const char *source,
		      struct ep_error *err)
{
	if (!ep_inventory_text_ok(name))
		return 0;
	int rc = ep_inventory_add_module(tf->inv, name, path, err);
	if (!rc && ep_inventory_text_ok(source) && !(tf->inv->modules[tf->inv->nmodules - 1].source = strdup(source)))
		rc = ep_oom(err);
	return rc;
}

/* The directory part of path ("" at the root): a module's providers are its directory's. */
static int dir_of(const char *path, char *out, size_t cap, struct ep_error *err)
{
	const char *slash = strrchr(path, '/');
	return ep_path_format(out, cap, err, "%.*s", slash ? (int)(slash - path) : 0, path);
}

int ep_terraform_finish(struct ep_terraform *tf, struct ep_error *err)
{
	for (size_t i = 0; i < tf->used.n; i++) {
		int rc = ep_strings_has(&tf->required, tf->used.v[i]) ? 0 : add_provider(tf, key_name(tf->used.v[i]), err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- native syntax ---- */

enum top { TOP_OTHER, TOP_TERRAFORM, TOP_MODULE };

struct hcl_file {
	struct ep_terraform *tf;
	const char *path;
	char dir[EP_RELPATH_MAX + 1];
	bool lock;
	enum top top;         /* the top-level block the scan is in */
	bool in_required;     /* in terraform { required_providers { ... } } */
	bool module_open;     /* the last module's block is open */
	char *entry, *source; /* the required_providers entry being read */
};

static int on_block(struct hcl_file *f, const struct ep_hcl_item *it, struct ep_error *err)
{
	struct ep_inventory *inv = f->tf->inv;
	if (it->depth == 1 && f->top == TOP_TERRAFORM && !strcmp(it->name, "required_providers"))
		f->in_required = true;
	if (it->depth != 0)
		return 0;
	f->top = !strcmp(it->name, "terraform") ? TOP_TERRAFORM : !strcmp(it->name, "module") ? TOP_MODULE : TOP_OTHER;
	if (it->nlabels == 0)
		return 0;
	const char *label = it->labels[0];
	if (f->lock)
		return !strcmp(it->name, "provider") ? add_provider(f->tf, label, err) : 0;
	if (!strcmp(it->name, "resource"))
		return count_type(&inv->resources, label, 1, err);
	if (!strcmp(it->name, "data"))
		return count_type(&inv->data, label, 1, err);
	if (!strcmp(it->name, "provider"))
		return names_add(&f->tf->used, f->dir, label, err);
	if (f->top == TOP_MODULE && ep_inventory_text_ok(label)) {
		f->module_open = true;
		return add_module(f->tf, label, f->path, NULL, err);
	}
	return 0;
}

static int on_item(void *ctx, const struct ep_hcl_item *it, struct ep_error *err)
{
	struct hcl_file *f = ctx;
	int rc = 0;
	if (it->inner)
		return 0; /* objects in a tuple or in jsonencode(...): no provider or module is declared there */
	switch (it->event) {
	case EP_HCL_BLOCK:
		return on_block(f, it, err);
	case EP_HCL_OBJECT:
		if (it->depth == 2 && f->in_required && !f->entry && !(f->entry = strdup(it->name)))
			return ep_oom(err);
		return 0;
	case EP_HCL_ATTR:
		if (it->depth == 1 && f->module_open && !strcmp(it->name, "source") && it->value &&
		    ep_inventory_text_ok(it->value)) {
			struct ep_module_ref *m = &f->tf->inv->modules[f->tf->inv->nmodules - 1];
			free(m->source);
			if (!(m->source = strdup(it->value)))
				return ep_oom(err);
		}
		/* a bare string is the old form, a version constraint: the source is implied */
		if (it->depth == 2 && f->in_required)
			return require(f->tf, f->dir, it->name, NULL, err);
		if (it->depth == 3 && f->entry && !strcmp(it->name, "source") && it->value) {
			free(f->source);
			if (!(f->source = strdup(it->value)))
				return ep_oom(err);
		}
		return 0;
	case EP_HCL_END:
		if (it->depth == 2 && f->entry)
			rc = require(f->tf, f->dir, f->entry, f->source, err);
		if (it->depth == 2) {
			free(f->entry);
			free(f->source);
			f->entry = f->source = NULL;
		}
		if (it->depth == 1)
			f->in_required = false;
		if (it->depth == 0) {
			f->top = TOP_OTHER;
			f->module_open = false;
		}
		return rc;
	}
	return 0;
}

static int read_native(struct ep_terraform *tf, const char *path, bool lock, const char *src, size_t len,
		       const char *what, struct ep_error *err)
{
	struct hcl_file f = { .tf = tf, .path = path, .lock = lock };
	int rc = dir_of(path, f.dir, sizeof f.dir, err);
	if (!rc)
		rc = ep_hcl_scan(src, len, what, on_item, &f, err);
	free(f.entry);
	free(f.source);
	return rc;
}

int ep_terraform_read_hcl(struct ep_terraform *tf, const char *path, const char *src, size_t len, const char *what,
			  struct ep_error *err)
{
	return read_native(tf, path, false, src, len, what, err);
}

int ep_terraform_read_lock(struct ep_terraform *tf, const char *src, size_t len, const char *what,
			   struct ep_error *err)
{
	return read_native(tf, "", true, src, len, what, err);
}

/* ---- JSON syntax ---- */

/* Any level of a block in Terraform's JSON syntax may be an object or a list of objects. */
static json_t *nth_object(json_t *v, size_t i)
{
	json_t *o = json_is_array(v) ? json_array_get(v, i) : i == 0 ? v : NULL;
	return json_is_object(o) || !o ? o : json_null();
}

/* Keys named "//" are comments. */
static bool is_comment(const char *key)
{
	return !strcmp(key, "//");
}

/* How many blocks of one type `v` (the object under the type name) declares. */
static uint64_t count_named(json_t *v)
{
	uint64_t n = 0;
	json_t *o, *body;
	const char *name;
	for (size_t i = 0; (o = nth_object(v, i)); i++)
		json_object_foreach(o, name, body) n += !is_comment(name);
	return n;
}

static int json_blocks(json_t *root, const char *kind, struct ep_tallies *t, struct ep_error *err)
{
	json_t *o, *v;
	const char *type;
	for (size_t i = 0; (o = nth_object(json_object_get(root, kind), i)); i++) {
		json_object_foreach(o, type, v)
		{
			int rc = is_comment(type) ? 0 : count_type(t, type, count_named(v), err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int json_declarations(struct ep_terraform *tf, json_t *root, const char *path, const char *dir,
			     struct ep_error *err)
{
	json_t *o, *v, *b;
	const char *name;
	int rc = 0;
	for (size_t i = 0; !rc && (o = nth_object(json_object_get(root, "provider"), i)); i++) {
		json_object_foreach(o, name, v)
		{
			if (!rc && !is_comment(name))
				rc = names_add(&tf->used, dir, name, err);
		}
	}
	for (size_t i = 0; !rc && (o = nth_object(json_object_get(root, "module"), i)); i++) {
		json_object_foreach(o, name, v)
		{
			for (size_t k = 0; !rc && !is_comment(name) && (b = nth_object(v, k)); k++)
				rc = add_module(tf, name, path, json_string_value(json_object_get(b, "source")), err);
		}
	}
	/* an entry is an object with a source, or (the old form) a version constraint */
	for (size_t i = 0; !rc && (o = nth_object(json_object_get(root, "terraform"), i)); i++) {
		for (size_t k = 0; !rc && (b = nth_object(json_object_get(o, "required_providers"), k)); k++) {
			json_object_foreach(b, name, v)
			{
				if (!rc && !is_comment(name))
					rc = require(tf, dir, name, json_string_value(json_object_get(v, "source")), err);
			}
		}
	}
	return rc;
}

int ep_terraform_read_json(struct ep_terraform *tf, const char *path, const char *src, size_t len, const char *what,
			   struct ep_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(src, len, 0, &jerr);
	char dir[EP_RELPATH_MAX + 1];
	int rc;
	if (!json_is_object(root))
		rc = ep_fail(err, EP_EINPUT, "terraform: '%s' is not a JSON object: %s (line %d)", what,
			     root ? "another value" : ep_printable(jerr.text), root ? 1 : jerr.line);
	else if (!(rc = json_blocks(root, "resource", &tf->inv->resources, err)) &&
		 !(rc = json_blocks(root, "data", &tf->inv->data, err))) {
		if (!(rc = dir_of(path, dir, sizeof dir, err)))
			rc = json_declarations(tf, root, path, dir, err);
	}
	json_decref(root);
	return rc;
}
