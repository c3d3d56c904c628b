#include "cloud/s3.h"

#include "cloud/credfile.h"
#include "cloud/s3_impl.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cloud/sigv4.h"
#include "base/util.h"
#include "base/xml.h"

#define ANSWER_MAX ((size_t)4 << 20)
#define PARTS_MAX 10000
#define MIB ((uint64_t)1 << 20)
/* A push with no --part-size: an object up to AUTO_PART goes as one PUT (a multipart
 * upload's five more round trips cost more than its parallelism saves there), a larger one
 * in parts of AUTO_PART, enough of them that the connections all have parts to send (64 MiB
 * parts left a 150 MiB bundle 3 parts for 4 connections), few enough that requests cost
 * little (8 MiB parts, awscli's, were 5-12 % slower on radosgw and s3rver); past AUTO_PARTS
 * parts, AUTO_PARTS larger ones (32 GiB: 32 MiB parts; S3's 5 GiB parts at 5 TiB, its
 * largest object). bench/push.sh measured these, on loopback and across an emulated
 * 100 MB/s link 20 ms away (8 MiB parts and 16 connections no faster there either). */
#define AUTO_PART (16 * MIB)
#define AUTO_PARTS 1024
#define JOBS_DEFAULT 10

struct ep_s3 {
	struct ep_http *http;
	char *access, *secret, *token;
	char base[300]; /* "http://127.0.0.1:9000" (path-style) or "https://s3.REGION.amazonaws.com" */
	bool path_style;
	char region[64];
	uint64_t part_size; /* 0: chosen by the object's size (part_size_for) */
	unsigned jobs;                     /* parts sent at once */
	struct ep_http_options http_opt;   /* for the connections of those */
	const char *if_absent;             /* the header that makes a write create-only */
	atomic_uint_fast64_t sent[EP_S3_KINDS]; /* requests sent, by kind (every thread's) */
};

