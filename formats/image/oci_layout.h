/* OCI image layouts as a source: the blobs an image (or every image) of a
 * layout needs, each checked against its digest, and the descriptors naming them. */
#ifndef EP_OCI_H
#define EP_OCI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "base/util.h"

#define EP_OCI_JSON_MAX (4u << 20) /* manifests, indexes and configs; registries accept 4 MiB */
#define EP_OCI_MAX_DEPTH 8         /* indexes nested deeper are refused */

struct ep_oci_blob {
	char hex[EP_DIGEST_HEX]; /* sha256 */
	uint64_t size;
};

struct ep_oci_image {
	int dirfd;              /* the layout, for reading blobs/sha256/<hex> */
	char *dir;
	char **descriptors;     /* the chosen index.json entries, compact JSON */
	size_t ndescriptors;
	struct ep_oci_blob *blobs; /* every blob they reach, once, in walk order */
	size_t nblobs, cap_blobs, cap_descriptors;
	/* the layout's own files as read, so a copy can keep them byte for byte:
	 * oci-layout always, index.json when every image was chosen (else NULL) */
	char *layout_file, *index_file;
	size_t layout_len, index_len;
};

/* What a descriptor points at, by its media type (OCI or Docker). */
enum ep_oci_kind { EP_OCI_LEAF, EP_OCI_MANIFEST, EP_OCI_INDEX };
enum ep_oci_kind ep_oci_kind(const char *media_type);
/* A descriptor's digest as 64 hex digits (inside desc), raw and its size; NULL when
 * either is missing or not sha256. */
const char *ep_oci_digest(const json_t *desc, uint8_t raw[EP_DIGEST_LEN], uint64_t *size);

/* Reads the layout at dir: the image tagged ref, or every image of its index when ref is NULL. */
int ep_oci_collect(const char *dir, const char *ref, struct ep_oci_image **out, struct ep_error *err);
void ep_oci_free(struct ep_oci_image *img);
/* Streams blob i of the layout to sink. */
int ep_oci_read_blob(const struct ep_oci_image *img, size_t i,
		     int (*sink)(void *ctx, const void *data, size_t len, struct ep_error *err), void *ctx,
		     struct ep_error *err);

#endif
