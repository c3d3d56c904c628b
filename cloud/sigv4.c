#include "cloud/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cloud/sigv4_canon.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_FIELD 256 /* access key, secret, region, service: real ones are far shorter */

static bool all_of(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      strchr(extra, *s)))
			return false;
	return true;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool payload_hash_ok(const char *p)
{
	uint8_t bytes[EP_DIGEST_LEN];
	return ep_unhex(p, bytes, sizeof bytes) || !strcmp(p, EP_SIGV4_UNSIGNED_PAYLOAD) ||
	       (!strncmp(p, "STREAMING-", 10) && all_of(p + 10, 64, "-"));
}

/* Text that goes into a header line: no control bytes but tab (a token with a
 * line break would inject headers). */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

/* Messages name the bad field, never its value: some are secret. */
static int validate(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds, struct ep_error *err)
{
	const char *d = req->amz_date;
	if (!req->method || !all_of(req->method, 16, ""))
		return ep_fail(err, EP_EINPUT, "sigv4: malformed method");
	if (!req->path)
		return ep_fail(err, EP_EINPUT, "sigv4: no path");
	if (!d || strlen(d) != 16 || !digits(d, 8) || d[8] != 'T' || !digits(d + 9, 6) || d[15] != 'Z')
		return ep_fail(err, EP_EINPUT, "sigv4: the time must be YYYYMMDDTHHMMSSZ");
	if (!req->region || !all_of(req->region, MAX_FIELD, "-_."))
		return ep_fail(err, EP_EINPUT, "sigv4: malformed region");
	if (!req->service || !all_of(req->service, MAX_FIELD, "-_."))
		return ep_fail(err, EP_EINPUT, "sigv4: malformed service");
	if (!req->payload_hash || !payload_hash_ok(req->payload_hash))
		return ep_fail(err, EP_EINPUT, "sigv4: the payload hash must be hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-*");
	if (!creds->access_key || !all_of(creds->access_key, MAX_FIELD, "-_.+"))
		return ep_fail(err, EP_EINPUT, "sigv4: malformed access key id");
	if (!creds->secret_key || !*creds->secret_key || strlen(creds->secret_key) > MAX_FIELD)
		return ep_fail(err, EP_EINPUT, "sigv4: the secret key must be 1 to %d bytes", MAX_FIELD);
	if (creds->session_token && !header_safe(creds->session_token))
		return ep_fail(err, EP_EINPUT, "sigv4: the session token holds control characters");
	for (size_t i = 0; i < req->nheaders; i++)
		if (!header_safe(req->headers[i].value))
			return ep_fail(err, EP_EINPUT, "sigv4: header %zu's value holds control characters", i + 1);
	return 0;
}

static int hmac(const uint8_t *key, size_t klen, const char *msg, uint8_t out[EP_DIGEST_LEN], struct ep_error *err)
{
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) ||
	    n != EP_DIGEST_LEN)
		return ep_fail(err, EP_ERUNTIME, "sigv4: HMAC-SHA256 failed");
	return 0;
}

/* The signing key is HMAC("AWS4" secret, day) chained through region,
 * service and "aws4_request"; every intermediate is wiped. */
static int signature(const struct ep_sigv4_request *req, const char *secret, const char *sts,
		     char sig[EP_DIGEST_HEX], struct ep_error *err)
{
	uint8_t kdate[4 + MAX_FIELD], a[EP_DIGEST_LEN], b[EP_DIGEST_LEN];
	size_t slen = strlen(secret);
	char day[9];
	memcpy(day, req->amz_date, 8);
	day[8] = '\0';
	memcpy(kdate, "AWS4", 4);
	memcpy(kdate + 4, secret, slen);
	int rc = hmac(kdate, 4 + slen, day, a, err);
	rc = rc ? rc : hmac(a, sizeof a, req->region, b, err);
	rc = rc ? rc : hmac(b, sizeof b, req->service, a, err);
	rc = rc ? rc : hmac(a, sizeof a, "aws4_request", b, err);
	rc = rc ? rc : hmac(b, sizeof b, sts, a, err);
	if (!rc)
		ep_hex(a, sizeof a, sig);
	OPENSSL_cleanse(kdate, sizeof kdate);
	OPENSSL_cleanse(a, sizeof a);
	OPENSSL_cleanse(b, sizeof b);
	return rc;
}

