#include "cloud/openstack_api.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "base/interrupt.h"
#include "cloud/sigv4.h"
#include "base/util.h"

#define ANSWER_MAX ((size_t)4 << 20) /* a token answer with a large catalog fits */
#define CLOUDS_MAX ((size_t)1 << 20)
#define FIELD_MAX 512 /* any one credential or name */

enum { C_AUTH_URL, C_USERNAME, C_USER_ID, C_PASSWORD, C_USER_DOMAIN_NAME, C_USER_DOMAIN_ID, C_PROJECT_NAME,
       C_PROJECT_ID, C_PROJECT_DOMAIN_NAME, C_PROJECT_DOMAIN_ID, C_APP_ID, C_APP_NAME, C_APP_SECRET, C_AUTH_TYPE,
       C_REGION, C_INTERFACE, C_CACERT, C_COUNT };

/* Each field's OS_* variables (the later one an older name) and its key in clouds.yaml. */
static const struct {
	const char *env, *env_old, *yaml;
	bool in_auth; /* under the cloud's auth: */
} fields[C_COUNT] = {
	[C_AUTH_URL] = { "OS_AUTH_URL", NULL, "auth_url", true },
	[C_USERNAME] = { "OS_USERNAME", NULL, "username", true },
	[C_USER_ID] = { "OS_USER_ID", NULL, "user_id", true },
	[C_PASSWORD] = { "OS_PASSWORD", NULL, "password", true },
	[C_USER_DOMAIN_NAME] = { "OS_USER_DOMAIN_NAME", NULL, "user_domain_name", true },
	[C_USER_DOMAIN_ID] = { "OS_USER_DOMAIN_ID", NULL, "user_domain_id", true },
	[C_PROJECT_NAME] = { "OS_PROJECT_NAME", "OS_TENANT_NAME", "project_name", true },
	[C_PROJECT_ID] = { "OS_PROJECT_ID", "OS_TENANT_ID", "project_id", true },
	[C_PROJECT_DOMAIN_NAME] = { "OS_PROJECT_DOMAIN_NAME", NULL, "project_domain_name", true },
	[C_PROJECT_DOMAIN_ID] = { "OS_PROJECT_DOMAIN_ID", NULL, "project_domain_id", true },
	[C_APP_ID] = { "OS_APPLICATION_CREDENTIAL_ID", NULL, "application_credential_id", true },
	[C_APP_NAME] = { "OS_APPLICATION_CREDENTIAL_NAME", NULL, "application_credential_name", true },
	[C_APP_SECRET] = { "OS_APPLICATION_CREDENTIAL_SECRET", NULL, "application_credential_secret", true },
	[C_AUTH_TYPE] = { "OS_AUTH_TYPE", NULL, "auth_type", false },
	[C_REGION] = { "OS_REGION_NAME", NULL, "region_name", false },
	[C_INTERFACE] = { "OS_INTERFACE", "OS_ENDPOINT_TYPE", "interface", false },
	[C_CACERT] = { "OS_CACERT", NULL, "cacert", false },
};

struct ep_os {
	struct ep_http *http;
	void (*emit)(void *ctx, const char *text);
	void *emit_ctx;
	char *field[C_COUNT];
	char *token_header; /* "X-Auth-Token: ..." */
	char tokens_url[EP_OS_URL_MAX];
	char image[EP_OS_URL_MAX], heat[EP_OS_URL_MAX], compute[EP_OS_URL_MAX]; /* endpoints, without a trailing '/' */
	char image_given[EP_OS_URL_MAX], heat_given[EP_OS_URL_MAX], compute_given[EP_OS_URL_MAX];
	char cloud[128]; /* for messages: "cloud 'prod'" or "the OS_* environment" */
	uint64_t requests;  /* sent */
	unsigned attempts;  /* a download's tries, each resuming where the last was cut */
};

/* ---- credentials ---- */

static int set_field(struct ep_os *os, int f, const char *v, struct ep_error *err)
{
	if (!v || !*v || os->field[f])
		return 0;
	if (strlen(v) > FIELD_MAX)
		return ep_fail(err, EP_EINPUT, "openstack: %s is longer than %d bytes", fields[f].env, FIELD_MAX);
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) /* it goes into JSON and URLs */
			return ep_fail(err, EP_EINPUT, "openstack: %s holds a control character", fields[f].env);
	return (os->field[f] = strdup(v)) ? 0 : ep_oom(err);
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
		    !memcmp(k->data.scalar.value, key, k->data.scalar.length))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE && strlen((const char *)n->data.scalar.value) == n->data.scalar.length
		       ? (const char *)n->data.scalar.value
		       : NULL;
}

/* The first clouds.yaml of the places openstackclient looks in, into path (PATH_MAX bytes):
 * 0, 1 when there is none, or a failure. */
static int clouds_file(char *path, struct ep_error *err)
{
	const char *env = getenv("OS_CLIENT_CONFIG_FILE"), *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *cand[4][2]; /* directory, then the rest */
	int n = 0;
	if (env && *env)
		cand[n][0] = env, cand[n++][1] = "";
	cand[n][0] = "", cand[n++][1] = "clouds.yaml";
	if (xdg && *xdg)
		cand[n][0] = xdg, cand[n++][1] = "/openstack/clouds.yaml";
	else if (home && *home)
		cand[n][0] = home, cand[n++][1] = "/.config/openstack/clouds.yaml";
	cand[n][0] = "", cand[n++][1] = "/etc/openstack/clouds.yaml";
	for (int i = 0; i < n; i++) {
		if (ep_path_format(path, PATH_MAX, err, "%s%s", cand[i][0], cand[i][1])) {
			ep_error_prefix(err, "openstack: clouds.yaml: ");
			return err->code;
		}
		if (access(path, F_OK) == 0)
			return 0;
	}
	return 1;
}

