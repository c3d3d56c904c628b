/*
 * The versions of a versioned bucket's objects (S3 versioning, which Object Lock
 * requires): every version and delete marker under a prefix streamed a page at a time
 * (ListObjectVersions), one version read (GET ?versionId=), and a version made current
 * again by copying it onto its own key (CopyObject), retained when asked. Recovery after
 * an attack (formats/STORE.md, section 11) is built on these.
 */
#ifndef EP_S3_VERSIONS_H
#define EP_S3_VERSIONS_H

#include "cloud/s3.h"

/* One entry of a listing: a version, or a delete marker (deleted). */
struct ep_s3_version {
	const char *key, *version; /* borrowed for the callback's time */
	const char *etag;          /* without its quotes; "" for a delete marker */
	bool latest, deleted;      /* the key's current entry; a delete marker */
	int64_t modified;          /* LastModified, seconds since the epoch (the fraction dropped) */
	uint64_t size;             /* 0 for a delete marker */
};
typedef int (*ep_s3_version_fn)(void *ctx, const struct ep_s3_version *v, struct ep_error *err);

/* Calls each for every version and delete marker whose key starts with prefix, in S3's order
 * (keys ascending, each key's entries newest first), a page of at most 1000 held at a time. */
int ep_s3_list_versions(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix,
			ep_s3_version_fn each, void *ctx, struct ep_error *err);
/* One page of a ListVersionsResult answer (body, len), each entry under prefix to each; *more,
 * and the markers of the next page (heap, free(); NULL when none). what names it in errors. */
int ep_s3_versions_page(const char *body, size_t len, const char *what, const char *prefix, ep_s3_version_fn each,
			void *ctx, bool *more, char **key_marker, char **version_marker, struct ep_error *err);

/* The entry of each key current at time t: the newest with LastModified <= t. */
#define EP_S3_ETAG_MAX 100
struct ep_s3_key_at {
	const char *key;
	const struct ep_s3_version *at;     /* NULL: the key had no entry yet at t */
	const struct ep_s3_version *latest; /* its current entry now */
};
/* Calls each once per key under prefix with what it was at t and what it is now, the listing
 * streamed (one key's state held at a time). */
int ep_s3_versions_at(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix, int64_t t,
		      int (*each)(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err), void *ctx,
		      struct ep_error *err);

/* GetBucketVersioning: 0 when versioning is Enabled, 1 when not (never, or Suspended: err says),
 * or a failure. */
int ep_s3_versioning_enabled(struct ep_s3 *s3, const char *bucket, struct ep_error *err);
/* One version of the object, at most max bytes, as ep_s3_get_data: 0, or 1 when absent. */
int ep_s3_get_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version,
		      size_t max, char **data, size_t *len, struct ep_error *err);
/* CopyObject of the version onto its own key, which makes it the current one (a new version of
 * the same bytes); lock (NULL: none) retains the copy. 0, 1 when refused (403 AccessDenied: err
 * says), or a failure. */
int ep_s3_copy_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version,
		       const struct ep_s3_lock *lock, struct ep_error *err);

#endif