static void scope(const struct ep_sigv4_request *req, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.8s/%s/%s/aws4_request", req->amz_date, req->region, req->service);
}

/* Canonical request, string to sign and signature from the canonical parts. */
static int sign_parts(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds, const char *cquery,
		      const char *lines, const char *names, struct ep_sigv4 *out, struct ep_error *err)
{
	char *cpath = NULL, sc[3 * MAX_FIELD], hash[EP_DIGEST_HEX];
	int rc = ep_sigv4_canon_path(req->path, req->flags, &cpath, err);
	if (rc)
		return rc;
	int n = asprintf(&out->canonical_request, "%s\n%s\n%s\n%s\n%s\n%s", req->method, cpath, cquery, lines, names,
			 req->payload_hash);
	free(cpath);
	if (n < 0) {
		out->canonical_request = NULL;
		return ep_oom(err);
	}
	uint8_t digest[EP_DIGEST_LEN];
	ep_sha256(out->canonical_request, (size_t)n, digest);
	ep_hex(digest, sizeof digest, hash);
	scope(req, sc, sizeof sc);
	if (asprintf(&out->string_to_sign, ALGORITHM "\n%s\n%s\n%s", req->amz_date, sc, hash) < 0) {
		out->string_to_sign = NULL;
		return ep_oom(err);
	}
	return signature(req, creds->secret_key, out->string_to_sign, out->signature, err);
}

static bool has_token(const struct ep_sigv4_creds *creds)
{
	return creds->session_token && *creds->session_token;
}

int ep_sigv4_sign(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds, struct ep_sigv4 *out,
		  struct ep_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = validate(req, creds, err);
	if (rc)
		return rc;
	struct ep_sigv4_header extra[3];
	size_t nextra = 0;
	extra[nextra++] = (struct ep_sigv4_header){ "x-amz-date", req->amz_date };
	if (req->flags & EP_SIGV4_CONTENT_SHA256)
		extra[nextra++] = (struct ep_sigv4_header){ "x-amz-content-sha256", req->payload_hash };
	if (has_token(creds) && !(req->flags & EP_SIGV4_OMIT_TOKEN))
		extra[nextra++] = (struct ep_sigv4_header){ "x-amz-security-token", creds->session_token };
	char *cquery = NULL, *lines = NULL, *names = NULL, sc[3 * MAX_FIELD];
	rc = ep_sigv4_canon_query(req->query, NULL, 0, &cquery, err);
	rc = rc ? rc : ep_sigv4_canon_headers(req->headers, req->nheaders, extra, nextra, &lines, &names, err);
	rc = rc ? rc : sign_parts(req, creds, cquery, lines, names, out, err);
	scope(req, sc, sizeof sc);
	if (!rc && asprintf(&out->authorization, ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			    creds->access_key, sc, names, out->signature) < 0) {
		out->authorization = NULL;
		rc = ep_oom(err);
	}
	int h = 0;
	if (!rc && asprintf(&out->headers[h++], "X-Amz-Date: %s", req->amz_date) < 0)
		rc = ep_oom(err);
	if (!rc && (req->flags & EP_SIGV4_CONTENT_SHA256) &&
	    asprintf(&out->headers[h++], "X-Amz-Content-SHA256: %s", req->payload_hash) < 0)
		rc = ep_oom(err);
	if (!rc && has_token(creds) && asprintf(&out->headers[h++], "X-Amz-Security-Token: %s", creds->session_token) < 0)
		rc = ep_oom(err);
	if (rc && h > 0)
		out->headers[h - 1] = NULL; /* asprintf leaves it undefined on failure */
	free(cquery);
	free(lines);
	free(names);
	if (rc)
		ep_sigv4_release(out);
	return rc;
}

