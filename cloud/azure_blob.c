#include "cloud/azure_blob.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cloud/azure_sign.h"
#include "base/interrupt.h"
#include "base/util.h"
#include "base/xml.h"
#include "base/extent.h"

#define ANSWER_MAX ((size_t)1 << 20)
#define META_MAX 8

/* Azurite's development account: its key is public, printed in Microsoft's docs. */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define DEV_ENDPOINT "http://127.0.0.1:10000/" DEV_ACCOUNT

struct ep_azure {
	struct ep_http *http;
	char account[64];
	char *key; /* base64, as given; NULL with a SAS token */
	char *sas; /* without '?'; NULL with a key */
	char base[400]; /* "https://acct.blob.core.windows.net" or "http://127.0.0.1:10000/devstoreaccount1" */
	const char *base_path; /* the path part of base ("" or "/devstoreaccount1") */
	unsigned jobs;
	struct ep_http_options http_opt; /* for the connections of the Put Page senders */
};

/* ---- names ---- */

bool ep_azure_container_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 3 || n > 63 || name[0] == '-' || name[n - 1] == '-' || strstr(name, "--"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '-'))
			return false;
	return true;
}

/* Segments of letters, digits, '.', '_' and '-' joined by '/', none empty nor "." or
 * "..": what needs no percent-encoding, so the signed path is the one sent. */
bool ep_azure_blob_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 1024)
		return false;
	for (const char *seg = name; *seg;) {
		size_t len = strcspn(seg, "/");
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		for (size_t i = 0; i < len; i++)
			if (!(isalnum((unsigned char)seg[i]) || seg[i] == '.' || seg[i] == '_' || seg[i] == '-'))
				return false;
		seg += len;
		if (*seg == '/' && !*++seg)
			return false;
	}
	return true;
}

/* ---- credentials ---- */

static int set_str(char **dst, const char *v, size_t n, struct ep_error *err)
{
	if (*dst) {
		OPENSSL_cleanse(*dst, strlen(*dst));
		free(*dst);
	}
	return (*dst = strndup(v, n)) ? 0 : ep_oom(err);
}

static int set_endpoint(struct ep_azure *az, const char *url, size_t n, const char *from, struct ep_error *err)
{
	while (n > 0 && url[n - 1] == '/')
		n--;
	const char *host = strstr(url, "://");
	if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || !host || (size_t)(host + 3 - url) >= n ||
	    n >= sizeof az->base || memchr(url, '?', n) || memchr(url, '#', n) || memchr(url, '@', n))
		return ep_fail(err, EP_EINPUT, "azure: %s takes http(s)://HOST[:PORT][/PATH]", from);
	snprintf(az->base, sizeof az->base, "%.*s", (int)n, url);
	const char *h = strstr(az->base, "://") + 3;
	az->base_path = h + strcspn(h, "/");
	return 0;
}

/* AZURE_STORAGE_CONNECTION_STRING's fields, as the portal writes them:
 * "DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net",
 * or with BlobEndpoint= and SharedAccessSignature=, or UseDevelopmentStorage=true. */
static int parse_connection_string(struct ep_azure *az, const char *cs, char *endpoint, size_t cap,
				   struct ep_error *err)
{
	char protocol[16] = "https", suffix[200] = "core.windows.net";
	bool dev = false;
	int rc = 0;
	for (const char *p = cs; !rc && *p;) {
		size_t n = strcspn(p, ";");
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n, vn = eq ? n - kn - 1 : 0;
		const char *v = eq ? eq + 1 : p + n;
#define KEY(K) (kn == strlen(K) && !strncasecmp(p, K, kn))
		if (KEY("AccountName")) {
			if (vn >= sizeof az->account)
				rc = ep_fail(err, EP_EINPUT, "azure: the connection string's AccountName is too long");
			else
				snprintf(az->account, sizeof az->account, "%.*s", (int)vn, v);
		} else if (KEY("AccountKey"))
			rc = set_str(&az->key, v, vn, err);
		else if (KEY("SharedAccessSignature"))
			rc = set_str(&az->sas, v + (vn && *v == '?'), vn - (vn && *v == '?'), err);
		else if (KEY("BlobEndpoint") && vn < cap)
			snprintf(endpoint, cap, "%.*s", (int)vn, v);
		else if (KEY("DefaultEndpointsProtocol") && vn < sizeof protocol)
			snprintf(protocol, sizeof protocol, "%.*s", (int)vn, v);
		else if (KEY("EndpointSuffix") && vn < sizeof suffix)
			snprintf(suffix, sizeof suffix, "%.*s", (int)vn, v);
		else if (KEY("UseDevelopmentStorage"))
			dev = vn == 4 && !strncasecmp(v, "true", 4);
#undef KEY
		p += n + (p[n] == ';');
	}
	if (!rc && dev) {
		snprintf(az->account, sizeof az->account, "%s", DEV_ACCOUNT);
		rc = set_str(&az->key, DEV_KEY, strlen(DEV_KEY), err);
		if (!endpoint[0])
			snprintf(endpoint, cap, "%s", DEV_ENDPOINT);
	}
	if (!rc && !endpoint[0] && az->account[0])
		snprintf(endpoint, cap, "%s://%s.blob.%s", protocol, az->account, suffix);
	return rc;
}