int ep_s3_url_parse(const char *text, struct ep_s3_url *out, struct ep_error *err)
{
	*out = (struct ep_s3_url){ 0 };
	if (strncmp(text, "s3://", 5) != 0)
		return ep_fail(err, EP_EINPUT, "'%s' is not an s3://BUCKET/KEY address", text);
	const char *b = text + 5, *slash = strchr(b, '/');
	size_t n = slash ? (size_t)(slash - b) : strlen(b);
	if (n < 3 || n > 63 || !slash || !slash[1] || strlen(slash + 1) >= sizeof out->key)
		return ep_fail(err, EP_EINPUT, "'%s': name a bucket (3 to 63 characters) and a key", text);
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' || b[i] == '.'))
			return ep_fail(err, EP_EINPUT, "'%s': a bucket name is lowercase letters, digits, '-' and '.'", text);
	for (const char *p = slash + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ep_fail(err, EP_EINPUT, "'%s': the key holds a control character", text);
	memcpy(out->bucket, b, n);
	snprintf(out->key, sizeof out->key, "%s", slash + 1);
	return 0;
}

/* ---- credentials ---- */

/* The profile's keys from the shared credentials file, which only its owner may read. */
static int load_file(struct ep_s3 *s3, struct ep_error *err)
{
	const char *profile = getenv("AWS_PROFILE");
	static const char *const keys[] = { "aws_access_key_id", "aws_secret_access_key", "aws_session_token" };
	char *values[3] = { NULL };
	int rc = ep_ini_secrets("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", "s3: the credentials file",
				profile && *profile ? profile : "default", keys, values, 3, err);
	s3->access = values[0], s3->secret = values[1], s3->token = values[2];
	return rc;
}

static int load_creds(struct ep_s3 *s3, const struct ep_sigv4_creds *given, struct ep_error *err)
{
	const char *a = getenv("AWS_ACCESS_KEY_ID"), *s = getenv("AWS_SECRET_ACCESS_KEY"), *t = getenv("AWS_SESSION_TOKEN");
	if (given && (!given->access_key || !*given->access_key || !given->secret_key || !*given->secret_key))
		return ep_fail(err, EP_EINPUT, "s3: the credentials given are empty");
	if (given)
		a = given->access_key, s = given->secret_key, t = given->session_token;
	if (a && *a && s && *s) {
		if (!(s3->access = strdup(a)) || !(s3->secret = strdup(s)) || (t && *t && !(s3->token = strdup(t))))
			return ep_oom(err);
		return 0;
	}
	int rc = load_file(s3, err);
	if (!rc && (!s3->access || !s3->secret))
		rc = ep_fail(err, EP_EINPUT, "s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to ~/.aws/credentials (mode 600)");
	return rc;
}

int ep_s3_open(struct ep_s3 **out, const struct ep_s3_options *opt, struct ep_error *err)
{
	struct ep_s3 *s3 = calloc(1, sizeof *s3);
	if (!s3)
		return ep_oom(err);
	const char *region = opt->region ? opt->region : getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	snprintf(s3->region, sizeof s3->region, "%s", region && *region ? region : "us-east-1");
	/* the service's own variable first, as the AWS tools read them */
	const char *endpoint = opt->endpoint ? opt->endpoint : getenv("AWS_ENDPOINT_URL_S3");
	if (!endpoint || !*endpoint)
		endpoint = getenv("AWS_ENDPOINT_URL");
	int rc = 0;
	if (endpoint && *endpoint) {
		rc = ep_http_endpoint(endpoint, s3->base, sizeof s3->base, "s3: --endpoint", err);
		s3->path_style = true;
	} else {
		snprintf(s3->base, sizeof s3->base, "https://s3.%s.amazonaws.com", s3->region);
	}
	s3->part_size = opt->part_size;
	s3->jobs = opt->jobs ? opt->jobs : JOBS_DEFAULT;
	s3->http_opt = opt->http;
	s3->if_absent = opt->if_absent ? opt->if_absent : "If-None-Match: *";
	if (!rc && s3->part_size && s3->part_size < EP_S3_PART_MIN)
		rc = ep_fail(err, EP_EINPUT, "s3: parts are at least 5 MiB");
	if (!rc)
		rc = load_creds(s3, opt->creds, err);
	if (!rc)
		rc = ep_http_new(&s3->http, &opt->http, err);
	if (rc) {
		ep_s3_close(s3);
		return rc;
	}
	*out = s3;
	return 0;
}

void ep_s3_close(struct ep_s3 *s3)
{
	if (!s3)
		return;
	ep_http_free(s3->http);
	if (s3->secret)
		OPENSSL_cleanse(s3->secret, strlen(s3->secret));
	free(s3->access);
	free(s3->secret);
	free(s3->token);
	free(s3);
}

void ep_s3_creds(const struct ep_s3 *s3, struct ep_sigv4_creds *out)
{
	*out = (struct ep_sigv4_creds){ s3->access, s3->secret, s3->token };
}

const char *ep_s3_region(const struct ep_s3 *s3)
{
	return s3->region;
}

/* ---- requests ---- */

struct s3_req {
	struct ep_http *via; /* the connection to use; NULL: the client's own */
	const char *method;
	const struct ep_s3_url *u;
	bool bucket_only;  /* the bucket itself (list uploads), not the key */
	const char *query; /* encoded, without '?' */
	const char *extra; /* one more header, unsigned ("If-None-Match: *", "Range: ..."), or NULL */
	const struct ep_sigv4_header *sign; /* headers sent and signed (Content-MD5, x-amz-object-lock-...) */
	size_t nsign;
	const void *data;  /* a body in memory, signed ... */
	size_t data_len;
	const struct ep_http_body *body; /* ... or streamed, UNSIGNED-PAYLOAD */
	int (*sink)(void *ctx, const void *data, size_t len, struct ep_error *err);
	int (*check_answer)(void *ctx, const struct ep_http_response *resp, struct ep_error *err);
	void *sink_ctx;
};

/* A signed request: its URL and headers (heap, in *held, for s3_release). */
#define SIGNED_EXTRA_MAX 4
struct s3_signed {
	char url[4000];
	const char *headers[8 + SIGNED_EXTRA_MAX];
	char *auth;
	char *lines[SIGNED_EXTRA_MAX]; /* the signed extra headers, "Name: value" */
	struct ep_sigv4 sig;
};

static void s3_release(struct s3_signed *q)
{
	free(q->auth);
	for (size_t i = 0; i < SIGNED_EXTRA_MAX; i++)
		free(q->lines[i]);
	ep_sigv4_release(&q->sig);
}

static int s3_sign(struct ep_s3 *s3, const struct s3_req *r, struct s3_signed *q, struct ep_error *err)
{
	char *key = r->bucket_only ? strdup("") : ep_sigv4_encode(r->u->key, strlen(r->u->key), true);
	char path[3400], host[300], amz_date[20], hash[EP_DIGEST_HEX];
	*q = (struct s3_signed){ 0 };
	if (!key)
		return ep_oom(err);
	const char *h = strstr(s3->base, "://") + 3;
	if (s3->path_style) {
		snprintf(host, sizeof host, "%s", h);
		snprintf(path, sizeof path, "/%s%s%s", r->u->bucket, r->bucket_only ? "" : "/", key);
	} else {
		snprintf(host, sizeof host, "%s.%s", r->u->bucket, h);
		snprintf(path, sizeof path, "/%s", key);
	}
	free(key);
	snprintf(q->url, sizeof q->url, "%.*s%s%s%s%s", (int)(h - s3->base), s3->base, host, path, r->query ? "?" : "",
		 r->query ? r->query : "");
	time_t now = time(NULL);
	struct tm tm;
	strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	if (!r->body) {
		uint8_t d[EP_DIGEST_LEN];
		ep_sha256(r->data ? r->data : "", r->data_len, d);
		ep_hex(d, EP_DIGEST_LEN, hash);
	}
	struct ep_sigv4_header signed_headers[1 + SIGNED_EXTRA_MAX] = { { "host", host } };
	size_t nsigned = 1;
	if (r->nsign > SIGNED_EXTRA_MAX)
		return ep_fail(err, EP_ERUNTIME, "s3: %zu headers to sign, %d at most", r->nsign, SIGNED_EXTRA_MAX);
	for (size_t i = 0; i < r->nsign; i++)
		signed_headers[nsigned++] = r->sign[i];
	struct ep_sigv4_request sreq = { .method = r->method, .path = path, .query = r->query, .headers = signed_headers,
					 .nheaders = nsigned, .payload_hash = r->body ? EP_SIGV4_UNSIGNED_PAYLOAD : hash,
					 .region = s3->region, .service = "s3", .amz_date = amz_date,
					 .flags = EP_SIGV4_CONTENT_SHA256 };
	struct ep_sigv4_creds creds = { s3->access, s3->secret, s3->token };
	int rc = ep_sigv4_sign(&sreq, &creds, &q->sig, err);
	if (!rc && asprintf(&q->auth, "Authorization: %s", q->sig.authorization) < 0) {
		q->auth = NULL;
		rc = ep_oom(err);
	}
	size_t n = 0;
	q->headers[n++] = q->auth;
	for (size_t i = 0; i < 4 && q->sig.headers[i]; i++)
		q->headers[n++] = q->sig.headers[i];
	for (size_t i = 1; !rc && i < nsigned; i++) {
		if (asprintf(&q->lines[i - 1], "%s: %s", signed_headers[i].name, signed_headers[i].value) < 0) {
			q->lines[i - 1] = NULL;
			rc = ep_oom(err);
		} else {
			q->headers[n++] = q->lines[i - 1];
		}
	}
	if (r->extra)
		q->headers[n++] = r->extra;
	if (rc)
		s3_release(q);
	return rc;
}

static struct ep_http_request s3_http_request(const struct s3_req *r, const struct s3_signed *q)
{
	return (struct ep_http_request){ .method = r->method, .url = q->url, .headers = q->headers, .data = r->data,
					 .data_len = r->data_len, .body = r->body, .sink = r->sink,
					 .check_answer = r->check_answer, .sink_ctx = r->sink_ctx, .max_body = ANSWER_MAX };
}

/* What a request is, for the counts (a bucket's GET lists it; a PUT of ?retention sets one). */
static enum ep_s3_kind kind_of(const struct s3_req *r)
{
	bool retention = r->query && !strncmp(r->query, "retention", 9);
	if (!strcmp(r->method, "PUT"))
		return retention ? EP_S3_RETENTION : EP_S3_PUT;
	if (!strcmp(r->method, "GET") && r->bucket_only)
		return r->query && strstr(r->query, "object-lock") ? EP_S3_OTHER : EP_S3_LIST;
	if (!strcmp(r->method, "GET"))
		return EP_S3_GET;
	if (!strcmp(r->method, "HEAD"))
		return EP_S3_HEAD;
	return !strcmp(r->method, "DELETE") ? EP_S3_DELETE : EP_S3_OTHER;
}

static int s3_send(struct ep_s3 *s3, const struct s3_req *r, const char *what, struct ep_http_response *resp,
		   struct ep_error *err)
{
	atomic_fetch_add_explicit(&s3->sent[kind_of(r)], 1, memory_order_relaxed);
	struct s3_signed q;
	int rc = s3_sign(s3, r, &q, err);
	if (rc)
		return rc;
	struct ep_http_request req = s3_http_request(r, &q);
	rc = ep_http_send(r->via ? r->via : s3->http, &req, what, resp, err);
	s3_release(&q);
	return rc;
}

/* Hands emit the request r as text (credentials masked), sending nothing. */
static int s3_show(struct ep_s3 *s3, const struct s3_req *r, void (*emit)(void *ctx, const char *text), void *ctx,
		   struct ep_error *err)
{
	struct s3_signed q;
	int rc = s3_sign(s3, r, &q, err);
	if (rc)
		return rc;
	struct ep_http_request req = s3_http_request(r, &q);
	char *text = ep_http_request_text(&req);
	s3_release(&q);
	if (!text)
		return ep_oom(err);
	emit(ctx, text);
	free(text);
	return 0;
}

/* "403 AccessDenied: Access Denied", from S3's XML error body when there is one. */
static int status_error(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	struct ep_xml x;
	struct ep_error ignored;
	char *code = NULL, *msg = NULL;
	if (resp->body_len && !ep_xml_parse(&x, resp->body, resp->body_len, "answer", "s3", "Error", NULL, &ignored)) {
		code = ep_xml_get(&x, NULL, "/Error/Code");
		msg = ep_xml_get(&x, NULL, "/Error/Message");
		ep_xml_release(&x);
	}
	/* the store refusing the credentials (403) is a runtime failure, as every cloud's is: exit 1 */
	int ec = resp->status == 412 || resp->status == 404 || resp->status == 400 ? EP_EINPUT : EP_ERUNTIME;
	if (code)
		ep_fail(err, ec, "%s: %ld %s: %s", what, resp->status, ep_printable(code), msg ? ep_printable(msg) : "");
	else {
		char d[300];
		ep_http_describe(resp, d, sizeof d);
		ep_fail(err, ec, "%s: %s", what, d);
	}
	free(code);
	free(msg);
	return ec;
}

/* The first text of expr in an XML answer; NULL when absent. */
static char *answer_get(const struct ep_http_response *resp, const char *root, const char *expr)
{
	struct ep_xml x;
	struct ep_error ignored;
	if (ep_xml_parse(&x, resp->body ? resp->body : "", resp->body_len, "answer", "s3", root, NULL, &ignored))
		return NULL;
	char *v = ep_xml_get(&x, NULL, expr);
	ep_xml_release(&x);
	return v;
}

int ep_s3_head(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t *size, struct ep_error *err)
{
	return ep_s3_head_via(s3, NULL, u, size, err);
}

int ep_s3_head_via(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, uint64_t *size,
		   struct ep_error *err)
{
	char what[1200], cl[32];
	snprintf(what, sizeof what, "s3: HEAD s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "HEAD", .u = u }, what, &resp, err);
	if (!rc)
		rc = resp.status == 200 ? 1 : resp.status == 404 ? 0 : status_error(&resp, what, err);
	if (rc == 1 && size)
		*size = ep_http_header(&resp, "Content-Length", cl, sizeof cl) ? strtoull(cl, NULL, 10) : 0;
	ep_http_response_release(&resp);
	return rc;
}

/* A DELETE: 0 done (or nothing there), 1 refused by a policy (403 AccessDenied), or a failure.
 * marker (cap bytes), when not NULL: the version of the delete marker it made on a versioned
 * bucket (its x-amz-version-id), "" when it made none. */
static int send_delete(struct ep_s3 *s3, const struct ep_s3_url *u, char *marker, size_t cap, struct ep_error *err)
{
	char what[1200];
	snprintf(what, sizeof what, "s3: DELETE s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	if (marker)
		marker[0] = '\0';
	int rc = s3_send(s3, &(struct s3_req){ .method = "DELETE", .u = u }, what, &resp, err);
	if (!rc && resp.status != 204 && resp.status != 200 && resp.status != 404) {
		/* not a bad signature or an unknown key, also 403: the credential is known, and denied */
		char *code = resp.status == 403 ? answer_get(&resp, "Error", "/Error/Code") : NULL;
		rc = status_error(&resp, what, err);
		if (code && !strcmp(code, "AccessDenied"))
			rc = 1;
		free(code);
	} else if (!rc && marker && !ep_http_header(&resp, "x-amz-version-id", marker, cap)) {
		marker[0] = '\0';
	}
	ep_http_response_release(&resp);
	return rc;
}

int ep_s3_delete(struct ep_s3 *s3, const struct ep_s3_url *u, struct ep_error *err)
{
	int rc = send_delete(s3, u, NULL, 0, err);
	return rc == 1 ? EP_ERUNTIME : rc;
}

int ep_s3_may_delete(struct ep_s3 *s3, const struct ep_s3_url *u, struct ep_error *err)
{
	char marker[256];
	int rc = send_delete(s3, u, marker, sizeof marker, err);
	if (!rc && *marker) {
		/* a versioned bucket: the probe made a delete marker, removed so that probes leave nothing;
		 * refused (a policy allowing DeleteObject but not DeleteObjectVersion), it stays: the
		 * probe has answered all the same */
		struct ep_error ignored = { 0 };
		ep_s3_delete_version(s3, NULL, u, marker, false, &ignored);
	}
	return rc;
}

static void etag_of(const struct ep_http_response *resp, char *out, size_t cap);
static void version_of(const struct ep_http_response *resp, char out[256]);

int ep_s3_connection(struct ep_s3 *s3, struct ep_http **out, struct ep_error *err)
{
	return ep_http_new(out, &s3->http_opt, err);
}

/* ---- objects in memory (a store's) ---- */

static int md5_of(const void *data, size_t len, uint8_t d[16], struct ep_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_md5(), NULL) && EVP_DigestUpdate(md, data ? data : "", len) &&
		 EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	return ok ? 0 : ep_oom(err);
}

/* The headers of a retention, signed: its mode and date, and the body's Content-MD5 that S3
 * requires with them (md5: the body's). h holds 3; date and b64 are their buffers. */
static size_t lock_headers(const struct ep_s3_lock *lock, const uint8_t md5[16], struct ep_sigv4_header *h,
			   char date[32], char b64[32])
{
	EVP_EncodeBlock((unsigned char *)b64, md5, 16);
	ep_utc_format(lock->until, date, 32); /* as S3 takes a retain-until date */
	h[0] = (struct ep_sigv4_header){ "Content-MD5", b64 };
	h[1] = (struct ep_sigv4_header){ "x-amz-object-lock-mode", lock->mode };
	h[2] = (struct ep_sigv4_header){ "x-amz-object-lock-retain-until-date", date };
	return 3;
}

int ep_s3_put_data_locked(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const void *data,
			  size_t len, bool if_absent, const struct ep_s3_lock *lock, struct ep_error *err)
{
	char what[1200], etag[100], md5hex[33], date[32], b64[32];
	uint8_t d[16];
	struct ep_sigv4_header sign[3];
	snprintf(what, sizeof what, "s3: PUT s3://%s/%s", u->bucket, u->key);
	int rc = md5_of(data, len, d, err);
	if (rc)
		return rc;
	size_t nsign = lock ? lock_headers(lock, d, sign, date, b64) : 0;
	struct ep_http_response resp = { 0 };
	rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "PUT", .u = u,
					   .extra = if_absent ? "If-None-Match: *" : NULL, .sign = sign, .nsign = nsign,
					   .data = data ? data : "", .data_len = len },
		     what, &resp, err);
	if (!rc && resp.status == 412 && if_absent)
		rc = ep_fail(err, EP_EINPUT, "s3://%s/%s exists", u->bucket, u->key);
	else if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	if (!rc) {
		ep_hex(d, 16, md5hex);
		etag_of(&resp, etag, sizeof etag);
		if (strcmp(etag, md5hex) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the store answered ETag %s for bytes whose MD5 is %s", what, etag, md5hex);
	}
	char version[256];
	version_of(&resp, version);
	ep_http_response_release(&resp);
	/* a versioned bucket may have taken it over another's version: see who was first. Of the
	 * store's create-only objects only config.json relies on it; snapshots, their signatures and
	 * drill records are named by their content, lock records and claims uniquely by their writer */
	if (!rc && if_absent && version[0])
		rc = ep_s3_check_first(s3, via, u, version, lock, err);
	return rc;
}

int ep_s3_put_data(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const void *data, size_t len,
		   bool if_absent, struct ep_error *err)
{
	return ep_s3_put_data_locked(s3, via, u, data, len, if_absent, NULL, err);
}

struct mem_sink {
	char *buf;
	size_t len, cap, max;
	const char *what;
};

static int mem_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct mem_sink *m = ctx;
	if (len > m->max - m->len)
		return ep_fail(err, EP_EINTEGRITY, "%s: the object is larger than %zu bytes", m->what, m->max);
	if (m->len + len + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 64 << 10;
		while (cap < m->len + len + 1)
			cap *= 2;
		char *p = realloc(m->buf, cap);
		if (!p)
			return ep_oom(err);
		m->buf = p;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

int ep_s3_get_query(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *query, size_t max,
		    char **data, size_t *len, struct ep_error *err)
{
	char what[1200];
	snprintf(what, sizeof what, "s3: GET s3://%s/%s%s%s", u->bucket, u->key, query ? "?" : "", query ? query : "");
	struct mem_sink m = { .max = max, .what = what };
	int rc;
	for (unsigned tries = 0;; tries++) {
		struct ep_http_response resp = { 0 };
		m.len = 0;
		rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "GET", .u = u, .query = query, .sink = mem_sink,
						   .sink_ctx = &m },
			     what, &resp, err);
		if (!rc && resp.status == 404)
			rc = 1;
		else if (!rc && resp.status != 200)
			rc = status_error(&resp, what, err);
		bool again = rc == EP_ERUNTIME && resp.sunk > 0 && tries < 3; /* dropped midway: from the start */
		ep_http_response_release(&resp);
		if (!again)
			break;
	}
	if (!rc && !m.buf && !(m.buf = calloc(1, 1)))
		rc = ep_oom(err);
	if (rc) {
		free(m.buf);
		return rc;
	}
	*data = m.buf;
	*len = m.len;
	return 0;
}

