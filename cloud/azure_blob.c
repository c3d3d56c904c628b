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
#define JOBS_MAX 16
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

static int load_creds(struct ep_azure *az, const char *endpoint_opt, struct ep_error *err)
{
	const char *cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
	char endpoint[400] = "";
	int rc = 0;
	if (cs && *cs) {
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
	az->jobs = opt->jobs ? (opt->jobs < JOBS_MAX ? opt->jobs : JOBS_MAX) : 4;
	az->http_opt = opt->http;
	int rc = load_creds(az, opt->endpoint, err);
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
	char *text = NULL;
	if (!rc) {
		struct ep_http_request req = az_http_request(r, &q);
		if (!(text = ep_http_request_text(&req)))
			rc = ep_oom(err);
	}
	az_release(&q);
	if (!rc)
		emit(ctx, text);
	free(text);
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
	pthread_t threads[JOBS_MAX];
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
