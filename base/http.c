#include "base/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/util.h"

#define HEADERS_MAX ((size_t)64 << 10)
#define ERROR_BODY_MAX ((size_t)16 << 10)
#define RETRY_AFTER_MAX 60

struct ep_http {
	CURL *curl;
	struct ep_http_options opt;
	char *cacert;
	uint64_t seed;
};

/* What one attempt needs in its callbacks. */
struct exchange {
	struct ep_http *h;
	const struct ep_http_request *req;
	struct ep_http_response *resp;
	size_t headers_len, headers_cap, body_cap;
	uint64_t sent;       /* request body bytes handed to curl */
	const uint8_t *data; /* in-memory body */
	bool answered;       /* the sink's answer was checked */
	int failed;          /* a callback's own failure, in err */
	struct ep_error *err;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int ep_http_new(struct ep_http **out, const struct ep_http_options *opt, struct ep_error *err)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return ep_fail(err, EP_ERUNTIME, "http: libcurl cannot start: %s", curl_easy_strerror(global_rc));
	struct ep_http *h = calloc(1, sizeof *h);
	if (!h)
		return ep_oom(err);
	if (opt)
		h->opt = *opt;
	if (!h->opt.timeout)
		h->opt.timeout = 60;
	if (!h->opt.attempts)
		h->opt.attempts = 5;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->seed = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)ts.tv_sec ^ 0x9e3779b97f4a7c15u;
	h->curl = curl_easy_init();
	if (!h->curl || (h->opt.cacert && !(h->cacert = strdup(h->opt.cacert)))) {
		ep_http_free(h);
		return ep_oom(err);
	}
	h->opt.cacert = h->cacert;
	*out = h;
	return 0;
}

int ep_http_clone(const struct ep_http *h, struct ep_http **out, struct ep_error *err)
{
	return ep_http_new(out, &h->opt, err);
}

void ep_http_free(struct ep_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->cacert);
	free(h);
}

void ep_http_response_release(struct ep_http_response *resp)
{
	free(resp->body);
	free(resp->headers);
	*resp = (struct ep_http_response){ 0 };
}

static bool append(char **buf, size_t *len, size_t *cap, const char *data, size_t n, size_t max)
{
	if (*len + n > max)
		n = max - *len;
	if (!ep_grow((void **)buf, cap, *len + n + 1, 1))
		return false;
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	size_t len = size * n;
	/* a new status line starts a new answer (after 100 Continue, a redirect or an auth round) */
	if (len >= 5 && !memcmp(data, "HTTP/", 5))
		x->headers_len = 0;
	if (!append(&x->resp->headers, &x->headers_len, &x->headers_cap, data, len, HEADERS_MAX)) {
		x->failed = ep_oom(x->err);
		return 0;
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
	bool ok = status >= 200 && status < 300;
	if (ok && x->req->sink) {
		if (!x->answered) {
			x->answered = true;
			x->resp->status = status;
			if (x->req->check_answer && (x->failed = x->req->check_answer(x->req->sink_ctx, x->resp, x->err)))
				return 0;
		}
		if ((x->failed = x->req->sink(x->req->sink_ctx, data, len, x->err)))
			return 0;
		x->resp->sunk += len;
		return len;
	}
	size_t max = ok ? x->req->max_body : ERROR_BODY_MAX;
	if (ok && x->resp->body_len + len > max) {
		x->failed = ep_fail(x->err, EP_EINPUT, "the answer is larger than the %zu bytes allowed", max);
		return 0;
	}
	if (!append(&x->resp->body, &x->resp->body_len, &x->body_cap, data, len, max)) {
		x->failed = ep_oom(x->err);
		return 0;
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	const struct ep_http_request *req = x->req;
	size_t cap = size * n, got = 0;
	if (!req->body) {
		got = req->data_len - (size_t)x->sent < cap ? req->data_len - (size_t)x->sent : cap;
		memcpy(buf, x->data + x->sent, got);
	} else if ((x->failed = req->body->read(req->body->ctx, buf, cap, &got, x->err))) {
		return CURL_READFUNC_ABORT;
	}
	x->sent += got;
	return got;
}

/* curl rewinds the body when it must send it again (a redirect, a reused connection gone stale). */
static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct exchange *x = ctx;
	if (off != 0 || origin != SEEK_SET)
		return CURL_SEEKFUNC_CANTSEEK;
	if (x->req->body) {
		if (!x->req->body->rewind)
			return CURL_SEEKFUNC_CANTSEEK;
		if ((x->failed = x->req->body->rewind(x->req->body->ctx, x->err)))
			return CURL_SEEKFUNC_FAIL;
	}
	x->sent = 0;
	return CURL_SEEKFUNC_OK;
}

/* Adds --cacert's certificates to the system store rather than replacing it. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *ctx)
{
	(void)curl;
	const char *file = ctx;
	return X509_STORE_load_file(SSL_CTX_get_cert_store(ssl_ctx), file) == 1 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

static bool retryable_status(long s)
{
	return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool retryable_transport(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static CURLcode attempt(struct exchange *x, struct curl_slist *headers)
{
	struct ep_http *h = x->h;
	const struct ep_http_request *req = x->req;
	CURL *c = h->curl;
	bool has_body = strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && strcmp(req->method, "DELETE");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* a redirect may not downgrade https to http */
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(req->url, "https:", 6) ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req->follow ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "envpack/" EP_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(h->opt.timeout < 30 ? h->opt.timeout : 30));
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->opt.timeout);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (h->opt.cacert) {
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h->opt.cacert);
	}
	if (!strcmp(req->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	if (has_body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)(req->body ? req->body->len : req->data_len));
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->resp->status);
	if (rc == CURLE_OPERATION_TIMEDOUT && !x->failed)
		ep_fail(x->err, EP_ERUNTIME, "timed out: nothing moved for %u s (--timeout)", h->opt.timeout);
	else if (rc != CURLE_OK && !x->failed)
		ep_fail(x->err, EP_ERUNTIME, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return rc;
}

