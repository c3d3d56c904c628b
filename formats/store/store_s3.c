/*
 * The S3 backend of a store: every object PREFIX/NAME in a bucket
 * (s3://BUCKET/PREFIX), each put whole in one PUT, which S3 makes appear at
 * once and durable when it answers: nothing is ever half-written (sweep has
 * nothing to do) and nothing needs syncing. Objects are read with GETs; names
 * are listed with ListObjectsV2. There is no lock of S3's own: the lock
 * records under locks/ are the lock (lock.c). Readers on many threads (check,
 * restore) each take a connection of a small pool.
 *
 * Round trips dominate a backup of many chunks, so chunks go up asynchronously:
 * put() hands a copy to a small bounded queue that a few uploader threads, each
 * on its own connection, empty; sync() waits for all of them and reports the
 * first failure, before a snapshot names any of those chunks. Every other object
 * (config, lock records, snapshots and their signatures) is put at once.
 */
#include "formats/store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/http_pool.h"
#include "cloud/s3.h"
#include "cloud/s3_versions.h"

#define CONNS_MAX 16
#define UPLOADERS_MAX 16
#define QUEUE_MAX 4 /* chunks waiting (at most 4 MiB each), besides those being sent */

struct upload {
	struct ep_s3_url u;
	char *data;
	size_t len;
	struct ep_s3_lock lock; /* mode NULL: none */
};

struct s3_backend {
	struct ep_store_backend base;
	struct ep_s3 *s3;
	char bucket[64];
	char prefix[1040]; /* "PREFIX/" */
	char where[1200];  /* "s3://BUCKET/PREFIX" */
	struct ep_http_pool *pool; /* a connection per thread at work */
	pthread_mutex_t own; /* the client's own connection (deletes) */
	/* chunks on their way: queue[qhead..qhead+qlen) waiting, busy being sent */
	pthread_mutex_t qlock;
	pthread_cond_t qchange;
	struct upload queue[QUEUE_MAX];
	unsigned qhead, qlen, busy, nthreads, want_threads;
	pthread_t threads[UPLOADERS_MAX];
	bool stopping;
	int arc; /* the first failure of an upload, and its error */
	struct ep_error aerr;
	/* Object Lock: the mode of every put ("GOVERNANCE", "COMPLIANCE"; NULL: none) and the
	 * seconds a data object is kept */
	const char *lock_mode;
	int64_t keep;
	int64_t as_of; /* > 0: reads see the store as at this time, through the versions; nothing written */
	bool versioned; /* the bucket's versioning was found on */
};

static const char *s3b_where(const struct ep_store_backend *be)
{
	return ((const struct s3_backend *)be)->where;
}

static int make_connection(void *s3, struct ep_http **out, struct ep_error *err)
{
	return ep_s3_connection(s3, out, err);
}

static int url_of(struct s3_backend *b, const char *name, struct ep_s3_url *u, struct ep_error *err)
{
	*u = (struct ep_s3_url){ 0 };
	memcpy(u->bucket, b->bucket, sizeof u->bucket);
	if ((size_t)snprintf(u->key, sizeof u->key, "%s%s", b->prefix, name) >= sizeof u->key)
		return ep_fail(err, EP_EINPUT, "store '%s': the key of %s is longer than S3 takes", b->where, name);
	return 0;
}

/* The version of a key current at b->as_of (its exact key only: others share its prefix). */
struct found_at {
	const char *key;
	char version[256];
	bool found;
};

static int find_at(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err)
{
	(void)err;
	struct found_at *f = ctx;
	if (!strcmp(k->key, f->key) && k->at && !k->at->deleted) {
		snprintf(f->version, sizeof f->version, "%s", k->at->version);
		f->found = true;
	}
	return 0;
}

/* As of a time: the key's version then, found by listing its versions, read by its id. */
static int get_as_of(struct s3_backend *b, struct ep_http *via, const struct ep_s3_url *u, size_t max, char **data,
		     size_t *len, struct ep_error *err)
{
	struct found_at f = { .key = u->key };
	int rc = ep_s3_versions_at(b->s3, via, b->bucket, u->key, b->as_of, find_at, &f, err);
	if (!rc && !f.found)
		return 1;
	return rc ? rc : ep_s3_get_version(b->s3, via, u, f.version, max, data, len, err);
}

