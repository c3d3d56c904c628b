/*
 * An S3 client over base/http and cloud/sigv4: objects put (one PUT, or a
 * multipart upload that a later run resumes from the parts already there,
 * each part checked by its MD5 ETag), fetched (resuming with Range) and
 * looked at. Objects that name others are published only if absent
 * (If-None-Match: *, and a HEAD first for servers that ignore it). On a versioned
 * bucket (the PUT answers x-amz-version-id) a server may take that header as absent
 * (radosgw 16 does: a second PUT adds a version), so the key's versions are listed
 * after the PUT (one ListObjectVersions): a version older than ours, since the last
 * delete marker, means another writer created it first, and ours is removed (a DELETE
 * of its version) or, where this credential may not (append-only, Object Lock), the
 * first one's bytes are put again (a GET and a PUT, 64 MiB at most); the put fails
 * as for a taken key. A plain bucket costs nothing more. S3-compatible
 * servers are reached path-style through --endpoint; AWS virtual-host style.
 * Credentials come from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE),
 * which must be readable by its owner only; never from argv, never printed.
 */
#ifndef EP_S3_H
#define EP_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"
#include "base/progress.h"
#include "cloud/sigv4.h"

#define EP_S3_PART_MIN ((uint64_t)5 << 20) /* S3's smallest part but the last */

struct ep_s3_options {
	struct ep_http_options http;
	const char *endpoint; /* "http://127.0.0.1:9000", path-style; NULL: AWS (or AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) */
	const char *region;   /* NULL: AWS_REGION, AWS_DEFAULT_REGION or us-east-1 */
	uint64_t part_size;   /* 0: by the object's size (one PUT up to 16 MiB, else 16 MiB parts, 1024 parts past 16 GiB) */
	unsigned jobs;        /* parts sent at once, each on its own connection; 0: 10 */
	const struct ep_sigv4_creds *creds; /* NULL: from the environment or the credentials file */
	/* The header that makes a write create-only; NULL: "If-None-Match: *" (S3). Cloud
	 * Storage's XML API wants "x-goog-if-generation-match: 0". */
	const char *if_absent;
};

/* s3://BUCKET/KEY */
struct ep_s3_url {
	char bucket[64];
	char key[1025];
};

int ep_s3_url_parse(const char *text, struct ep_s3_url *out, struct ep_error *err);

struct ep_s3;

int ep_s3_open(struct ep_s3 **out, const struct ep_s3_options *opt, struct ep_error *err);
void ep_s3_close(struct ep_s3 *s3);

/* The credentials and region the client signs with, borrowed for its life:
 * other AWS services (EC2) sign with the same. */
void ep_s3_creds(const struct ep_s3 *s3, struct ep_sigv4_creds *out);
const char *ep_s3_region(const struct ep_s3 *s3);

/* 1 and its size when the object exists, 0 when not. */
int ep_s3_head(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t *size, struct ep_error *err);
/* The same on a connection of the caller's (NULL: the client's own). */
int ep_s3_head_via(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, uint64_t *size,
		   struct ep_error *err);

/* Hands emit, as text with credentials masked, the HEAD and the ranged GET of the first len
 * bytes that reading the object where it lies begins with; sends nothing. */
int ep_s3_plan_read(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t len, void (*emit)(void *ctx, const char *text),
		    void *ctx, struct ep_error *err);

struct ep_s3_put_stats {
	unsigned parts, parts_resumed; /* 0 parts: one PUT */
};

/* Uploads size bytes of fd as the object, failing with EP_EINPUT if it exists (or, on a
 * versioned bucket, if another writer's version came first: see above). */
int ep_s3_put_file(struct ep_s3 *s3, const struct ep_s3_url *u, int fd, uint64_t size,
		   const struct ep_progress *progress, struct ep_s3_put_stats *stats, struct ep_error *err);
/* Hands emit, as text with credentials masked, the requests ep_s3_put_file would send
 * for an object of size bytes (a multipart upload's parts summarised); sends nothing. */
int ep_s3_plan_put(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t size,
		   void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);
/* Puts len bytes in memory as the object in one PUT, checked by its MD5 ETag; if_absent:
 * If-None-Match: *, and an object already there (or another writer's version first on a
 * versioned bucket) fails with EP_EINPUT. via: a connection
 * of the caller's own (for threads sending at once), NULL: the client's. */
int ep_s3_put_data(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const void *data, size_t len,
		   bool if_absent, struct ep_error *err);
/* The whole object, at most max bytes, into *data (heap, NUL-terminated, free()): 0, or 1
 * when it does not exist. A larger object fails with EP_EINTEGRITY. via as above. */
int ep_s3_get_data(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, size_t max, char **data,
		   size_t *len, struct ep_error *err);
/* Calls each for every object whose key starts with prefix (ListObjectsV2, a page of at
 * most 1000 at a time), with its key, size and LastModified (seconds since the epoch). */