int ep_s3_get_data(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, size_t max, char **data,
		   size_t *len, struct ep_error *err)
{
	return ep_s3_get_query(s3, via, u, NULL, max, data, len, err);
}

/* "2026-11-28T22:57:17.000Z" -> seconds since the epoch; 0 when it is not that. */
static int64_t iso_time(const char *s)
{
	struct tm tm = { 0 };
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			 &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

int ep_s3_list(struct ep_s3 *s3, struct ep_http *via, const char *bucket, const char *prefix,
	       int (*each)(void *ctx, const char *key, uint64_t size, int64_t mtime, struct ep_error *err), void *ctx,
	       struct ep_error *err)
{
	struct ep_s3_url u = { 0 };
	snprintf(u.bucket, sizeof u.bucket, "%s", bucket);
	char what[1200], *token = NULL, *eprefix = ep_sigv4_encode(prefix, strlen(prefix), false);
	snprintf(what, sizeof what, "s3: listing s3://%s/%s", bucket, prefix);
	int rc = eprefix ? 0 : ep_oom(err);
	for (unsigned long page = 0; !rc; page++) {
		char *etoken = token ? ep_sigv4_encode(token, strlen(token), false) : NULL, *query = NULL;
		if ((token && !etoken) ||
		    asprintf(&query, "%s%s%slist-type=2&max-keys=1000&prefix=%s", token ? "continuation-token=" : "",
			     token ? etoken : "", token ? "&" : "", eprefix) < 0) {
			free(etoken);
			rc = ep_oom(err);
			break;
		}
		free(etoken);
		struct ep_http_response resp = { 0 };
		rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "GET", .u = &u, .bucket_only = true, .query = query }, what,
			     &resp, err);
		free(query);
		if (!rc && resp.status != 200)
			rc = status_error(&resp, what, err);
		struct ep_xml x;
		bool more = false;
		if (!rc && !(rc = ep_xml_parse(&x, resp.body ? resp.body : "", resp.body_len, what, "s3", "ListBucketResult",
					       NULL, err))) {
			xmlXPathObjectPtr o = ep_xml_all(&x, NULL, "/*[local-name()='ListBucketResult']/*[local-name()='Contents']");
			for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
				xmlNodePtr n = o->nodesetval->nodeTab[i];
				uint64_t size = 0;
				char *key = ep_xml_get(&x, n, "*[local-name()='Key']");
				char *mod = ep_xml_get(&x, n, "*[local-name()='LastModified']");
				if (key && !strncmp(key, prefix, strlen(prefix)) && ep_xml_num(&x, n, "*[local-name()='Size']", &size))
					rc = each(ctx, key, size, iso_time(mod), err);
				free(key);
				free(mod);
			}
			xmlXPathFreeObject(o);
			char *trunc = ep_xml_get(&x, NULL, "/*[local-name()='ListBucketResult']/*[local-name()='IsTruncated']");
			char *next = ep_xml_get(&x, NULL, "/*[local-name()='ListBucketResult']/*[local-name()='NextContinuationToken']");
			more = trunc && !strcmp(trunc, "true");
			if (!rc && more && (!next || !*next || strlen(next) > 4096 || (token && !strcmp(next, token))))
				rc = ep_fail(err, EP_ERUNTIME, "%s: page %lu is truncated but names no new continuation", what, page + 1);
			free(token);
			token = next;
			free(trunc);
			ep_xml_release(&x);
		}
		ep_http_response_release(&resp);
		if (!more)
			break;
	}
	free(token);
	free(eprefix);
	return rc;
}

