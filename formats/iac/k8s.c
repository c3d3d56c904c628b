#include "formats/iac/k8s.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/digestmap.h"
#include "base/util.h"

enum node_type { N_SCALAR, N_SEQUENCE, N_MAPPING, N_ALIAS };

/* Node 0 is no node: a 0 link means none. */
struct node {
	enum node_type type;
	bool plain; /* a plain scalar: it may mean null, or be a merge key */
	bool done;  /* a collection whose end was seen */
	size_t first, last, next; /* children; the next sibling. A mapping's children alternate key, value */
	size_t target;            /* aliases */
	size_t text;              /* scalars: offset in the document's text */
	uint64_t weight;          /* nodes with every alias expanded, saturating past the limit */
};

struct reader {
	const char *path, *what;
	struct ep_inventory *inv;
	struct ep_yaml_facts *facts;
	struct ep_error *err;
	/* the document being read */
	struct node *v;
	size_t n, cap;
	char *text;
	size_t tlen, tcap;
	struct ep_digestmap *anchors; /* digest of the anchor's name -> node */
	size_t open[EP_YAML_MAX_DEPTH];
	size_t depth, root;
	/* the whole file */
	uint64_t events, documents, weight;
};

static int refuse(struct reader *r, const char *why)
{
	return ep_fail(r->err, EP_EINPUT, "yaml: '%s' %s; refusing it", r->what, why);
}

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
	return a + b > EP_YAML_MAX_NODES ? EP_YAML_MAX_NODES + 1 : a + b;
}

static int check_weight(struct reader *r, uint64_t w)
{
	return w > EP_YAML_MAX_NODES ? refuse(r, "expands to more than 1000000 nodes through its aliases (a YAML bomb)")
				     : 0;
}

static int begin_document(struct reader *r)
{
	if (++r->documents > EP_YAML_MAX_DOCUMENTS)
		return refuse(r, "holds more than 10000 documents");
	ep_digestmap_free(r->anchors);
	if (!(r->anchors = ep_digestmap_new()))
		return ep_oom(r->err);
	r->n = 1;
	r->tlen = r->depth = r->root = 0;
	return ep_grow((void **)&r->v, &r->cap, 1, sizeof *r->v) ? 0 : ep_oom(r->err);
}

static void anchor_key(const yaml_char_t *anchor, uint8_t key[EP_DIGEST_LEN])
{
	ep_sha256(anchor, strlen((const char *)anchor), key);
}

/* Adds a node under the innermost open collection (or as the root); *index is where it went. */
static int add_node(struct reader *r, struct node node, const yaml_char_t *anchor, size_t *index)
{
	if (!ep_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v))
		return ep_oom(r->err);
	size_t i = r->n++;
	r->v[i] = node;
	if (anchor) {
		uint8_t key[EP_DIGEST_LEN];
		anchor_key(anchor, key);
		if (!ep_digestmap_put(r->anchors, key, i))
			return ep_oom(r->err);
	}
	if (r->depth == 0) {
		r->root = i;
	} else {
		struct node *parent = &r->v[r->open[r->depth - 1]];
		if (parent->first)
			r->v[parent->last].next = i;
		else
			parent->first = i;
		parent->last = i;
	}
	*index = i;
	return 0;
}

/* A finished node's weight counts in its parent's, or in the file's for a root. */
static int settle(struct reader *r, size_t i)
{
	uint64_t w = r->v[i].weight;
	if (r->depth == 0) {
		r->weight = saturating_add(r->weight, w);
		return check_weight(r, r->weight);
	}
	struct node *parent = &r->v[r->open[r->depth - 1]];
	parent->weight = saturating_add(parent->weight, w);
	return check_weight(r, parent->weight);
}

static int scalar(struct reader *r, const yaml_event_t *ev)
{
	size_t len = ev->data.scalar.length, i;
	if (!ep_grow((void **)&r->text, &r->tcap, r->tlen + len + 1, 1))
		return ep_oom(r->err);
	struct node node = { .type = N_SCALAR, .plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE,
			     .text = r->tlen, .weight = 1, .done = true };
	memcpy(r->text + r->tlen, ev->data.scalar.value, len);
	r->text[r->tlen + len] = '\0';
	r->tlen += len + 1;
	int rc = add_node(r, node, ev->data.scalar.anchor, &i);
	return rc ? rc : settle(r, i);
}

static int collection_start(struct reader *r, enum node_type type, const yaml_char_t *anchor)
{
	size_t i;
	if (r->depth == EP_YAML_MAX_DEPTH)
		return refuse(r, "nests collections deeper than 128");
	int rc = add_node(r, (struct node){ .type = type, .weight = 1 }, anchor, &i);
	if (!rc)
		r->open[r->depth++] = i;
	return rc;
}

static int collection_end(struct reader *r)
{
	if (r->depth == 0)
		return 0; /* libyaml pairs starts and ends; this is only defensive */
	size_t i = r->open[--r->depth];
	r->v[i].done = true;
	return settle(r, i);
}