static int load_creds(struct ep_azure *az, const char *endpoint_opt, const char *sas_opt, struct ep_error *err)
{
	const char *cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
	char endpoint[400] = "";
	int rc = 0;
	if (sas_opt) { /* a SAS URL's token: the environment's account is not the one it names */
		rc = set_str(&az->sas, sas_opt, strlen(sas_opt), err);
		const char *path = endpoint_opt ? strstr(endpoint_opt, "://") : NULL;
		path = path ? path + 3 + strcspn(path + 3, "/") : NULL;
		if (!rc && path && *path == '/' && strlen(path + 1) < sizeof az->account) /* path-style: /ACCOUNT */
			snprintf(az->account, sizeof az->account, "%s", path + 1);
	} else if (cs && *cs) {
		rc = parse_connection_string(az, cs, endpoint, sizeof endpoint, err);
	} else {
		const char *account = getenv("AZURE_STORAGE_ACCOUNT"), *key = getenv("AZURE_STORAGE_KEY"),
			   *sas = getenv("AZURE_STORAGE_SAS_TOKEN");
		if (account && strlen(account) < sizeof az->account)
			snprintf(az->account, sizeof az->account, "%s", account);
		if (key && *key)
			rc = set_str(&az->key, key, strlen(key), err);
		else if (sas && *sas)
			rc = set_str(&az->sas, sas + (*sas == '?'), strlen(sas + (*sas == '?')), err);
		if (!rc && az->account[0])
			snprintf(endpoint, sizeof endpoint, "https://%s.blob.core.windows.net", az->account);
	}
	if (!rc && az->key && !*az->key) {
		free(az->key);
		az->key = NULL;
	}
	if (!rc && az->key && az->sas) { /* a key signs everything a SAS token could allow */
		OPENSSL_cleanse(az->sas, strlen(az->sas));
		free(az->sas);
		az->sas = NULL;
	}
	if (!rc && !az->key && !(az->sas && *az->sas))
		rc = ep_fail(err, EP_EINPUT, "azure: no credentials: set AZURE_STORAGE_CONNECTION_STRING, or "
					     "AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN");
	if (!rc && az->key && !az->account[0])
		rc = ep_fail(err, EP_EINPUT, "azure: an account key needs the account's name (AccountName=, or AZURE_STORAGE_ACCOUNT)");
	if (!rc && az->key) { /* a bad key is told now, not as a 403 later */
		uint8_t *raw = NULL;
		size_t n = 0;
		struct ep_error ignored;
		if (ep_base64_decode(az->key, &raw, &n, &ignored) || n == 0)
			rc = ep_fail(err, EP_EINPUT, "azure: the account key is not base64 (copy it whole from the portal "
						     "or 'az storage account keys list')");
		if (raw)
			OPENSSL_cleanse(raw, n);
		free(raw);
	}
	if (!rc && endpoint_opt)
		rc = set_endpoint(az, endpoint_opt, strlen(endpoint_opt), "-o endpoint=", err);
	else if (!rc && endpoint[0])
		rc = set_endpoint(az, endpoint, strlen(endpoint), "the connection string's BlobEndpoint", err);
	else if (!rc)
		rc = ep_fail(err, EP_EINPUT, "azure: no endpoint: name the account (AccountName=, AZURE_STORAGE_ACCOUNT) "
					     "or the endpoint (BlobEndpoint=, -o endpoint=URL)");
	if (!rc && !az->account[0]) { /* a SAS token alone: the account is the endpoint's first label */
		const char *h = strstr(az->base, "://") + 3;
		size_t n = strcspn(h, ".:/");
		if (h[n] == '.' && n < sizeof az->account)
			snprintf(az->account, sizeof az->account, "%.*s", (int)n, h);
	}
	return rc;
}

int ep_azure_open(struct ep_azure **out, const struct ep_azure_options *opt, struct ep_error *err)
{
	struct ep_azure *az = calloc(1, sizeof *az);
	if (!az)
		return ep_oom(err);
	az->jobs = opt->jobs ? (opt->jobs < EP_AZURE_JOBS_MAX ? opt->jobs : EP_AZURE_JOBS_MAX) : 4;
	az->http_opt = opt->http;
	int rc = load_creds(az, opt->endpoint, opt->sas, err);
	if (!rc)
		rc = ep_http_new(&az->http, &opt->http, err);
	if (rc) {
		ep_azure_close(az);
		return rc;
	}
	*out = az;
	return 0;
}

void ep_azure_close(struct ep_azure *az)
{
	if (!az)
		return;
	ep_http_free(az->http);
	if (az->key)
		OPENSSL_cleanse(az->key, strlen(az->key));
	if (az->sas)
		OPENSSL_cleanse(az->sas, strlen(az->sas));
	free(az->key);
	free(az->sas);
	free(az);
}

const char *ep_azure_account(const struct ep_azure *az)
{
	return az->account;
}

void ep_azure_blob_url(const struct ep_azure *az, const char *container, const char *blob, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s%s%s", az->base, container, blob ? "/" : "", blob ? blob : "");
}

/* ---- requests ---- */

#define EXTRA_MAX 12

struct az_req {
	struct ep_http *via; /* the connection to use; NULL: the client's own */
	const char *method;
	const char *container, *blob;
	const char *query; /* without '?', or NULL */
	const char *extra[EXTRA_MAX]; /* more headers, all signed; NULL-terminated */
	const void *data;
	size_t data_len;
	const struct ep_http_body *body; /* a streamed body (dry runs only show its size) */
};