/* ---- putting ---- */

/* The size of an object's parts; 0: it goes as one PUT. The part size depends on the
 * object's size alone, not on -j, so that a re-run with other options still finds the
 * parts of the first. */
static uint64_t part_size_for(const struct ep_s3 *s3, uint64_t size)
{
	if (s3->part_size)
		return size <= s3->part_size ? 0 : s3->part_size;
	if (size <= AUTO_PART)
		return 0;
	uint64_t part = ((size + AUTO_PARTS - 1) / AUTO_PARTS + MIB - 1) / MIB * MIB; /* whole MiB */
	return part < AUTO_PART ? AUTO_PART : part;
}

/* Bytes sent so far, from every part at once, for the progress bar. */
struct tally {
	pthread_mutex_t lock;
	uint64_t done, total;
	const struct ep_progress *progress;
};

static void tally_add(struct tally *t, int64_t delta)
{
	pthread_mutex_lock(&t->lock);
	t->done += (uint64_t)delta;
	ep_progress_report(t->progress, t->done, t->total);
	pthread_mutex_unlock(&t->lock);
}

/* A range of the file, streamed as a body, its MD5 taken on the way (S3's ETag of a part). */
struct part_body {
	int fd;
	uint64_t off, len, sent;
	EVP_MD_CTX *md5;
	struct tally *tally;
};

