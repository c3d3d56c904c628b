/*
 * The walk every image reader shares: from a descriptor through indexes and
 * manifests to configs and layers, each blob once, parents before children,
 * with every descriptor checked (sha256 digest, size), every manifest's bytes
 * checked against its descriptor, and nesting bounded so a loop ends.
 */
#ifndef EP_IMAGE_WALK_H
#define EP_IMAGE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "base/util.h"
#include "formats/image/oci_layout.h"


struct ep_image_node {
	json_t *desc;
	const char *digest;     /* "sha256:<hex>" */
	const char *hex;        /* digest + 7 */
	const char *media_type; /* may be NULL */
	uint64_t size;
	enum ep_oci_kind kind;
	int depth;
};

struct ep_image_walk_ops {
	/* An index's or manifest's bytes (heap, freed by the walker). */
	int (*load)(void *ctx, const struct ep_image_node *n, char **bytes, size_t *len, struct ep_error *err);
	/* Each blob once, a parent before its children; bytes are an index's or manifest's, else NULL. */
	int (*visit)(void *ctx, const struct ep_image_node *n, const char *bytes, size_t len, struct ep_error *err);
};

struct ep_digestmap;
/* `where` names the image in messages; `seen` (the caller's) holds the blobs
 * already visited, so several walks visit each blob once. */
int ep_image_walk(json_t *desc, const struct ep_image_walk_ops *ops, void *ctx, const char *where,
		  struct ep_digestmap *seen, struct ep_error *err);

/* "os/arch[/variant]" of an index entry's platform into buf; false when it has none. */
bool ep_image_platform(json_t *desc, char *buf, size_t cap);
/* The entry of an index's manifests for platform "os/arch[/variant]": an exact match, or
 * os/arch whatever the variant when platform names none; NULL when there is none. */
json_t *ep_image_choose(json_t *index, const char *platform);
/* This host's platform as indexes name it ("linux/amd64"), or NULL for an architecture unnamed here. */
const char *ep_image_host_platform(void);

#endif
