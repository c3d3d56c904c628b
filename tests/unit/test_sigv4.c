/* SigV4 against the official AWS test suite (tests/data/aws-sigv4, from
 * awslabs/aws-c-auth): every vector's canonical request, string to sign,
 * signature and Authorization header, in the header and the query (presigned)
 * variant. No vector is left out; a new one that fails shows up as a failure. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cloud/sigv4.h"
#include "base/util.h"
#include "tests/unit/unit.h"

#define SUITE "tests/data/aws-sigv4/v4"
#define MAX_HEADERS 32

static size_t compared; /* steps that matched, so a vector cannot pass by skipping them */

struct vector {
	char *text; /* request.txt, cut in place into the strings below */
	const char *method, *path, *query, *body;
	struct ep_sigv4_header headers[MAX_HEADERS];
	size_t nheaders;
	char *folded[MAX_HEADERS]; /* values joined from folded lines */
	json_t *ctx;
};

/* A file of the vector, its one trailing newline dropped; NULL when absent. */
static char *expected(const char *dir, const char *name)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	struct ep_error err = { 0 };
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
	    ep_read_file(path, 1 << 20, &text, &len, &err))
		return NULL;
	if (len > 0 && text[len - 1] == '\n')
		text[len - 1] = '\0';
	return text;
}

/* request.txt: "METHOD TARGET HTTP/1.1" (the target may hold spaces), then
 * "Name:value" lines, a line starting with white space continuing the one
 * before, then an empty line and the body. */
static bool parse_request(struct vector *v, char *text)
{
	v->text = text;
	char *end = strstr(text, "\n\n");
	v->body = end ? end + 2 : "";
	if (end)
		end[1] = '\0';
	char *line = text, *nl = strchr(line, '\n');
	if (!nl)
		return false;
	*nl = '\0';
	char *sp = strchr(line, ' '), *last = strrchr(line, ' ');
	if (!sp || sp == last)
		return false;
	*sp = *last = '\0';
	v->method = line;
	v->path = sp + 1;
	char *q = strchr(sp + 1, '?');
	v->query = q ? q + 1 : "";
	if (q)
		*q = '\0';
	for (char *next = nl + 1; (line = next) && *line;) {
		nl = strchr(line, '\n'); /* the last line may have none: expected() dropped it */
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if ((*line == ' ' || *line == '\t') && v->nheaders > 0) {
			size_t i = v->nheaders - 1;
			char *joined = NULL;
			if (asprintf(&joined, "%s %s", v->headers[i].value, line) < 0)
				return false;
			free(v->folded[i]);
			v->folded[i] = joined;
			v->headers[i].value = joined;
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon || v->nheaders == MAX_HEADERS)
			return false;
		*colon = '\0';
		v->headers[v->nheaders++] = (struct ep_sigv4_header){ line, colon + 1 };
	}
	return true;
}

static const char *ctx_str(json_t *ctx, const char *a, const char *b)
{
	json_t *o = json_object_get(ctx, a);
	return json_string_value(b ? json_object_get(o, b) : o);
}

/* One step's result against the suite's file; reports which vector and step differ. */
static void same(const char *vector, const char *step, const char *want, const char *got)
{
	if (want && got && !strcmp(want, got)) {
		compared++;
		return;
	}
	char what[2048];
	snprintf(what, sizeof what, "%s: %s matches the suite's", vector, step);
	unit_fail(__FILE__, __LINE__, what);
}

/* The Authorization line of header-signed-request.txt. */
static const char *authorization_of(char *signed_request)
{
	char *a = signed_request ? strstr(signed_request, "\nAuthorization:") : NULL;
	if (!a)
		return NULL;
	a += strlen("\nAuthorization:");
	a[strcspn(a, "\n")] = '\0';
	return a;
}

