#include "formats/image/distribution.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "base/util.h"

#define MANIFEST_ACCEPT                                                                          \
	"Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                                \
	"application/vnd.docker.distribution.manifest.v2+json"
#define TOKEN_MAX ((size_t)1 << 20)
#define MAX_TOKENS 16

struct token {
	char *scope; /* "repository:a/b:pull,push" */
	char *header; /* "Authorization: Bearer ..." */
};

struct ep_registry {
	char host[256];
	char base[300]; /* "https://HOST" */
	bool plain;
	struct ep_http *http;
	unsigned attempts;
	uint64_t chunk; /* upload blobs larger than this in PATCHes of this size; 0: one PUT */
	char *basic;   /* "Authorization: Basic ..." from the auth file, or NULL */
	bool wants_basic;
	struct ep_auth_challenge bearer; /* the registry asked for tokens from here */
	bool wants_bearer;
	struct token tokens[MAX_TOKENS];
	size_t ntokens;
};

/* ---- references ---- */

int ep_image_ref_parse(const char *text, struct ep_image_ref *out, struct ep_error *err)
{
	*out = (struct ep_image_ref){ 0 };
	const char *slash = strchr(text, '/');
	if (!slash || (size_t)(slash - text) >= sizeof out->host)
		return ep_fail(err, EP_EINPUT, "'%s': name the registry, as HOST[:PORT]/REPO[:TAG]", text);
	memcpy(out->host, text, (size_t)(slash - text));
	char rest[600];
	if (snprintf(rest, sizeof rest, "%s", slash + 1) >= (int)sizeof rest)
		return ep_fail(err, EP_EINPUT, "'%s': the reference is too long", text);
	char *at = strchr(rest, '@');
	if (at) {
		*at = '\0';
		if (!ep_image_digest_ok(at + 1))
			return ep_fail(err, EP_EINPUT, "'%s': the digest must be sha256: and 64 lowercase hex digits", text);
		snprintf(out->digest, sizeof out->digest, "%s", at + 1);
	}
	char *colon = strrchr(rest, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		if (!ep_image_tag_ok(colon + 1))
			return ep_fail(err, EP_EINPUT, "'%s': '%s' is not a tag", text, colon + 1);
		snprintf(out->tag, sizeof out->tag, "%s", colon + 1);
	}
	if (!ep_image_host_ok(out->host))
		return ep_fail(err, EP_EINPUT, "'%s': '%s' is not a registry host", text, out->host);
	if (!ep_image_repo_ok(rest))
		return ep_fail(err, EP_EINPUT, "'%s': '%s' is not a repository name (lowercase letters, digits, '.', '_', '-', '/')",
			       text, rest);
	memcpy(out->repo, rest, strlen(rest) + 1); /* repo_ok: shorter than 256 */
	if (!out->tag[0] && !out->digest[0])
		snprintf(out->tag, sizeof out->tag, "latest");
	return 0;
}

/* ---- challenges ---- */

int ep_auth_challenge_parse(const char *h, struct ep_auth_challenge *out)
{
	*out = (struct ep_auth_challenge){ 0 };
	size_t n = strcspn(h, " ");
	if (n == 0 || n >= sizeof out->scheme)
		return -1;
	memcpy(out->scheme, h, n);
	for (const char *p = h + n; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t k = strcspn(p, "=, ");
		if (!k || p[k] != '=')
			return *p ? -1 : 0;
		char key[16] = "", *val = NULL;
		size_t cap = 0;
		if (k < sizeof key)
			memcpy(key, p, k);
		val = !strcmp(key, "realm") ? out->realm : !strcmp(key, "service") ? out->service
			: !strcmp(key, "scope") ? out->scope : NULL;
		cap = val == out->realm ? sizeof out->realm : val == out->service ? sizeof out->service : sizeof out->scope;
		p += k + 1;
		size_t len = 0;
		bool quoted = *p == '"';
		if (quoted)
			p++;
		while (*p && (quoted ? *p != '"' : *p != ',')) {
			if (quoted && *p == '\\' && p[1])
				p++;
			if (val && len + 1 >= cap)
				return -1;
			if (val)
				val[len++] = *p;
			p++;
		}
		if (quoted) {
			if (*p != '"')
				return -1;
			p++;
		}
		if (val)
			val[len] = '\0';
	}
	return 0;
}

