#include "cloud/remote.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/http.h"
#include "base/http_pool.h"
#include "cloud/s3.h"

/* Connections open at once at most: one per reader thread (restore and verify run one
 * per CPU); more readers take turns rather than open ever more sockets on the server. */
#define CONNECTIONS_MAX 16

struct ep_remote {
	struct ep_s3 *s3; /* s3:// */
	struct ep_s3_url u;
	struct ep_http *http; /* http(s)://: the connection the size was asked on, the model of the others */
	char *url;
	char name[1100];           /* url without credentials, for messages */
	struct ep_http_pool *pool; /* a connection per reader thread */
	atomic_uint_fast64_t requests, bytes;
};

bool ep_remote_is_url(const char *path)
{
	return !strncmp(path, "s3://", 5) || !strncmp(path, "https://", 8) || !strncmp(path, "http://", 7);
}

void ep_remote_public_url(const char *url, char *out, size_t cap)
{
	const char *sep = strstr(url, "://"), *authority = sep ? sep + 3 : url;
	size_t alen = strcspn(authority, "/?#");
	const char *at = memrchr(authority, '@', alen), *host = at ? at + 1 : authority;
	size_t rest = strcspn(host, "?#");
	snprintf(out, cap, "%.*s%.*s", (int)(authority - url), url, (int)rest, host);
}

static int http_size(struct ep_remote *r, uint64_t *size, struct ep_error *err)
{
	char what[300], cl[32];
	snprintf(what, sizeof what, "HEAD %.250s", r->name);
	struct ep_http_response resp;
	int rc = ep_http_send(r->http, &(struct ep_http_request){ .method = "HEAD", .url = r->url, .follow = true }, what,
			      &resp, err);
	if (!rc && resp.status != 200) {
		char d[300];
		ep_http_describe(&resp, d, sizeof d);
		rc = ep_fail(err, resp.status == 404 || resp.status == 403 ? EP_EINPUT : EP_ERUNTIME, "%s: %s", what, d);
	}
	if (!rc && !ep_http_header(&resp, "Content-Length", cl, sizeof cl))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the server gives no size", what);
	if (!rc)
		*size = strtoull(cl, NULL, 10);
	ep_http_response_release(&resp);
	return rc;
}

static int make_s3(void *s3, struct ep_http **out, struct ep_error *err)
{
	return ep_s3_connection(s3, out, err);
}

static int make_http(void *model, struct ep_http **out, struct ep_error *err)
{
	return ep_http_clone(model, out, err);
}

int ep_remote_open(struct ep_remote **out, const char *url, const struct ep_s3_options *opt, uint64_t *size,
		   struct ep_error *err)
{
	struct ep_remote *r = calloc(1, sizeof *r);
	if (!r || !(r->url = strdup(url))) {
		free(r);
		return ep_oom(err);
	}
	ep_remote_public_url(url, r->name, sizeof r->name);
	r->requests = 1; /* the HEAD that asks the size */
	int rc;
	if (!strncmp(url, "s3://", 5)) {
		static const struct ep_s3_options defaults;
		if (!(rc = ep_s3_url_parse(url, &r->u, err)) && !(rc = ep_s3_open(&r->s3, opt ? opt : &defaults, err)) &&
		    !(rc = ep_http_pool_new(&r->pool, CONNECTIONS_MAX, make_s3, r->s3, err)))
			rc = ep_s3_head(r->s3, &r->u, size, err) == 1 ? 0
			     : err->code				? err->code
									: ep_fail(err, EP_EINPUT, "'%s' does not exist", url);
	} else if (!(rc = ep_http_new(&r->http, opt ? &opt->http : NULL, err))) {
		if ((rc = ep_http_pool_new(&r->pool, CONNECTIONS_MAX, make_http, r->http, err)))
			ep_http_free(r->http);
		else
			ep_http_pool_adopt(r->pool, r->http); /* the first reader's too */
		if (!rc)
			rc = http_size(r, size, err);
	}
	if (rc) {
		ep_remote_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int ep_remote_pread(struct ep_remote *r, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct ep_http *c;
	int rc = ep_http_pool_take(r->pool, &c, err);
	if (rc)
		return rc;
	rc = r->s3 ? ep_s3_read_range(r->s3, c, &r->u, buf, len, off, err)
		   : ep_http_get_range(c, r->url, buf, len, off, r->name, err);
	ep_http_pool_give_back(r->pool, c);
	atomic_fetch_add_explicit(&r->requests, 1, memory_order_relaxed);
	if (!rc)
		atomic_fetch_add_explicit(&r->bytes, len, memory_order_relaxed);
	return rc;
}

void ep_remote_counts(struct ep_remote *r, uint64_t *requests, uint64_t *bytes)
{
	*requests = atomic_load(&r->requests);
	*bytes = atomic_load(&r->bytes);
}

int ep_remote_plan(const char *url, const struct ep_s3_options *opt, uint64_t first,
		   void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	if (strncmp(url, "s3://", 5)) {
		char range[80];
		snprintf(range, sizeof range, "Range: bytes=0-%llu", (unsigned long long)(first ? first - 1 : 0));
		const char *headers[] = { range, NULL };
		int rc = ep_http_show(&(struct ep_http_request){ .method = "HEAD", .url = url }, emit, ctx, err);
		return rc ? rc
			  : ep_http_show(&(struct ep_http_request){ .method = "GET", .url = url, .headers = headers }, emit,
					 ctx, err);
	}
	/* nothing is sent: signed with placeholders, masked when shown, so no credential is needed */
	static const struct ep_sigv4_creds placeholder = { "AKIAIOSFODNN7EXAMPLE", "DRY-RUN-PLACEHOLDER", NULL };
	struct ep_s3_options o = opt ? *opt : (struct ep_s3_options){ 0 };
	o.creds = &placeholder;
	struct ep_s3_url u;
	struct ep_s3 *s3 = NULL;
	int rc = ep_s3_url_parse(url, &u, err);
	if (!rc && !(rc = ep_s3_open(&s3, &o, err)))
		rc = ep_s3_plan_read(s3, &u, first, emit, ctx, err);
	ep_s3_close(s3);
	return rc;
}

void ep_remote_close(struct ep_remote *r)
{
	if (!r)
		return;
	ep_http_pool_free(r->pool); /* every connection is idle by now, r->http among them */
	ep_s3_close(r->s3);
	free(r->url);
	free(r);
}