/* Returns 1 when the anchor is unknown: the YAML is invalid, not dangerous. */
static int alias(struct reader *r, const yaml_event_t *ev)
{
	uint8_t key[EP_DIGEST_LEN];
	uint64_t target;
	size_t i;
	anchor_key(ev->data.alias.anchor, key);
	if (!ep_digestmap_get(r->anchors, key, &target))
		return 1;
	if (!r->v[target].done)
		return refuse(r, "has an alias inside the node it names (a structure without end)");
	int rc = add_node(r, (struct node){ .type = N_ALIAS, .target = target, .weight = r->v[target].weight, .done = true },
			  NULL, &i);
	return rc ? rc : settle(r, i);
}

/* ---- reading a document ---- */

static size_t deref(const struct reader *r, size_t i)
{
	return i && r->v[i].type == N_ALIAS ? r->v[i].target : i;
}

static const char *text_of(const struct reader *r, size_t i)
{
	return r->v[i].type == N_SCALAR ? r->text + r->v[i].text : NULL;
}

/* A scalar's text, or NULL for none, a collection or a null ("", ~, null). */
static const char *scalar_value(const struct reader *r, size_t i)
{
	i = deref(r, i);
	const char *s = i ? text_of(r, i) : NULL;
	if (s && r->v[i].plain && (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")))
		return NULL;
	return s;
}

static bool is_merge_key(const struct reader *r, size_t k)
{
	return r->v[k].type == N_SCALAR && r->v[k].plain && !strcmp(text_of(r, k), "<<");
}

#define MAX_MERGES 32 /* merge keys followed from one lookup */

/* The value of key in mapping m (0 when absent): the last of equal keys wins, then
 * maps merged in with "<<", the first that has it, as PyYAML and go-yaml read them. */
static size_t lookup(const struct reader *r, size_t m, const char *key, int merges)
{
	m = deref(r, m);
	if (!m || r->v[m].type != N_MAPPING)
		return 0;
	size_t found = 0;
	for (size_t k = r->v[m].first; k && r->v[k].next; k = r->v[r->v[k].next].next) {
		size_t kk = deref(r, k);
		const char *s = text_of(r, kk);
		if (s && !is_merge_key(r, kk) && !strcmp(s, key))
			found = deref(r, r->v[k].next);
	}
	for (size_t k = r->v[m].first; !found && merges < MAX_MERGES && k && r->v[k].next; k = r->v[r->v[k].next].next) {
		if (!is_merge_key(r, deref(r, k)))
			continue;
		size_t val = deref(r, r->v[k].next);
		if (r->v[val].type == N_MAPPING)
			found = lookup(r, val, key, merges + 1);
		for (size_t e = r->v[val].type == N_SEQUENCE ? r->v[val].first : 0; e && !found; e = r->v[e].next)
			found = lookup(r, e, key, merges + 1);
	}
	return found;
}

/* Follows a path of keys from node i. */
static size_t path(const struct reader *r, size_t i, const char *const *keys)
{
	for (; i && *keys; keys++)
		i = lookup(r, i, *keys, 0);
	return i;
}

/* The pod spec of the kinds that run containers, or 0. */
static size_t pod_spec(const struct reader *r, size_t root, const char *kind)
{
	static const char *const templated[] = { "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
						 "ReplicationController", "Job" };
	static const char *const pod[] = { "spec", NULL }, *const in_template[] = { "spec", "template", "spec", NULL },
				 *const in_cron[] = { "spec", "jobTemplate", "spec", "template", "spec", NULL };
	if (!strcmp(kind, "Pod"))
		return path(r, root, pod);
	if (!strcmp(kind, "CronJob"))
		return path(r, root, in_cron);
	for (size_t i = 0; i < sizeof templated / sizeof *templated; i++)
		if (!strcmp(kind, templated[i]))
			return path(r, root, in_template);
	return 0;
}

static int add_images(struct reader *r, size_t spec, struct ep_k8s_object *o)
{
	static const char *const lists[] = { "initContainers", "containers" };
	for (size_t l = 0; spec && l < 2; l++) {
		size_t seq = lookup(r, spec, lists[l], 0);
		for (size_t c = seq && r->v[seq].type == N_SEQUENCE ? r->v[seq].first : 0; c; c = r->v[c].next) {
			const char *image = scalar_value(r, lookup(r, c, "image", 0));
			int rc = ep_inventory_text_ok(image) ? ep_strings_append(&o->images, image, r->err) : 0;
			if (rc)
				return rc;
		}
	}
	return 0;
}

#define MAX_LIST_DEPTH 4 /* Lists inside Lists looked into */

/* Whether an object of this kind is, or lists, Secrets: what `kubectl get secret -o yaml` prints is a List. */
static bool holds_secrets(const struct reader *r, size_t obj, const char *kind, int depth)
{
	if (!strcmp(kind, "Secret") || !strcmp(kind, "SecretList"))
		return true;
	size_t items = strcmp(kind, "List") || depth == MAX_LIST_DEPTH ? 0 : lookup(r, obj, "items", 0);
	for (size_t it = items && r->v[items].type == N_SEQUENCE ? r->v[items].first : 0; it; it = r->v[it].next) {
		const char *k = scalar_value(r, lookup(r, it, "kind", 0));
		if (k && holds_secrets(r, it, k, depth + 1))
			return true;
	}
	return false;
}

/* Whether the document is a kubeconfig (users beside clusters or contexts) whose users carry
 * credentials: a client key, a token, a password, or an auth provider's tokens. */
static bool kubeconfig_credentials(const struct reader *r, size_t root)
{
	static const char *const creds[] = { "client-key-data", "token", "password", NULL },
			      *const provider[] = { "id-token", "refresh-token", "access-token", "client-secret", NULL };
	static const char *const provider_config[] = { "auth-provider", "config", NULL };
	size_t users = lookup(r, root, "users", 0);
	if (!users || r->v[users].type != N_SEQUENCE || !(lookup(r, root, "clusters", 0) || lookup(r, root, "contexts", 0)))
		return false;
	for (size_t u = r->v[users].first; u; u = r->v[u].next) {
		size_t user = lookup(r, u, "user", 0), config = path(r, user, provider_config);
		for (const char *const *c = creds; *c; c++)
			if (scalar_value(r, lookup(r, user, *c, 0)))
				return true;
		for (const char *const *c = provider; *c; c++)
			if (scalar_value(r, lookup(r, config, *c, 0)))
				return true;
	}
	return false;
}

static int end_document(struct reader *r)
{
	static const char *const name_path[] = { "metadata", "name", NULL }, *const ns_path[] = { "metadata", "namespace", NULL };
	size_t root = deref(r, r->root);
	if (!root || r->v[root].type != N_MAPPING)
		return 0;
	r->facts->heat |= lookup(r, root, "heat_template_version", 0) != 0;
	if (!r->facts->secret && kubeconfig_credentials(r, root))
		r->facts->secret = "it is a kubeconfig holding credentials";
	const char *api = scalar_value(r, lookup(r, root, "apiVersion", 0)),
		   *kind = scalar_value(r, lookup(r, root, "kind", 0));
	if (!api || !kind)
		return 0;
	if (!r->facts->secret && holds_secrets(r, root, kind, 0))
		r->facts->secret = strcmp(kind, "Secret") ? "it holds a list of Kubernetes Secrets" : "it holds a Kubernetes Secret";
	if (!ep_inventory_text_ok(kind))
		return 0;
	const char *name = scalar_value(r, path(r, root, name_path)), *ns = scalar_value(r, path(r, root, ns_path));
	struct ep_k8s_object *o;
	int rc = ep_inventory_add_object(r->inv, r->path, kind, &o, r->err);
	if (rc)
		return rc;
	r->facts->objects++;
	if ((ep_inventory_text_ok(name) && !(o->name = strdup(name))) || (ep_inventory_text_ok(ns) && !(o->namespace = strdup(ns))))
		return ep_oom(r->err);
	return add_images(r, pod_spec(r, root, kind), o);
}

/* ---- the event loop ---- */

/* 0 to go on, 1 at the end of the stream, 2 when the YAML is invalid, or an EP_E* code. */
static int on_event(struct reader *r, const yaml_event_t *ev)
{
	if (++r->events > EP_YAML_MAX_EVENTS)
		return refuse(r, "needs more than 1000000 parser events");
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		return begin_document(r);
	case YAML_DOCUMENT_END_EVENT:
		return end_document(r);
	case YAML_SCALAR_EVENT:
		return scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return collection_start(r, N_SEQUENCE, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return collection_start(r, N_MAPPING, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return collection_end(r);
	case YAML_ALIAS_EVENT: {
		int rc = alias(r, ev);
		if (rc == 1)
			snprintf(r->facts->invalid, sizeof r->facts->invalid, "undefined alias '*%s' at line %zu",
				 ev->data.alias.anchor, ev->start_mark.line + 1);
		return rc == 1 ? 2 : rc;
	}
	default:
		return 0;
	}
}

int ep_k8s_read(const char *src, size_t len, const char *path, const char *what, struct ep_inventory *inv,
		struct ep_yaml_facts *facts, struct ep_error *err)
{
	struct reader r = { .path = path, .what = what, .inv = inv, .facts = facts, .err = err };
	size_t before = inv->nobjects;
	yaml_parser_t parser;
	*facts = (struct ep_yaml_facts){ 0 };
	if (!yaml_parser_initialize(&parser))
		return ep_oom(err);
	yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);
	int rc = 0;
	while (!rc) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				rc = ep_oom(err);
				break;
			}
			snprintf(facts->invalid, sizeof facts->invalid, "%s at line %zu",
				 parser.problem ? parser.problem : "malformed YAML", parser.problem_mark.line + 1);
			rc = 2;
			break;
		}
		rc = on_event(&r, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	ep_digestmap_free(r.anchors);
	free(r.v);
	free(r.text);
	if (rc > 0 && !*facts->invalid)
		return 0;
	/* invalid or refused: what was read of the file counts for nothing, but that it holds a Secret */
	ep_inventory_drop_objects(inv, before);
	facts->objects = 0;
	facts->heat = false;
	if (rc > 0)
		ep_printable(facts->invalid);
	return rc > 0 ? 0 : rc;
}