/* ---- credentials ---- */

/* The auth file's "auth" for host: base64 of user:password, which is what Basic sends. */
static int load_basic(struct ep_registry *r, struct ep_error *err)
{
	const char *env = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	char path[PATH_MAX];
	int rc = 0;
	if (env && *env) {
		rc = ep_path_format(path, sizeof path, err, "%s", env);
	} else {
		bool found = false;
		if (xdg && *xdg && !(rc = ep_path_format(path, sizeof path, err, "%s/containers/auth.json", xdg)))
			found = access(path, F_OK) == 0;
		if (!rc && !found) {
			if (!home || !*home)
				return 0;
			rc = ep_path_format(path, sizeof path, err, "%s/.docker/config.json", home);
		}
	}
	if (rc) {
		ep_error_prefix(err, "registry: the auth file: ");
		return rc;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return env && *env ? ep_fail_errno(err, EP_EINPUT, "registry: cannot open the auth file '%s'", path) : 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return ep_fail(err, EP_EINPUT, "registry: the auth file '%s' must be a file only its owner can read (chmod 600)",
			       path);
	}
	json_error_t jerr;
	json_t *doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!doc)
		return ep_fail(err, EP_EINPUT, "registry: the auth file '%s' is not JSON (line %d)", path, jerr.line);
	const char *auth = json_string_value(json_object_get(json_object_get(json_object_get(doc, "auths"), r->host), "auth"));
	if (auth && (strlen(auth) > 4096 || strpbrk(auth, "\r\n")))
		rc = ep_fail(err, EP_EINPUT, "registry: the entry for %s in '%s' is malformed", r->host, path);
	else if (auth && asprintf(&r->basic, "Authorization: Basic %s", auth) < 0)
		rc = ep_oom(err);
	json_decref(doc);
	return rc;
}

/* ---- the registry ---- */