static int part_read(void *ctx, void *buf, size_t cap, size_t *got, struct ep_error *err)
{
	struct part_body *p = ctx;
	size_t want = p->len - p->sent < cap ? (size_t)(p->len - p->sent) : cap;
	ssize_t n = want ? pread(p->fd, buf, want, (off_t)(p->off + p->sent)) : 0;
	if (n < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "s3: cannot read the file to upload");
	if ((size_t)n != want)
		return ep_fail(err, EP_ERUNTIME, "s3: the file to upload shrank");
	EVP_DigestUpdate(p->md5, buf, (size_t)n);
	p->sent += (uint64_t)n;
	tally_add(p->tally, n);
	*got = (size_t)n;
	return 0;
}

static int part_rewind(void *ctx, struct ep_error *err)
{
	struct part_body *p = ctx;
	tally_add(p->tally, -(int64_t)p->sent);
	p->sent = 0;
	return EVP_DigestInit_ex(p->md5, EVP_md5(), NULL) ? 0 : ep_oom(err);
}

/* The ETag header without its quotes, lowercase. */
static void etag_of(const struct ep_http_response *resp, char *out, size_t cap)
{
	char v[200] = "";
	ep_http_header(resp, "ETag", v, sizeof v);
	const char *p = v[0] == '"' ? v + 1 : v;
	snprintf(out, cap, "%.*s", (int)strcspn(p, "\""), p);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

/* Sends one range of fd (a whole object, or a part) and checks the ETag S3 answers with;
 * version (NULL: not wanted) gets the version a whole object's PUT made (version_of). */
static int put_range(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, const char *query,
		     const char *extra, int fd, uint64_t off, uint64_t len, struct tally *tally, char md5hex[33],
		     const char *what, long *status, char *version, struct ep_error *err)
{
	struct part_body p = { fd, off, len, 0, EVP_MD_CTX_new(), tally };
	if (!p.md5 || !EVP_DigestInit_ex(p.md5, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(p.md5);
		return ep_oom(err);
	}
	struct ep_http_body body = { len, part_read, part_rewind, &p };
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "PUT", .u = u, .query = query, .extra = extra,
					       .body = &body },
			 what, &resp, err);
	*status = resp.status;
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	uint8_t d[16];
	char etag[100];
	if (!rc) {
		EVP_DigestFinal_ex(p.md5, d, NULL);
		ep_hex(d, 16, md5hex);
		etag_of(&resp, etag, sizeof etag);
		if (strcmp(etag, md5hex) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the store answered ETag %s for bytes whose MD5 is %s", what, etag, md5hex);
	}
	if (version)
		version_of(&resp, version);
	ep_http_response_release(&resp);
	EVP_MD_CTX_free(p.md5);
	return rc;
}

/* The upload left by an earlier run for this key, to resume; "" when none. */
static int find_upload(struct ep_s3 *s3, const struct ep_s3_url *u, char *id, size_t cap, struct ep_error *err)
{
	char *prefix = ep_sigv4_encode(u->key, strlen(u->key), false), query[3200], what[1200];
	if (!prefix)
		return ep_oom(err);
	snprintf(query, sizeof query, "prefix=%s&uploads", prefix);
	free(prefix);
	snprintf(what, sizeof what, "s3: uploads under s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .method = "GET", .u = u, .bucket_only = true, .query = query }, what, &resp, err);
	id[0] = '\0';
	if (!rc && resp.status == 501) { /* a store that cannot list uploads: nothing to resume */
		ep_http_response_release(&resp);
		return 0;
	}
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	struct ep_xml x;
	if (!rc && !ep_xml_parse(&x, resp.body ? resp.body : "", resp.body_len, what, "s3", "ListMultipartUploadsResult",
				 NULL, err)) {
		xmlXPathObjectPtr o = ep_xml_all(&x, NULL, "//*[local-name()='Upload']");
		for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
			char *k = ep_xml_get(&x, o->nodesetval->nodeTab[i], "*[local-name()='Key']");
			char *v = ep_xml_get(&x, o->nodesetval->nodeTab[i], "*[local-name()='UploadId']");
			if (k && v && !strcmp(k, u->key) && strlen(v) < cap)
				snprintf(id, cap, "%s", v); /* the newest is listed last */
			free(k);
			free(v);
		}
		xmlXPathFreeObject(o);
		ep_xml_release(&x);
	}
	ep_http_response_release(&resp);
	return rc;
}

struct listed_part {
	char etag[40];
	uint64_t size;
};

/* The parts an upload holds already, by number. */
static int list_parts(struct ep_s3 *s3, const struct ep_s3_url *u, const char *query_id, struct listed_part *parts,
		      unsigned nparts, struct ep_error *err)
{
	char query[1200], what[1200];
	snprintf(query, sizeof query, "uploadId=%s", query_id);
	snprintf(what, sizeof what, "s3: parts of the upload to s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .method = "GET", .u = u, .query = query }, what, &resp, err);
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	struct ep_xml x;
	if (!rc && !(rc = ep_xml_parse(&x, resp.body ? resp.body : "", resp.body_len, what, "s3", "ListPartsResult", NULL,
				       err))) {
		xmlXPathObjectPtr o = ep_xml_all(&x, NULL, "//*[local-name()='Part']");
		for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
			xmlNodePtr n = o->nodesetval->nodeTab[i];
			uint64_t num = 0, size = 0;
			char *etag = ep_xml_get(&x, n, "*[local-name()='ETag']");
			if (ep_xml_num(&x, n, "*[local-name()='PartNumber']", &num) &&
			    ep_xml_num(&x, n, "*[local-name()='Size']", &size) && num >= 1 && num <= nparts && etag) {
				const char *e = etag[0] == '"' ? etag + 1 : etag;
				snprintf(parts[num - 1].etag, sizeof parts->etag, "%.*s", (int)strcspn(e, "\""), e);
				for (char *c = parts[num - 1].etag; *c; c++)
					*c = (char)tolower((unsigned char)*c);
				parts[num - 1].size = size;
			}
			free(etag);
		}
		xmlXPathFreeObject(o);
		ep_xml_release(&x);
	}
	ep_http_response_release(&resp);
	return rc;
}

static int start_upload(struct ep_s3 *s3, const struct ep_s3_url *u, char *id, size_t cap, struct ep_error *err)
{
	char what[1200];
	snprintf(what, sizeof what, "s3: starting the upload to s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .method = "POST", .u = u, .query = "uploads" }, what, &resp, err);
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	char *v = rc ? NULL : answer_get(&resp, "InitiateMultipartUploadResult", "//*[local-name()='UploadId']");
	if (!rc && (!v || strlen(v) >= cap))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer names no upload", what);
	if (!rc)
		snprintf(id, cap, "%s", v);
	free(v);
	ep_http_response_release(&resp);
	return rc;
}

/* Completes the upload, create-only; version gets the version it made (version_of). */
static int complete_upload(struct ep_s3 *s3, const struct ep_s3_url *u, const char *query_id, char (*md5s)[33],
			   unsigned nparts, char version[256], struct ep_error *err)
{
	char query[1200], what[1200];
	char *xml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&xml, &len);
	if (!f)
		return ep_oom(err);
	fputs("<CompleteMultipartUpload>", f);
	for (unsigned i = 0; i < nparts; i++)
		fprintf(f, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1, md5s[i]);
	fputs("</CompleteMultipartUpload>", f);
	if (fclose(f) != 0) {
		free(xml);
		return ep_oom(err);
	}
	snprintf(query, sizeof query, "uploadId=%s", query_id);
	snprintf(what, sizeof what, "s3: completing the upload to s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .method = "POST", .u = u, .query = query, .extra = s3->if_absent,
					       .data = xml, .data_len = len },
			 what, &resp, err);
	/* S3 may answer 200 and put an error in the body */
	char *code = !rc && resp.status == 200 ? answer_get(&resp, "Error", "/Error/Code") : NULL;
	if (!rc && (resp.status != 200 || code))
		rc = code ? ep_fail(err, EP_ERUNTIME, "%s: %s", what, ep_printable(code)) : status_error(&resp, what, err);
	version_of(&resp, version);
	free(code);
	free(xml);
	ep_http_response_release(&resp);
	return rc;
}