static int s3b_get(struct ep_store_backend *be, const char *name, size_t max, char **data, size_t *len,
		   struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = b->as_of ? get_as_of(b, via, &u, max, data, len, err) : ep_s3_get_data(b->s3, via, &u, max, data, len, err);
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

/* A store read as of a time is not written to: what it shows is not what is there. */
static int read_only(const struct s3_backend *b, const char *name, struct ep_error *err)
{
	char t[EP_UTC_LEN];
	ep_utc_format(b->as_of, t, sizeof t);
	return ep_fail(err, EP_EINPUT, "store '%s' is read as of %s: %s is not written", b->where, t, name);
}

static int s3b_read(struct ep_store_backend *be, const char *name, void *buf, size_t len, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	char *data = NULL;
	size_t got = 0;
	int rc = s3b_get(be, name, len, &data, &got, err);
	if (rc == 1)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s/%s' is missing", b->where, name);
	else if (!rc && got != len)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s/%s' holds %zu bytes, not %zu", b->where, name, got, len);
	if (!rc)
		memcpy(buf, data, len);
	free(data);
	return rc;
}

static void *uploader(void *arg)
{
	struct s3_backend *b = arg;
	struct ep_error err = { 0 };
	struct ep_http *via = NULL;
	int crc = ep_s3_connection(b->s3, &via, &err);
	pthread_mutex_lock(&b->qlock);
	for (;;) {
		while (!b->qlen && !b->stopping)
			pthread_cond_wait(&b->qchange, &b->qlock);
		if (!b->qlen)
			break;
		struct upload up = b->queue[b->qhead];
		b->qhead = (b->qhead + 1) % QUEUE_MAX;
		b->qlen--;
		b->busy++;
		bool skip = b->arc != 0; /* a failure is reported already: the rest would be no use */
		pthread_cond_broadcast(&b->qchange);
		pthread_mutex_unlock(&b->qlock);
		int rc = skip ? 0 : crc ? crc : ep_s3_put_data_locked(b->s3, via, &up.u, up.data, up.len, false,
								       up.lock.mode ? &up.lock : NULL, &err);
		free(up.data);
		pthread_mutex_lock(&b->qlock);
		if (rc && !b->arc) {
			b->arc = rc;
			b->aerr = err;
		}
		b->busy--;
		pthread_cond_broadcast(&b->qchange);
	}
	pthread_mutex_unlock(&b->qlock);
	ep_http_free(via);
	return NULL;
}

/* A chunk into the queue (a copy); the first failure of an earlier one is reported instead. */
static int put_async(struct s3_backend *b, const struct ep_s3_url *u, const void *data, size_t len,
		     const struct ep_s3_lock *lock, struct ep_error *err)
{
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return ep_oom(err);
	memcpy(copy, data, len);
	pthread_mutex_lock(&b->qlock);
	while (b->nthreads < b->want_threads &&
	       pthread_create(&b->threads[b->nthreads], NULL, uploader, b) == 0) /* started at the first chunk */
		b->nthreads++;
	int rc = 0;
	if (!b->nthreads)
		rc = ep_fail(err, EP_ERUNTIME, "store '%s': no thread to upload with", b->where);
	while (!rc && !b->arc && b->qlen == QUEUE_MAX)
		pthread_cond_wait(&b->qchange, &b->qlock);
	if (!rc && b->arc) {
		*err = b->aerr;
		rc = b->arc;
	}
	if (!rc) {
		b->queue[(b->qhead + b->qlen) % QUEUE_MAX] = (struct upload){ *u, copy, len, *lock };
		b->qlen++;
		copy = NULL;
		pthread_cond_broadcast(&b->qchange);
	}
	pthread_mutex_unlock(&b->qlock);
	free(copy);
	return rc;
}

#define RECORD_KEEP 3600 /* seconds a lock record or claim is retained (Object Lock) */

/* The retention a put of name gets: none without a policy; lock records and claims an hour's
 * governance, which is all they need, whatever the bucket's default (which would otherwise keep
 * every refresh of a record for days); everything else the policy's, from now. */
static struct ep_s3_lock retention_of(const struct s3_backend *b, const char *name, int64_t until)
{
	int64_t now = time(NULL);
	if (!b->lock_mode)
		return (struct ep_s3_lock){ 0 };
	if (!strncmp(name, "locks/", 6) || !strncmp(name, "claims/", 7))
		return (struct ep_s3_lock){ "GOVERNANCE", now + RECORD_KEEP };
	return (struct ep_s3_lock){ b->lock_mode, until ? until : now + b->keep };
}

static int put_retained(struct ep_store_backend *be, const char *name, const void *data, size_t len,
			bool if_absent, int64_t until, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	struct ep_s3_lock lock = retention_of(b, name, until);
	if (b->as_of)
		return read_only(b, name, err);
	int rc = url_of(b, name, &u, err);
	if (!rc && !if_absent && !strncmp(name, "chunks/", 7))
		return put_async(b, &u, data, len, &lock, err); /* content-addressed: nothing waits on it until sync() */
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_put_data_locked(b->s3, via, &u, data, len, if_absent, lock.mode ? &lock : NULL, err);
		ep_http_pool_give_back(b->pool, via);
	}
	if (rc == EP_EINPUT && if_absent) {
		char why[600] = ""; /* on a versioned bucket: who came first, and what became of this one's version */
		const char *note = strstr(err->msg, " exists (");
		snprintf(why, sizeof why, "%s", note ? note + 7 : "");
		rc = ep_fail(err, EP_EINPUT, "store '%s': %s exists%s", b->where, name, why);
	}
	return rc;
}