static unsigned retry_after(const struct ep_http_response *resp)
{
	char v[32], *end;
	if (!ep_http_header(resp, "Retry-After", v, sizeof v))
		return 0;
	unsigned long s = strtoul(v, &end, 10);
	return end == v || *end ? 0 : s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (unsigned)s;
}

/* Exponential backoff from 250 ms, capped at 8 s, with half of it random (jitter). */
static void backoff(struct ep_http *h, unsigned attempt_no, unsigned at_least)
{
	uint64_t ms = 250u << (attempt_no < 5 ? attempt_no : 5);
	if (ms > 8000)
		ms = 8000;
	h->seed ^= h->seed << 13;
	h->seed ^= h->seed >> 7;
	h->seed ^= h->seed << 17;
	ms = ms / 2 + h->seed % (ms / 2 + 1);
	if (ms < (uint64_t)at_least * 1000)
		ms = (uint64_t)at_least * 1000;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

int ep_http_send(struct ep_http *h, const struct ep_http_request *req, const char *what,
		 struct ep_http_response *resp, struct ep_error *err)
{
	struct curl_slist *headers = NULL, *tail;
	*resp = (struct ep_http_response){ 0 };
	/* no 100-continue round trip: credentials were settled before any large body is sent */
	if (!(headers = curl_slist_append(NULL, "Expect:")))
		return ep_oom(err);
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		if (!(tail = curl_slist_append(headers, req->headers[i]))) {
			curl_slist_free_all(headers);
			return ep_oom(err);
		}
		headers = tail;
	}
	int rc = 0;
	for (unsigned n = 0;; n++) {
		struct ep_error attempt_err = { 0 };
		struct exchange x = { .h = h, .req = req, .resp = resp, .data = req->data, .err = &attempt_err };
		ep_http_response_release(resp);
		CURLcode cc = attempt(&x, headers);
		bool replayable = (!req->body || x.sent == 0 || req->body->rewind) && !req->once;
		bool again = n + 1 < h->opt.attempts && !x.failed && resp->sunk == 0 && replayable &&
			     (cc != CURLE_OK ? retryable_transport(cc) : retryable_status(resp->status));
		if (!again) {
			if (cc != CURLE_OK || x.failed) {
				*err = attempt_err;
				if (n > 0 && !x.failed)
					ep_error_prefix(err, "%s (%u attempts): ", what, n + 1);
				else
					ep_error_prefix(err, "%s: ", what);
				rc = err->code;
			}
			break;
		}
		backoff(h, n, cc == CURLE_OK ? retry_after(resp) : 0);
		if (req->body && x.sent && (rc = req->body->rewind(req->body->ctx, err)))
			break;
	}
	curl_slist_free_all(headers);
	return rc;
}

