/*
 * What an image component holds, for `envpack inspect`: each image's tags and
 * digest, and for each platform its manifest, config and layers. Only the
 * small JSON documents are read (indexes, manifests, configs; never a layer),
 * through a reader the caller gives, so this module needs no bundle; each OCI
 * blob is checked against its digest before it is parsed.
 */
#ifndef EP_IMAGE_DESCRIBE_H
#define EP_IMAGE_DESCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"

#define EP_IMAGE_DIGEST 72 /* "sha256:", 64 hex digits, NUL */

struct ep_image_layer {
	char digest[EP_IMAGE_DIGEST]; /* docker-archive: the layer's DiffID */
	uint64_t size;
};

/* One platform's image. Strings from the bundle have control bytes replaced by '?'. */
struct ep_image_manifest {
	char digest[EP_IMAGE_DIGEST]; /* "" in a docker-archive, which stores no manifests */
	char *media_type;             /* NULL in a docker-archive */
	char *platform;               /* "os/architecture[/variant]"; NULL when nothing says */
	char config[EP_IMAGE_DIGEST];
	struct ep_image_layer *layers;
	size_t nlayers, cap_layers;
	uint64_t layers_size;
};

/* One of the component's images (its descriptor k in c->images). */
struct ep_image_info {
	char **tags; /* OCI: the ref name, if any; docker-archive: every RepoTag */
	size_t ntags;
	char digest[EP_IMAGE_DIGEST]; /* its manifest or index; docker-archive: its config */
	char *media_type;
	struct ep_image_manifest *manifests; /* an index's, depth first, each once */
	size_t nmanifests, cap_manifests;
};

struct ep_image_list {
	struct ep_image_info *images;
	size_t nimages, cap_images;
};

/* Reads file record f of c whole (f->size bytes) into a NUL-terminated heap buffer. */
typedef int (*ep_image_read_fn)(void *ctx, const struct ep_component *c, const struct ep_file_rec *f, char **out,
				size_t *len, struct ep_error *err);

/* Describes image component c; `what` names the bundle in messages. Malformed
 * JSON, missing blobs and too deep indexes are EP_EINPUT; a blob that does not
 * match its digest EP_EINTEGRITY. */
int ep_image_describe(const struct ep_component *c, const char *what, ep_image_read_fn read, void *ctx,
		      struct ep_image_list **out, struct ep_error *err);
void ep_image_list_free(struct ep_image_list *l);

#endif