static void check_vector(const char *name, const char *dir)
{
	struct vector v = { 0 };
	char *text = expected(dir, "request.txt"), path[PATH_MAX];
	bool fits = snprintf(path, sizeof path, "%s/context.json", dir) < (int)sizeof path;
	v.ctx = fits ? json_load_file(path, 0, NULL) : NULL;
	if (!text || !v.ctx || !parse_request(&v, text)) {
		same(name, "request.txt and context.json", "readable", NULL);
		goto out;
	}
	const char *ts = ctx_str(v.ctx, "timestamp", NULL); /* 2015-08-30T12:36:00Z */
	char date[17] = "";
	if (ts && strlen(ts) == 20)
		snprintf(date, sizeof date, "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5, ts + 8, ts + 11, ts + 14, ts + 17);
	uint8_t digest[EP_DIGEST_LEN];
	char hash[EP_DIGEST_HEX];
	ep_sha256(v.body, strlen(v.body), digest);
	ep_hex(digest, sizeof digest, hash);
	/* The suite encodes every path twice (aws-c-auth's default), normalizing it when asked. */
	unsigned flags = EP_SIGV4_ENCODE_PATH;
	if (json_is_true(json_object_get(v.ctx, "normalize")))
		flags |= EP_SIGV4_NORMALIZE;
	if (json_is_true(json_object_get(v.ctx, "sign_body")))
		flags |= EP_SIGV4_CONTENT_SHA256;
	if (json_is_true(json_object_get(v.ctx, "omit_session_token")))
		flags |= EP_SIGV4_OMIT_TOKEN;
	struct ep_sigv4_request req = {
		.method = v.method, .path = v.path, .query = v.query, .headers = v.headers, .nheaders = v.nheaders,
		.payload_hash = hash, .region = ctx_str(v.ctx, "region", NULL),
		.service = ctx_str(v.ctx, "service", NULL), .amz_date = date, .flags = flags,
	};
	struct ep_sigv4_creds creds = {
		ctx_str(v.ctx, "credentials", "access_key_id"),
		ctx_str(v.ctx, "credentials", "secret_access_key"),
		ctx_str(v.ctx, "credentials", "token"),
	};
	struct ep_sigv4 s;
	struct ep_error err = { 0 };
	char *want[4];
	const char *files[4] = { "canonical-request.txt", "string-to-sign.txt", "signature.txt", "signed-request.txt" };
	for (int mode = 0; mode < 2; mode++) {
		for (int i = 0; i < 4; i++) {
			char file[64];
			snprintf(file, sizeof file, "%s-%s", mode ? "query" : "header", files[i]);
			want[i] = expected(dir, file);
		}
		int rc = mode ? ep_sigv4_presign(&req, &creds,
						 (unsigned)json_integer_value(json_object_get(v.ctx, "expiration_in_seconds")),
						 &s, &err)
			      : ep_sigv4_sign(&req, &creds, &s, &err);
		if (rc) {
			same(name, err.msg, "signed", NULL);
		} else {
			same(name, mode ? "query canonical request" : "header canonical request", want[0],
			     s.canonical_request);
			same(name, mode ? "query string to sign" : "header string to sign", want[1], s.string_to_sign);
			same(name, mode ? "query signature" : "header signature", want[2], s.signature);
			if (!mode)
				same(name, "Authorization", authorization_of(want[3]), s.authorization);
			ep_sigv4_release(&s);
		}
		for (int i = 0; i < 4; i++)
			free(want[i]);
	}
out:
	for (size_t i = 0; i < MAX_HEADERS; i++)
		free(v.folded[i]);
	free(text);
	json_decref(v.ctx);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(sigv4_aws_suite)
{
	char root[PATH_MAX];
	EXPECT(snprintf(root, sizeof root, "%s/" SUITE, unit_origin()) < (int)sizeof root);
	DIR *d = opendir(root);
	EXPECT(d != NULL);
	if (!d)
		return;
	char *names[256];
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < 256;)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, by_str);
	EXPECT(n >= 38); /* the suite as copied: losing vectors must not pass quietly */
	compared = 0;
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX];
		EXPECT(snprintf(dir, sizeof dir, "%s/%s", root, names[i]) < (int)sizeof dir);
		check_vector(names[i], dir);
		free(names[i]);
	}
	EXPECT(compared == n * 7); /* four steps signed in a header, three presigned */
}