int ep_registry_open(struct ep_registry **out, const char *host, const struct ep_registry_options *opt,
		     struct ep_error *err)
{
	if (!ep_image_host_ok(host))
		return ep_fail(err, EP_EINPUT, "registry: '%s' is not a host name", host);
	struct ep_registry *r = calloc(1, sizeof *r);
	if (!r)
		return ep_oom(err);
	snprintf(r->host, sizeof r->host, "%s", host);
	for (size_t i = 0; i < opt->ninsecure; i++)
		r->plain |= !strcasecmp(opt->insecure[i], host);
	snprintf(r->base, sizeof r->base, "%s://%s", r->plain ? "http" : "https", host);
	r->attempts = opt->http.attempts ? opt->http.attempts : 5;
	r->chunk = opt->upload_chunk;
	int rc = ep_http_new(&r->http, &opt->http, err);
	if (!rc)
		rc = load_basic(r, err);
	if (rc) {
		ep_registry_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void ep_registry_close(struct ep_registry *r)
{
	if (!r)
		return;
	ep_http_free(r->http);
	for (size_t i = 0; i < r->ntokens; i++) {
		free(r->tokens[i].scope);
		free(r->tokens[i].header);
	}
	free(r->basic);
	free(r);
}

const char *ep_registry_host(const struct ep_registry *r)
{
	return r->host;
}

static const char *token_for(const struct ep_registry *r, const char *scope)
{
	for (size_t i = 0; i < r->ntokens; i++)
		if (!strcmp(r->tokens[i].scope, scope))
			return r->tokens[i].header;
	return NULL;
}

/* Asks the challenge's realm for a token granting scope (anonymously, or with the auth file's credentials). */
static int fetch_token(struct ep_registry *r, const char *scope, struct ep_error *err)
{
	const struct ep_auth_challenge *c = &r->bearer;
	if (strncmp(c->realm, "https://", 8) && !(r->plain && !strncmp(c->realm, "http://", 7)))
		return ep_fail(err, EP_EINPUT, "registry: %s sends for tokens to '%s', which is not https", r->host, c->realm);
	char *svc = curl_easy_escape(NULL, c->service, 0), *sc = curl_easy_escape(NULL, scope, 0), *url = NULL;
	int rc = svc && sc && asprintf(&url, "%s%sservice=%s&scope=%s", c->realm, strchr(c->realm, '?') ? "&" : "?", svc,
				       sc) >= 0 ? 0 : ep_oom(err);
	curl_free(svc);
	curl_free(sc);
	const char *headers[] = { r->basic, NULL };
	struct ep_http_response resp = { 0 };
	char what[600];
	snprintf(what, sizeof what, "registry: token for %s from %.300s", r->host, c->realm);
	if (!rc)
		rc = ep_http_send(r->http, &(struct ep_http_request){ .method = "GET", .url = url, .headers = headers,
								      .max_body = TOKEN_MAX, .follow = true },
				  what, &resp, err);
	free(url);
	json_t *doc = NULL;
	if (!rc && resp.status != 200) {
		char d[300];
		ep_http_describe(&resp, d, sizeof d);
		rc = ep_fail(err, resp.status == 401 || resp.status == 403 ? EP_EINPUT : EP_ERUNTIME, "%s: %s%s", what, d,
			     resp.status == 401 && !r->basic ? " (no credentials for it in the auth file; see REGISTRY_AUTH_FILE)" : "");
	}
	if (!rc) {
		doc = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
		const char *tok = json_string_value(json_object_get(doc, "token"));
		if (!tok)
			tok = json_string_value(json_object_get(doc, "access_token"));
		struct token *t = &r->tokens[r->ntokens < MAX_TOKENS ? r->ntokens : MAX_TOKENS - 1];
		if (!tok || !*tok || strpbrk(tok, "\r\n"))
			rc = ep_fail(err, EP_EINPUT, "%s: the answer holds no token", what);
		else {
			if (r->ntokens == MAX_TOKENS) { /* the oldest scopes go first */
				free(t->scope);
				free(t->header);
			} else
				r->ntokens++;
			t->scope = strdup(scope);
			if (!t->scope || asprintf(&t->header, "Authorization: Bearer %s", tok) < 0) {
				t->header = NULL;
				rc = ep_oom(err);
			}
		}
	}
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}

/* Sends req with the credentials scope needs, answering one 401 challenge. */
static int send_authed(struct ep_registry *r, const char *scope, struct ep_http_request *req, const char *what,
		       struct ep_http_response *resp, struct ep_error *err)
{
	const char *extra[8] = { 0 };
	size_t n = 0;
	for (size_t i = 0; req->headers && req->headers[i] && n < 6; i++)
		extra[n++] = req->headers[i];
	const char *const *given = req->headers;
	req->headers = extra;
	int rc = 0;
	for (int round = 0; round < 2; round++) {
		extra[n] = r->wants_bearer ? token_for(r, scope) : r->wants_basic ? r->basic : NULL;
		if ((rc = ep_http_send(r->http, req, what, resp, err)) || resp->status != 401 || round == 1)
			break;
		char h[2048];
		struct ep_auth_challenge c;
		if (!ep_http_header(resp, "WWW-Authenticate", h, sizeof h) || ep_auth_challenge_parse(h, &c) != 0)
			break;
		if (!strcasecmp(c.scheme, "Bearer") && c.realm[0]) {
			r->bearer = c;
			r->wants_bearer = true;
			if (token_for(r, scope) && extra[n])
				break; /* the token we have was refused */
			ep_http_response_release(resp);
			if ((rc = fetch_token(r, scope, err)))
				break;
		} else if (!strcasecmp(c.scheme, "Basic") && r->basic && !r->wants_basic) {
			r->wants_basic = true;
			ep_http_response_release(resp);
		} else {
			break;
		}
	}
	req->headers = given;
	if (!rc && resp->status == 401)
		return ep_fail(err, EP_EINPUT, "%s: 401 Unauthorized%s", what,
			       r->basic ? " (the auth file's credentials were refused)"
					: " (no credentials for this registry; add them to the file REGISTRY_AUTH_FILE names)");
	return rc;
}

static int status_error(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	char d[400];
	ep_http_describe(resp, d, sizeof d);
	int code = resp->status == 404 || resp->status == 403 || resp->status == 400 ? EP_EINPUT : EP_ERUNTIME;
	return ep_fail(err, code, "%s: %s", what, d);
}

static void scope_of(char *buf, size_t cap, const char *repo, bool push)
{
	snprintf(buf, cap, "repository:%s:%s", repo, push ? "pull,push" : "pull");
}

int ep_registry_get_manifest(struct ep_registry *r, const char *repo, const char *ref, char **body, size_t *len,
			     char *media_type, size_t media_cap, char digest[72], struct ep_error *err)
{
	char url[1200], what[700], scope[300], named[100] = "", ct[200] = "";
	snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", r->base, repo, ref);
	snprintf(what, sizeof what, "registry: manifest %s/%s%s%s", r->host, repo, ep_image_digest_ok(ref) ? "@" : ":", ref);
	scope_of(scope, sizeof scope, repo, false);
	const char *headers[] = { MANIFEST_ACCEPT, NULL };
	struct ep_http_response resp;
	struct ep_http_request req = { .method = "GET", .url = url, .headers = headers, .max_body = EP_MANIFEST_MAX };
	int rc = send_authed(r, scope, &req, what, &resp, err);
	if (!rc && resp.status != 200)
		rc = status_error(&resp, what, err);
	uint8_t raw[EP_DIGEST_LEN];
	if (!rc) {
		ep_sha256(resp.body ? resp.body : "", resp.body_len, raw);
		memcpy(digest, "sha256:", 7);
		ep_hex(raw, EP_DIGEST_LEN, digest + 7);
		ep_http_header(&resp, "Docker-Content-Digest", named, sizeof named);
		ep_http_header(&resp, "Content-Type", ct, sizeof ct);
		ct[strcspn(ct, ";")] = '\0';
		if (ep_image_digest_ok(ref) && strcmp(ref, digest) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the registry sent a manifest whose digest is %s", what, digest);
		else if (named[0] && strcmp(named, digest) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: the registry names its digest %s but its bytes hash to %s", what, named, digest);
		else if (strstr(ct, "docker.distribution.manifest.v1"))
			rc = ep_fail(err, EP_EINPUT, "%s: Docker schema 1 manifests are not supported (push it again with a current client)",
				     what);
	}
	if (!rc) {
		snprintf(media_type, media_cap, "%s", ct);
		*body = resp.body ? resp.body : strdup("");
		*len = resp.body_len;
		resp.body = NULL;
		if (!*body)
			rc = ep_oom(err);
	}
	ep_http_response_release(&resp);
	return rc;
}

struct blob_get {
	EVP_MD_CTX *md;
	uint64_t got, size;
	ep_blob_sink sink;
	void *ctx;
	const char *what;
	bool stuck; /* the sink failed, or the registry can't resume: no point trying again */
};

/* A resumed download must carry on where the last one stopped. */
static int blob_answer(void *ctx, const struct ep_http_response *resp, struct ep_error *err)
{
	struct blob_get *g = ctx;
	if (!g->got)
		return 0;
	g->stuck = true;
	if (resp->status != 206)
		return ep_fail(err, EP_ERUNTIME, "%s: the registry cannot resume a download (it ignores ranges)", g->what);
	if (!ep_http_starts_at(resp, g->got))
		return ep_fail(err, EP_ERUNTIME, "%s: the registry resumed at the wrong offset", g->what);
	g->stuck = false;
	return 0;
}

static int blob_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct blob_get *g = ctx;
	if (len > g->size - g->got)
		return ep_fail(err, EP_EINTEGRITY, "%s: the registry sends more than its %llu bytes", g->what,
			       (unsigned long long)g->size);
	int rc = g->sink(g->ctx, data, len, err);
	if (rc) {
		g->stuck = true;
		return rc;
	}
	EVP_DigestUpdate(g->md, data, len);
	g->got += len;
	return 0;
}

int ep_registry_get_blob(struct ep_registry *r, const char *repo, const char *digest, uint64_t size,
			 ep_blob_sink sink, void *ctx, struct ep_error *err)
{
	char url[1200], what[700], scope[300], range[64];
	snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", r->base, repo, digest);
	snprintf(what, sizeof what, "registry: blob %s of %s/%s", digest, r->host, repo);
	scope_of(scope, sizeof scope, repo, false);
	struct blob_get g = { EVP_MD_CTX_new(), 0, size, sink, ctx, what, false };
	if (!g.md || !EVP_DigestInit_ex(g.md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(g.md);
		return ep_oom(err);
	}
	int rc = 0;
	for (unsigned tries = 0;; tries++) {
		const char *headers[] = { g.got ? range : NULL, NULL };
		snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)g.got);
		struct ep_http_response resp;
		struct ep_http_request req = { .method = "GET", .url = url, .headers = headers, .sink = blob_sink,
					       .check_answer = blob_answer, .sink_ctx = &g, .follow = true };
		uint64_t before = g.got;
		rc = send_authed(r, scope, &req, what, &resp, err);
		bool resumable = rc == EP_ERUNTIME && g.got > before && !g.stuck && tries + 1 < r->attempts;
		if (!rc && resp.status != 200 && resp.status != 206)
			rc = status_error(&resp, what, err);
		ep_http_response_release(&resp);
		if (!resumable)
			break;
		*err = (struct ep_error){ 0 };
		rc = 0;
	}
	uint8_t raw[EP_DIGEST_LEN];
	char hex[EP_DIGEST_HEX];
	if (!rc && g.got != size)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: %llu bytes came, its descriptor says %llu", what,
			     (unsigned long long)g.got, (unsigned long long)size);
	if (!rc) {
		EVP_DigestFinal_ex(g.md, raw, NULL);
		ep_hex(raw, EP_DIGEST_LEN, hex);
		if (strcmp(hex, digest + 7) != 0)
			rc = ep_fail(err, EP_EINTEGRITY, "%s: its bytes do not match its digest (they hash to sha256:%s)", what, hex);
	}
	EVP_MD_CTX_free(g.md);
	return rc;
}

int ep_registry_has_blob(struct ep_registry *r, const char *repo, const char *digest, uint64_t size,
			 struct ep_error *err)
{
	char url[1200], what[700], scope[300], cl[32];
	snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", r->base, repo, digest);
	snprintf(what, sizeof what, "registry: HEAD blob %s of %s/%s", digest, r->host, repo);
	scope_of(scope, sizeof scope, repo, true);
	struct ep_http_response resp;
	struct ep_http_request req = { .method = "HEAD", .url = url, .follow = true };
	int rc = send_authed(r, scope, &req, what, &resp, err);
	if (!rc)
		rc = resp.status == 200 ? (ep_http_header(&resp, "Content-Length", cl, sizeof cl) &&
						   strtoull(cl, NULL, 10) != size
					   ? 0
					   : 1)
		     : resp.status == 404 ? 0
					  : status_error(&resp, what, err);
	ep_http_response_release(&resp);
	return rc;
}

/* An upload session's Location, made absolute. */
static int location(struct ep_registry *r, const struct ep_http_response *resp, const char *what, char *out, size_t cap,
		    struct ep_error *err)
{
	char loc[2048];
	int n = -1;
	if (!ep_http_header(resp, "Location", loc, sizeof loc))
		return ep_fail(err, EP_ERUNTIME, "%s: the registry gave no upload location", what);
	size_t b = strlen(r->base);
	if (loc[0] == '/')
		n = snprintf(out, cap, "%s%s", r->base, loc);
	else if (!strncmp(loc, r->base, b) && (loc[b] == '/' || loc[b] == '?'))
		n = snprintf(out, cap, "%s", loc);
	if (n < 0 || (size_t)n >= cap)
		return ep_fail(err, EP_ERUNTIME, "%s: the registry sends uploads elsewhere (%.200s)", what, loc);
	return 0;
}

/* One PATCH of a chunked upload: body's bytes [start, start + len). */
struct piece {
	const struct ep_http_body *whole;
	uint64_t start, len, sent;
};

static int piece_rewind(void *ctx, struct ep_error *err)
{
	struct piece *p = ctx;
	uint8_t scratch[1 << 16];
	int rc = p->whole->rewind ? p->whole->rewind(p->whole->ctx, err)
				  : ep_fail(err, EP_ERUNTIME, "registry: this upload cannot be sent again");
	for (uint64_t skipped = 0; !rc && skipped < p->start;) { /* rare: only a retried piece needs it */
		size_t want = p->start - skipped < sizeof scratch ? (size_t)(p->start - skipped) : sizeof scratch, got;
		if (!(rc = p->whole->read(p->whole->ctx, scratch, want, &got, err)) && got == 0)
			rc = ep_fail(err, EP_ERUNTIME, "registry: the blob ended early");
		skipped += got;
	}
	p->sent = 0;
	return rc;
}

static int piece_read(void *ctx, void *buf, size_t cap, size_t *got, struct ep_error *err)
{
	struct piece *p = ctx;
	if (cap > p->len - p->sent)
		cap = (size_t)(p->len - p->sent);
	int rc = p->whole->read(p->whole->ctx, buf, cap, got, err);
	p->sent += *got;
	return rc;
}

/* A chunked upload: the blob in PATCHes of r->chunk bytes, each carrying on from where the registry says it is. */
static int put_pieces(struct ep_registry *r, const char *scope, const struct ep_http_body *body, const char *what,
		      char *loc, size_t cap, struct ep_error *err)
{
	int rc = 0;
	for (uint64_t start = 0; !rc && start < body->len;) {
		struct piece p = { body, start, body->len - start < r->chunk ? body->len - start : r->chunk, 0 };
		struct ep_http_body part = { p.len, piece_read, piece_rewind, &p };
		char range[80], got[80];
		snprintf(range, sizeof range, "Content-Range: %llu-%llu", (unsigned long long)start,
			 (unsigned long long)(start + p.len - 1));
		const char *headers[] = { "Content-Type: application/octet-stream", range, NULL };
		struct ep_http_response resp;
		struct ep_http_request req = { .method = "PATCH", .url = loc, .headers = headers, .body = &part };
		rc = send_authed(r, scope, &req, what, &resp, err);
		if (!rc && resp.status != 202)
			rc = status_error(&resp, what, err);
		/* the registry confirms what it holds: "0-END" */
		if (!rc && (!ep_http_header(&resp, "Range", got, sizeof got) ||
			    strtoull(got + strcspn(got, "-") + 1, NULL, 10) != start + p.len - 1))
			rc = ep_fail(err, EP_ERUNTIME, "%s: the registry did not confirm bytes %llu-%llu", what,
				     (unsigned long long)start, (unsigned long long)(start + p.len - 1));
		if (!rc)
			rc = location(r, &resp, what, loc, cap, err);
		ep_http_response_release(&resp);
		start += p.len;
	}
	return rc;
}

int ep_registry_put_blob(struct ep_registry *r, const char *repo, const char *digest, const struct ep_http_body *body,
			 const char *from, bool *mounted, struct ep_error *err)
{
	char url[3000], what[700], scope[700], loc[2200];
	snprintf(what, sizeof what, "registry: upload of blob %s to %s/%s", digest, r->host, repo);
	if (from)
		snprintf(scope, sizeof scope, "repository:%s:pull,push repository:%s:pull", repo, from);
	else
		scope_of(scope, sizeof scope, repo, true);
	if (from)
		snprintf(url, sizeof url, "%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, repo, digest, from);
	else
		snprintf(url, sizeof url, "%s/v2/%s/blobs/uploads/", r->base, repo);
	*mounted = false;
	struct ep_http_response resp;
	struct ep_http_request req = { .method = "POST", .url = url };
	int rc = send_authed(r, scope, &req, what, &resp, err);
	if (!rc && resp.status == 201 && from) {
		*mounted = true;
		ep_http_response_release(&resp);
		return 0;
	}
	if (!rc && resp.status != 202)
		rc = status_error(&resp, what, err);
	if (!rc)
		rc = location(r, &resp, what, loc, sizeof loc, err);
	ep_http_response_release(&resp);
	if (rc)
		return rc;
	bool chunked = r->chunk && body->len > r->chunk;
	if (chunked)
		rc = put_pieces(r, scope, body, what, loc, sizeof loc, err);
	if (!rc) { /* the PUT sends the whole blob, or closes a chunked session with nothing more */
		const char *headers[] = { "Content-Type: application/octet-stream", NULL };
		snprintf(url, sizeof url, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
		req = (struct ep_http_request){ .method = "PUT", .url = url, .headers = headers, .body = chunked ? NULL : body };
		rc = send_authed(r, scope, &req, what, &resp, err);
		if (!rc && resp.status != 201)
			rc = status_error(&resp, what, err);
		ep_http_response_release(&resp);
	}
	if (rc) { /* the session is of no use any more: cancel it, as a courtesy */
		struct ep_error ignored;
		req = (struct ep_http_request){ .method = "DELETE", .url = loc };
		if (!send_authed(r, scope, &req, what, &resp, &ignored))
			ep_http_response_release(&resp);
	}
	return rc;
}

int ep_registry_put_manifest(struct ep_registry *r, const char *repo, const char *ref, const char *media_type,
			     const void *body, size_t len, struct ep_error *err)
{
	char url[1200], what[700], scope[300], ct[300], named[100];
	snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", r->base, repo, ref);
	snprintf(what, sizeof what, "registry: manifest %s/%s%s%s", r->host, repo, ep_image_digest_ok(ref) ? "@" : ":", ref);
	snprintf(ct, sizeof ct, "Content-Type: %s", media_type);
	scope_of(scope, sizeof scope, repo, true);
	const char *headers[] = { ct, NULL };
	struct ep_http_response resp;
	struct ep_http_request req = { .method = "PUT", .url = url, .headers = headers, .data = body, .data_len = len };
	int rc = send_authed(r, scope, &req, what, &resp, err);
	if (!rc && resp.status != 201 && resp.status != 200)
		rc = status_error(&resp, what, err);
	uint8_t raw[EP_DIGEST_LEN];
	char digest[72] = "sha256:";
	ep_sha256(body, len, raw);
	ep_hex(raw, EP_DIGEST_LEN, digest + 7);
	if (!rc && ep_http_header(&resp, "Docker-Content-Digest", named, sizeof named) && strcmp(named, digest) != 0)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: the registry stored it as %s, not %s", what, named, digest);
	ep_http_response_release(&resp);
	return rc;
}
