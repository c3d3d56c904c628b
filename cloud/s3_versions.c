/*
 * The versions of a versioned bucket (cloud/s3_versions.h): ListObjectVersions paged with
 * key-marker and version-id-marker, each page's entries handed on before the next is asked
 * for, so that a bucket of millions of versions is listed in the memory of one page. One
 * key's versions, listed the same way, are what forget removes and what tells a create-only
 * PUT on a versioned bucket whether it came first.
 */
#include "cloud/s3_versions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xml.h"
#include "cloud/s3_impl.h"

#define PAGE_KEYS 1000
#define VERSION_MAX 256 /* S3's version ids are 32 characters; radosgw's alike */

static const char *const ENTRIES = "/*/*[local-name()='Version' or local-name()='DeleteMarker']";

/* One entry of a page to each; entries outside prefix (a server ignoring it) are passed over. */
static int page_entry(struct ep_xml *x, xmlNodePtr n, const char *what, const char *prefix, ep_s3_version_fn each,
		      void *ctx, struct ep_error *err)
{
	char *key = ep_xml_get(x, n, "*[local-name()='Key']");
	char *version = ep_xml_get(x, n, "*[local-name()='VersionId']");
	char *latest = ep_xml_get(x, n, "*[local-name()='IsLatest']");
	char *modified = ep_xml_get(x, n, "*[local-name()='LastModified']");
	char *etag = ep_xml_get(x, n, "*[local-name()='ETag']");
	const char *e = etag && etag[0] == '"' ? etag + 1 : etag ? etag : "";
	char bare[EP_S3_ETAG_MAX];
	snprintf(bare, sizeof bare, "%.*s", (int)strcspn(e, "\""), e);
	struct ep_s3_version v = { .key = key, .version = version, .etag = bare, .latest = latest && !strcmp(latest, "true"),
				   .deleted = !strcmp((const char *)n->name, "DeleteMarker"),
				   .modified = ep_s3_iso_time(modified) };
	int rc = 0;
	if (!key || !version || !*version || strlen(version) >= VERSION_MAX || !v.modified ||
	    (!v.deleted && !ep_xml_num(x, n, "*[local-name()='Size']", &v.size)))
		rc = ep_fail(err, EP_ERUNTIME, "%s: an entry without a key, a version id, a time or a size", what);
	else if (!strncmp(key, prefix, strlen(prefix)))
		rc = each(ctx, &v, err);
	free(key);
	free(version);
	free(latest);
	free(modified);
	free(etag);
	return rc;
}

int ep_s3_versions_page(const char *body, size_t len, const char *what, const char *prefix, ep_s3_version_fn each,
			void *ctx, bool *more, char **key_marker, char **version_marker, struct ep_error *err)
{
	struct ep_xml x;
	*more = false;
	*key_marker = *version_marker = NULL;
	int rc = ep_xml_parse(&x, body ? body : "", len, what, "s3", "ListVersionsResult", NULL, err);
	if (rc)
		return rc;
	xmlXPathObjectPtr o = ep_xml_all(&x, NULL, ENTRIES);
	for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++)
		rc = page_entry(&x, o->nodesetval->nodeTab[i], what, prefix, each, ctx, err);
	xmlXPathFreeObject(o);
	char *trunc = ep_xml_get(&x, NULL, "/*/*[local-name()='IsTruncated']");
	*more = trunc && !strcmp(trunc, "true");
	free(trunc);
	if (*more) {
		*key_marker = ep_xml_get(&x, NULL, "/*/*[local-name()='NextKeyMarker']");
		*version_marker = ep_xml_get(&x, NULL, "/*/*[local-name()='NextVersionIdMarker']");
	}
	if (!rc && *more && (!*key_marker || !*key_marker[0] || !*version_marker))
		rc = ep_fail(err, EP_ERUNTIME, "%s: a page is truncated but names no next one", what);
	ep_xml_release(&x);
	return rc;
}