/* The cloud's settings from clouds.yaml, a file only its owner may read since it holds secrets. */
static int load_cloud(struct ep_os *os, const char *cloud, struct ep_error *err)
{
	char path[PATH_MAX];
	int found = clouds_file(path, err);
	if (found < 0)
		return found;
	if (found)
		return ep_fail(err, EP_EINPUT, "openstack: cloud '%s' named, but no clouds.yaml found (OS_CLIENT_CONFIG_FILE, "
					       "./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml)", cloud);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return ep_fail_errno(err, EP_EINPUT, "openstack: cannot open '%s'", path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return ep_fail(err, EP_EINPUT, "openstack: '%s' must be a file only its owner can read (chmod 600)", path);
	}
	char *text = NULL;
	size_t len = 0;
	int rc = ep_read_fd(fd, CLOUDS_MAX, path, &text, &len, err);
	close(fd);
	if (rc)
		return rc;
	yaml_parser_t parser;
	yaml_document_t doc;
	bool loaded = false;
	if (!yaml_parser_initialize(&parser)) {
		rc = ep_oom(err);
	} else {
		yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
		if (!(loaded = yaml_parser_load(&parser, &doc)))
			rc = ep_fail(err, EP_EINPUT, "openstack: '%s' line %zu: %s", path, parser.problem_mark.line + 1,
				     parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
	}
	yaml_node_t *c = NULL;
	if (!rc && !(c = map_get(&doc, map_get(&doc, yaml_document_get_root_node(&doc), "clouds"), cloud)))
		rc = ep_fail(err, EP_EINPUT, "openstack: '%s' has no cloud '%s'", path, cloud);
	yaml_node_t *auth = c ? map_get(&doc, c, "auth") : NULL;
	for (int f = 0; !rc && f < C_COUNT; f++)
		rc = set_field(os, f, scalar(map_get(&doc, fields[f].in_auth ? auth : c, fields[f].yaml)), err);
	if (loaded)
		yaml_document_delete(&doc);
	OPENSSL_cleanse(text, len);
	free(text);
	snprintf(os->cloud, sizeof os->cloud, "cloud '%.100s'", cloud);
	return rc;
}

static int load_creds(struct ep_os *os, const struct ep_os_options *opt, struct ep_error *err)
{
	const char *cloud = opt->cloud ? opt->cloud : getenv("OS_CLOUD");
	int rc = set_field(os, C_REGION, opt->region, err);
	if (!rc)
		rc = set_field(os, C_INTERFACE, opt->interface, err);
	if (!rc && opt->http.cacert)
		rc = set_field(os, C_CACERT, opt->http.cacert, err);
	if (rc)
		return rc;
	if (cloud && *cloud)
		return load_cloud(os, cloud, err);
	snprintf(os->cloud, sizeof os->cloud, "the OS_* environment");
	for (int f = 0; !rc && f < C_COUNT; f++) {
		const char *v = getenv(fields[f].env);
		rc = set_field(os, f, v && *v ? v : fields[f].env_old ? getenv(fields[f].env_old) : NULL, err);
	}
	return rc;
}

/* OS_AUTH_TYPE=none: no Keystone, as openstackclient's --os-auth-type none, for a
 * standalone Glance reached through the image URL given */
static bool no_auth(const struct ep_os *os)
{
	const char *t = os->field[C_AUTH_TYPE];
	return t && (!strcmp(t, "none") || !strcmp(t, "noauth"));
}

static bool app_cred(const struct ep_os *os)
{
	const char *t = os->field[C_AUTH_TYPE];
	if (t)
		return !strcmp(t, "v3applicationcredential") || !strcmp(t, "applicationcredential") ||
		       !strcmp(t, "application_credential");
	return os->field[C_APP_SECRET] && !os->field[C_PASSWORD];
}

/* Whether the credentials are complete enough to ask for a token. */
static int creds_check(struct ep_os *os, struct ep_error *err)
{
	char **f = os->field;
	const char *t = f[C_AUTH_TYPE];
	if (no_auth(os))
		return *os->image_given ? 0 : ep_fail(err, EP_EINPUT, "openstack: auth type none needs the image URL "
									 "(-o image-url=URL or OS_IMAGE_URL)");
	if (t && !app_cred(os) && strcmp(t, "password") && strcmp(t, "v3password"))
		return ep_fail(err, EP_EINPUT, "openstack: auth type '%s' is not supported (password, v3applicationcredential, none)", t);
	if (!f[C_AUTH_URL])
		return ep_fail(err, EP_EINPUT, "openstack: no credentials in %s: set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and "
					       "OS_PROJECT_NAME (source your openrc file), or OS_CLOUD to a clouds.yaml entry",
			       os->cloud);
	if (strncmp(f[C_AUTH_URL], "http://", 7) && strncmp(f[C_AUTH_URL], "https://", 8))
		return ep_fail(err, EP_EINPUT, "openstack: the auth URL '%s' is not http(s)://", f[C_AUTH_URL]);
	if (app_cred(os)) {
		if (!f[C_APP_SECRET] || (!f[C_APP_ID] && !(f[C_APP_NAME] && (f[C_USERNAME] || f[C_USER_ID]))))
			return ep_fail(err, EP_EINPUT, "openstack: an application credential needs OS_APPLICATION_CREDENTIAL_ID "
						       "(or _NAME and OS_USERNAME) and OS_APPLICATION_CREDENTIAL_SECRET");
	} else if ((!f[C_USERNAME] && !f[C_USER_ID]) || !f[C_PASSWORD]) {
		return ep_fail(err, EP_EINPUT, "openstack: password authentication needs OS_USERNAME (or OS_USER_ID) and "
					       "OS_PASSWORD, from %s", os->cloud);
	} else if (!f[C_PROJECT_NAME] && !f[C_PROJECT_ID]) {
		return ep_fail(err, EP_EINPUT, "openstack: say which project with OS_PROJECT_NAME or OS_PROJECT_ID");
	}
	/* .../v3/auth/tokens, whether OS_AUTH_URL names the version or not */
	size_t n = strlen(f[C_AUTH_URL]);
	while (n && f[C_AUTH_URL][n - 1] == '/')
		n--;
	bool versioned = n >= 3 && !strncmp(f[C_AUTH_URL] + n - 3, "/v3", 3);
	if ((size_t)snprintf(os->tokens_url, sizeof os->tokens_url, "%.*s%s/auth/tokens", (int)n, f[C_AUTH_URL],
			     versioned ? "" : "/v3") >= sizeof os->tokens_url)
		return ep_fail(err, EP_EINPUT, "openstack: the auth URL is too long");
	return 0;
}

/* http(s)://HOST..., printable, no query: the base requests are built on. */
static bool url_ok(const char *u, size_t cap)
{
	const char *host = !strncmp(u, "http://", 7) ? u + 7 : !strncmp(u, "https://", 8) ? u + 8 : NULL;
	if (!host || !*host || *host == '/' || strlen(u) >= cap)
		return false;
	for (const char *p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
			return false;
	return true;
}

/* A URL given by hand, without its trailing '/'. */
static int given_url(const char *v, const char *what, char *out, struct ep_error *err)
{
	if (!v || !*v)
		return 0;
	size_t n = strlen(v);
	while (n && v[n - 1] == '/')
		n--;
	if (!url_ok(v, EP_OS_URL_MAX))
		return ep_fail(err, EP_EINPUT, "openstack: %s takes http(s)://HOST[:PORT][/PATH], not '%s'", what, v);
	snprintf(out, EP_OS_URL_MAX, "%.*s", (int)n, v);
	return 0;
}

int ep_os_open(struct ep_os **out, const struct ep_os_options *opt, struct ep_error *err)
{
	struct ep_os *os = calloc(1, sizeof *os);
	if (!os)
		return ep_oom(err);
	os->emit = opt->emit;
	os->emit_ctx = opt->emit_ctx;
	os->attempts = opt->http.attempts ? opt->http.attempts : 5;
	const char *image = opt->image_url ? opt->image_url : getenv("OS_IMAGE_URL");
	const char *heat = opt->heat_url ? opt->heat_url : getenv("OS_ORCHESTRATION_URL");
	int rc = given_url(image, "the image URL (-o image-url, OS_IMAGE_URL)", os->image_given, err);
	if (!rc)
		rc = given_url(heat, "the orchestration URL (-o heat-url, OS_ORCHESTRATION_URL)", os->heat_given, err);
	if (!rc)
		rc = given_url(opt->compute_url, "the compute URL (compute-url=)", os->compute_given, err);
	if (!rc)
		rc = load_creds(os, opt, err);
	if (!rc)
		rc = creds_check(os, err);
	struct ep_http_options http = opt->http;
	http.cacert = os->field[C_CACERT];
	if (!rc && !os->emit)
		rc = ep_http_new(&os->http, &http, err);
	if (rc) {
		ep_os_close(os);
		return rc;
	}
	*out = os;
	return 0;
}

void ep_os_close(struct ep_os *os)
{
	if (!os)
		return;
	ep_http_free(os->http);
	for (int f = 0; f < C_COUNT; f++) {
		if (os->field[f] && (f == C_PASSWORD || f == C_APP_SECRET))
			OPENSSL_cleanse(os->field[f], strlen(os->field[f]));
		free(os->field[f]);
	}
	if (os->token_header)
		OPENSSL_cleanse(os->token_header, strlen(os->token_header));
	free(os->token_header);
	free(os);
}

/* ---- requests ---- */

struct os_call {
	const char *method;
	const char *url;
	const char *content_type; /* NULL: no body */
	const char *data;
	const struct ep_http_body *body;
	const char *body_note; /* a dry run: what a streamed body would be */
	int (*check_answer)(void *ctx, const struct ep_http_response *resp, struct ep_error *err);
	const char *accept; /* NULL: application/json */
	const char *range;  /* a "Range: ..." header, or NULL */
	const char *header; /* one more "Name: value" header, or NULL */
	bool once;          /* not retried */
	int (*sink)(void *ctx, const void *data, size_t len, struct ep_error *err); /* a 2xx answer's body */
	void *ctx;          /* check_answer's and sink's */
};

static int os_request(struct ep_os *os, const struct os_call *c, const char *what, struct ep_http_response *resp,
		      struct ep_error *err)
{
	char ctype[128];
	const char *headers[6];
	size_t n = 0;
	headers[n++] = c->accept ? c->accept : "Accept: application/json";
	if (c->range)
		headers[n++] = c->range;
	if (c->header)
		headers[n++] = c->header;
	if (c->content_type) {
		snprintf(ctype, sizeof ctype, "Content-Type: %s", c->content_type);
		headers[n++] = ctype;
	}
	if (os->token_header)
		headers[n++] = os->token_header;
	headers[n] = NULL;
	struct ep_http_request req = { .method = c->method, .url = c->url, .headers = headers, .data = c->data,
				       .data_len = c->data ? strlen(c->data) : 0, .body = c->body,
				       .check_answer = c->check_answer, .sink = c->sink, .sink_ctx = c->ctx,
				       .max_body = ANSWER_MAX, .once = c->once };
	if (!os->emit) {
		*resp = (struct ep_http_response){ 0 };
		os->requests++;
		int rc = ep_http_send(os->http, &req, what, resp, err);
		size_t used = strlen(err->msg);
		if (rc && used < sizeof err->msg) /* which endpoint, when the catalog chose it */
			snprintf(err->msg + used, sizeof err->msg - used, " (%s %s)", c->method, c->url);
		return rc;
	}
	char *text = ep_http_request_text(&req), *full = NULL;
	if (text && c->body_note && asprintf(&full, "%s\n[%s]\n", text, c->body_note) < 0)
		full = NULL;
	if (!text || (c->body_note && !full)) {
		free(text);
		return ep_oom(err);
	}
	os->emit(os->emit_ctx, full ? full : text);
	free(full);
	free(text);
	*resp = (struct ep_http_response){ 0 };
	return 0;
}

/* "401 Unauthorized: The request you have made requires authentication." from an
 * OpenStack error body ({"error": {"message"}}, {"title", "message"}), or the body's first line. */
static int status_error(const struct ep_http_response *resp, const char *what, int code, struct ep_error *err)
{
	json_t *doc = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *e = json_object_get(doc, "error");
	const char *msg = json_string_value(json_object_get(e ? e : doc, "message"));
	if (!msg && json_object_size(doc) == 1) /* Nova's: {"badRequest": {...}}, {"itemNotFound": {...}}, ... */
		msg = json_string_value(json_object_get(json_object_iter_value(json_object_iter(doc)), "message"));
	if (msg) {
		char m[400];
		snprintf(m, sizeof m, "%s", msg);
		ep_fail(err, code, "%s: %ld %s", what, resp->status, ep_printable(m));
	} else {
		char d[300];
		ep_http_describe(resp, d, sizeof d);
		ep_fail(err, code, "%s: %s", what, d);
	}
	json_decref(doc);
	return code;
}

json_t *ep_os_answer_json(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	json_error_t je;
	json_t *doc = json_loadb(resp->body ? resp->body : "", resp->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		ep_fail(err, EP_ERUNTIME, "%s: the answer is not a JSON object", what);
		return NULL;
	}
	return doc;
}

/* ---- Keystone ---- */

static json_t *domain(const char *name, const char *id)
{
	return name ? json_pack("{s:s}", "name", name) : json_pack("{s:s}", "id", id ? id : "default");
}

static json_t *user(const struct ep_os *os)
{
	char *const *f = os->field;
	if (f[C_USER_ID])
		return json_pack("{s:s}", "id", f[C_USER_ID]);
	return json_pack("{s:s,s:o}", "name", f[C_USERNAME], "domain", domain(f[C_USER_DOMAIN_NAME], f[C_USER_DOMAIN_ID]));
}

/* The POST /v3/auth/tokens body (it holds the secret: freed with care). */
static char *auth_body(const struct ep_os *os)
{
	char *const *f = os->field;
	json_t *identity, *scope = NULL;
	if (app_cred(os)) {
		json_t *ac = f[C_APP_ID] ? json_pack("{s:s,s:s}", "id", f[C_APP_ID], "secret", f[C_APP_SECRET])
					 : json_pack("{s:s,s:o,s:s}", "name", f[C_APP_NAME], "user", user(os), "secret",
						     f[C_APP_SECRET]);
		identity = json_pack("{s:[s],s:o}", "methods", "application_credential", "application_credential", ac);
	} else {
		json_t *u = user(os);
		json_object_set_new(u, "password", json_string(f[C_PASSWORD]));
		identity = json_pack("{s:[s],s:{s:o}}", "methods", "password", "password", "user", u);
		scope = f[C_PROJECT_ID] ? json_pack("{s:{s:s}}", "project", "id", f[C_PROJECT_ID])
					: json_pack("{s:{s:s,s:o}}", "project", "name", f[C_PROJECT_NAME], "domain",
						    domain(f[C_PROJECT_DOMAIN_NAME], f[C_PROJECT_DOMAIN_ID]));
	}
	json_t *auth = json_pack("{s:o}", "identity", identity);
	if (scope)
		json_object_set_new(auth, "scope", scope);
	json_t *doc = json_pack("{s:o}", "auth", auth);
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	return s;
}

int ep_os_catalog_endpoint(const char *json, size_t len, const char *type, const char *interface,
			   const char *region, char *url, size_t cap, struct ep_error *err)
{
	if (len > ANSWER_MAX)
		return ep_fail(err, EP_EINPUT, "keystone: the token answer is larger than %zu bytes", ANSWER_MAX);
	json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *catalog = json_object_get(json_object_get(doc, "token"), "catalog");
	int rc = EP_EINPUT;
	if (!json_is_array(catalog)) {
		json_decref(doc);
		return ep_fail(err, EP_EINPUT, "keystone: the token carries no service catalog");
	}
	size_t i, k;
	json_t *svc, *ep;
	json_array_foreach(catalog, i, svc) {
		const char *t = json_string_value(json_object_get(svc, "type"));
		if (!t || strcmp(t, type))
			continue;
		json_array_foreach(json_object_get(svc, "endpoints"), k, ep) {
			const char *in = json_string_value(json_object_get(ep, "interface"));
			const char *r = json_string_value(json_object_get(ep, "region_id"));
			const char *rn = json_string_value(json_object_get(ep, "region"));
			const char *u = json_string_value(json_object_get(ep, "url"));
			if (!in || strcmp(in, interface) || !u || (region && !(r && !strcmp(r, region)) && !(rn && !strcmp(rn, region))))
				continue;
			if (!url_ok(u, cap)) {
				json_decref(doc);
				return ep_fail(err, EP_EINPUT, "keystone: the catalog's %s endpoint is not an http(s) URL", type);
			}
			size_t n = strlen(u);
			while (n && u[n - 1] == '/')
				n--;
			snprintf(url, cap, "%.*s", (int)n, u);
			rc = 0;
			break;
		}
		if (!rc)
			break;
	}
	json_decref(doc);
	if (rc)
		ep_fail(err, EP_EINPUT, "keystone: the catalog has no %s endpoint for interface %s%s%s", type, interface,
			region ? " in region " : "", region ? region : "");
	return rc;
}

const char *ep_os_image_endpoint(const struct ep_os *os)
{
	return os->image;
}

const char *ep_os_heat_endpoint(const struct ep_os *os)
{
	return os->heat;
}

const char *ep_os_compute_endpoint(const struct ep_os *os)
{
	return os->compute;
}

/* The endpoint given, else the catalog's of that type, else "". */
static void optional_endpoint(const struct ep_os *os, const struct ep_http_response *resp, const char *type,
			      const char *iface, const char *given, char out[EP_OS_URL_MAX])
{
	struct ep_error ignored;
	if (*given)
		snprintf(out, EP_OS_URL_MAX, "%s", given);
	else if (ep_os_catalog_endpoint(resp->body ? resp->body : "", resp->body_len, type, iface, os->field[C_REGION],
					out, EP_OS_URL_MAX, &ignored))
		out[0] = '\0';
}

int ep_os_auth(struct ep_os *os, struct ep_error *err)
{
	if (no_auth(os)) {
		snprintf(os->image, sizeof os->image, "%s", os->image_given);
		snprintf(os->heat, sizeof os->heat, "%s", os->heat_given);
		snprintf(os->compute, sizeof os->compute, "%s", os->compute_given);
		return 0;
	}
	char *body = auth_body(os);
	if (!body)
		return ep_oom(err);
	char what[EP_OS_URL_MAX + 200];
	snprintf(what, sizeof what, "keystone: POST %s", os->tokens_url);
	struct ep_http_response resp;
	int rc = os_request(os, &(struct os_call){ .method = "POST", .url = os->tokens_url, .content_type = "application/json",
						   .data = body },
			    what, &resp, err);
	OPENSSL_cleanse(body, strlen(body));
	free(body);
	const char *interface = os->field[C_INTERFACE] ? os->field[C_INTERFACE] : "public";
	char iface[32];
	snprintf(iface, sizeof iface, "%.*s", (int)strcspn(interface, "U"), interface); /* "publicURL" is "public" */
	if (os->emit) { /* nothing was sent: the endpoints are the given ones, or stand-ins */
		snprintf(os->image, sizeof os->image, "%s", *os->image_given ? os->image_given : "{image}");
		snprintf(os->heat, sizeof os->heat, "%s", *os->heat_given ? os->heat_given : "{orchestration}");
		snprintf(os->compute, sizeof os->compute, "%s", *os->compute_given ? os->compute_given : "{compute}");
		return (os->token_header = strdup("X-Auth-Token: {token}")) ? 0 : ep_oom(err);
	}
	char refused[EP_OS_URL_MAX + 240];
	snprintf(refused, sizeof refused, "%s: the credentials were refused", what);
	if (!rc && resp.status == 401)
		rc = status_error(&resp, refused, EP_ERUNTIME, err);
	else if (!rc && resp.status != 201 && resp.status != 200)
		rc = status_error(&resp, what, resp.status == 404 || resp.status == 400 ? EP_EINPUT : EP_ERUNTIME, err);
	char token[8192];
	if (!rc && !ep_http_header(&resp, "X-Subject-Token", token, sizeof token))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer has no X-Subject-Token", what);
	for (const char *p = token; !rc && *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			rc = ep_fail(err, EP_ERUNTIME, "%s: the token holds a control character", what);
	if (!rc && asprintf(&os->token_header, "X-Auth-Token: %s", token) < 0) {
		os->token_header = NULL;
		rc = ep_oom(err);
	}
	if (!rc) {
		OPENSSL_cleanse(token, sizeof token);
		if (*os->image_given)
			snprintf(os->image, sizeof os->image, "%s", os->image_given);
		else
			rc = ep_os_catalog_endpoint(resp.body ? resp.body : "", resp.body_len, "image", iface,
						    os->field[C_REGION], os->image, sizeof os->image, err);
	}
	/* only a stack needs the one, only a server's snapshot the other */
	if (!rc)
		optional_endpoint(os, &resp, "orchestration", iface, os->heat_given, os->heat);
	if (!rc)
		optional_endpoint(os, &resp, "compute", iface, os->compute_given, os->compute);
	ep_http_response_release(&resp);
	return rc;
}

/* ---- Glance ---- */

/* Glance's v2 API under its endpoint, which the catalog may give with or without
 * "/v2": the endpoint, then what, then arg and tail when given. */
static int image_url(const struct ep_os *os, char *out, size_t cap, const char *what, const char *arg,
		     const char *tail, struct ep_error *err)
{
	size_t n = strlen(os->image);
	bool versioned = n >= 3 && !strcmp(os->image + n - 3, "/v2");
	int len = snprintf(out, cap, "%s%s%s%s%s", os->image, versioned ? "" : "/v2", what, arg ? arg : "",
			   tail ? tail : "");
	return len < 0 || (size_t)len >= cap ? ep_fail(err, EP_EINPUT, "glance: a URL is too long") : 0;
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);
	return n > 0 && n < EP_OS_ID_MAX && strspn(id, "0123456789abcdefABCDEF-") == n;
}

/* GET /v2/images?name=NAME: the answer in *doc (json_decref it) and its "images" array in
 * *images; both NULL on a dry run. what (wcap bytes) gets how messages name the lookup. A
 * refusal (401, 403) is EP_ERUNTIME naming the call, as any other failed answer. */
static int images_named(struct ep_os *os, const char *name, json_t **doc, json_t **images, char *what, size_t wcap,
			struct ep_error *err)
{
	*doc = *images = NULL;
	char *enc = ep_sigv4_encode(name, strlen(name), false), url[EP_OS_URL_MAX * 2], call[EP_OS_URL_MAX * 2 + 16];
	if (!enc)
		return ep_oom(err);
	int rc = image_url(os, url, sizeof url, "/images?name=", enc, NULL, err);
	free(enc);
	snprintf(what, wcap, "glance: looking for image '%.300s'", name);
	snprintf(call, sizeof call, "glance: GET %s", url);
	struct ep_http_response resp;
	if (!rc)
		rc = os_request(os, &(struct os_call){ .method = "GET", .url = url }, what, &resp, err);
	if (rc || os->emit)
		return rc;
	if (resp.status != 200)
		rc = status_error(&resp, call, EP_ERUNTIME, err);
	if (!rc && !(*doc = ep_os_answer_json(&resp, what, err)))
		rc = err->code;
	if (!rc && !json_is_array(*images = json_object_get(*doc, "images")))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer lists no images", what);
	ep_http_response_release(&resp);
	return rc;
}

int ep_os_image_named(struct ep_os *os, const char *name, struct ep_os_image_info *found, struct ep_error *err)
{
	*found = (struct ep_os_image_info){ 0 };
	json_t *doc, *images;
	char what[400];
	int rc = images_named(os, name, &doc, &images, what, sizeof what, err);
	if (!rc && doc && (rc = json_array_size(images) > 0)) {
		json_t *first = json_array_get(images, 0);
		const char *id = json_string_value(json_object_get(first, "id"));
		const char *status = json_string_value(json_object_get(first, "status"));
		if (id && id_ok(id))
			snprintf(found->id, sizeof found->id, "%s", id);
		if (status && strlen(status) < sizeof found->status && strspn(status, "abcdefghijklmnopqrstuvwxyz_") == strlen(status))
			snprintf(found->status, sizeof found->status, "%s", status);
	}
	json_decref(doc);
	return rc;
}

int ep_os_image_create(struct ep_os *os, const char *body, char id[EP_OS_ID_MAX], struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 64];
	int rc = image_url(os, url, sizeof url, "/images", NULL, NULL, err);
	struct ep_http_response resp;
	if (!rc)
		rc = os_request(os, &(struct os_call){ .method = "POST", .url = url, .content_type = "application/json", .data = body },
				"glance: POST /v2/images", &resp, err);
	if (rc)
		return rc;
	if (os->emit) {
		snprintf(id, EP_OS_ID_MAX, "{id}");
		return 0;
	}
	if (resp.status != 201)
		rc = status_error(&resp, "glance: creating an image", resp.status == 409 || resp.status == 400 || resp.status == 403 ? EP_EINPUT : EP_ERUNTIME, err);
	json_t *doc = rc ? NULL : ep_os_answer_json(&resp, "glance: creating an image", err);
	const char *v = json_string_value(json_object_get(doc, "id"));
	if (!rc && (!doc || !v || !id_ok(v)))
		rc = doc ? ep_fail(err, EP_ERUNTIME, "glance: the created image has no id") : err->code;
	if (!rc)
		snprintf(id, EP_OS_ID_MAX, "%s", v);
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}

static int image_simple(struct ep_os *os, const char *method, const char *id, const char *ctype, const char *body,
			long ok, const char *what, struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 128];
	if (!os->emit && !id_ok(id))
		return ep_fail(err, EP_EINPUT, "glance: '%s' is not an image id", id);
	int rc = image_url(os, url, sizeof url, "/images/", id, NULL, err);
	struct ep_http_response resp;
	if (!rc)
		rc = os_request(os, &(struct os_call){ .method = method, .url = url, .content_type = ctype, .data = body }, what,
				&resp, err);
	if (rc || os->emit)
		return rc;
	if (resp.status != ok && !(ok == 204 && resp.status == 200))
		rc = status_error(&resp, what, resp.status == 400 || resp.status == 403 || resp.status == 409 ? EP_EINPUT : EP_ERUNTIME, err);
	ep_http_response_release(&resp);
	return rc;
}