static const struct ep_sigv4_creds example = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };

TEST(sigv4_encode)
{
	char *e = ep_sigv4_encode("a b/c+d=e~f\xe1\x88\xb4", 14, true);
	EXPECT(e && !strcmp(e, "a%20b/c%2Bd%3De~f%E1%88%B4"));
	free(e);
	e = ep_sigv4_encode("a/b", 3, false);
	EXPECT(e && !strcmp(e, "a%2Fb"));
	free(e);
}

/* S3: the path is signed as sent, "//" and ".." included; the query is recoded and sorted. */
TEST(sigv4_s3_shapes)
{
	struct ep_sigv4_header h[] = { { "Host", "127.0.0.1:9000" }, { "Range", " bytes=0-9\t" } };
	struct ep_sigv4_request req = {
		.method = "GET", .path = "/bucket/a//b/../k%20ey", .query = "uploadId=x%2by&partNumber=2&uploads",
		.headers = h, .nheaders = 2, .payload_hash = EP_SIGV4_UNSIGNED_PAYLOAD, .region = "us-east-1",
		.service = "s3", .amz_date = "20150830T123600Z", .flags = EP_SIGV4_CONTENT_SHA256,
	};
	struct ep_sigv4 s;
	struct ep_error err = { 0 };
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == 0);
	EXPECT(s.canonical_request && !strncmp(s.canonical_request,
						"GET\n/bucket/a//b/../k%20ey\npartNumber=2&uploadId=x%2By&uploads=\n"
						"host:127.0.0.1:9000\nrange:bytes=0-9\n", 93));
	EXPECT(s.headers[0] && !strcmp(s.headers[0], "X-Amz-Date: 20150830T123600Z"));
	EXPECT(s.headers[1] && !strcmp(s.headers[1], "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD"));
	EXPECT(!s.headers[2]);
	ep_sigv4_release(&s);
	EXPECT(ep_sigv4_presign(&req, &example, 60, &s, &err) == 0);
	EXPECT(s.query && strstr(s.query, "&X-Amz-Expires=60&") && strstr(s.query, "&X-Amz-Signature="));
	ep_sigv4_release(&s);
}

/* Bad input is refused, and no message quotes the secret or the token. */
TEST(sigv4_refusals)
{
	struct ep_sigv4_header h[] = { { "Host", "example.com" } }, dated[] = { { "X-Amz-Date", "x" } };
	struct ep_sigv4_creds bad = { "AKIDEXAMPLE", "sEcReT", "zqx\r\nX-Evil: 1" };
	struct ep_sigv4_request req = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 1, .payload_hash = EP_SIGV4_UNSIGNED_PAYLOAD,
		.region = "us-east-1", .service = "s3", .amz_date = "20150830T123600Z",
	};
	struct ep_sigv4 s;
	struct ep_error err = { 0 };
	EXPECT(ep_sigv4_sign(&req, &bad, &s, &err) == EP_EINPUT && !strstr(err.msg, "sEcReT") && !strstr(err.msg, "zqx"));
	req.amz_date = "2015-08-30T12:36:00Z";
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == EP_EINPUT);
	req.amz_date = "20150830T123600Z";
	req.payload_hash = "abc";
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == EP_EINPUT);
	req.payload_hash = EP_SIGV4_UNSIGNED_PAYLOAD;
	req.headers = dated;
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == EP_EINPUT); /* also: no host */
	req.headers = h;
	req.query = "a=%zz";
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == EP_EINPUT);
	req.query = NULL;
	EXPECT(ep_sigv4_presign(&req, &example, 0, &s, &err) == EP_EINPUT);
	EXPECT(ep_sigv4_presign(&req, &example, EP_SIGV4_MAX_EXPIRES + 1, &s, &err) == EP_EINPUT);
	req.path = "relative";
	EXPECT(ep_sigv4_sign(&req, &example, &s, &err) == EP_EINPUT);
}