/* A multipart object's ETag: the MD5 of its parts' MD5s, then "-N". */
static void multipart_etag(char (*md5s)[33], unsigned n, char *out, size_t cap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t raw[16], d[16];
	char hex[33];
	EVP_DigestInit_ex(md, EVP_md5(), NULL);
	for (unsigned i = 0; i < n; i++) {
		ep_unhex(md5s[i], raw, 16);
		EVP_DigestUpdate(md, raw, 16);
	}
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	ep_hex(d, 16, hex);
	snprintf(out, cap, "%s-%u", hex, n);
}

/* What the part senders share: the next part to take, and the first failure. */
struct parts {
	struct ep_s3 *s3;
	const struct ep_s3_url *u;
	int fd;
	uint64_t size, part;
	const char *qid, *what;
	const struct listed_part *listed;
	char (*md5s)[33];
	unsigned nparts, next, resumed;
	struct tally *tally;
	pthread_mutex_t lock;
	int rc;
	struct ep_error err;
};

/* One part: kept when an earlier run left it whole (same size and MD5), else sent. */
static int send_part(struct parts *ps, struct ep_http *via, unsigned i, struct ep_error *err)
{
	uint64_t off = (uint64_t)i * ps->part;
	uint64_t len = ps->size - off < ps->part ? ps->size - off : ps->part;
	int rc = ps->listed[i].size == len ? ep_hash_fd(ps->fd, off, len, "md5", ps->md5s[i], "the file to upload", err) : 0;
	if (!rc && ps->listed[i].size == len && !strcmp(ps->md5s[i], ps->listed[i].etag)) {
		tally_add(ps->tally, (int64_t)len);
		pthread_mutex_lock(&ps->lock);
		ps->resumed++;
		pthread_mutex_unlock(&ps->lock);
		return 0;
	}
	char query[1300], what[1300];
	long status;
	snprintf(query, sizeof query, "partNumber=%u&uploadId=%s", i + 1, ps->qid);
	snprintf(what, sizeof what, "%s, part %u of %u", ps->what, i + 1, ps->nparts);
	return rc ? rc : put_range(ps->s3, via, ps->u, query, NULL, ps->fd, off, len, ps->tally, ps->md5s[i], what, &status, NULL, err);
}

static void *part_sender(void *arg)
{
	struct parts *ps = arg;
	struct ep_error err = { 0 };
	struct ep_http *via = NULL; /* a connection of its own */
	int rc = ep_http_new(&via, &ps->s3->http_opt, &err);
	for (;;) {
		pthread_mutex_lock(&ps->lock);
		unsigned i = ps->next;
		bool stop = rc || ps->rc || i == ps->nparts;
		if (!stop)
			ps->next++;
		pthread_mutex_unlock(&ps->lock);
		if (stop || (rc = send_part(ps, via, i, &err)))
			break;
	}
	pthread_mutex_lock(&ps->lock);
	if (rc && !ps->rc) {
		ps->rc = rc;
		ps->err = err;
	}
	pthread_mutex_unlock(&ps->lock);
	ep_http_free(via);
	return NULL;
}

/* Sends every part, s3->jobs at once. */
static int send_parts(struct parts *ps, struct ep_error *err)
{
	pthread_t threads[16];
	unsigned n = ps->s3->jobs < 16 ? ps->s3->jobs : 16, started = 0;
	if (n > ps->nparts)
		n = ps->nparts;
	pthread_mutex_init(&ps->lock, NULL);
	while (started < n && pthread_create(&threads[started], NULL, part_sender, ps) == 0)
		started++;
	if (started == 0)
		part_sender(ps); /* no thread to be had: send them here */
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&ps->lock);
	if (ps->rc)
		*err = ps->err;
	return ps->rc;
}

int ep_s3_put_file(struct ep_s3 *s3, const struct ep_s3_url *u, int fd, uint64_t size,
		   const struct ep_progress *progress, struct ep_s3_put_stats *stats, struct ep_error *err)
{
	char what[1200], md5[33];
	struct tally tally = { .total = size, .progress = progress };
	pthread_mutex_init(&tally.lock, NULL);
	*stats = (struct ep_s3_put_stats){ 0 };
	snprintf(what, sizeof what, "s3: s3://%s/%s", u->bucket, u->key);
	int rc;
	/* If-None-Match makes the one PUT conditional; an answer of 412 means the key is taken */
	char version[256] = "";
	uint64_t part = part_size_for(s3, size);
	if (!part) {
		long status = 0;
		rc = put_range(s3, NULL, u, NULL, s3->if_absent, fd, 0, size, &tally, md5, what, &status, version, err);
		pthread_mutex_destroy(&tally.lock);
		if (rc && status == 412)
			return ep_fail(err, EP_EINPUT, "%s exists; push never overwrites", what);
		return !rc && version[0] ? ep_s3_check_first(s3, NULL, u, version, NULL, err) : rc;
	}
	/* parts are many: look first rather than upload them all for a refusal (the completion is conditional too) */
	if ((rc = ep_s3_head(s3, u, NULL, err)) == 1)
		rc = ep_fail(err, EP_EINPUT, "%s exists; push never overwrites", what);
	uint64_t nparts64 = (size + part - 1) / part;
	if (!rc && nparts64 > PARTS_MAX)
		rc = ep_fail(err, EP_EINPUT, "%s: %llu parts; S3 takes %d at most (raise --part-size)", what,
			     (unsigned long long)nparts64, PARTS_MAX);
	unsigned nparts = rc ? 0 : (unsigned)nparts64;
	char id[1024], *qid = NULL;
	struct listed_part *listed = rc ? NULL : calloc(nparts, sizeof *listed);
	char(*md5s)[33] = rc ? NULL : calloc(nparts, sizeof *md5s);
	if (!rc)
		rc = listed && md5s ? find_upload(s3, u, id, sizeof id, err) : ep_oom(err);
	if (!rc && !id[0])
		rc = start_upload(s3, u, id, sizeof id, err);
	if (!rc && !(qid = ep_sigv4_encode(id, strlen(id), false)))
		rc = ep_oom(err);
	if (!rc)
		rc = list_parts(s3, u, qid, listed, nparts, err);
	stats->parts = nparts;
	struct parts ps = { .s3 = s3, .u = u, .fd = fd, .size = size, .part = part, .qid = qid, .what = what, .listed = listed,
			    .md5s = md5s, .nparts = nparts, .tally = &tally };
	if (!rc)
		rc = send_parts(&ps, err);
	stats->parts_resumed = ps.resumed;
	if (!rc)
		rc = complete_upload(s3, u, qid, md5s, nparts, version, err);
	if (!rc && version[0])
		rc = ep_s3_check_first(s3, NULL, u, version, NULL, err);
	/* the object must be what was sent: its size, and the ETag S3 makes of the parts' MD5s; by
	 * its version where the bucket keeps them (a loser's may be current for a moment) */
	char want[64], got[100], cl[32], *ev = version[0] ? ep_sigv4_encode(version, strlen(version), false) : NULL, *vq = NULL;
	struct ep_http_response resp = { 0 };
	if (!rc && version[0] && (!ev || asprintf(&vq, "versionId=%s", ev) < 0)) {
		vq = NULL;
		rc = ep_oom(err);
	}
	if (!rc)
		rc = s3_send(s3, &(struct s3_req){ .method = "HEAD", .u = u, .query = vq }, what, &resp, err);
	if (!rc && resp.status == 404)
		rc = ep_fail(err, EP_ERUNTIME, "%s: the upload completed but the object is not there", what);
	else if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	if (!rc) {
		uint64_t stored = ep_http_header(&resp, "Content-Length", cl, sizeof cl) ? strtoull(cl, NULL, 10) : 0;
		multipart_etag(md5s, nparts, want, sizeof want);
		etag_of(&resp, got, sizeof got);
		if (stored != size)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the store holds %llu bytes, not %llu", what,
				     (unsigned long long)stored, (unsigned long long)size);
		else if (strchr(got, '-') && strcmp(got, want) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the store's ETag %s is not %s, the parts' own", what, got, want);
	}
	ep_http_response_release(&resp);
	free(ev);
	free(vq);
	pthread_mutex_destroy(&tally.lock);
	free(qid);
	free(listed);
	free(md5s);
	return rc;
}