/* The query of the page after the markers (NULL: the first), encoded and in canonical order. */
static char *page_query(const char *prefix, const char *km, const char *vm)
{
	char *ep = ep_sigv4_encode(prefix, strlen(prefix), false);
	char *ekm = km ? ep_sigv4_encode(km, strlen(km), false) : NULL;
	char *evm = vm ? ep_sigv4_encode(vm, strlen(vm), false) : NULL;
	char *q = NULL;
	if (ep && (!km || ekm) && (!vm || evm) &&
	    asprintf(&q, "%s%s%smax-keys=%d&prefix=%s%s%s&versions", km ? "key-marker=" : "", km ? ekm : "",
		     km ? "&" : "", PAGE_KEYS, ep, vm ? "&version-id-marker=" : "", vm ? evm : "") < 0)
		q = NULL;
	free(ep);
	free(ekm);
	free(evm);
	return q;
}

int ep_s3_list_versions(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix,
			ep_s3_version_fn each, void *ctx, struct ep_error *err)
{
	struct ep_s3_url u = { 0 };
	char what[1200], *km = NULL, *vm = NULL;
	snprintf(u.bucket, sizeof u.bucket, "%s", bucket);
	snprintf(what, sizeof what, "s3: ListObjectVersions s3://%s/%s", bucket, prefix);
	bool more = true;
	int rc = 0;
	for (unsigned long page = 1; !rc && more; page++) {
		char *query = page_query(prefix, km, vm);
		struct ep_http_response resp = { 0 };
		rc = query ? ep_s3_call(s3, &(struct ep_s3_call){ .via = via, .method = "GET", .u = &u, .bucket_only = true,
								 .query = query },
					what, &resp, err)
			   : ep_oom(err);
		free(query);
		if (!rc && resp.status != 200)
			rc = ep_s3_status_error(&resp, what, err);
		char *nkm = NULL, *nvm = NULL;
		if (!rc)
			rc = ep_s3_versions_page(resp.body, resp.body_len, what, prefix, each, ctx, &more, &nkm, &nvm, err);
		ep_http_response_release(&resp);
		/* a page naming itself next would never end */
		if (!rc && more && km && vm && !strcmp(nkm, km) && !strcmp(nvm, vm))
			rc = ep_fail(err, EP_ERUNTIME, "%s: page %lu names itself as the next", what, page);
		free(km);
		free(vm);
		km = nkm, vm = nvm;
	}
	free(km);
	free(vm);
	return rc;
}

/* ---- what each key was at a time ---- */

struct held {
	char key[1100], version[VERSION_MAX], etag[EP_S3_ETAG_MAX];
	struct ep_s3_version v;
	bool set;
};

static void hold(struct held *h, const struct ep_s3_version *v)
{
	snprintf(h->key, sizeof h->key, "%s", v->key);
	snprintf(h->version, sizeof h->version, "%s", v->version);
	snprintf(h->etag, sizeof h->etag, "%s", v->etag);
	h->v = *v;
	h->v.key = h->key;
	h->v.version = h->version;
	h->v.etag = h->etag;
	h->set = true;
}

struct at_walk {
	int64_t t;
	int (*each)(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err);
	void *ctx;
	struct held latest, at; /* of the key being walked (latest.key) */
};

static int flush_key(struct at_walk *w, struct ep_error *err)
{
	if (!w->latest.set)
		return 0;
	struct ep_s3_key_at k = { w->latest.key, w->at.set ? &w->at.v : NULL, &w->latest.v };
	int rc = w->each(w->ctx, &k, err);
	w->latest.set = w->at.set = false;
	return rc;
}

/* S3 lists a key's entries newest first: the first is the current one (IsLatest says so too),
 * the first at or before t the one current then. */