int ep_os_image_patch(struct ep_os *os, const char *id, const char *patch, struct ep_error *err)
{
	return image_simple(os, "PATCH", id, "application/openstack-images-v2.1-json-patch", patch, 200,
			    "glance: setting the image's properties", err);
}

int ep_os_image_delete(struct ep_os *os, const char *id, struct ep_error *err)
{
	return image_simple(os, "DELETE", id, NULL, NULL, 204, "glance: deleting an image", err);
}

/* The file streamed as the image's data, its digests taken on the way. */
struct upload {
	int fd;
	uint64_t size, sent;
	EVP_MD_CTX *md5, *sha512;
	const struct ep_progress *progress;
};

static int upload_read(void *ctx, void *buf, size_t cap, size_t *got, struct ep_error *err)
{
	struct upload *u = ctx;
	size_t want = u->size - u->sent < cap ? (size_t)(u->size - u->sent) : cap;
	ssize_t n = want ? pread(u->fd, buf, want, (off_t)u->sent) : 0;
	if (n < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "glance: cannot read the image to upload");
	if ((size_t)n != want)
		return ep_fail(err, EP_ERUNTIME, "glance: the image to upload shrank");
	EVP_DigestUpdate(u->md5, buf, (size_t)n);
	EVP_DigestUpdate(u->sha512, buf, (size_t)n);
	u->sent += (uint64_t)n;
	ep_progress_report(u->progress, u->sent, u->size);
	*got = (size_t)n;
	return 0;
}