static int s3b_put(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
		   struct ep_error *err)
{
	return put_retained(be, name, data, len, if_absent, 0, err);
}

static int s3b_remove(struct ep_store_backend *be, const char *name, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	int rc = b->as_of ? read_only(b, name, err) : url_of(b, name, &u, err);
	if (!rc) {
		pthread_mutex_lock(&b->own);
		rc = ep_s3_delete(b->s3, &u, err);
		pthread_mutex_unlock(&b->own);
	}
	return rc;
}

/* A DELETE of a name that is never an object, in each folder prune and forget remove from
 * (a policy may deny some and allow others): nothing is removed. On a versioned bucket each
 * leaves a delete marker under that name. */
static int s3b_may_remove(struct ep_store_backend *be, struct ep_error *err)
{
	static const char *const probes[] = { "snapshots/.envpack-delete-probe", "chunks/.envpack-delete-probe",
					      "drills/.envpack-delete-probe", "claims/.envpack-delete-probe",
					      "locks/.envpack-delete-probe" };
	struct s3_backend *b = (struct s3_backend *)be;
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof probes / sizeof *probes; i++) {
		struct ep_s3_url u;
		if ((rc = url_of(b, probes[i], &u, err)))
			break;
		pthread_mutex_lock(&b->own);
		rc = ep_s3_may_delete(b->s3, &u, err);
		pthread_mutex_unlock(&b->own);
	}
	return rc;
}

typedef int (*each_fn)(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err);

struct relative {
	size_t skip; /* strlen("PREFIX/") */
	each_fn each;
	void *ctx;
};

static int relative_each(void *ctx, const char *key, uint64_t size, int64_t mtime, struct ep_error *err)
{
	struct relative *r = ctx;
	return r->each(r->ctx, key + r->skip, size, mtime, err);
}

/* As of a time: each key whose entry then was a version (not a delete marker, not yet made). */
static int relative_at(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err)
{
	struct relative *r = ctx;
	return k->at && !k->at->deleted ? r->each(r->ctx, k->key + r->skip, k->at->size, k->at->modified, err) : 0;
}