static int at_entry(void *ctx, const struct ep_s3_version *v, struct ep_error *err)
{
	struct at_walk *w = ctx;
	int rc = 0;
	if (w->latest.set && strcmp(w->latest.key, v->key))
		rc = flush_key(w, err);
	if (rc)
		return rc;
	if (!w->latest.set || (v->latest && !w->latest.v.latest))
		hold(&w->latest, v);
	if (!w->at.set && v->modified <= w->t)
		hold(&w->at, v);
	return 0;
}

int ep_s3_versions_at(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix, int64_t t,
		      int (*each)(void *ctx, const struct ep_s3_key_at *k, struct ep_error *err), void *ctx,
		      struct ep_error *err)
{
	struct at_walk *w = calloc(1, sizeof *w);
	if (!w)
		return ep_oom(err);
	*w = (struct at_walk){ .t = t, .each = each, .ctx = ctx };
	int rc = ep_s3_list_versions(s3, via, bucket, prefix, at_entry, w, err);
	if (!rc)
		rc = flush_key(w, err);
	free(w);
	return rc;
}

/* ---- one version ---- */

int ep_s3_versioning_enabled(struct ep_s3 *s3, const char *bucket, struct ep_error *err)
{
	struct ep_s3_url u = { 0 };
	char what[200];
	snprintf(u.bucket, sizeof u.bucket, "%s", bucket);
	snprintf(what, sizeof what, "s3: GetBucketVersioning of bucket '%s'", bucket);
	struct ep_http_response resp = { 0 };
	int rc = ep_s3_call(s3, &(struct ep_s3_call){ .method = "GET", .u = &u, .bucket_only = true, .query = "versioning" },
			    what, &resp, err);
	if (!rc && resp.status != 200)
		rc = ep_s3_status_error(&resp, what, err);
	struct ep_xml x;
	if (!rc && !(rc = ep_xml_parse(&x, resp.body ? resp.body : "", resp.body_len, what, "s3",
				       "VersioningConfiguration", NULL, err))) {
		char *status = ep_xml_get(&x, NULL, "/*/*[local-name()='Status']");
		if (!status || strcmp(status, "Enabled"))
			rc = (ep_fail(err, EP_EINPUT, "versioning is %s", status ? ep_printable(status) : "off"), 1);
		free(status);
		ep_xml_release(&x);
	}
	ep_http_response_release(&resp);
	return rc;
}

static int version_query(const char *version, char *q, size_t cap, struct ep_error *err)
{
	char *ev = ep_sigv4_encode(version, strlen(version), false);
	if (!ev)
		return ep_oom(err);
	int n = snprintf(q, cap, "versionId=%s", ev);
	free(ev);
	return n > 0 && (size_t)n < cap ? 0 : ep_fail(err, EP_EINPUT, "s3: version id '%.40s' is too long", version);
}

int ep_s3_get_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version,
		      size_t max, char **data, size_t *len, struct ep_error *err)
{
	char q[3 * VERSION_MAX + 16];
	int rc = version_query(version, q, sizeof q, err);
	return rc ? rc : ep_s3_get_query(s3, via, u, q, max, data, len, err);
}

int ep_s3_copy_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version,
		       const struct ep_s3_lock *lock, struct ep_error *err)
{
	char q[3 * VERSION_MAX + 16], what[1500], date[EP_UTC_LEN], *source = NULL;
	char *ekey = ep_sigv4_encode(u->key, strlen(u->key), true);
	int rc = version_query(version, q, sizeof q, err);
	if (!rc && (!ekey || asprintf(&source, "/%s/%s?%s", u->bucket, ekey, q) < 0))
		rc = (source = NULL, ep_oom(err));
	free(ekey);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "s3: CopyObject s3://%s/%s (version %s)", u->bucket, u->key, version);
	struct ep_sigv4_header sign[3] = { { "x-amz-copy-source", source } };
	size_t nsign = 1;
	if (lock) {
		ep_utc_format(lock->until, date, sizeof date);
		sign[nsign++] = (struct ep_sigv4_header){ "x-amz-object-lock-mode", lock->mode };
		sign[nsign++] = (struct ep_sigv4_header){ "x-amz-object-lock-retain-until-date", date };
	}
	struct ep_http_response resp = { 0 };
	rc = ep_s3_call(s3, &(struct ep_s3_call){ .via = via, .method = "PUT", .u = u, .sign = sign, .nsign = nsign },
			what, &resp, err);
	free(source);
	if (!rc && resp.status != 200)
		rc = ep_s3_denied(&resp, what, err);
	struct ep_xml x;
	/* S3 may answer 200 and fail in the body: only a CopyObjectResult is a copy */
	if (!rc && !(rc = ep_xml_parse(&x, resp.body ? resp.body : "", resp.body_len, what, "s3", "CopyObjectResult",
				       NULL, err)))
		ep_xml_release(&x);
	ep_http_response_release(&resp);
	return rc;
}

