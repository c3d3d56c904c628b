/*
 * What s3.c and s3_versions.c lend each other: a signed request, S3's error answers
 * read, its times parsed; one version removed, and the check of a create-only PUT. Nothing outside cloud/ includes this.
 */
#ifndef EP_S3_IMPL_H
#define EP_S3_IMPL_H

#include "cloud/s3.h"

/* One request, signed and sent: the fields as s3.c's own requests take them. */
struct ep_s3_call {
	struct ep_http *via; /* NULL: the client's own connection */
	const char *method;
	const struct ep_s3_url *u;
	bool bucket_only;                   /* the bucket (a listing), not the key */
	const char *query;                  /* encoded, without '?' */
	const struct ep_sigv4_header *sign; /* headers sent and signed (at most 4) */
	size_t nsign;
};
int ep_s3_call(struct ep_s3 *s3, const struct ep_s3_call *c, const char *what, struct ep_http_response *resp,
	       struct ep_error *err);
/* A GET of the object with query (NULL: none) into *data as ep_s3_get_data: 0, 1 when absent. */
int ep_s3_get_query(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *query, size_t max,
		    char **data, size_t *len, struct ep_error *err);
/* An answer that is not a success, into err: its exit class (404, 400, 412: EP_EINPUT). */
int ep_s3_status_error(const struct ep_http_response *resp, const char *what, struct ep_error *err);
/* The same, but 1 for a 403 AccessDenied (a policy refusing, not a bad signature). */
int ep_s3_denied(const struct ep_http_response *resp, const char *what, struct ep_error *err);
/* "2026-11-28T22:57:17.000Z" -> seconds since the epoch (the fraction dropped); 0 when not so. */
int64_t ep_s3_iso_time(const char *s);
/* A DELETE of one version (bypass: of governance retention): 0 (or nothing there), 1 when
 * refused with 403 AccessDenied (a policy, or the version's retention; err set), or a failure. */
int ep_s3_delete_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version, bool bypass,
			 struct ep_error *err);
/* After a create-only PUT that made version ours on a versioned bucket: 0 when ours was
 * first, else EP_EINPUT "exists" once the winner's is current again (s3_versions.c says how). */
int ep_s3_check_first(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *ours,
		      const struct ep_s3_lock *lock, struct ep_error *err);

#endif
