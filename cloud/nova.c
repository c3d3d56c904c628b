#include "cloud/nova.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/util.h"
#include "cloud/sigv4.h"

#define URL_CAP (EP_OS_URL_MAX + 1024)

/* A server id as Nova makes them: a UUID. */
static bool uuid_ok(const char *id)
{
	return strlen(id) == 36 && strspn(id, "0123456789abcdefABCDEF-") == 36;
}

static int endpoint(struct ep_os *os, struct ep_error *err)
{
	return *ep_os_compute_endpoint(os) ? 0 : ep_fail(err, EP_EINPUT, "nova: the catalog has no compute endpoint "
										   "(give --input-option compute-url=URL)");
}

static void copy_text(json_t *v, char *out, size_t cap)
{
	const char *t = json_string_value(v);
	snprintf(out, cap, "%s", t && strlen(t) < cap ? t : "");
	ep_printable(out);
}

static unsigned small_number(json_t *v, uint64_t max)
{
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
	return n > 0 && (uint64_t)n <= max ? (unsigned)n : 0;
}

/* GET /servers/ID: 1 and *s, 0 when Nova has no such server. */
static int server_by_id(struct ep_os *os, const char *id, struct ep_nova_server *s, struct ep_error *err)
{
	char url[URL_CAP], what[200];
	snprintf(url, sizeof url, "%s/servers/%s", ep_os_compute_endpoint(os), id);
	snprintf(what, sizeof what, "nova: GET %.*s", (int)(sizeof what - 20), url);
	struct ep_http_response resp;
	int rc = ep_os_call(os, "GET", url, EP_NOVA_VERSION, NULL, false, what, &resp, err);
	if (rc || ep_os_dry_run(os))
		return rc;
	if (resp.status == 404) {
		ep_http_response_release(&resp);
		return 0;
	}
	json_t *doc = NULL, *srv = NULL;
	if (resp.status != 200) /* 401, 403: the token's project may not see it */
		rc = ep_os_answer_error(&resp, what, EP_ERUNTIME, err);
	else if (!(doc = ep_os_answer_json(&resp, what, err)))
		rc = err->code;
	else if (!json_is_object(srv = json_object_get(doc, "server")) ||
		 !json_is_string(json_object_get(srv, "id")) || !uuid_ok(json_string_value(json_object_get(srv, "id"))))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer names no server", what);
	if (!rc) {
		json_t *flavor = json_object_get(srv, "flavor"); /* 2.47: the flavor itself, not a link to it */
		copy_text(json_object_get(srv, "id"), s->id, sizeof s->id);
		copy_text(json_object_get(srv, "name"), s->name, sizeof s->name);
		copy_text(json_object_get(srv, "status"), s->status, sizeof s->status);
		copy_text(json_object_get(flavor, "original_name"), s->flavor, sizeof s->flavor);
		s->vcpus = small_number(json_object_get(flavor, "vcpus"), 1024);
		s->ram_mib = small_number(json_object_get(flavor, "ram"), 16u << 20);
		rc = 1;
	}
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}

/* ^NAME$ with the regular expression's own characters escaped: Nova's name filter is a
 * regular expression, and a server's name may hold any of them. */
static char *exact(const char *name)
{
	size_t n = strlen(name);
	char *re = malloc(2 * n + 3), *p = re;
	if (!re)
		return NULL;
	*p++ = '^';
	for (const char *c = name; *c; c++) {
		if (strchr(".^$*+?()[]{}|\\", *c))
			*p++ = '\\';
		*p++ = *c;
	}
	*p++ = '$';
	*p = '\0';
	return re;
}