struct az_signed {
	char url[2400], date[64], length[48];
	const char *headers[EXTRA_MAX + 6];
	char *auth;
};

static int az_sign(struct ep_azure *az, const struct az_req *r, struct az_signed *q, struct ep_error *err)
{
	*q = (struct az_signed){ 0 };
	char path[1400], date[40];
	snprintf(path, sizeof path, "%s/%s%s%s", az->base_path, r->container, r->blob ? "/" : "", r->blob ? r->blob : "");
	bool sas = !az->key;
	int n = snprintf(q->url, sizeof q->url, "%.*s%s%s%s%s%s", (int)(az->base_path - az->base), az->base, path,
			 r->query || sas ? "?" : "", r->query ? r->query : "", r->query && sas ? "&" : "",
			 sas ? az->sas : "");
	if (n < 0 || (size_t)n >= sizeof q->url)
		return ep_fail(err, EP_EINPUT, "azure: the request's URL is too long");
	ep_azure_date(date, sizeof date);
	snprintf(q->date, sizeof q->date, "x-ms-date: %s", date);
	uint64_t len = r->body ? r->body->len : r->data_len;
	size_t k = 0;
	q->headers[k++] = q->date;
	q->headers[k++] = "x-ms-version: " EP_AZURE_API_VERSION;
	for (size_t i = 0; i < EXTRA_MAX && r->extra[i]; i++)
		q->headers[k++] = r->extra[i];
	/* curl states the length of a body it sends; a PUT without one must say 0 itself */
	if (!len && !strcmp(r->method, "PUT")) {
		snprintf(q->length, sizeof q->length, "Content-Length: 0");
		q->headers[k++] = q->length;
	}
	if (!sas) {
		char *auth = NULL;
		struct ep_azure_sign_request sr = { .method = r->method, .account = az->account, .path = path,
						    .query = r->query, .headers = q->headers, .content_length = len };
		int rc = ep_azure_shared_key(&sr, az->key, &auth, err);
		if (rc)
			return rc;
		if (asprintf(&q->auth, "Authorization: %s", auth) < 0) {
			q->auth = NULL;
			OPENSSL_cleanse(auth, strlen(auth));
			free(auth);
			return ep_oom(err);
		}
		free(auth);
		q->headers[k++] = q->auth;
	}
	q->headers[k] = NULL;
	return 0;
}

static void az_release(struct az_signed *q)
{
	free(q->auth);
	OPENSSL_cleanse(q->url, sizeof q->url); /* it may hold a SAS signature */
}

static struct ep_http_request az_http_request(const struct az_req *r, const struct az_signed *q)
{
	return (struct ep_http_request){ .method = r->method, .url = q->url, .headers = q->headers, .data = r->data,
					 .data_len = r->data_len, .body = r->body, .max_body = ANSWER_MAX };
}

static int az_send(struct ep_azure *az, const struct az_req *r, const char *what, struct ep_http_response *resp,
		   struct ep_error *err)
{
	struct az_signed q;
	int rc = az_sign(az, r, &q, err);
	if (!rc) {
		struct ep_http_request req = az_http_request(r, &q);
		rc = ep_http_send(r->via ? r->via : az->http, &req, what, resp, err);
	}
	az_release(&q);
	return rc;
}

static int az_show(struct ep_azure *az, const struct az_req *r, void (*emit)(void *ctx, const char *text), void *ctx,
		   struct ep_error *err)
{
	struct az_signed q;
	int rc = az_sign(az, r, &q, err);
	if (!rc) {
		struct ep_http_request req = az_http_request(r, &q);
		rc = ep_http_show(&req, emit, ctx, err);
	}
	az_release(&q);
	return rc;
}

/* "409 BlobAlreadyExists: The specified blob already exists.", from the XML error body.
 * A refused authorization is told by its code alone: Azure's message quotes the
 * request's signature. */
static int status_error(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	struct ep_xml x;
	struct ep_error ignored;
	char *code = NULL, *msg = NULL;
	if (resp->body_len && !ep_xml_parse(&x, resp->body, resp->body_len, "answer", "azure", "Error", NULL, &ignored)) {
		code = ep_xml_get(&x, NULL, "/Error/Code");
		msg = ep_xml_get(&x, NULL, "/Error/Message");
		ep_xml_release(&x);
	}
	char hc[100];
	if (!code && ep_http_header(resp, "x-ms-error-code", hc, sizeof hc))
		code = strdup(hc);
	/* a refused key or token is a runtime failure, as any the user's input did not cause */
	int ec = resp->status >= 400 && resp->status < 500 && resp->status != 401 && resp->status != 403 ? EP_EINPUT
													   : EP_ERUNTIME;
	if (resp->status == 403)
		ep_fail(err, ec, "%s: %ld %s (check the account key or SAS token, and the clock)", what, resp->status,
			code ? ep_printable(code) : "Forbidden");
	else if (code) {
		if (msg)
			msg[strcspn(msg, "\r\n")] = '\0'; /* the first line; the rest is a request id and a time */
		ep_fail(err, ec, "%s: %ld %s: %.200s", what, resp->status, ep_printable(code), msg ? ep_printable(msg) : "");
	} else {
		char d[300];
		ep_http_describe(resp, d, sizeof d);
		ep_fail(err, ec, "%s: %s", what, d);
	}
	free(code);
	free(msg);
	return ec;
}