static int upload_rewind(void *ctx, struct ep_error *err)
{
	struct upload *u = ctx;
	u->sent = 0;
	return EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) && EVP_DigestInit_ex(u->sha512, EVP_sha512(), NULL) ? 0
													       : ep_oom(err);
}

static void digest_hex(EVP_MD_CTX *c, char *hex)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(c, d, &n);
	ep_hex(d, n, hex);
}

/* The image as Glance describes it after the upload: active, and holding what was sent. */
static int check_image(struct ep_os *os, const char *id, uint64_t size, const char *md5, const char *sha512,
		       struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 128];
	int rc = image_url(os, url, sizeof url, "/images/", id, NULL, err);
	struct ep_http_response resp;
	if (!rc)
		rc = os_request(os, &(struct os_call){ .method = "GET", .url = url }, "glance: reading the uploaded image", &resp, err);
	if (rc || os->emit)
		return rc;
	if (resp.status != 200)
		rc = status_error(&resp, "glance: reading the uploaded image", EP_ERUNTIME, err);
	json_t *doc = rc ? NULL : ep_os_answer_json(&resp, "glance: reading the uploaded image", err);
	if (!rc && !doc)
		rc = err->code;
	const char *status = json_string_value(json_object_get(doc, "status"));
	const char *sum = json_string_value(json_object_get(doc, "checksum"));
	const char *algo = json_string_value(json_object_get(doc, "os_hash_algo"));
	const char *hash = json_string_value(json_object_get(doc, "os_hash_value"));
	json_t *jsize = json_object_get(doc, "size");
	if (!rc && (!status || strcmp(status, "active")))
		rc = ep_fail(err, EP_ERUNTIME, "glance: the uploaded image %s is '%s', not active", id,
			     status ? status : "without status");
	else if (!rc && (!json_is_integer(jsize) || (uint64_t)json_integer_value(jsize) != size))
		rc = ep_fail(err, EP_EINTEGRITY, "glance: image %s holds %lld bytes; %llu were sent", id,
			     json_is_integer(jsize) ? (long long)json_integer_value(jsize) : -1LL, (unsigned long long)size);
	else if (!rc && sum && strcasecmp(sum, md5))
		rc = ep_fail(err, EP_EINTEGRITY, "glance: image %s has checksum %.40s; what was sent has MD5 %s", id, sum, md5);
	else if (!rc && algo && hash && !strcmp(algo, "sha512") && strcasecmp(hash, sha512))
		rc = ep_fail(err, EP_EINTEGRITY, "glance: image %s has os_hash_value %.20s...; what was sent has SHA-512 %.20s...",
			     id, hash, sha512);
	else if (!rc && !sum && !(algo && hash && !strcmp(algo, "sha512")))
		rc = ep_fail(err, EP_EINTEGRITY, "glance: image %s carries no checksum to check what arrived", id);
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}