/* GET /servers?name=^NAME$: the one server so named (compared again here, exactly). */
static int server_by_name(struct ep_os *os, const char *name, struct ep_nova_server *s, struct ep_error *err)
{
	char *re = exact(name), *enc = re ? ep_sigv4_encode(re, strlen(re), false) : NULL, url[URL_CAP], what[400];
	free(re);
	if (!enc)
		return ep_oom(err);
	int len = snprintf(url, sizeof url, "%s/servers?name=%s", ep_os_compute_endpoint(os), enc);
	free(enc);
	if (len < 0 || (size_t)len >= sizeof url)
		return ep_fail(err, EP_EINPUT, "nova: the server name '%.100s...' is too long", name);
	snprintf(what, sizeof what, "nova: looking for server '%.200s'", name);
	struct ep_http_response resp;
	int rc = ep_os_call(os, "GET", url, EP_NOVA_VERSION, NULL, false, what, &resp, err);
	if (rc || ep_os_dry_run(os))
		return rc;
	json_t *doc = NULL, *list = NULL, *one;
	if (resp.status != 200)
		rc = ep_os_answer_error(&resp, what, EP_ERUNTIME, err);
	else if (!(doc = ep_os_answer_json(&resp, what, err)))
		rc = err->code;
	else if (!json_is_array(list = json_object_get(doc, "servers")))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer lists no servers", what);
	char ids[600] = "", id[EP_OS_ID_MAX] = "";
	size_t i, found = 0, at = 0;
	json_array_foreach(rc ? NULL : list, i, one) {
		const char *n = json_string_value(json_object_get(one, "name"));
		const char *v = json_string_value(json_object_get(one, "id"));
		if (!n || strcmp(n, name) || !v || !uuid_ok(v))
			continue;
		snprintf(id, sizeof id, "%s", v);
		if (at < sizeof ids)
			at += (size_t)snprintf(ids + at, sizeof ids - at, "%s%s", found ? ", " : "", v);
		found++;
	}
	if (!rc && !found)
		rc = ep_fail(err, EP_EINPUT, "nova: no server has the id or name '%.300s' (at %s)", name,
			     ep_os_compute_endpoint(os));
	else if (!rc && found > 1)
		rc = ep_fail(err, EP_EINPUT, "nova: %zu servers are named '%.200s' (%s): name one by its id", found, name, ids);
	json_decref(doc);
	ep_http_response_release(&resp);
	if (rc)
		return rc;
	rc = server_by_id(os, id, s, err);
	return rc == 0 ? ep_fail(err, EP_ERUNTIME, "nova: server %s ('%.200s') went away", id, name) : rc < 0 ? rc : 0;
}

int ep_nova_server_find(struct ep_os *os, const char *ref, struct ep_nova_server *s, struct ep_error *err)
{
	*s = (struct ep_nova_server){ 0 };
	int rc = endpoint(os, err);
	if (!rc && uuid_ok(ref))
		rc = server_by_id(os, ref, s, err);
	if (rc == 1)
		return 0;
	if (!rc && !(ep_os_dry_run(os) && uuid_ok(ref)))
		rc = server_by_name(os, ref, s, err);
	if (!rc && ep_os_dry_run(os)) { /* nothing was sent: the id is a stand-in unless given */
		snprintf(s->id, sizeof s->id, "%s", uuid_ok(ref) ? ref : "{server_id}");
		snprintf(s->name, sizeof s->name, "%s", ref);
		if (!uuid_ok(ref)) /* the GET of the one found */
			rc = server_by_id(os, s->id, &(struct ep_nova_server){ 0 }, err);
	}
	return rc;
}

int ep_nova_create_image(struct ep_os *os, const char *server_id, const char *name, char image_id[EP_OS_ID_MAX],
			 struct ep_error *err)
{
	char url[URL_CAP], what[300];
	int rc = endpoint(os, err);
	if (rc)
		return rc;
	snprintf(url, sizeof url, "%s/servers/%s/action", ep_os_compute_endpoint(os), server_id);
	snprintf(what, sizeof what, "nova: createImage of server %s (POST %.*s)", server_id, (int)(sizeof what - 80), url);
	json_t *body = json_pack("{s:{s:s,s:{s:s}}}", "createImage", "name", name, "metadata", "envpack", "capture");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return ep_oom(err);
	struct ep_http_response resp;
	/* not retried: a second createImage, after an answer lost, would make a second image */
	rc = ep_os_call(os, "POST", url, EP_NOVA_VERSION, text, true, what, &resp, err);
	free(text);
	if (rc)
		return rc;
	if (ep_os_dry_run(os)) {
		snprintf(image_id, EP_OS_ID_MAX, "{snapshot_id}");
		return 0;
	}
	json_t *doc = NULL;
	const char *v = NULL;
	if (resp.status != 202 && resp.status != 200) /* 403: not allowed; 409: the server's state forbids it */
		rc = ep_os_answer_error(&resp, what, resp.status == 404 ? EP_EINPUT : EP_ERUNTIME, err);
	else if (!(doc = ep_os_answer_json(&resp, what, err)))
		rc = err->code;
	else if (!(v = json_string_value(json_object_get(doc, "image_id"))) || !uuid_ok(v))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer has no image_id (a Nova older than microversion 2.45?)", what);
	if (!rc && v)
		snprintf(image_id, EP_OS_ID_MAX, "%s", v);
	json_decref(doc);
	ep_http_response_release(&resp);
	return rc;
}