const char *ep_http_header(const struct ep_http_response *resp, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	for (const char *line = resp->headers; line && *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) > n && line[n] == ':' && !strncasecmp(line, name, n)) {
			const char *v = line + n + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			const char *e = end;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if ((size_t)(e - v) >= cap)
				return NULL;
			memcpy(buf, v, (size_t)(e - v));
			buf[e - v] = '\0';
			return buf;
		}
		line = *end ? end + 1 : end;
	}
	return NULL;
}

void ep_http_describe(const struct ep_http_response *resp, char *buf, size_t cap)
{
	const char *reason = "";
	char line[200] = "";
	switch (resp->status) {
	case 400: reason = " Bad Request"; break;
	case 401: reason = " Unauthorized"; break;
	case 403: reason = " Forbidden"; break;
	case 404: reason = " Not Found"; break;
	case 413: reason = " Payload Too Large"; break;
	case 416: reason = " Range Not Satisfiable"; break;
	case 429: reason = " Too Many Requests"; break;
	case 500: reason = " Internal Server Error"; break;
	case 502: reason = " Bad Gateway"; break;
	case 503: reason = " Service Unavailable"; break;
	}
	/* the first line of the body, printable characters only: servers explain themselves there */
	size_t k = 0;
	for (size_t i = 0; resp->body && i < resp->body_len && resp->body[i] != '\n' && k + 1 < sizeof line; i++)
		if (resp->body[i] >= 0x20 && resp->body[i] < 0x7f)
			line[k++] = resp->body[i];
	line[k] = '\0';
	snprintf(buf, cap, "%ld%s%s%s", resp->status, reason, k ? ": " : "", line);
}

int ep_http_range_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct ep_http_range *r = ctx;
	if (len > r->len - r->got)
		return ep_fail(err, EP_EINTEGRITY, "%s: the server sent more than the %zu bytes asked for", r->what, r->len);
	memcpy(r->buf + r->got, data, len);
	r->got += len;
	return 0;
}

bool ep_http_starts_at(const struct ep_http_response *resp, uint64_t off)
{
	char cr[128];
	return resp->status == 206 && ep_http_header(resp, "Content-Range", cr, sizeof cr) &&
	       strtoull(cr + strcspn(cr, "0123456789"), NULL, 10) == off;
}

int ep_http_range_answer(void *ctx, const struct ep_http_response *resp, struct ep_error *err)
{
	struct ep_http_range *r = ctx;
	if (ep_http_starts_at(resp, r->off))
		return 0;
	return ep_fail(err, EP_ERUNTIME, "%s: the server does not serve byte ranges", r->what);
}

int ep_http_range_done(const struct ep_http_range *r, struct ep_error *err)
{
	if (r->got == r->len)
		return 0;
	return ep_fail(err, EP_EINTEGRITY, "%s: %zu bytes came at %llu, not %zu (truncated?)", r->what, r->got,
		       (unsigned long long)r->off, r->len);
}

int ep_http_get_range(struct ep_http *h, const char *url, void *buf, size_t len, uint64_t off, const char *what,
		      struct ep_error *err)
{
	char range[80];
	if (len == 0)
		return 0;
	snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)off, (unsigned long long)(off + len - 1));
	const char *headers[] = { range, NULL };
	struct ep_http_range r = { buf, len, 0, off, what };
	struct ep_http_response resp;
	int rc = ep_http_send(h, &(struct ep_http_request){ .method = "GET", .url = url, .headers = headers,
							    .sink = ep_http_range_sink, .check_answer = ep_http_range_answer,
							    .sink_ctx = &r, .follow = true },
			      what, &resp, err);
	if (!rc && resp.status != 206) {
		char d[300];
		ep_http_describe(&resp, d, sizeof d);
		rc = ep_fail(err, resp.status == 404 || resp.status == 403 ? EP_EINPUT : EP_ERUNTIME, "%s: %s", what, d);
	}
	if (!rc)
		rc = ep_http_range_done(&r, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_http_endpoint(const char *endpoint, char *base, size_t cap, const char *who, struct ep_error *err)
{
	size_t n = strlen(endpoint);
	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	const char *sep = strstr(endpoint, "://");
	size_t host = sep ? (size_t)(sep + 3 - endpoint) : 0; /* where the host starts */
	if (!sep || (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)) || n >= cap || n <= host ||
	    memchr(endpoint + host, '/', n - host) || endpoint[n - 1] == ':')
		return ep_fail(err, EP_EINPUT, "%s takes http(s)://HOST[:PORT], not '%s'", who, endpoint);
	snprintf(base, cap, "%.*s", (int)n, endpoint);
	return 0;
}