static int s3b_list(struct ep_store_backend *be, const char *prefix, each_fn each, void *ctx, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	char full[1200];
	struct relative r = { strlen(b->prefix), each, ctx };
	struct ep_http *via;
	if ((size_t)snprintf(full, sizeof full, "%s%s", b->prefix, prefix) >= sizeof full)
		return ep_fail(err, EP_EINPUT, "store '%s': prefix too long", b->where);
	int rc = ep_http_pool_take(b->pool, &via, err);
	if (!rc) {
		rc = b->as_of ? ep_s3_versions_at(b->s3, via, b->bucket, full, b->as_of, relative_at, &r, err)
			      : ep_s3_list(b->s3, via, b->bucket, full, relative_each, &r, err);
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

static int s3b_sweep(struct ep_store_backend *be, uint64_t *removed, struct ep_error *err)
{
	(void)be, (void)err;
	*removed = 0; /* a PUT appears whole or not at all: no temporaries */
	return 0;
}

/* A PUT S3 answered is durable: sync waits for the chunks still on their way. */
static int s3b_sync(struct ep_store_backend *be, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	pthread_mutex_lock(&b->qlock);
	while (b->qlen || b->busy)
		pthread_cond_wait(&b->qchange, &b->qlock);
	int rc = b->arc;
	if (rc)
		*err = b->aerr;
	pthread_mutex_unlock(&b->qlock);
	return rc;
}

static void s3b_close(struct ep_store_backend *be)
{
	struct s3_backend *b = (struct s3_backend *)be;
	pthread_mutex_lock(&b->qlock);
	b->stopping = true;
	b->arc = b->arc ? b->arc : EP_ERUNTIME; /* closed without a sync: what waits is not sent */
	pthread_cond_broadcast(&b->qchange);
	pthread_mutex_unlock(&b->qlock);
	for (unsigned i = 0; i < b->nthreads; i++)
		pthread_join(b->threads[i], NULL);
	ep_http_pool_free(b->pool);
	ep_s3_close(b->s3);
	pthread_mutex_destroy(&b->own);
	pthread_mutex_destroy(&b->qlock);
	pthread_cond_destroy(&b->qchange);
	free(b);
}

static int s3b_stat(struct ep_store_backend *be, const char *name, uint64_t *size, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_head_via(b->s3, via, &u, size, err);
		rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

static const struct ep_store_backend_ops s3_ops = { s3b_get,  s3b_read, s3b_put,  s3b_remove, s3b_list,  s3b_sweep,
						    s3b_sync, NULL,     NULL,     s3b_close,  s3b_where, s3b_may_remove,
						    s3b_stat, NULL };

/* ---- Object Lock ---- */

static int s3b_available(struct ep_store_backend *be, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	pthread_mutex_lock(&b->own);
	int rc = ep_s3_object_lock_enabled(b->s3, b->bucket, err);
	pthread_mutex_unlock(&b->own);
	if (rc == 1) {
		char answer[sizeof err->msg];
		snprintf(answer, sizeof answer, "%s", err->msg);
		ep_fail(err, EP_EINPUT, "bucket '%s' has no Object Lock (%s); make one with it enabled "
					"(CreateBucket with ObjectLockEnabledForBucket)", b->bucket, answer);
	}
	return rc;
}

static void s3b_set_policy(struct ep_store_backend *be, const struct ep_store_object_lock *p, int64_t keep)
{
	struct s3_backend *b = (struct s3_backend *)be;
	b->lock_mode = !p || p->mode == EP_LOCK_NONE ? NULL : p->mode == EP_LOCK_COMPLIANCE ? "COMPLIANCE" : "GOVERNANCE";
	b->keep = keep;
}

static int s3b_get_retention(struct ep_store_backend *be, const char *name, struct ep_store_retention *r,
			     struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_s3_retention got;
	struct ep_http *via;
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_get_retention(b->s3, via, &u, &got, err);
		ep_http_pool_give_back(b->pool, via);
	}
	*r = (struct ep_store_retention){ 0 };
	if (!rc && got.until) {
		r->until = got.until;
		r->mode = !strcmp(got.mode, "COMPLIANCE") ? EP_LOCK_COMPLIANCE : EP_LOCK_GOVERNANCE;
	}
	return rc;
}

static int s3b_extend(struct ep_store_backend *be, const char *name, int64_t until, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	struct ep_s3_lock lock = { b->lock_mode ? b->lock_mode : "GOVERNANCE", until };
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_put_retention(b->s3, via, &u, &lock, err);
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

static int s3b_remove_versions(struct ep_store_backend *be, const char *name, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	unsigned removed;
	int rc = url_of(b, name, &u, err);
	if (!rc) {
		pthread_mutex_lock(&b->own);
		rc = ep_s3_delete_versions(b->s3, &u, true, &removed, err);
		pthread_mutex_unlock(&b->own);
	}
	return rc;
}

static void s3b_requests(struct ep_store_backend *be, struct ep_store_requests *out)
{
	uint64_t n[EP_S3_KINDS];
	ep_s3_counts(((struct s3_backend *)be)->s3, n);
	*out = (struct ep_store_requests){ n[EP_S3_PUT],       n[EP_S3_GET],    n[EP_S3_HEAD], n[EP_S3_LIST],
					   n[EP_S3_RETENTION], n[EP_S3_DELETE], n[EP_S3_OTHER] };
}

/* ---- versions ---- */

/* GetBucketVersioning once: a bucket without versions has no earlier time to read. */
static int check_versioned(struct s3_backend *b, struct ep_error *err)
{
	if (b->versioned)
		return 0;
	pthread_mutex_lock(&b->own);
	int rc = ep_s3_versioning_enabled(b->s3, b->bucket, err);
	pthread_mutex_unlock(&b->own);
	if (rc == 1) {
		char answer[sizeof err->msg];
		snprintf(answer, sizeof answer, "%s", err->msg);
		return ep_fail(err, EP_EINPUT, "store '%s': bucket '%s' keeps no versions (%s), so nothing of an earlier "
					      "time is left to read or recover", b->where, b->bucket, answer);
	}
	b->versioned = !rc;
	return rc;
}

static int s3b_as_of(struct ep_store_backend *be, int64_t t, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	int rc = t ? check_versioned(b, err) : 0;
	if (!rc)
		b->as_of = t;
	return rc;
}

struct keys_at {
	size_t skip;
	int (*each)(void *ctx, const struct ep_store_key_at *k, struct ep_error *err);
	void *ctx;
};

/* The same version, or a copy of its bytes (a recovery made before): S3's ETag of a single PUT or
 * copy is the bytes' MD5, of a multipart upload its parts' (the store makes none). */
static bool same_object(const struct ep_s3_version *a, const struct ep_s3_version *b)
{
	return !strcmp(a->version, b->version) || (*a->etag && !strcmp(a->etag, b->etag) && a->size == b->size);
}

static int key_at(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err)
{
	struct keys_at *w = ctx;
	bool then = k->at && !k->at->deleted;
	struct ep_store_key_at s = { .name = k->key + w->skip, .version = then ? k->at->version : NULL,
				     .size = then ? k->at->size : 0,
				     .current = then && !k->latest->deleted && same_object(k->at, k->latest),
				     .exists = !k->latest->deleted };
	return w->each(w->ctx, &s, err);
}

static int s3b_keys_at(struct ep_store_backend *be, int64_t t,
		       int (*each)(void *ctx, const struct ep_store_key_at *k, struct ep_error *err), void *ctx,
		       struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct keys_at w = { strlen(b->prefix), each, ctx };
	struct ep_http *via;
	int rc = check_versioned(b, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_versions_at(b->s3, via, b->bucket, b->prefix, t, key_at, &w, err);
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

static int s3b_restore(struct ep_store_backend *be, const char *name, const char *version, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	struct ep_s3_lock lock = retention_of(b, name, 0);
	int rc = b->as_of ? read_only(b, name, err) : url_of(b, name, &u, err);
	if (!rc && !(rc = ep_http_pool_take(b->pool, &via, err))) {
		rc = ep_s3_copy_version(b->s3, via, &u, version, lock.mode ? &lock : NULL, err);
		ep_http_pool_give_back(b->pool, via);
	}
	return rc;
}

static const struct ep_store_lock_ops s3_lock_ops = {
	.available = s3b_available,
	.set_policy = s3b_set_policy,
	.put_until = put_retained,
	.get = s3b_get_retention,
	.extend = s3b_extend,
	.remove_versions = s3b_remove_versions,
	.requests = s3b_requests,
	.as_of = s3b_as_of,
	.keys_at = s3b_keys_at,
	.restore = s3b_restore,
};

static int any_object(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime;
	struct s3_backend *b = ctx;
	return ep_fail(err, EP_EINPUT, "'%s' holds objects already (%s): a new store needs an empty place", b->where, name);
}

int ep_store_s3_backend(struct ep_store_backend **out, const char *url, const struct ep_s3_options *opt, bool create,
			struct ep_error *err)
{
	struct ep_s3_url u;
	char trimmed[1200];
	size_t n = strlen(url);
	while (n > 5 && url[n - 1] == '/')
		n--;
	snprintf(trimmed, sizeof trimmed, "%.*s", (int)n, url);
	int rc = ep_s3_url_parse(trimmed, &u, err);
	if (rc)
		return ep_fail(err, EP_EINPUT, "store '%s': write s3://BUCKET/PREFIX", url);
	if (strlen(u.key) + 2 + 80 > sizeof u.key)
		return ep_fail(err, EP_EINPUT, "store '%s': the prefix is too long for S3's keys", url);
	struct s3_backend *b = calloc(1, sizeof *b);
	if (!b)
		return ep_oom(err);
	b->base.ops = &s3_ops;
	b->base.lock = &s3_lock_ops;
	memcpy(b->bucket, u.bucket, sizeof b->bucket);
	snprintf(b->prefix, sizeof b->prefix, "%s/", u.key);
	snprintf(b->where, sizeof b->where, "s3://%s/%s", u.bucket, u.key);
	pthread_mutex_init(&b->own, NULL);
	pthread_mutex_init(&b->qlock, NULL);
	pthread_cond_init(&b->qchange, NULL);
	b->want_threads = opt && opt->jobs ? (opt->jobs < UPLOADERS_MAX ? opt->jobs : UPLOADERS_MAX) : 4;
	static const struct ep_s3_options defaults = { 0 };
	rc = ep_s3_open(&b->s3, opt ? opt : &defaults, err);
	if (!rc)
		rc = ep_http_pool_new(&b->pool, CONNS_MAX, make_connection, b->s3, err);
	if (!rc && create) /* absent or empty: no object under PREFIX/ */
		rc = s3b_list(&b->base, "", any_object, b, err);
	if (rc) {
		s3b_close(&b->base);
		return rc;
	}
	*out = &b->base;
	return 0;
}