int ep_s3_list(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix,
	       int (*each)(void *ctx, const char *key, uint64_t size, int64_t mtime, struct ep_error *err), void *ctx,
	       struct ep_error *err);
/* A connection of its own for a thread, with the client's HTTP options (ep_http_free it). */
int ep_s3_connection(struct ep_s3 *s3, struct ep_http **out, struct ep_error *err);
/* Removes the object (absent already is fine). */
int ep_s3_delete(struct ep_s3 *s3, const struct ep_s3_url *u, struct ep_error *err);
/* Whether these credentials may delete, asked by deleting u, a key that holds no object (S3
 * answers 204 when a policy allows it, 403 AccessDenied when one denies it): 0, 1 when denied
 * (err holds the answer), or a failure. On a versioned bucket the delete marker it made is
 * removed again (DELETE ?versionId=), when the credentials may. */
int ep_s3_may_delete(struct ep_s3 *s3, const struct ep_s3_url *u, struct ep_error *err);
/* ---- Object Lock (a bucket made with it, versioned) ---- */

/* A retention: mode "GOVERNANCE" or "COMPLIANCE", and the time (seconds since the epoch)
 * before which no version of the object may be removed. */
struct ep_s3_lock {
	const char *mode;
	int64_t until;
};
/* As ep_s3_put_data, and with lock (NULL: none) the object is written retained: its mode and
 * retain-until date sent and signed, with the Content-MD5 S3 requires beside them. */
int ep_s3_put_data_locked(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const void *data,
			  size_t len, bool if_absent, const struct ep_s3_lock *lock, struct ep_error *err);
/* What HEAD says of an object's retention and version. */
struct ep_s3_retention {
	char mode[16];    /* "GOVERNANCE", "COMPLIANCE"; "" when the object has none */
	int64_t until;    /* 0 when none (fractions of a second dropped) */
	char version[256]; /* "" on an unversioned bucket */
};
/* 0 and r filled, 1 when the object does not exist, or a failure. */
int ep_s3_get_retention(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, struct ep_s3_retention *r,
			struct ep_error *err);
/* PutObjectRetention: 0, or 1 when S3 refuses it with 403 (a retention that would shorten the
 * object's, or a credential that may not; err holds the answer), or a failure. */
int ep_s3_put_retention(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u,
			const struct ep_s3_lock *lock, struct ep_error *err);
/* GetObjectLockConfiguration: 0 when the bucket has Object Lock enabled, 1 when not (err says
 * how S3 answered), or a failure. */
int ep_s3_object_lock_enabled(struct ep_s3 *s3, const char *bucket, struct ep_error *err);
/* Removes every version of the object (and its delete markers) for good, through
 * ListObjectVersions and a DELETE of each version; bypass sends
 * x-amz-bypass-governance-retention (the credential needs s3:BypassGovernanceRetention).
 * *removed counts the versions removed. */
int ep_s3_delete_versions(struct ep_s3 *s3, const struct ep_s3_url *u, bool bypass, unsigned *removed,
			  struct ep_error *err);

/* Requests the client sent, by kind, counted from its opening over every thread. */
enum ep_s3_kind { EP_S3_PUT, EP_S3_GET, EP_S3_HEAD, EP_S3_LIST, EP_S3_RETENTION, EP_S3_DELETE, EP_S3_OTHER, EP_S3_KINDS };
void ep_s3_counts(struct ep_s3 *s3, uint64_t counts[EP_S3_KINDS]);

/* Reads len bytes of the object at off (a Range request) into buf. via as above. */
int ep_s3_read_range(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, void *buf, size_t len,
		     uint64_t off, struct ep_error *err);
/* Writes the object to fd (from offset 0), checked against its size and, for a
 * single-part object, its MD5 ETag; *size gets the object's size. */
int ep_s3_get_file(struct ep_s3 *s3, const struct ep_s3_url *u, int fd, uint64_t *size,
		   const struct ep_progress *progress, struct ep_error *err);
/* Where a streamed GET's bytes go, in order; a failure ends the download. */
typedef int (*ep_s3_sink_fn)(void *ctx, const void *data, size_t len, struct ep_error *err);
/* The object's bytes to sink as they come, in one GET; when the connection drops after
 * some bytes, a Range GET carries on from there (5 times at most). Checked as
 * ep_s3_get_file checks; what names the call in messages. */
int ep_s3_get_stream(struct ep_s3 *s3, const struct ep_s3_url *u, const char *what, ep_s3_sink_fn sink, void *ctx,
		     const struct ep_progress *progress, uint64_t *size, struct ep_error *err);
/* Hands emit the GET ep_s3_get_stream sends first, as text with credentials masked. */
int ep_s3_plan_get(struct ep_s3 *s3, const struct ep_s3_url *u, void (*emit)(void *ctx, const char *text), void *ctx,
		   struct ep_error *err);

#endif
