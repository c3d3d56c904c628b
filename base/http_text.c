/*
 * A request as text, for --dry-run: what would go on the wire, with every
 * credential masked. Masked are the values of headers that carry one
 * (Authorization, tokens, keys), a URL's password, the query parameters of presigned and SAS
 * URLs that sign or name a credential, and, in a JSON or form body, the values of
 * keys that hold secrets (Keystone's "password" and "secret", OAuth's "client_secret").
 */
#include "base/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define MASK "****"
#define TEXT_BODY_MAX ((size_t)64 << 10) /* larger bodies are shown by their size */

static const char *const secret_headers[] = { "authorization", "x-amz-security-token", "x-auth-token",
					      "x-subject-token", "x-goog-security-token", "x-ms-copy-source-authorization",
					      "proxy-authorization", "cookie" };
static const char *const secret_params[] = { "x-amz-signature", "x-amz-credential", "x-amz-security-token",
					     "sig", "signature", "x-goog-signature", "x-goog-credential" };
static const char *const secret_keys[] = { "password", "secret", "token", "client_secret", "private_key",
					   "accountkey", "sharedkey" };

static bool listed(const char *name, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !strncasecmp(name, list[i], len))
			return true;
	return false;
}

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->failed = true;
			return;
		}
		t->buf = b, t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* NAME=VALUE&... (a query, or a form body), the values of credential parameters masked. */
static void put_params(struct text *t, const char *p, size_t len)
{
	for (const char *end = p + len; p < end;) {
		size_t n = strcspn(p, "&");
		n = n > (size_t)(end - p) ? (size_t)(end - p) : n;
		const char *eq = memchr(p, '=', n);
		if (eq && (listed(p, (size_t)(eq - p), secret_params, sizeof secret_params / sizeof *secret_params) ||
			   listed(p, (size_t)(eq - p), secret_keys, sizeof secret_keys / sizeof *secret_keys))) {
			put(t, p, (size_t)(eq - p) + 1);
			puts_(t, MASK);
		} else
			put(t, p, n);
		p += n;
		if (p < end && *p == '&')
			put(t, p++, 1);
	}
}

/* The URL with the password of its user information and the values of credential
 * parameters masked. */
static void put_url(struct text *t, const char *url)
{
	const char *sep = strstr(url, "://"), *auth = sep ? sep + 3 : url;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memrchr(auth, '@', alen), *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon) {
		put(t, url, (size_t)(colon - url) + 1);
		puts_(t, MASK);
		url = at;
	}
	const char *q = strchr(url, '?');
	if (!q) {
		puts_(t, url);
		return;
	}
	put(t, url, (size_t)(q - url) + 1);
	put_params(t, q + 1, strlen(q + 1));
}

static void put_header(struct text *t, const char *h)
{
	const char *colon = strchr(h, ':');
	size_t n = colon ? (size_t)(colon - h) : strlen(h);
	if (colon && listed(h, n, secret_headers, sizeof secret_headers / sizeof *secret_headers)) {
		/* keep the scheme ("AWS4-HMAC-SHA256", "SharedKey", "Bearer"): it tells how, not what */
		const char *v = colon + 1 + strspn(colon + 1, " ");
		size_t scheme = strcspn(v, " ");
		put(t, h, (size_t)(v - h));
		if (v[scheme] == ' ') {
			put(t, v, scheme + 1);
		}
		puts_(t, MASK);
	} else
		puts_(t, h);
	puts_(t, "\n");
}

static void mask_json(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach(v, key, item) {
			if (json_is_string(item) && listed(key, strlen(key), secret_keys, sizeof secret_keys / sizeof *secret_keys))
				json_object_set_new(v, key, json_string(MASK));
			else
				mask_json(item);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) mask_json(item);
	}
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
			return false;
	return true;
}

static bool form_body(const struct ep_http_request *req)
{
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		if (!strncasecmp(req->headers[i], "Content-Type: application/x-www-form-urlencoded", 47))
			return true;
	return false;
}

static void put_body(struct text *t, const struct ep_http_request *req)
{
	char line[96];
	if (req->body) {
		snprintf(line, sizeof line, "[%llu bytes streamed]\n", (unsigned long long)req->body->len);
		puts_(t, line);
		return;
	}
	if (!req->data || !req->data_len)
		return;
	const char *data = req->data;
	json_t *doc = req->data_len <= TEXT_BODY_MAX ? json_loadb(data, req->data_len, 0, NULL) : NULL;
	if (doc) {
		mask_json(doc);
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(doc);
		if (!s) {
			t->failed = true;
			return;
		}
		puts_(t, s);
		free(s);
	} else if (req->data_len <= TEXT_BODY_MAX && printable(data, req->data_len) && form_body(req))
		put_params(t, data, req->data_len); /* an OAuth token request's client_secret */
	else if (req->data_len <= TEXT_BODY_MAX && printable(data, req->data_len))
		put(t, data, req->data_len);
	else {
		snprintf(line, sizeof line, "[%zu bytes]", req->data_len);
		puts_(t, line);
	}
	puts_(t, "\n");
}

char *ep_http_request_text(const struct ep_http_request *req)
{
	struct text t = { 0 };
	puts_(&t, req->method);
	puts_(&t, " ");
	put_url(&t, req->url);
	puts_(&t, "\n");
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		put_header(&t, req->headers[i]);
	if (req->body || (req->data && req->data_len)) {
		puts_(&t, "\n");
		put_body(&t, req);
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

int ep_http_show(const struct ep_http_request *req, void (*emit)(void *ctx, const char *text), void *ctx,
		 struct ep_error *err)
{
	char *text = ep_http_request_text(req);
	if (!text)
		return ep_oom(err);
	emit(ctx, text);
	free(text);
	return 0;
}