int ep_s3_plan_put(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t size,
		   void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	struct ep_http_body body = { .len = size };
	uint64_t part = part_size_for(s3, size);
	if (!part)
		return s3_show(s3, &(struct s3_req){ .method = "PUT", .u = u, .extra = s3->if_absent, .body = &body },
			       emit, ctx, err);
	uint64_t nparts = (size + part - 1) / part;
	char query[200];
	body.len = part;
	snprintf(query, sizeof query, "partNumber=1&uploadId=UPLOAD-ID");
	int rc = s3_show(s3, &(struct s3_req){ .method = "POST", .u = u, .query = "uploads=" }, emit, ctx, err);
	if (!rc)
		rc = s3_show(s3, &(struct s3_req){ .method = "PUT", .u = u, .query = query, .body = &body }, emit, ctx, err);
	if (!rc && nparts > 1) {
		char note[200];
		snprintf(note, sizeof note, "(parts 2 to %llu alike, %u at once; the last of %llu bytes)",
			 (unsigned long long)nparts, s3->jobs, (unsigned long long)(size - (nparts - 1) * part));
		emit(ctx, note);
	}
	if (!rc)
		rc = s3_show(s3, &(struct s3_req){ .method = "POST", .u = u, .query = "uploadId=UPLOAD-ID",
						   .extra = s3->if_absent, .data = "<CompleteMultipartUpload>...",
						   .data_len = 29 },
			     emit, ctx, err);
	return rc;
}

/* ---- getting ---- */

int ep_s3_plan_read(struct ep_s3 *s3, const struct ep_s3_url *u, uint64_t len, void (*emit)(void *ctx, const char *text),
		    void *ctx, struct ep_error *err)
{
	char range[80];
	snprintf(range, sizeof range, "Range: bytes=0-%llu", (unsigned long long)(len ? len - 1 : 0));
	int rc = s3_show(s3, &(struct s3_req){ .method = "HEAD", .u = u }, emit, ctx, err);
	return rc ? rc : s3_show(s3, &(struct s3_req){ .method = "GET", .u = u, .extra = range }, emit, ctx, err);
}


int ep_s3_read_range(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, void *buf, size_t len,
		     uint64_t off, struct ep_error *err)
{
	char what[1200], range[80];
	if (len == 0)
		return 0;
	snprintf(what, sizeof what, "s3: s3://%s/%s", u->bucket, u->key);
	snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)off, (unsigned long long)(off + len - 1));
	struct ep_http_range r = { buf, len, 0, off, what };
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "GET", .u = u, .extra = range, .sink = ep_http_range_sink,
					       .check_answer = ep_http_range_answer, .sink_ctx = &r },
			 what, &resp, err);
	if (!rc && resp.status != 206)
		rc = status_error(&resp, what, err);
	if (!rc)
		rc = ep_http_range_done(&r, err);
	ep_http_response_release(&resp);
	return rc;
}

struct get_ctx {
	ep_s3_sink_fn sink;
	void *ctx;
	uint64_t got;
	EVP_MD_CTX *md5;
	bool stuck;
	const struct ep_progress *progress;
	uint64_t total;
	const char *what;
};

static int get_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct get_ctx *g = ctx;
	int rc = g->sink(g->ctx, data, len, err);
	if (rc) {
		g->stuck = true;
		return rc;
	}
	EVP_DigestUpdate(g->md5, data, len);
	g->got += len;
	ep_progress_report(g->progress, g->got, g->total);
	return 0;
}

static int get_answer(void *ctx, const struct ep_http_response *resp, struct ep_error *err)
{
	struct get_ctx *g = ctx;
	char cl[32];
	if (!g->got) {
		if (ep_http_header(resp, "Content-Length", cl, sizeof cl))
			g->total = strtoull(cl, NULL, 10);
		return 0;
	}
	if (!ep_http_starts_at(resp, g->got)) {
		g->stuck = true;
		return ep_fail(err, EP_ERUNTIME, "%s: the store cannot resume the download where it stopped", g->what);
	}
	return 0;
}

int ep_s3_get_stream(struct ep_s3 *s3, const struct ep_s3_url *u, const char *what, ep_s3_sink_fn sink, void *ctx,
		     const struct ep_progress *progress, uint64_t *size, struct ep_error *err)
{
	char range[64], etag[100] = "", md5[33];
	struct get_ctx g = { sink, ctx, 0, EVP_MD_CTX_new(), false, progress, 0, what };
	if (!g.md5 || !EVP_DigestInit_ex(g.md5, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(g.md5);
		return ep_oom(err);
	}
	int rc = 0;
	for (unsigned tries = 0;; tries++) {
		uint64_t before = g.got;
		snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)g.got);
		struct ep_http_response resp;
		rc = s3_send(s3, &(struct s3_req){ .method = "GET", .u = u, .extra = g.got ? range : NULL, .sink = get_sink,
						   .check_answer = get_answer, .sink_ctx = &g },
			     what, &resp, err);
		if (!rc && resp.status != 200 && resp.status != 206)
			rc = status_error(&resp, what, err);
		if (!rc && !etag[0])
			etag_of(&resp, etag, sizeof etag);
		ep_http_response_release(&resp);
		if (!(rc == EP_ERUNTIME && g.got > before && !g.stuck && tries < 5))
			break;
		rc = 0; /* the connection dropped after some bytes: carry on from there */
	}
	if (!rc && g.total && g.got != g.total)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: %llu bytes came, the store said %llu", what, (unsigned long long)g.got,
			     (unsigned long long)g.total);
	if (!rc) {
		uint8_t d[16];
		EVP_DigestFinal_ex(g.md5, d, NULL);
		ep_hex(d, 16, md5);
		if (etag[0] && !strchr(etag, '-') && strlen(etag) == 32 && strcmp(etag, md5) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the bytes' MD5 %s is not the object's ETag %s", what, md5, etag);
	}
	*size = g.got;
	EVP_MD_CTX_free(g.md5);
	return rc;
}