int ep_os_image_upload(struct ep_os *os, const char *id, const char *path, const char *what,
		       const struct ep_progress *progress, struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 128];
	if (!os->emit && !id_ok(id))
		return ep_fail(err, EP_EINPUT, "glance: '%s' is not an image id", id);
	int rc = image_url(os, url, sizeof url, "/images/", id, "/file", err);
	if (rc)
		return rc;
	struct ep_http_response resp;
	if (os->emit) {
		rc = os_request(os, &(struct os_call){ .method = "PUT", .url = url, .content_type = "application/octet-stream",
						       .body_note = what },
				"glance: uploading", &resp, err);
		return rc ? rc : check_image(os, id, 0, NULL, NULL, err);
	}
	struct upload u = { .fd = open(path, O_RDONLY | O_CLOEXEC), .md5 = EVP_MD_CTX_new(), .sha512 = EVP_MD_CTX_new(),
			    .progress = progress };
	struct stat st;
	if (u.fd < 0 || fstat(u.fd, &st) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "glance: cannot open '%s'", path);
	else if (!u.md5 || !u.sha512 || upload_rewind(&u, err))
		rc = ep_oom(err);
	char what_[200];
	snprintf(what_, sizeof what_, "glance: uploading %s", what);
	if (!rc) {
		u.size = (uint64_t)st.st_size;
		struct ep_http_body body = { u.size, upload_read, upload_rewind, &u };
		rc = os_request(os, &(struct os_call){ .method = "PUT", .url = url, .content_type = "application/octet-stream",
						       .body = &body },
				what_, &resp, err);
		if (!rc && resp.status != 204 && resp.status != 200 && resp.status != 201)
			rc = status_error(&resp, what_, resp.status == 400 || resp.status == 409 || resp.status == 413 ? EP_EINPUT : EP_ERUNTIME, err);
		if (!rc)
			ep_http_response_release(&resp);
	}
	char md5[33], sha512[129];
	if (!rc) {
		digest_hex(u.md5, md5);
		digest_hex(u.sha512, sha512);
		rc = check_image(os, id, u.size, md5, sha512, err);
	}
	if (u.fd >= 0)
		close(u.fd);
	EVP_MD_CTX_free(u.md5);
	EVP_MD_CTX_free(u.sha512);
	return rc;
}

