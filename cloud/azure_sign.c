#include "cloud/azure_sign.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_HEADERS 32
#define MAX_PARAMS 32

/* The value of standard header name among headers, trimmed; "" when absent. */
static void standard(FILE *f, const char *const *headers, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; headers && headers[i]; i++) {
		if (!strncasecmp(headers[i], name, n) && headers[i][n] == ':') {
			const char *v = headers[i] + n + 1;
			v += strspn(v, " \t");
			size_t len = strlen(v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			fprintf(f, "%.*s", (int)len, v);
			break;
		}
	}
	fputc('\n', f);
}

static int by_name(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t nx = strcspn(x, ":"), ny = strcspn(y, ":");
	int c = strncasecmp(x, y, nx < ny ? nx : ny);
	return c ? c : (nx > ny) - (nx < ny);
}

/* "x-ms-name:value\n" for each x-ms- header, names lower-cased and sorted, values
 * trimmed with inner runs of white space made one space. */
static int canonical_headers(FILE *f, const char *const *headers, struct ep_error *err)
{
	const char *ms[MAX_HEADERS];
	size_t n = 0;
	for (size_t i = 0; headers && headers[i]; i++) {
		if (strncasecmp(headers[i], "x-ms-", 5) || !strchr(headers[i], ':'))
			continue;
		if (n == MAX_HEADERS)
			return ep_fail(err, EP_EINPUT, "azure: more than %d x-ms- headers to sign", MAX_HEADERS);
		ms[n++] = headers[i];
	}
	qsort(ms, n, sizeof *ms, by_name);
	for (size_t i = 0; i < n; i++) {
		const char *h = ms[i], *colon = strchr(h, ':');
		/* a name given twice is signed once, its values joined by commas */
		bool same = i > 0 && !by_name(&ms[i - 1], &ms[i]);
		if (same)
			fputc(',', f);
		else {
			if (i > 0)
				fputc('\n', f);
			for (const char *c = h; c < colon; c++)
				fputc(tolower((unsigned char)*c), f);
			fputc(':', f);
		}
		const char *v = colon + 1 + strspn(colon + 1, " \t");
		bool space = false;
		for (; *v; v++) {
			if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
				space = true;
			else {
				if (space)
					fputc(' ', f);
				space = false;
				fputc(*v, f);
			}
		}
	}
	if (n)
		fputc('\n', f);
	return 0;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Percent-decodes n bytes of s into f ('+' is kept: the query is not a form). */
static void decoded(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int h = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1, l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
		if (s[i] == '%' && h >= 0 && l >= 0) {
			fputc(h * 16 + l, f);
			i += 2;
		} else
			fputc(s[i], f);
	}
}

struct param {
	const char *name, *value;
	size_t nlen, vlen;
};

static int by_param(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strncasecmp(x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen);
	if (c || x->nlen != y->nlen)
		return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
	c = strncmp(x->value, y->value, x->vlen < y->vlen ? x->vlen : y->vlen);
	return c ? c : (x->vlen > y->vlen) - (x->vlen < y->vlen);
}

/* "/ACCOUNT/PATH" then "\nname:value" per query parameter, names lower-cased and
 * sorted, values decoded; a name given twice has its values sorted and joined by commas. */
static int canonical_resource(FILE *f, const struct ep_azure_sign_request *r, struct ep_error *err)
{
	struct param p[MAX_PARAMS];
	size_t n = 0;
	fprintf(f, "/%s%s", r->account, r->path && *r->path ? r->path : "/");
	for (const char *q = r->query; q && *q;) {
		size_t len = strcspn(q, "&");
		if (len) {
			if (n == MAX_PARAMS)
				return ep_fail(err, EP_EINPUT, "azure: more than %d query parameters to sign", MAX_PARAMS);
			const char *eq = memchr(q, '=', len);
			p[n].name = q;
			p[n].nlen = eq ? (size_t)(eq - q) : len;
			p[n].value = eq ? eq + 1 : q + len;
			p[n].vlen = eq ? len - p[n].nlen - 1 : 0;
			n++;
		}
		q += len + (q[len] == '&');
	}
	qsort(p, n, sizeof *p, by_param);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && p[i].nlen == p[i - 1].nlen && !strncasecmp(p[i].name, p[i - 1].name, p[i].nlen))
			fputc(',', f);
		else {
			fputc('\n', f);
			for (size_t k = 0; k < p[i].nlen; k++)
				fputc(tolower((unsigned char)p[i].name[k]), f);
			fputc(':', f);
		}
		decoded(f, p[i].value, p[i].vlen);
	}
	return 0;
}