/* ---- one key's versions: removed, and create-only publication on a versioned bucket ---- */

/* One version of a key, as ListObjectVersions lists it: newest first. */
struct key_version {
	char id[256];
	bool marker, latest; /* a delete marker; the current version */
	int64_t mtime;       /* LastModified, seconds since the epoch */
	uint64_t size;       /* 0 for a delete marker */
};

struct key_versions {
	const char *key;
	struct key_version *vs;
	size_t n, cap;
};

static int key_version_each(void *ctx, const struct ep_s3_version *v, struct ep_error *err)
{
	struct key_versions *kv = ctx;
	if (strcmp(v->key, kv->key) != 0 || strlen(v->version) >= sizeof kv->vs->id)
		return 0; /* a longer key under the same prefix */
	if (!ep_grow((void **)&kv->vs, &kv->cap, kv->n + 1, sizeof *kv->vs))
		return ep_oom(err);
	struct key_version *e = &kv->vs[kv->n++];
	*e = (struct key_version){ .marker = v->deleted, .latest = v->latest, .mtime = v->modified, .size = v->size };
	snprintf(e->id, sizeof e->id, "%s", v->version);
	return 0;
}

/* Every version of the key (and its delete markers), newest first, into *vs (heap, free()). */
static int key_versions(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, struct key_version **vs,
			size_t *n, struct ep_error *err)
{
	struct key_versions kv = { .key = u->key };
	int rc = ep_s3_list_versions(s3, via, u->bucket, u->key, key_version_each, &kv, err);
	if (rc) {
		free(kv.vs);
		kv.vs = NULL, kv.n = 0;
	}
	*vs = kv.vs;
	*n = kv.n;
	return rc;
}

/* A DELETE of one version: 0 (or nothing there), 1 when refused with 403 AccessDenied (a
 * policy, or the version's retention; err set), or a failure. */
int ep_s3_delete_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version, bool bypass,
			 struct ep_error *err)
{
	char *ev = ep_sigv4_encode(version, strlen(version), false), query[800], what[1500];
	if (!ev)
		return ep_oom(err);
	snprintf(query, sizeof query, "versionId=%s", ev);
	free(ev);
	snprintf(what, sizeof what, "s3: DELETE s3://%s/%s (version %s)", u->bucket, u->key, version);
	struct ep_sigv4_header bypass_h = { "x-amz-bypass-governance-retention", "true" };
	struct ep_http_response resp;
	int rc = ep_s3_call(s3, &(struct ep_s3_call){ .via = via, .method = "DELETE", .u = u, .query = query,
					       .sign = &bypass_h, .nsign = bypass ? 1 : 0 },
			 what, &resp, err);
	if (!rc && resp.status != 204 && resp.status != 200 && resp.status != 404)
		rc = ep_s3_denied(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_s3_delete_versions(struct ep_s3 *s3, const struct ep_s3_url *u, bool bypass, unsigned *removed,
			  struct ep_error *err)
{
	struct key_version *vs;
	size_t n;
	*removed = 0;
	int rc = key_versions(s3, NULL, u, &vs, &n, err); /* every version first: deleting them pages the listing */
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = ep_s3_delete_version(s3, NULL, u, vs[i].id, bypass, err)))
			(*removed)++;
	free(vs);
	return rc == 1 ? EP_ERUNTIME : rc;
}