/* ---- reading an image back ---- */

uint64_t ep_os_requests(const struct ep_os *os)
{
	return os->requests;
}

void ep_os_image_release(struct ep_os_image *im)
{
	free(im->json);
	im->json = NULL;
}

static void copy_field(json_t *doc, const char *key, char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(doc, key));
	snprintf(out, cap, "%s", v && strlen(v) < cap ? v : "");
	ep_printable(out);
}

/* The image JSON doc (an object of Glance's) into im. */
static int image_from(struct ep_os *os, json_t *doc, struct ep_os_image *im, const char *what, struct ep_error *err)
{
	const char *id = json_string_value(json_object_get(doc, "id"));
	json_t *size = json_object_get(doc, "size");
	if (!id || !id_ok(id))
		return ep_fail(err, EP_ERUNTIME, "%s: the answer names no image id", what);
	snprintf(im->id, sizeof im->id, "%s", id);
	copy_field(doc, "name", im->name, sizeof im->name);
	copy_field(doc, "status", im->status, sizeof im->status);
	copy_field(doc, "disk_format", im->disk_format, sizeof im->disk_format);
	im->size = json_is_integer(size) && json_integer_value(size) >= 0 ? (uint64_t)json_integer_value(size) : 0;
	int rc = image_url(os, im->url, sizeof im->url, "/images/", id, NULL, err);
	if (!rc && !(im->json = json_dumps(doc, JSON_COMPACT)))
		rc = ep_oom(err);
	return rc;
}

/* GET /v2/images/ID: 1 and im filled, 0 when there is no such image. */
static int image_by_id(struct ep_os *os, const char *id, struct ep_os_image *im, struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 128], what[200], call[EP_OS_URL_MAX + 160];
	int rc = image_url(os, url, sizeof url, "/images/", id, NULL, err);
	snprintf(what, sizeof what, "glance: reading image %.80s", id);
	snprintf(call, sizeof call, "glance: GET %s", url); /* a refusal names the call; a failure to connect says it */
	struct ep_http_response resp;
	if (!rc)
		rc = os_request(os, &(struct os_call){ .method = "GET", .url = url }, what, &resp, err);
	if (rc || os->emit)
		return rc;
	if (resp.status == 404) {
		ep_http_response_release(&resp);
		return 0;
	}
	if (resp.status != 200) /* 401, 403: the token's project may not read it */
		rc = status_error(&resp, call, EP_ERUNTIME, err);
	json_t *doc = rc ? NULL : ep_os_answer_json(&resp, what, err);
	if (!rc && !doc)
		rc = err->code;
	if (!rc && !(rc = image_from(os, doc, im, what, err)))
		rc = 1;
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}