struct file_sink {
	int fd;
	uint64_t at;
};

static int file_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct file_sink *f = ctx;
	int rc = ep_pwrite_full(f->fd, data, len, f->at, "the downloaded object", err);
	f->at += rc ? 0 : len;
	return rc;
}

int ep_s3_get_file(struct ep_s3 *s3, const struct ep_s3_url *u, int fd, uint64_t *size,
		   const struct ep_progress *progress, struct ep_error *err)
{
	char what[1200];
	snprintf(what, sizeof what, "s3: GET s3://%s/%s", u->bucket, u->key);
	struct file_sink f = { fd, 0 };
	return ep_s3_get_stream(s3, u, what, file_sink, &f, progress, size, err);
}

int ep_s3_plan_get(struct ep_s3 *s3, const struct ep_s3_url *u, void (*emit)(void *ctx, const char *text), void *ctx,
		   struct ep_error *err)
{
	return s3_show(s3, &(struct s3_req){ .method = "GET", .u = u }, emit, ctx, err);
}

/* ---- lent to s3_versions.c (cloud/s3_impl.h) ---- */

static int denied(const struct ep_http_response *resp, const char *what, struct ep_error *err);

int ep_s3_call(struct ep_s3 *s3, const struct ep_s3_call *c, const char *what, struct ep_http_response *resp,
	       struct ep_error *err)
{
	return s3_send(s3, &(struct s3_req){ .via = c->via, .method = c->method, .u = c->u, .bucket_only = c->bucket_only,
					     .query = c->query, .sign = c->sign, .nsign = c->nsign },
		       what, resp, err);
}

int ep_s3_status_error(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	return status_error(resp, what, err);
}

int ep_s3_denied(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	return denied(resp, what, err);
}

int64_t ep_s3_iso_time(const char *s)
{
	return iso_time(s);
}

/* ---- Object Lock ---- */

void ep_s3_counts(struct ep_s3 *s3, uint64_t counts[EP_S3_KINDS])
{
	for (int k = 0; k < EP_S3_KINDS; k++)
		counts[k] = atomic_load_explicit(&s3->sent[k], memory_order_relaxed);
}

int ep_s3_get_retention(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u, struct ep_s3_retention *r,
			struct ep_error *err)
{
	char what[1200], date[64];
	*r = (struct ep_s3_retention){ 0 };
	snprintf(what, sizeof what, "s3: HEAD s3://%s/%s", u->bucket, u->key);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "HEAD", .u = u }, what, &resp, err);
	if (!rc)
		rc = resp.status == 200 ? 0 : resp.status == 404 ? 1 : status_error(&resp, what, err);
	if (!rc) {
		ep_http_header(&resp, "x-amz-object-lock-mode", r->mode, sizeof r->mode);
		if (ep_http_header(&resp, "x-amz-object-lock-retain-until-date", date, sizeof date))
			r->until = iso_time(date);
		ep_http_header(&resp, "x-amz-version-id", r->version, sizeof r->version);
		if (!r->until)
			r->mode[0] = '\0'; /* a mode without a date holds nothing */
	}
	ep_http_response_release(&resp);
	return rc;
}

/* 1 for S3's 403 AccessDenied (a policy or the lock refusing, not a bad signature), with err set. */
static int denied(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	char *code = resp->status == 403 ? answer_get(resp, "Error", "/Error/Code") : NULL;
	int rc = status_error(resp, what, err);
	if (code && !strcmp(code, "AccessDenied"))
		rc = 1;
	free(code);
	return rc;
}

int ep_s3_put_retention(struct ep_s3 *s3, struct ep_http *via, const struct ep_s3_url *u,
			const struct ep_s3_lock *lock, struct ep_error *err)
{
	char what[1200], date[32], b64[32], body[300];
	uint8_t d[16];
	struct ep_sigv4_header sign[3];
	snprintf(what, sizeof what, "s3: PutObjectRetention s3://%s/%s", u->bucket, u->key);
	ep_utc_format(lock->until, date, sizeof date);
	int n = snprintf(body, sizeof body,
			 "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>%s</Mode>"
			 "<RetainUntilDate>%s</RetainUntilDate></Retention>", lock->mode, date);
	int rc = md5_of(body, (size_t)n, d, err);
	if (rc)
		return rc;
	EVP_EncodeBlock((unsigned char *)b64, d, 16);
	sign[0] = (struct ep_sigv4_header){ "Content-MD5", b64 };
	struct ep_http_response resp;
	rc = s3_send(s3, &(struct s3_req){ .via = via, .method = "PUT", .u = u, .query = "retention", .sign = sign,
					   .nsign = 1, .data = body, .data_len = (size_t)n },
		     what, &resp, err);
	if (!rc && resp.status != 200 && resp.status != 204)
		rc = denied(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_s3_object_lock_enabled(struct ep_s3 *s3, const char *bucket, struct ep_error *err)
{
	struct ep_s3_url u = { 0 };
	char what[200];
	snprintf(u.bucket, sizeof u.bucket, "%s", bucket);
	snprintf(what, sizeof what, "s3: GetObjectLockConfiguration of bucket '%s'", bucket);
	struct ep_http_response resp;
	int rc = s3_send(s3, &(struct s3_req){ .method = "GET", .u = &u, .bucket_only = true, .query = "object-lock" },
			 what, &resp, err);
	char *enabled = NULL;
	if (!rc && resp.status == 200) {
		enabled = answer_get(&resp, "ObjectLockConfiguration", "//*[local-name()='ObjectLockEnabled']");
		if (!enabled || strcmp(enabled, "Enabled"))
			rc = (ep_fail(err, EP_EINPUT, "%s: Object Lock is not enabled", what), 1);
	} else if (!rc && resp.status == 404) { /* ObjectLockConfigurationNotFoundError */
		status_error(&resp, what, err);
		rc = 1;
	} else if (!rc) {
		rc = status_error(&resp, what, err);
	}
	free(enabled);
	ep_http_response_release(&resp);
	return rc;
}

/* The version a PUT made, from its answer; "" when the bucket keeps none (nor "null", a bucket
 * whose versioning is suspended: a PUT replaces that version). */
static void version_of(const struct ep_http_response *resp, char out[256])
{
	out[0] = '\0';
	if (ep_http_header(resp, "x-amz-version-id", out, 256) && !strcmp(out, "null"))
		out[0] = '\0';
}