int ep_azure_blob_exists(struct ep_azure *az, const char *container, const char *blob, struct ep_error *err)
{
	char what[1600];
	snprintf(what, sizeof what, "azure: %s/%s", container, blob);
	struct ep_http_response resp = { 0 };
	int rc = az_send(az, &(struct az_req){ .method = "HEAD", .container = container, .blob = blob }, what, &resp, err);
	if (!rc)
		rc = resp.status == 200 ? 1 : resp.status == 404 ? 0 : status_error(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

/* The x-ms-meta- headers for meta into hdrs, from index k; the new count. */
static size_t meta_headers(const char *const *meta, char (*buf)[200], const char **hdrs, size_t k)
{
	for (size_t i = 0; meta && meta[i] && i < META_MAX && k < EXTRA_MAX; i++) {
		snprintf(buf[i], sizeof buf[i], "x-ms-meta-%s", meta[i]);
		hdrs[k++] = buf[i];
	}
	return k;
}

static void create_req(struct az_req *r, const char *container, const char *blob, const char *const *meta,
		       char *length, size_t cap, char (*mbuf)[200], uint64_t size)
{
	*r = (struct az_req){ .method = "PUT", .container = container, .blob = blob };
	snprintf(length, cap, "x-ms-blob-content-length: %llu", (unsigned long long)size);
	size_t k = 0;
	r->extra[k++] = "x-ms-blob-type: PageBlob";
	r->extra[k++] = length;
	r->extra[k++] = "If-None-Match: *";
	meta_headers(meta, mbuf, r->extra, k);
}

/* Whether the blob carries every "name: value" of meta as x-ms-meta- headers. */
static bool ours(struct ep_azure *az, const char *container, const char *blob, const char *const *meta)
{
	struct ep_http_response resp = { 0 };
	struct ep_error ignored;
	bool all = false;
	if (!az_send(az, &(struct az_req){ .method = "HEAD", .container = container, .blob = blob }, "azure: HEAD",
		     &resp, &ignored)) {
		all = resp.status == 200;
		for (size_t i = 0; all && meta[i]; i++) {
			char name[200], got[200];
			size_t n = strcspn(meta[i], ":");
			const char *want = meta[i] + n + (meta[i][n] == ':');
			want += strspn(want, " ");
			snprintf(name, sizeof name, "x-ms-meta-%.*s", (int)n, meta[i]);
			all = ep_http_header(&resp, name, got, sizeof got) && !strcmp(got, want);
		}
	}
	ep_http_response_release(&resp);
	return all;
}

int ep_azure_page_blob_create(struct ep_azure *az, const char *container, const char *blob, uint64_t size,
			      const char *const *meta, struct ep_error *err)
{
	char what[1600], length[80], mbuf[META_MAX][200];
	if (size % 512)
		return ep_fail(err, EP_EINPUT, "azure: a page blob's size is a multiple of 512, not %llu",
			       (unsigned long long)size);
	snprintf(what, sizeof what, "azure: creating %s/%s", container, blob);
	struct az_req r;
	create_req(&r, container, blob, meta, length, sizeof length, mbuf, size);
	struct ep_http_response resp = { 0 };
	int rc = az_send(az, &r, what, &resp, err);
	/* If-None-Match: * on a name taken: 409 BlobAlreadyExists (412 from some servers) */
	if (!rc && (resp.status == 409 || resp.status == 412) && meta && meta[0] && ours(az, container, blob, meta)) {
		ep_http_response_release(&resp);
		return 0;
	}
	if (!rc && (resp.status == 409 || resp.status == 412)) {
		char url[1600];
		ep_azure_blob_url(az, container, blob, url, sizeof url);
		rc = ep_fail(err, EP_EINPUT, "azure: %s exists; restore never overwrites", url);
	} else if (!rc && resp.status != 201)
		rc = status_error(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_azure_set_metadata(struct ep_azure *az, const char *container, const char *blob, const char *const *meta,
			  struct ep_error *err)
{
	char what[1600], mbuf[META_MAX][200];
	snprintf(what, sizeof what, "azure: setting the metadata of %s/%s", container, blob);
	struct az_req r = { .method = "PUT", .container = container, .blob = blob, .query = "comp=metadata" };
	meta_headers(meta, mbuf, r.extra, 0);
	struct ep_http_response resp = { 0 };
	int rc = az_send(az, &r, what, &resp, err);
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_azure_delete(struct ep_azure *az, const char *container, const char *blob, struct ep_error *err)
{
	char what[1600];
	snprintf(what, sizeof what, "azure: deleting %s/%s", container, blob);
	struct ep_http_response resp = { 0 };
	int rc = az_send(az, &(struct az_req){ .method = "DELETE", .container = container, .blob = blob }, what, &resp, err);
	if (!rc && resp.status != 202 && resp.status != 200 && resp.status != 404)
		rc = status_error(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

/* ---- pages ---- */

/* What the page senders share: a cursor over the file's allocated ranges, the
 * progress tally and the first failure. */
struct pages {
	struct ep_azure *az;
	const char *container, *blob, *what;
	int fd;
	uint64_t size;
	struct ep_extent ext; /* the allocated range being cut into pages */
	uint64_t next;        /* where the next page starts within it */
	bool done;
	uint64_t total, moved;
	const struct ep_progress *progress;
	struct ep_azure_put_stats stats;
	pthread_mutex_t lock;
	int rc;
	struct ep_error err;
};

/* The next page to write, under the lock: [*off, *off + *len), 512-aligned, at most 4 MiB;
 * false when the file has no more. */
static int next_page(struct pages *ps, uint64_t *off, uint64_t *len, struct ep_error *err)
{
	while (!ps->done && ps->next >= ps->ext.off + ps->ext.len) {
		struct ep_extent e;
		int rc = ep_file_next_extent(ps->fd, ps->ext.off + ps->ext.len, ps->size, &e, ps->what, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			ps->done = true;
			break;
		}
		/* file systems map data in blocks of 512 bytes or more; align all the same */
		uint64_t start = e.off & ~(uint64_t)511, end = (e.off + e.len + 511) & ~(uint64_t)511;
		ps->ext = (struct ep_extent){ start, (end < ps->size ? end : ps->size) - start, e.flags };
		if (ps->next < start)
			ps->next = start;
	}
	if (ps->done)
		return 1;
	*off = ps->next;
	uint64_t end = ps->ext.off + ps->ext.len;
	*len = end - *off < EP_AZURE_PAGE_MAX ? end - *off : EP_AZURE_PAGE_MAX;
	ps->next = *off + *len;
	return 0;
}

static void moved(struct pages *ps, uint64_t n)
{
	pthread_mutex_lock(&ps->lock);
	ps->moved += n;
	ep_progress_report(ps->progress, ps->moved, ps->total);
	pthread_mutex_unlock(&ps->lock);
}

static int put_page(struct pages *ps, struct ep_http *via, uint8_t *buf, uint64_t off, uint64_t len,
		    struct ep_error *err)
{
	int rc = ep_pread_full(ps->fd, buf, (size_t)len, off, ps->what, err);
	if (rc)
		return rc;
	if (ep_is_zero(buf, (size_t)len)) { /* a page blob reads zeros where nothing was written */
		pthread_mutex_lock(&ps->lock);
		ps->stats.bytes_zero += len;
		pthread_mutex_unlock(&ps->lock);
		moved(ps, len);
		return 0;
	}
	uint8_t md5[16];
	char *b64 = NULL, md5h[64], range[80], what[1700];
	EVP_Digest(buf, (size_t)len, md5, NULL, EVP_md5(), NULL);
	if ((rc = ep_base64_encode(md5, sizeof md5, &b64, err)))
		return rc;
	snprintf(md5h, sizeof md5h, "Content-MD5: %s", b64);
	free(b64);
	snprintf(range, sizeof range, "x-ms-range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	snprintf(what, sizeof what, "%s, Put Page at %llu", ps->what, (unsigned long long)off);
	struct az_req r = { .via = via, .method = "PUT", .container = ps->container, .blob = ps->blob,
			    .query = "comp=page", .extra = { "x-ms-page-write: update", range, md5h },
			    .data = buf, .data_len = (size_t)len };
	struct ep_http_response resp = { 0 };
	rc = az_send(ps->az, &r, what, &resp, err);
	if (!rc && resp.status != 201)
		rc = status_error(&resp, what, err);
	ep_http_response_release(&resp);
	if (!rc) {
		pthread_mutex_lock(&ps->lock);
		ps->stats.ranges++;
		ps->stats.bytes_sent += len;
		pthread_mutex_unlock(&ps->lock);
		moved(ps, len);
	}
	return rc;
}

static void *page_sender(void *arg)
{
	struct pages *ps = arg;
	struct ep_error err = { 0 };
	struct ep_http *via = NULL; /* a connection of its own */
	uint8_t *buf = malloc(EP_AZURE_PAGE_MAX);
	int rc = buf ? ep_http_new(&via, &ps->az->http_opt, &err) : ep_oom(&err);
	for (;;) {
		uint64_t off = 0, len = 0;
		if (!rc && ep_interrupted())
			rc = ep_fail(&err, EP_ERUNTIME, "%s: interrupted", ps->what);
		pthread_mutex_lock(&ps->lock);
		int got = rc || ps->rc ? 1 : next_page(ps, &off, &len, &err);
		pthread_mutex_unlock(&ps->lock);
		if (got < 0)
			rc = got;
		if (got || (rc = put_page(ps, via, buf, off, len, &err)))
			break;
	}
	pthread_mutex_lock(&ps->lock);
	if (rc && !ps->rc) {
		ps->rc = rc;
		ps->err = err;
	}
	pthread_mutex_unlock(&ps->lock);
	ep_http_free(via);
	free(buf);
	return NULL;
}

int ep_azure_put_pages(struct ep_azure *az, const char *container, const char *blob, int fd, uint64_t size,
		       const struct ep_progress *progress, struct ep_azure_put_stats *stats, struct ep_error *err)
{
	char what[1600];
	snprintf(what, sizeof what, "azure: %s/%s", container, blob);
	*stats = (struct ep_azure_put_stats){ 0 };
	if (size % 512)
		return ep_fail(err, EP_EINPUT, "%s: %llu bytes are not whole pages of 512", what, (unsigned long long)size);
	struct pages ps = { .az = az, .container = container, .blob = blob, .what = what, .fd = fd, .size = size,
			    .progress = progress };
	/* the allocated bytes, for progress */
	struct ep_extent e = { 0 };
	for (uint64_t from = 0; from < size; from = e.off + e.len) {
		int rc = ep_file_next_extent(fd, from, size, &e, what, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		ps.total += e.len;
	}
	pthread_t threads[EP_AZURE_JOBS_MAX];
	unsigned started = 0;
	pthread_mutex_init(&ps.lock, NULL);
	while (started < az->jobs && pthread_create(&threads[started], NULL, page_sender, &ps) == 0)
		started++;
	if (started == 0)
		page_sender(&ps); /* no thread to be had: send them here */
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&ps.lock);
	*stats = ps.stats;
	if (ps.rc)
		*err = ps.err;
	return ps.rc;
}

/* ---- reading ---- */

/* An IP address or localhost: the emulator's path-style URLs, /ACCOUNT first (as Azure's SDKs tell them). */
static bool path_style(const char *host, size_t n)
{
	size_t h = n;
	if (host[0] == '[')
		return true;
	const char *colon = memchr(host, ':', n);
	if (colon)
		h = (size_t)(colon - host);
	if (h == 9 && !strncmp(host, "localhost", 9))
		return true;
	return h > 0 && strspn(host, "0123456789.") == h;
}

int ep_azure_parse_url(const char *url, char *endpoint, size_t ecap, char *container, size_t ccap, char *blob,
		       size_t bcap, char **sas, struct ep_error *err)
{
	*sas = NULL;
	const char *h = strstr(url, "://");
	if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || !h)
		return ep_fail(err, EP_EINPUT, "azure: a blob URL starts with https://");
	h += 3;
	size_t hn = strcspn(h, "/?#"), qn = strcspn(url, "?#");
	const char *path = h + hn, *q = url[qn] == '?' ? url + qn + 1 : NULL;
	size_t pn = (size_t)(url + qn - path); /* the path, up to the query */
	const char *shown = "the blob URL"; /* never the URL itself: its query is a credential */
	if (hn == 0 || memchr(h, '@', hn) || url[qn] == '#')
		return ep_fail(err, EP_EINPUT, "azure: %s takes https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB?SAS", shown);
	size_t skip = 0; /* the account segment of a path-style URL */
	if (path_style(h, hn) && pn > 1)
		skip = 1 + strcspn(path + 1, "/");
	if ((size_t)(path + skip - url) >= ecap)
		return ep_fail(err, EP_EINPUT, "azure: %s is too long", shown);
	snprintf(endpoint, ecap, "%.*s", (int)(path + skip - url), url);
	const char *c = path + skip + (path[skip] == '/');
	size_t left = pn - (size_t)(c - path), cn = strcspn(c, "/");
	if (cn > left)
		cn = left;
	if (cn >= ccap || cn >= left || left - cn - 1 >= bcap)
		return ep_fail(err, EP_EINPUT, "azure: %s names no CONTAINER/BLOB%s", shown, cn >= ccap ? " (too long)" : "");
	snprintf(container, ccap, "%.*s", (int)cn, c);
	snprintf(blob, bcap, "%.*s", (int)(left - cn - 1), c + cn + 1);
	if (!ep_azure_container_ok(container))
		return ep_fail(err, EP_EINPUT, "azure: '%s' in %s is not a container name", container, shown);
	if (!ep_azure_blob_name_ok(blob))
		return ep_fail(err, EP_EINPUT, "azure: '%s' in %s is not a blob name envpack reads (letters, digits, "
					       "'.', '_', '-' and '/')", blob, shown);
	if (!q || !strstr(q, "sig="))
		return ep_fail(err, EP_EINPUT, "azure: %s has no SAS token (?sv=...&sig=...); for the environment's "
					       "account name CONTAINER/BLOB instead", shown);
	return (*sas = strdup(q)) ? 0 : ep_oom(err);
}

int ep_azure_blob_props(struct ep_azure *az, const char *container, const char *blob,
			struct ep_azure_blob_props *out, struct ep_error *err)
{
	char url[1600], what[1700];
	ep_azure_blob_url(az, container, blob, url, sizeof url);
	snprintf(what, sizeof what, "azure: Get Blob Properties of %s", url);
	*out = (struct ep_azure_blob_props){ 0 };
	struct ep_http_response resp = { 0 };
	int rc = az_send(az, &(struct az_req){ .method = "HEAD", .container = container, .blob = blob }, what, &resp, err);
	char len[32] = "", *end = NULL;
	if (!rc && resp.status == 404)
		rc = ep_fail(err, EP_EINPUT, "azure: no blob %s (404 on Get Blob Properties)", url);
	else if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	if (!rc) {
		ep_http_header(&resp, "Content-Length", len, sizeof len);
		out->length = strtoull(len, &end, 10);
		ep_http_header(&resp, "x-ms-blob-type", out->type, sizeof out->type);
		ep_http_header(&resp, "ETag", out->etag, sizeof out->etag);
		ep_http_header(&resp, "x-ms-meta-envpack_state", out->state, sizeof out->state);
		if (!len[0] || *end)
			rc = ep_fail(err, EP_ERUNTIME, "%s: the answer has no Content-Length", what);
	}
	ep_http_response_release(&resp);
	return rc;
}

int ep_azure_page_list_parse(const char *xml, size_t len, uint64_t length, struct ep_extent **out, size_t *n,
			     size_t *cap, char *marker, size_t mcap, struct ep_error *err)
{
	struct ep_xml x;
	int rc = ep_xml_parse(&x, xml, len, "Get Page Ranges' answer", "azure", "PageList", NULL, err);
	if (rc)
		return rc;
	xmlXPathObjectPtr o = ep_xml_all(&x, NULL, "/PageList/PageRange");
	int count = o && o->nodesetval ? o->nodesetval->nodeNr : 0;
	for (int i = 0; !rc && i < count; i++) {
		uint64_t a = 0, b = 0;
		uint64_t prev_end = *n ? (*out)[*n - 1].off + (*out)[*n - 1].len : 0;
		if (!ep_xml_num(&x, o->nodesetval->nodeTab[i], "Start", &a) ||
		    !ep_xml_num(&x, o->nodesetval->nodeTab[i], "End", &b) || a % 512 || (b + 1) % 512 || b < a ||
		    b >= length || (*n && a < prev_end))
			rc = ep_fail(err, EP_ERUNTIME, "azure: Get Page Ranges' answer: range %d is not whole pages "
						       "in order within the blob's %llu bytes", i + 1, (unsigned long long)length);
		else if (*n && a == prev_end) /* touching ranges: one run */
			(*out)[*n - 1].len += b + 1 - a;
		else if (!ep_grow((void **)out, cap, *n + 1, sizeof **out))
			rc = ep_oom(err);
		else
			(*out)[(*n)++] = (struct ep_extent){ a, b + 1 - a, EP_EXT_DATA };
	}
	xmlXPathFreeObject(o);
	char *next = rc ? NULL : ep_xml_get(&x, NULL, "/PageList/NextMarker");
	if (!rc && next && strlen(next) >= mcap)
		rc = ep_fail(err, EP_ERUNTIME, "azure: Get Page Ranges' answer: NextMarker is too long");
	else if (!rc)
		snprintf(marker, mcap, "%s", next ? next : "");
	free(next);
	ep_xml_release(&x);
	return rc;
}

#define PAGE_LIST_MAX 5000 /* ranges asked for per answer: under ANSWER_MAX at ~80 bytes each */

/* marker: percent-encoded for the query (Azure's are base64-like: '+', '/', '=') */
static void query_value(char *dst, size_t cap, const char *v)
{
	size_t k = 0;
	for (; *v && k + 4 < cap; v++) {
		if (isalnum((unsigned char)*v) || strchr("-._~", *v))
			dst[k++] = *v;
		else
			k += (size_t)snprintf(dst + k, cap - k, "%%%02X", (unsigned char)*v);
	}
	dst[k] = '\0';
}

int ep_azure_page_ranges(struct ep_azure *az, const char *container, const char *blob, const char *etag,
			 uint64_t length, struct ep_extent **out, size_t *n, uint64_t *requests, struct ep_error *err)
{
	char url[1600], what[1700], ifmatch[140], marker[1024] = "", enc[3100], query[3200];
	ep_azure_blob_url(az, container, blob, url, sizeof url);
	snprintf(what, sizeof what, "azure: Get Page Ranges of %s", url);
	snprintf(ifmatch, sizeof ifmatch, "If-Match: %s", etag);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = 0;
	do {
		query_value(enc, sizeof enc, marker);
		snprintf(query, sizeof query, "comp=pagelist&maxresults=%d%s%s", PAGE_LIST_MAX, marker[0] ? "&marker=" : "",
			 marker[0] ? enc : "");
		struct az_req r = { .method = "GET", .container = container, .blob = blob, .query = query,
				    .extra = { etag && *etag ? ifmatch : NULL } };
		struct ep_http_response resp = { 0 };
		rc = az_send(az, &r, what, &resp, err);
		(*requests)++;
		if (!rc && resp.status == 412)
			rc = ep_fail(err, EP_ERUNTIME, "%s: the blob changed while it was read (412: its ETag is not %s)", what, etag);
		else if (!rc && resp.status != 200)
			rc = status_error(&resp, what, err);
		if (!rc)
			rc = ep_azure_page_list_parse(resp.body ? resp.body : "", resp.body_len, length, out, n, &cap, marker,
						      sizeof marker, err);
		ep_http_response_release(&resp);
	} while (!rc && marker[0]);
	return rc;
}

int ep_azure_connection(const struct ep_azure *az, struct ep_http **out, struct ep_error *err)
{
	return ep_http_new(out, &az->http_opt, err);
}

int ep_azure_read(struct ep_azure *az, struct ep_http *via, const char *container, const char *blob,
		  const char *etag, void *buf, size_t len, uint64_t off, uint64_t *requests, struct ep_error *err)
{
	char url[1600], what[1800], range[80], ifmatch[140], md5h[64];
	if (len == 0 || len > EP_AZURE_PAGE_MAX)
		return ep_fail(err, EP_EINPUT, "azure: a read of %zu bytes (1 to 4 MiB)", len);
	ep_azure_blob_url(az, container, blob, url, sizeof url);
	snprintf(what, sizeof what, "azure: Get Blob %s at %llu", url, (unsigned long long)off);
	snprintf(range, sizeof range, "x-ms-range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	snprintf(ifmatch, sizeof ifmatch, "If-Match: %s", etag);
	/* the whole answer is kept until it is in: one cut short is sent again by ep_http_send */
	struct az_req r = { .via = via, .method = "GET", .container = container, .blob = blob,
			    .extra = { range, "x-ms-range-get-content-md5: true", etag && *etag ? ifmatch : NULL } };
	struct az_signed q;
	struct ep_http_response resp = { 0 };
	int rc = az_sign(az, &r, &q, err);
	if (!rc) {
		struct ep_http_request req = az_http_request(&r, &q);
		req.max_body = len;
		rc = ep_http_send(via ? via : az->http, &req, what, &resp, err);
		(*requests)++;
	}
	az_release(&q);
	if (!rc && resp.status == 412)
		rc = ep_fail(err, EP_ERUNTIME, "%s: the blob changed while it was read (412: its ETag is not %s)", what, etag);
	else if (!rc && resp.status != 206)
		rc = status_error(&resp, what, err);
	else if (!rc && (!ep_http_starts_at(&resp, off) || resp.body_len != len))
		rc = ep_fail(err, EP_EINTEGRITY, "%s: %zu bytes came, not the %zu asked for", what, resp.body_len, len);
	if (!rc && ep_http_header(&resp, "Content-MD5", md5h, sizeof md5h)) {
		uint8_t md5[16];
		char *b64 = NULL;
		EVP_Digest(resp.body, len, md5, NULL, EVP_md5(), NULL);
		if (!(rc = ep_base64_encode(md5, sizeof md5, &b64, err)) && strcmp(b64, md5h))
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the bytes do not match the Content-MD5 Azure sent", what);
		free(b64);
	}
	if (!rc)
		memcpy(buf, resp.body, len);
	ep_http_response_release(&resp);
	return rc;
}

int ep_azure_plan_read(struct ep_azure *az, const char *container, const char *blob,
		       void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	char query[64];
	snprintf(query, sizeof query, "comp=pagelist&maxresults=%d", PAGE_LIST_MAX);
	int rc = az_show(az, &(struct az_req){ .method = "HEAD", .container = container, .blob = blob }, emit, ctx, err);
	struct az_req footer = { .method = "GET", .container = container, .blob = blob,
				 .extra = { "x-ms-range: bytes=(the last 512: the VHD footer)",
					    "x-ms-range-get-content-md5: true", "If-Match: (its ETag)" } };
	if (!rc)
		rc = az_show(az, &footer, emit, ctx, err);
	struct az_req list = { .method = "GET", .container = container, .blob = blob, .query = query,
			       .extra = { "If-Match: (its ETag)" } };
	if (!rc)
		rc = az_show(az, &list, emit, ctx, err);
	footer.extra[0] = "x-ms-range: bytes=0-4194303";
	if (!rc)
		rc = az_show(az, &footer, emit, ctx, err);
	if (!rc) {
		char note[300];
		snprintf(note, sizeof note, "(a GET like it for each allocated page range the answers name, at most 4 MiB "
					    "each and %u at once; holes are not read)", az->jobs);
		emit(ctx, note);
	}
	return rc;
}

/* ---- dry runs ---- */

int ep_azure_plan_page_blob(struct ep_azure *az, const char *container, const char *blob, uint64_t size,
			    uint64_t data_bytes, const char *const *meta, const char *const *final_meta,
			    void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	char length[80], mbuf[META_MAX][200], range[80], note[400];
	struct az_req r;
	create_req(&r, container, blob, meta, length, sizeof length, mbuf, size);
	int rc = az_show(az, &r, emit, ctx, err);
	uint64_t first = size - 512 < EP_AZURE_PAGE_MAX ? size - 512 : EP_AZURE_PAGE_MAX;
	struct ep_http_body page = { .len = first }, footer = { .len = 512 };
	snprintf(range, sizeof range, "x-ms-range: bytes=0-%llu", (unsigned long long)(first - 1));
	struct az_req p = { .method = "PUT", .container = container, .blob = blob, .query = "comp=page",
			    .extra = { "x-ms-page-write: update", range, "Content-MD5: (the page's MD5)" },
			    .body = &page };
	if (!rc && size > 512 && data_bytes > 0)
		rc = az_show(az, &p, emit, ctx, err);
	if (!rc && size > 512 && data_bytes > 0) {
		snprintf(note, sizeof note,
			 "(a Put Page like it for each allocated range of the fixed VHD, at most 4 MiB each and %u at "
			 "once, about %llu bytes in all; holes and zero pages are not sent)",
			 az->jobs, (unsigned long long)data_bytes);
		emit(ctx, note);
	}
	snprintf(range, sizeof range, "x-ms-range: bytes=%llu-%llu", (unsigned long long)(size - 512),
		 (unsigned long long)(size - 1));
	p.body = &footer;
	if (!rc)
		rc = az_show(az, &p, emit, ctx, err); /* the VHD footer, the blob's last 512 bytes */
	struct az_req m = { .method = "PUT", .container = container, .blob = blob, .query = "comp=metadata" };
	meta_headers(final_meta, mbuf, m.extra, 0);
	if (!rc)
		rc = az_show(az, &m, emit, ctx, err);
	return rc;
}

int ep_azure_jobs_parse(const char *text, const char *how, unsigned *jobs, struct ep_error *err)
{
	*jobs = 0;
	if (!text)
		return 0;
	char *end;
	long n = strtol(text, &end, 10);
	if (*end || n < 1 || n > EP_AZURE_JOBS_MAX)
		return ep_fail(err, EP_EINPUT, "%s jobs= takes a number from 1 to %d", how, EP_AZURE_JOBS_MAX);
	*jobs = (unsigned)n;
	return 0;
}