/* ---- create-only on a versioned bucket ---- */

/* The largest object whose bytes a writer that lost a race and may not remove its version
 * puts again (GET, then PUT) to make the winner's current; a larger one fails saying so. */
#define REPUT_MAX ((uint64_t)64 << 20)

/* Puts the winner's version's bytes (at most REPUT_MAX) as the object again, with lock. */
static int reput_version(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *version,
			 const struct ep_s3_lock *lock, struct ep_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = ep_s3_get_version(s3, via, u, version, (size_t)REPUT_MAX, &data, &len, err);
	if (rc == 1)
		rc = ep_fail(err, EP_ERUNTIME, "s3: s3://%s/%s: version %s is gone", u->bucket, u->key, version);
	if (!rc)
		rc = ep_s3_put_data_locked(s3, via, u, data, len, false, lock, err);
	free(data);
	return rc;
}

/* radosgw 16 takes If-None-Match: * on a versioned bucket as if it were absent: a PUT over an
 * object adds a version, and of two writers that both found the key free, both "create" it. So
 * after a create-only PUT that made version ours, the key's versions say who was first: any
 * version older than ours, and newer than the newest delete marker older than ours, was there
 * before ours, and the oldest of them is the winner's. The loser removes its version; a
 * credential that may not (append-only, or ours retained by Object Lock) puts the winner's
 * bytes again over it instead, so the winner's are current (a larger object than REPUT_MAX
 * fails saying that ours stays current). Either way it fails as a taken key does: EP_EINPUT,
 * "exists". Costs one ListObjectVersions per create-only PUT on a versioned bucket; a lost
 * race a DELETE more (or a GET and a PUT). */
int ep_s3_check_first(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *ours,
		      const struct ep_s3_lock *lock, struct ep_error *err)
{
	struct key_version *vs;
	size_t n, i = 0, winner = 0;
	int rc = key_versions(s3, via, u, &vs, &n, err);
	while (!rc && i < n && strcmp(vs[i].id, ours) != 0)
		i++;
	if (!rc && i == n)
		rc = ep_fail(err, EP_ERUNTIME, "s3: s3://%s/%s: the version this PUT made (%s) is not listed", u->bucket,
			     u->key, ours);
	for (size_t j = i + 1; !rc && j < n && !vs[j].marker; j++)
		winner = j; /* the versions before ours, back to a delete marker: the oldest is first */
	if (rc || !winner) {
		free(vs);
		return rc;
	}
	char first[256], note[600];
	struct ep_error why = { 0 };
	snprintf(first, sizeof first, "%s", vs[winner].id);
	uint64_t size = vs[winner].size;
	free(vs);
	rc = ep_s3_delete_version(s3, via, u, ours, false, &why);
	if (rc == 0)
		snprintf(note, sizeof note, "another writer's version %s came first; this one's was removed", first);
	else if (rc == 1 && size <= REPUT_MAX && !(rc = reput_version(s3, via, u, first, lock, &why)))
		snprintf(note, sizeof note, "another writer's version %s came first and is current again; this one's (%s) "
			 "stays, noncurrent: S3 refused its removal (a policy, or its retention)", first, ours);
	else if (rc == 1)
		snprintf(note, sizeof note, "another writer's version %s came first, but this one's (%s) is current: S3 "
			 "refused its removal (a policy, or its retention); remove that version with a credential that can",
			 first, ours);
	if (rc < 0) { /* could not clean up: that failure, with what it was doing */
		*err = why;
		return rc;
	}
	return ep_fail(err, EP_EINPUT, "s3://%s/%s exists (%s)", u->bucket, u->key, note);
}
