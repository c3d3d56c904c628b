/*
 * The S3 backend of a store: every object PREFIX/NAME in a bucket
 * (s3://BUCKET/PREFIX), each put whole in one PUT, which S3 makes appear at
 * once and durable when it answers: nothing is ever half-written (sweep has
 * nothing to do) and nothing needs syncing. Objects are read with GETs; names
 * are listed with ListObjectsV2. There is no lock of S3's own: the lock
 * records under locks/ are the lock (store.c). Readers on many threads (check,
 * restore) each take a connection of a small pool.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define CONNS_MAX 16

struct s3_backend {
	struct ep_store_backend base;
	struct ep_s3 *s3;
	char bucket[64];
	char prefix[1025]; /* "PREFIX/" */
	char where[1200];  /* "s3://BUCKET/PREFIX" */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct ep_http *idle[CONNS_MAX]; /* connections no one uses now */
	unsigned nidle, made;
	pthread_mutex_t own; /* the client's own connection (deletes) */
};

static const char *s3b_where(const struct ep_store_backend *be)
{
	return ((const struct s3_backend *)be)->where;
}

/* A connection for this thread: an idle one, a new one, or (CONNS_MAX in use) the next freed. */
static int take(struct s3_backend *b, struct ep_http **via, struct ep_error *err)
{
	pthread_mutex_lock(&b->lock);
	while (!b->nidle && b->made >= CONNS_MAX)
		pthread_cond_wait(&b->freed, &b->lock);
	if (b->nidle) {
		*via = b->idle[--b->nidle];
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	b->made++;
	pthread_mutex_unlock(&b->lock);
	int rc = ep_s3_connection(b->s3, via, err);
	if (rc) {
		pthread_mutex_lock(&b->lock);
		b->made--;
		pthread_cond_signal(&b->freed);
		pthread_mutex_unlock(&b->lock);
	}
	return rc;
}

static void give_back(struct s3_backend *b, struct ep_http *via)
{
	pthread_mutex_lock(&b->lock);
	b->idle[b->nidle++] = via;
	pthread_cond_signal(&b->freed);
	pthread_mutex_unlock(&b->lock);
}

static int url_of(struct s3_backend *b, const char *name, struct ep_s3_url *u, struct ep_error *err)
{
	*u = (struct ep_s3_url){ 0 };
	memcpy(u->bucket, b->bucket, sizeof u->bucket);
	if ((size_t)snprintf(u->key, sizeof u->key, "%s%s", b->prefix, name) >= sizeof u->key)
		return ep_fail(err, EP_EINPUT, "store '%s': the key of %s is longer than S3 takes", b->where, name);
	return 0;
}

static int s3b_get(struct ep_store_backend *be, const char *name, size_t max, char **data, size_t *len,
		   struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = take(b, &via, err))) {
		rc = ep_s3_get_data(b->s3, via, &u, max, data, len, err);
		give_back(b, via);
	}
	return rc;
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

static int s3b_put(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
		   struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	struct ep_http *via;
	int rc = url_of(b, name, &u, err);
	if (!rc && !(rc = take(b, &via, err))) {
		rc = ep_s3_put_data(b->s3, via, &u, data, len, if_absent, err);
		give_back(b, via);
	}
	if (rc == EP_EINPUT && if_absent)
		rc = ep_fail(err, EP_EINPUT, "store '%s': %s exists", b->where, name);
	return rc;
}

static int s3b_remove(struct ep_store_backend *be, const char *name, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	struct ep_s3_url u;
	int rc = url_of(b, name, &u, err);
	if (!rc) {
		pthread_mutex_lock(&b->own);
		rc = ep_s3_delete(b->s3, &u, err);
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

static int s3b_list(struct ep_store_backend *be, const char *prefix, each_fn each, void *ctx, struct ep_error *err)
{
	struct s3_backend *b = (struct s3_backend *)be;
	char full[1200];
	struct relative r = { strlen(b->prefix), each, ctx };
	struct ep_http *via;
	if ((size_t)snprintf(full, sizeof full, "%s%s", b->prefix, prefix) >= sizeof full)
		return ep_fail(err, EP_EINPUT, "store '%s': prefix too long", b->where);
	int rc = take(b, &via, err);
	if (!rc) {
		rc = ep_s3_list(b->s3, via, b->bucket, full, relative_each, &r, err);
		give_back(b, via);
	}
	return rc;
}

static int s3b_sweep(struct ep_store_backend *be, uint64_t *removed, struct ep_error *err)
{
	(void)be, (void)err;
	*removed = 0; /* a PUT appears whole or not at all: no temporaries */
	return 0;
}

static int s3b_sync(struct ep_store_backend *be, struct ep_error *err)
{
	(void)be, (void)err;
	return 0; /* a PUT S3 answered is durable */
}

static void s3b_close(struct ep_store_backend *be)
{
	struct s3_backend *b = (struct s3_backend *)be;
	for (unsigned i = 0; i < b->nidle; i++)
		ep_http_free(b->idle[i]);
	ep_s3_close(b->s3);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->own);
	pthread_cond_destroy(&b->freed);
	free(b);
}

static const struct ep_store_backend_ops s3_ops = { s3b_get,  s3b_read, s3b_put, s3b_remove, s3b_list, s3b_sweep,
						    s3b_sync, NULL,     NULL,    s3b_close,  s3b_where };

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
	memcpy(b->bucket, u.bucket, sizeof b->bucket);
	snprintf(b->prefix, sizeof b->prefix, "%s/", u.key);
	snprintf(b->where, sizeof b->where, "s3://%s/%s", u.bucket, u.key);
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->own, NULL);
	pthread_cond_init(&b->freed, NULL);
	static const struct ep_s3_options defaults = { 0 };
	rc = ep_s3_open(&b->s3, opt ? opt : &defaults, err);
	if (!rc && create) /* absent or empty: no object under PREFIX/ */
		rc = s3b_list(&b->base, "", any_object, b, err);
	if (rc) {
		s3b_close(&b->base);
		return rc;
	}
	*out = &b->base;
	return 0;
}