int ep_os_image_get(struct ep_os *os, const char *id, struct ep_os_image *im, struct ep_error *err)
{
	*im = (struct ep_os_image){ 0 };
	if (!os->emit && !id_ok(id))
		return ep_fail(err, EP_EINPUT, "glance: '%s' is not an image id", id);
	return image_by_id(os, id, im, err);
}

/* GET /v2/images?name=NAME: exactly one, or EP_EINPUT naming what was found. */
static int image_by_name(struct ep_os *os, const char *name, struct ep_os_image *im, struct ep_error *err)
{
	json_t *doc, *images;
	char what[400];
	int rc = images_named(os, name, &doc, &images, what, sizeof what, err);
	size_t n = json_array_size(images);
	if (rc || !doc)
		return rc;
	if (n == 0)
		rc = ep_fail(err, EP_EINPUT, "glance: no image has the id or name '%.300s' (at %s)", name, os->image);
	else if (n > 1) {
		char ids[600] = "";
		size_t at = 0;
		for (size_t i = 0; i < n && at < sizeof ids; i++) {
			const char *id = json_string_value(json_object_get(json_array_get(images, i), "id"));
			at += (size_t)snprintf(ids + at, sizeof ids - at, "%s%s", i ? ", " : "", id && id_ok(id) ? id : "?");
		}
		rc = ep_fail(err, EP_EINPUT, "glance: %zu images are named '%.200s' (%s): name one by its id", n, name, ids);
	} else
		rc = image_from(os, json_array_get(images, 0), im, what, err);
	json_decref(doc);
	return rc;
}

int ep_os_image_find(struct ep_os *os, const char *ref, struct ep_os_image *im, struct ep_error *err)
{
	*im = (struct ep_os_image){ 0 };
	bool by_id = id_ok(ref) || (os->emit && *ref == '{'); /* a dry run's stand-in id ("{snapshot_id}") */
	int rc = by_id ? image_by_id(os, ref, im, err) : 0;
	if (rc == 0 && !(os->emit && by_id))
		rc = image_by_name(os, ref, im, err);
	if (rc < 0 || rc > 1)
		return rc;
	if (os->emit) { /* nothing was sent: the id is a stand-in unless given */
		snprintf(im->id, sizeof im->id, "%s", by_id ? ref : "{id}");
		snprintf(im->name, sizeof im->name, "%s", ref);
		return image_url(os, im->url, sizeof im->url, "/images/", im->id, NULL, err);
	}
	if (strcmp(im->status, "active"))
		return ep_fail(err, EP_EINPUT, "glance: image %s ('%s') is %s, not active: it has no data to read", im->id,
			       im->name, *im->status ? im->status : "without a status");
	return 0;
}

