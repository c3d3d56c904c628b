/*
 * Reads YAML files, with libyaml's event parser, for what the inventory wants:
 * Kubernetes objects (documents with apiVersion and kind) with their kind, name,
 * namespace and container images; Heat templates; Kubernetes Secrets (alone or in
 * a List) and kubeconfigs holding credentials.
 *
 * Each document is kept as a graph in which an alias is a reference to its
 * anchored node, never a copy, and lookups follow fixed paths, so nothing is
 * expanded. A file is still refused when it goes past the limits below,
 * counting nodes as if every alias were expanded: such a file (a "billion
 * laughs") would blow up whatever else reads it, kubectl included.
 */
#ifndef EP_K8S_H
#define EP_K8S_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/inventory.h"

#define EP_YAML_MAX_DOCUMENTS 10000
#define EP_YAML_MAX_DEPTH 128       /* collections nested in one another */
#define EP_YAML_MAX_EVENTS 1000000  /* parser events in the whole file */
#define EP_YAML_MAX_NODES 1000000   /* nodes in the whole file, aliases expanded */

struct ep_yaml_facts {
	size_t objects;    /* Kubernetes objects added to the inventory */
	bool heat;         /* a document has heat_template_version */
	const char *secret; /* why the file holds secrets (a Secret, a List of them, a kubeconfig's credentials), or NULL */
	char invalid[256]; /* why the file is not YAML, or "": nothing is added then */
};

/* Reads src[0..len), the file at `path` in the tree (`what` in messages), adding
 * its objects to inv. YAML that does not parse is not an error (facts->invalid
 * says why); going past a limit is EP_EINPUT, running out of memory EP_ERUNTIME. */
int ep_k8s_read(const char *src, size_t len, const char *path, const char *what, struct ep_inventory *inv,
		struct ep_yaml_facts *facts, struct ep_error *err);

#endif
