/*
 * What an infrastructure-as-code file tree holds: each file's kind, and, over the
 * whole tree, Terraform providers, modules and resource types and Kubernetes
 * objects with their images. Part of the manifest model: a files component may
 * carry one (formats/BUNDLE.md, "Inventory"); formats/iac/ builds it at pack time.
 */
#ifndef EP_INVENTORY_H
#define EP_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"

/* The order is the order inspect lists them in. */
enum ep_file_kind {
	EP_KIND_NONE, /* not recorded: directories, symlinks, trees packed before kinds existed */
	EP_KIND_TERRAFORM,
	EP_KIND_TERRAFORM_JSON,
	EP_KIND_TERRAFORM_VARS,
	EP_KIND_TERRAFORM_LOCK,
	EP_KIND_TERRAFORM_STATE,
	EP_KIND_KUBERNETES,
	EP_KIND_KUSTOMIZATION,
	EP_KIND_HELM_CHART,
	EP_KIND_HELM_VALUES,
	EP_KIND_HELM_TEMPLATE,
	EP_KIND_VAGRANTFILE,
	EP_KIND_HEAT,
	EP_KIND_CLOUD_INIT,
	EP_KIND_OTHER,
	EP_KIND_COUNT
};

/* "terraform", "helm-values", ...; NULL for EP_KIND_NONE. */
const char *ep_file_kind_name(enum ep_file_kind kind);
/* The kind a name stands for, or EP_KIND_NONE. */
enum ep_file_kind ep_file_kind_parse(const char *name);

/* Every text in an inventory (paths, names, sources, images) is valid UTF-8 of 1
 * to this many bytes (exclusive) with no control characters, so that it can
 * reach a terminal as it is, and JSON. */
#define EP_INVENTORY_TEXT_MAX 4096
bool ep_inventory_text_ok(const char *s);

struct ep_strings {
	char **v;
	size_t n, cap;
};

/* Names with counts, kept sorted by name. */
struct ep_tally {
	char *name;
	uint64_t count;
};
struct ep_tallies {
	struct ep_tally *v;
	size_t n, cap;
};

struct ep_module_ref {
	char *name;
	char *source; /* NULL when the block has no literal source */
	char *path;   /* the file declaring it */
};

struct ep_k8s_object {
	char *path; /* the file holding it */
	char *kind;
	char *name, *namespace;  /* NULL when absent */
	struct ep_strings images; /* init containers', then containers', in order */
};

struct ep_inventory {
	struct ep_strings providers; /* source addresses, sorted, each once */
	struct ep_module_ref *modules;
	size_t nmodules, cap_modules;
	struct ep_tallies resources, data; /* resource and data source types */
	struct ep_k8s_object *objects;
	size_t nobjects, cap_objects;
};

struct ep_inventory *ep_inventory_new(void);
void ep_inventory_free(struct ep_inventory *inv);

void ep_strings_release(struct ep_strings *l);
/* Adds s in sorted position unless it is there already. */
int ep_strings_add_sorted(struct ep_strings *l, const char *s, struct ep_error *err);
/* Whether a list kept with ep_strings_add_sorted holds s. */
bool ep_strings_has(const struct ep_strings *l, const char *s);
int ep_strings_append(struct ep_strings *l, const char *s, struct ep_error *err);
/* Adds n to name's count, inserting it in sorted position. */
int ep_tally_add(struct ep_tallies *t, const char *name, uint64_t n, struct ep_error *err);
int ep_inventory_add_module(struct ep_inventory *inv, const char *name, const char *path, struct ep_error *err);
/* A new object with its path and kind; the caller fills in the rest. */
int ep_inventory_add_object(struct ep_inventory *inv, const char *path, const char *kind, struct ep_k8s_object **out,
			    struct ep_error *err);
/* Forgets the objects from index `keep` on (a file left out after all). */
void ep_inventory_drop_objects(struct ep_inventory *inv, size_t keep);
bool ep_inventory_has_terraform(const struct ep_inventory *inv);

/* The JSON form of formats/BUNDLE.md; NULL when memory runs out. */
json_t *ep_inventory_to_json(const struct ep_inventory *inv);
/* Whether path names a regular file of the component the inventory belongs to. */
typedef bool (*ep_inventory_file_fn)(void *ctx, const char *path);
/* Validates an untrusted inventory; `what` and `component` name it in messages. */
int ep_inventory_parse(json_t *o, ep_inventory_file_fn is_file, void *ctx, const char *what, const char *component,
		       struct ep_inventory **out, struct ep_error *err);

#endif