const char *ep_os_image_prop(const struct ep_os_image *im, const char *key, char *buf, size_t cap)
{
	json_t *doc = im->json ? json_loads(im->json, 0, NULL) : NULL, *v = json_object_get(doc, key);
	const char *r = buf;
	if (json_is_string(v) && strlen(json_string_value(v)) < cap)
		snprintf(buf, cap, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else
		r = NULL;
	json_decref(doc);
	return r;
}

/* A download going into a file, hashed behind it by a thread of its own (reading back
 * what was written, from the page cache), so that hashing runs beside the transfer; or,
 * with push set, hashed as it passes on to push (whose caller runs it on a thread of its
 * own, beside the one that consumes what it pushes). */
struct download {
	int fd;
	int (*push)(void *ctx, const void *data, size_t len, struct ep_error *err);
	void *push_ctx;
	uint64_t got, size;
	const struct ep_progress *progress;
	bool stuck; /* the server cannot resume, or the file cannot be written: no point trying again */
	/* the hasher's: under mu, got (as written) and written; hashed and md its own */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t written, hashed;
	bool ended, waiting, hash_failed;
	EVP_MD_CTX *md;
	struct ep_error hash_err;
};

static void *hash_behind(void *arg)
{
	struct download *d = arg;
	uint8_t *buf = malloc(1 << 20);
	pthread_mutex_lock(&d->mu);
	d->hash_failed = !buf;
	while (buf) {
		while (d->hashed == d->written && !d->ended) {
			d->waiting = true;
			pthread_cond_wait(&d->cv, &d->mu);
			d->waiting = false;
		}
		if (d->hashed == d->written)
			break;
		uint64_t off = d->hashed, n = d->written - off < (1 << 20) ? d->written - off : (1 << 20);
		pthread_mutex_unlock(&d->mu);
		int rc = ep_pread_full(d->fd, buf, (size_t)n, off, "the scratch file", &d->hash_err);
		if (!rc)
			EVP_DigestUpdate(d->md, buf, (size_t)n);
		pthread_mutex_lock(&d->mu);
		if ((d->hash_failed = rc != 0))
			break;
		d->hashed += n;
	}
	pthread_mutex_unlock(&d->mu);
	free(buf);
	return NULL;
}

static int download_answer(void *ctx, const struct ep_http_response *resp, struct ep_error *err)
{
	struct download *d = ctx;
	if (!d->got || ep_http_starts_at(resp, d->got))
		return 0;
	d->stuck = true;
	return ep_fail(err, EP_ERUNTIME, "Glance did not resume at byte %llu (status %ld): it ignores ranges",
		       (unsigned long long)d->got, resp->status);
}

static int download_sink(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct download *d = ctx;
	if (ep_interrupted()) {
		d->stuck = true;
		return ep_fail(err, EP_ERUNTIME, "interrupted");
	}
	if (len > d->size - d->got) {
		d->stuck = true;
		return ep_fail(err, EP_EINTEGRITY, "Glance sends more than the image's %llu bytes",
			       (unsigned long long)d->size);
	}
	if (d->push) {
		EVP_DigestUpdate(d->md, data, len);
		if (d->push(d->push_ctx, data, len, err)) {
			d->stuck = true;
			return err->code;
		}
		d->got += len;
		ep_progress_report(d->progress, d->got, d->size);
		return 0;
	}
	if (ep_pwrite_full(d->fd, data, len, d->got, "the scratch file", err)) {
		d->stuck = true;
		return err->code;
	}
	d->got += len;
	pthread_mutex_lock(&d->mu);
	d->written = d->got;
	if (d->waiting && d->written - d->hashed >= (1 << 20)) /* woken for a block's worth */
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	ep_progress_report(d->progress, d->got, d->size);
	return 0;
}

/* Ends the hasher once it has hashed all that was written: its digest into hex (0), or a failure. */
static int hash_end(struct download *d, pthread_t t, char *hex, struct ep_error *err)
{
	pthread_mutex_lock(&d->mu);
	d->ended = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (!d->push)
		pthread_join(t, NULL);
	if (d->hash_failed)
		return d->hash_err.code ? (*err = d->hash_err, err->code) : ep_oom(err);
	uint8_t raw[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(d->md, raw, &n);
	ep_hex(raw, n, hex);
	return 0;
}

/* Glance's digest of the image: os_hash_value by os_hash_algo when the server has it, else the MD5 checksum. */
static const EVP_MD *image_digest(const struct ep_os_image *im, char *want, size_t cap, char *name, size_t ncap)
{
	char algo[32];
	const EVP_MD *md = NULL;
	if (ep_os_image_prop(im, "os_hash_algo", algo, sizeof algo) && ep_os_image_prop(im, "os_hash_value", want, cap) &&
	    (!strcmp(algo, "sha512") || !strcmp(algo, "sha384") || !strcmp(algo, "sha256") || !strcmp(algo, "sha1") ||
	     !strcmp(algo, "md5")))
		md = EVP_get_digestbyname(algo);
	if (md) {
		snprintf(name, ncap, "os_hash_value (%s)", algo);
		return md;
	}
	snprintf(name, ncap, "checksum (md5)");
	return ep_os_image_prop(im, "checksum", want, cap) ? EVP_md5() : NULL;
}

/* The download into d (a file or a push), resumed, hashed and checked. */
static int image_get(struct ep_os *os, const struct ep_os_image *im, struct download *d, struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 160], what[200], call[EP_OS_URL_MAX * 2], want[160], algo[64], range[64];
	int rc = image_url(os, url, sizeof url, "/images/", im->id, "/file", err);
	snprintf(what, sizeof what, "glance: downloading image %s", im->id);
	snprintf(call, sizeof call, "%s (GET %s)", what, url);
	struct ep_http_response resp;
	if (rc || os->emit)
		return rc ? rc : os_request(os, &(struct os_call){ .method = "GET", .url = url, .accept = "Accept: */*" },
					    what, &resp, err);
	const EVP_MD *md = image_digest(im, want, sizeof want, algo, sizeof algo);
	if (!md)
		return ep_fail(err, EP_EINTEGRITY, "glance: image %s carries no checksum to check what arrives", im->id);
	d->size = im->size;
	d->md = EVP_MD_CTX_new();
	pthread_t hasher = { 0 };
	if (!d->md || !EVP_DigestInit_ex(d->md, md, NULL)) {
		EVP_MD_CTX_free(d->md);
		return ep_oom(err);
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	if (!d->push && pthread_create(&hasher, NULL, hash_behind, d)) {
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		EVP_MD_CTX_free(d->md);
		return ep_fail(err, EP_ERUNTIME, "glance: cannot start a thread to hash the download");
	}
	/* a cut connection resumes where it stopped: each try must bring bytes, and there are
	 * as many as a request has attempts */
	for (unsigned tries = 0;; tries++) {
		snprintf(range, sizeof range, "Range: bytes=%llu-", (unsigned long long)d->got);
		uint64_t before = d->got;
		rc = os_request(os, &(struct os_call){ .method = "GET", .url = url, .accept = "Accept: */*",
						       .range = d->got ? range : NULL, .check_answer = download_answer,
						       .sink = download_sink, .ctx = d },
				what, &resp, err);
		if (!rc && resp.status != 200 && resp.status != 206)
			rc = status_error(&resp, call, EP_ERUNTIME, err); /* 403: no access; 404: deleted meanwhile */
		ep_http_response_release(&resp);
		bool again = rc == EP_ERUNTIME && d->got > before && d->got < d->size && !d->stuck && tries + 1 < os->attempts;
		if (!rc && d->got < d->size && d->got > before && tries + 1 < os->attempts)
			again = true; /* an answer that ended early without an error */
		if (!again)
			break;
		*err = (struct ep_error){ 0 };
		rc = 0;
	}
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int hrc = hash_end(d, hasher, hex, rc ? &(struct ep_error){ 0 } : err);
	if (!rc && hrc)
		rc = hrc;
	if (!rc && d->got != d->size)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: %llu bytes came; Glance says the image has %llu", what,
			     (unsigned long long)d->got, (unsigned long long)d->size);
	if (!rc && strcasecmp(hex, want))
		rc = ep_fail(err, EP_EINTEGRITY, "glance: image %s's data does not match its %s %.24s... (it hashes to "
						 "%.24s...)", im->id, algo, want, hex);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	EVP_MD_CTX_free(d->md);
	return rc;
}

int ep_os_image_download(struct ep_os *os, const struct ep_os_image *im, int fd, const struct ep_progress *progress,
			 struct ep_error *err)
{
	return image_get(os, im, &(struct download){ .fd = fd, .progress = progress }, err);
}

int ep_os_image_stream(struct ep_os *os, const struct ep_os_image *im,
		       int (*push)(void *ctx, const void *data, size_t len, struct ep_error *err), void *ctx,
		       struct ep_error *err)
{
	return image_get(os, im, &(struct download){ .fd = -1, .push = push, .push_ctx = ctx }, err);
}

/* ---- any other service's JSON calls (Nova's) ---- */

bool ep_os_dry_run(const struct ep_os *os)
{
	return os->emit != NULL;
}

int ep_os_call(struct ep_os *os, const char *method, const char *url, const char *header, const char *json, bool once,
	       const char *what, struct ep_http_response *resp, struct ep_error *err)
{
	return os_request(os, &(struct os_call){ .method = method, .url = url, .header = header, .data = json,
						 .content_type = json ? "application/json" : NULL, .once = once },
			  what, resp, err);
}

int ep_os_answer_error(const struct ep_http_response *resp, const char *what, int code, struct ep_error *err)
{
	return status_error(resp, what, code, err);
}

/* ---- Heat ---- */

int ep_os_stack_create(struct ep_os *os, const char *body, struct ep_error *err)
{
	char url[EP_OS_URL_MAX + 16];
	if (!*os->heat)
		return ep_fail(err, EP_EINPUT, "heat: the catalog has no orchestration endpoint (give -o heat-url=URL)");
	snprintf(url, sizeof url, "%s/stacks", os->heat);
	struct ep_http_response resp;
	int rc = os_request(os, &(struct os_call){ .method = "POST", .url = url, .content_type = "application/json", .data = body },
			    "heat: creating the stack", &resp, err);
	if (rc || os->emit)
		return rc;
	if (resp.status != 201 && resp.status != 200 && resp.status != 202)
		rc = status_error(&resp, "heat: creating the stack", resp.status == 409 || resp.status == 400 ? EP_EINPUT : EP_ERUNTIME, err);
	ep_http_response_release(&resp);
	return rc;
}