int ep_azure_string_to_sign(const struct ep_azure_sign_request *r, char **out, struct ep_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return ep_oom(err);
	const char *const *h = r->headers;
	fprintf(f, "%s\n", r->method);
	standard(f, h, "Content-Encoding");
	standard(f, h, "Content-Language");
	if (r->content_length)
		fprintf(f, "%llu", (unsigned long long)r->content_length);
	fputc('\n', f);
	standard(f, h, "Content-MD5");
	standard(f, h, "Content-Type");
	standard(f, h, "Date");
	standard(f, h, "If-Modified-Since");
	standard(f, h, "If-Match");
	standard(f, h, "If-None-Match");
	standard(f, h, "If-Unmodified-Since");
	standard(f, h, "Range");
	int rc = canonical_headers(f, h, err);
	if (!rc)
		rc = canonical_resource(f, r, err);
	if (fclose(f) != 0 && !rc)
		rc = ep_oom(err);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

int ep_base64_encode(const void *data, size_t len, char **out, struct ep_error *err)
{
	if (len > (size_t)1 << 30)
		return ep_fail(err, EP_EINPUT, "base64: %zu bytes are too many", len);
	char *s = malloc(4 * ((len + 2) / 3) + 1);
	if (!s)
		return ep_oom(err);
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	*out = s;
	return 0;
}

int ep_base64_decode(const char *text, uint8_t **out, size_t *len, struct ep_error *err)
{
	size_t n = strlen(text);
	if (n % 4 || n > (size_t)1 << 30 || strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n)
		return ep_fail(err, EP_EINPUT, "base64: not base64 text");
	size_t pad = n && text[n - 1] == '=' ? (n > 1 && text[n - 2] == '=' ? 2 : 1) : 0;
	if (memchr(text, '=', n - pad))
		return ep_fail(err, EP_EINPUT, "base64: not base64 text");
	uint8_t *b = malloc(n / 4 * 3 + 1);
	if (!b)
		return ep_oom(err);
	int got = EVP_DecodeBlock(b, (const unsigned char *)text, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(b);
		return ep_fail(err, EP_EINPUT, "base64: not base64 text");
	}
	*out = b;
	*len = (size_t)got - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	return 0;
}

int ep_azure_shared_key(const struct ep_azure_sign_request *r, const char *key, char **out, struct ep_error *err)
{
	uint8_t *raw = NULL, mac[32];
	size_t rawlen = 0;
	unsigned maclen = 0;
	char *sts = NULL, *sig = NULL;
	/* the message never quotes the key: messages may reach a terminal or a log */
	int rc = ep_base64_decode(key, &raw, &rawlen, err);
	if (rc)
		rc = ep_fail(err, EP_EINPUT, "azure: the account key is not base64 (copy it whole from the portal or "
					     "'az storage account keys list')");
	if (!rc && rawlen == 0)
		rc = ep_fail(err, EP_EINPUT, "azure: the account key is empty");
	if (!rc)
		rc = ep_azure_string_to_sign(r, &sts, err);
	if (!rc && !HMAC(EVP_sha256(), raw, (int)rawlen, (const unsigned char *)sts, strlen(sts), mac, &maclen))
		rc = ep_fail(err, EP_ERUNTIME, "azure: HMAC-SHA256 failed");
	if (!rc)
		rc = ep_base64_encode(mac, maclen, &sig, err);
	if (!rc && asprintf(out, "SharedKey %s:%s", r->account, sig) < 0)
		rc = ep_oom(err);
	if (raw)
		OPENSSL_cleanse(raw, rawlen);
	free(raw);
	free(sts);
	free(sig);
	return rc;
}

void ep_azure_date(char *buf, size_t cap)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* RFC 1123 in English whatever the locale */
	snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
