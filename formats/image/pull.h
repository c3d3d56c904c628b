/* Images in a registry as a source: image:docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX].
 * The manifests (and, for a multi-arch index, every platform's, unless one is
 * chosen) are fetched and checked first; configs and layers stream later. */
#ifndef EP_PULL_H
#define EP_PULL_H

#include <stddef.h>

#include "formats/image/distribution.h"
#include "formats/image/oci_layout.h"

struct ep_pull {
	struct ep_registry *registry;
	struct ep_image_ref ref;
	char where[700]; /* "HOST/REPO:TAG", for messages */
	char *descriptor; /* the image as an index.json entry, tagged with REF's tag */
	struct ep_oci_blob *blobs; /* every blob, once, parents first */
	char **manifests;          /* per blob: an index's or manifest's bytes, else NULL */
	size_t nblobs, cap_blobs, cap_manifests;
};

/* platform: "os/arch[/variant]" to take one image of a multi-arch index, or NULL for all. */
int ep_pull_collect(const char *ref, const char *platform, const struct ep_registry_options *opt,
		    struct ep_pull **out, struct ep_error *err);
/* Streams blob i to sink, checked against its digest. */
int ep_pull_read(struct ep_pull *p, size_t i, ep_blob_sink sink, void *ctx, struct ep_error *err);
void ep_pull_free(struct ep_pull *p);

#endif