/* A query parameter already in canonical form: name=encoded value. */
static char *param(const char *name, const char *value)
{
	char *enc = ep_sigv4_encode(value, strlen(value), false), *p = NULL;
	if (enc && asprintf(&p, "%s=%s", name, enc) < 0)
		p = NULL;
	if (enc)
		OPENSSL_clear_free(enc, strlen(enc));
	return p;
}

int ep_sigv4_presign(const struct ep_sigv4_request *req, const struct ep_sigv4_creds *creds, unsigned expires,
		     struct ep_sigv4 *out, struct ep_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = validate(req, creds, err);
	if (rc)
		return rc;
	if (expires < 1 || expires > EP_SIGV4_MAX_EXPIRES)
		return ep_fail(err, EP_EINPUT, "sigv4: a presigned URL expires after 1 to %d seconds", EP_SIGV4_MAX_EXPIRES);
	char *lines = NULL, *names = NULL, *cquery = NULL, *params[6] = { 0 }, *token = NULL, sc[3 * MAX_FIELD],
	     credential[4 * MAX_FIELD], secs[16];
	size_t np = 0;
	rc = ep_sigv4_canon_headers(req->headers, req->nheaders, NULL, 0, &lines, &names, err);
	if (!rc) {
		scope(req, sc, sizeof sc);
		snprintf(credential, sizeof credential, "%s/%s", creds->access_key, sc);
		snprintf(secs, sizeof secs, "%u", expires);
		params[np++] = param("X-Amz-Algorithm", ALGORITHM);
		params[np++] = param("X-Amz-Credential", credential);
		params[np++] = param("X-Amz-Date", req->amz_date);
		params[np++] = param("X-Amz-Expires", secs);
		params[np++] = param("X-Amz-SignedHeaders", names);
		if (has_token(creds))
			token = param("X-Amz-Security-Token", creds->session_token);
		if (token && !(req->flags & EP_SIGV4_OMIT_TOKEN))
			params[np++] = token, token = NULL;
		for (size_t i = 0; i < np; i++)
			if (!params[i])
				rc = ep_oom(err);
		if (!rc && has_token(creds) && (req->flags & EP_SIGV4_OMIT_TOKEN) && !token)
			rc = ep_oom(err);
	}
	rc = rc ? rc : ep_sigv4_canon_query(req->query, params, np, &cquery, err);
	rc = rc ? rc : sign_parts(req, creds, cquery, lines, names, out, err);
	if (!rc && asprintf(&out->query, "%s%s%s&X-Amz-Signature=%s", cquery, token ? "&" : "", token ? token : "",
			    out->signature) < 0) {
		out->query = NULL;
		rc = ep_oom(err);
	}
	for (size_t i = 0; i < np; i++)
		if (params[i])
			OPENSSL_clear_free(params[i], strlen(params[i]));
	if (token)
		OPENSSL_clear_free(token, strlen(token));
	if (cquery)
		OPENSSL_clear_free(cquery, strlen(cquery));
	free(lines);
	free(names);
	if (rc)
		ep_sigv4_release(out);
	return rc;
}

/* Wiped: the request and query may carry the session token. */
static void clear_free(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s));
}

void ep_sigv4_release(struct ep_sigv4 *s)
{
	clear_free(s->canonical_request);
	clear_free(s->string_to_sign);
	clear_free(s->authorization);
	clear_free(s->query);
	for (size_t i = 0; i < sizeof s->headers / sizeof s->headers[0]; i++)
		clear_free(s->headers[i]);
	memset(s, 0, sizeof *s);
}
