#include "cloud/sigv4_canon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

char *ep_sigv4_encode(const char *s, size_t len, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	char *out = malloc(3 * len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = digits[c >> 4];
			*o++ = digits[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Closes a memstream, handing over its text; a failed write means no memory. */
static int close_stream(FILE *f, char **text, char **out, struct ep_error *err)
{
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(*text);
		*text = NULL;
		return ep_oom(err);
	}
	*out = *text;
	return 0;
}

/* RFC 3986 dot-segment removal, plus dropping empty segments as the suite
 * expects ("//example//" is "/example/"); a trailing slash stays. */
static int normalize(const char *path, char **out, struct ep_error *err)
{
	size_t n = strlen(path), depth = 0;
	size_t *starts = malloc((n + 1) * sizeof *starts); /* where each kept segment begins in buf */
	char *buf = malloc(n + 2);
	if (!starts || !buf) {
		free(starts);
		free(buf);
		return ep_oom(err);
	}
	size_t len = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		size_t seg = strcspn(p, "/");
		if (seg == 0)
			break;
		if (seg == 2 && !strncmp(p, "..", 2)) {
			if (depth > 0)
				len = starts[--depth];
		} else if (!(seg == 1 && *p == '.')) {
			starts[depth++] = len;
			buf[len++] = '/';
			memcpy(buf + len, p, seg);
			len += seg;
		}
		p += seg;
	}
	if (len == 0 || (n > 1 && path[n - 1] == '/'))
		buf[len++] = '/';
	buf[len] = '\0';
	free(starts);
	*out = buf;
	return 0;
}

int ep_sigv4_canon_path(const char *path, unsigned flags, char **out, struct ep_error *err)
{
	if (path[0] != '/')
		return ep_fail(err, EP_EINPUT, "sigv4: the path must start with '/'");
	char *p = NULL;
	int rc = (flags & EP_SIGV4_NORMALIZE) ? normalize(path, &p, err) : 0;
	if (rc)
		return rc;
	const char *src = p ? p : path;
	*out = (flags & EP_SIGV4_ENCODE_PATH) ? ep_sigv4_encode(src, strlen(src), true) : strdup(src);
	free(p);
	return *out ? 0 : ep_oom(err);
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes len bytes of s then encodes them SigV4's way, so every
 * spelling of a parameter signs the same. */
static int recode(const char *s, size_t len, char **out, struct ep_error *err)
{
	char *raw = malloc(len + 1);
	size_t n = 0;
	if (!raw)
		return ep_oom(err);
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			raw[n++] = s[i];
			continue;
		}
		int hi = i + 2 < len ? hexdigit(s[i + 1]) : -1, lo = hi >= 0 ? hexdigit(s[i + 2]) : -1;
		if (lo < 0) {
			free(raw);
			return ep_fail(err, EP_EINPUT, "sigv4: malformed %%-escape in the query");
		}
		raw[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	*out = ep_sigv4_encode(raw, n, false);
	free(raw);
	return *out ? 0 : ep_oom(err);
}

struct pair {
	char *name, *value;
};

static int by_name_value(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static void free_pairs(struct pair *pairs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
}

int ep_sigv4_canon_query(const char *query, char *const *extra, size_t nextra, char **out,
			 struct ep_error *err)
{
	if (!query)
		query = "";
	size_t cap = nextra + 1, n = 0;
	for (const char *q = query; *q; q++)
		cap += *q == '&';
	struct pair *pairs = calloc(cap, sizeof *pairs);
	if (!pairs)
		return ep_oom(err);
	int rc = 0;
	for (const char *q = query; *q && !rc;) {
		size_t len = strcspn(q, "&");
		if (len > 0) { /* "a&&b" has no empty parameter to sign */
			const char *eq = memchr(q, '=', len);
			size_t nlen = eq ? (size_t)(eq - q) : len;
			rc = recode(q, nlen, &pairs[n].name, err);
			if (!rc)
				rc = eq ? recode(eq + 1, len - nlen - 1, &pairs[n].value, err)
					: (pairs[n].value = strdup("")) ? 0 : ep_oom(err);
			n++;
		}
		q += len + (q[len] == '&');
	}
	for (size_t i = 0; i < nextra && !rc; i++, n++) {
		const char *eq = strchr(extra[i], '=');
		pairs[n].name = eq ? strndup(extra[i], (size_t)(eq - extra[i])) : NULL;
		pairs[n].value = eq ? strdup(eq + 1) : NULL;
		if (!pairs[n].name || !pairs[n].value)
			rc = ep_oom(err);
	}
	if (rc) {
		free_pairs(pairs, n);
		return rc;
	}
	qsort(pairs, n, sizeof *pairs, by_name_value);
	char *text = NULL;
	size_t tlen;
	FILE *f = open_memstream(&text, &tlen);
	if (!f) {
		free_pairs(pairs, n);
		return ep_oom(err);
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
	free_pairs(pairs, n);
	return close_stream(f, &text, out, err);
}

struct hdr {
	char *name;        /* lowercased */
	const char *value; /* as given */
	size_t order;      /* keeps same-name headers in their given order */
};

static int by_name_order(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static bool token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The value trimmed, each inner run of white space one ' ' (a folded line included). */
static void put_value(FILE *f, const char *v)
{
	bool gap = false, any = false;
	for (; *v; v++) {
		if (space(*v)) {
			gap = any;
			continue;
		}
		if (gap)
			fputc(' ', f);
		fputc(*v, f);
		gap = false;
		any = true;
	}
}

int ep_sigv4_canon_headers(const struct ep_sigv4_header *h, size_t n, const struct ep_sigv4_header *extra,
			   size_t nextra, char **lines, char **names, struct ep_error *err)
{
	struct hdr *all = calloc(n + nextra + 1, sizeof *all);
	if (!all)
		return ep_oom(err);
	size_t total = n + nextra;
	int rc = 0;
	bool host = false;
	for (size_t i = 0; i < total && !rc; i++) {
		const struct ep_sigv4_header *src = i < n ? &h[i] : &extra[i - n];
		size_t len = strlen(src->name);
		all[i].name = malloc(len + 1);
		all[i].value = src->value;
		all[i].order = i;
		if (!all[i].name) {
			rc = ep_oom(err);
			break;
		}
		for (size_t k = 0; k <= len; k++)
			all[i].name[k] = (char)(src->name[k] >= 'A' && src->name[k] <= 'Z' ? src->name[k] - 'A' + 'a'
										      : src->name[k]);
		for (size_t k = 0; k < len && !rc; k++)
			if (!token_char((unsigned char)all[i].name[k]))
				rc = ep_fail(err, EP_EINPUT, "sigv4: malformed header name");
		if (!rc && len == 0)
			rc = ep_fail(err, EP_EINPUT, "sigv4: empty header name");
		if (!rc && i < n &&
		    (!strcmp(all[i].name, "authorization") || !strcmp(all[i].name, "x-amz-date") ||
		     !strcmp(all[i].name, "x-amz-security-token") || !strcmp(all[i].name, "x-amz-content-sha256")))
			rc = ep_fail(err, EP_EINPUT, "sigv4: header %s is added by the signer", all[i].name);
		host = host || !strcmp(all[i].name, "host");
	}
	if (!rc && !host)
		rc = ep_fail(err, EP_EINPUT, "sigv4: no host header to sign");
	char *ltext = NULL, *ntext = NULL;
	size_t llen, nlen;
	*lines = *names = NULL;
	FILE *lf = rc ? NULL : open_memstream(&ltext, &llen);
	FILE *nf = lf ? open_memstream(&ntext, &nlen) : NULL;
	if (!rc && !nf)
		rc = ep_oom(err);
	if (!rc) {
		qsort(all, total, sizeof *all, by_name_order);
		for (size_t i = 0; i < total; i++) {
			if (i > 0 && !strcmp(all[i - 1].name, all[i].name)) {
				fputc(',', lf);
			} else {
				fprintf(lf, "%s%s:", i ? "\n" : "", all[i].name);
				fprintf(nf, "%s%s", i ? ";" : "", all[i].name);
			}
			put_value(lf, all[i].value);
		}
		fputc('\n', lf);
	}
	for (size_t i = 0; i < total; i++)
		free(all[i].name);
	free(all);
	int lrc = lf ? close_stream(lf, &ltext, lines, err) : 0;
	int nrc = nf ? close_stream(nf, &ntext, names, err) : 0;
	rc = rc ? rc : lrc ? lrc : nrc;
	if (rc) {
		free(*lines);
		free(*names);
		*lines = *names = NULL;
	}
	return rc;
}
