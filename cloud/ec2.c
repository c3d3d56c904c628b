#include "cloud/ec2.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/util.h"

#define ANSWER_MAX ((size_t)1 << 20) /* EC2's answers here are a few KiB */
#define FORM_MAX ((size_t)1 << 20)

struct ep_ec2 {
	struct ep_http *http;
	const struct ep_sigv4_creds *creds;
	char base[300]; /* "https://ec2.REGION.amazonaws.com" or an endpoint given */
	char region[64];
	uint64_t requests; /* sent, for a capture's summary */
};

void ep_ec2_form_add(struct ep_ec2_form *f, const char *value, const char *fmt, ...)
{
	char name[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	char *v = f->oom ? NULL : ep_sigv4_encode(value, strlen(value), false);
	size_t need = v ? f->len + (size_t)n + strlen(v) + 3 : 0;
	if (!v || n < 0 || (size_t)n >= sizeof name || need > FORM_MAX || !ep_grow((void **)&f->text, &f->cap, need, 1)) {
		f->oom = true;
		free(v);
		return;
	}
	f->len += (size_t)snprintf(f->text + f->len, f->cap - f->len, "%s%s=%s", f->len ? "&" : "", name, v);
	free(v);
}

void ep_ec2_form_release(struct ep_ec2_form *f)
{
	free(f->text);
	*f = (struct ep_ec2_form){ 0 };
}

int ep_ec2_open(struct ep_ec2 **out, const struct ep_ec2_options *opt, struct ep_error *err)
{
	if (!opt->region || !*opt->region || strlen(opt->region) >= 64 || !opt->creds)
		return ep_fail(err, EP_EINPUT, "ec2: a region and credentials are needed");
	const char *endpoint = opt->endpoint;
	if (!endpoint || !*endpoint)
		endpoint = getenv("AWS_ENDPOINT_URL_EC2");
	if (!endpoint || !*endpoint)
		endpoint = getenv("AWS_ENDPOINT_URL");
	struct ep_ec2 *ec2 = calloc(1, sizeof *ec2);
	if (!ec2)
		return ep_oom(err);
	int rc = 0;
	snprintf(ec2->region, sizeof ec2->region, "%s", opt->region);
	for (const char *p = opt->region; *p && !rc; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			rc = ep_fail(err, EP_EINPUT, "ec2: '%s' is not a region name", opt->region);
	if (!rc && endpoint && *endpoint)
		rc = ep_http_endpoint(endpoint, ec2->base, sizeof ec2->base, "ec2: the endpoint", err);
	else if (!rc) {
		snprintf(ec2->base, sizeof ec2->base, "https://ec2.%s.amazonaws.com", ec2->region);
	}
	ec2->creds = opt->creds;
	if (!rc)
		rc = ep_http_new(&ec2->http, &opt->http, err);
	if (rc) {
		ep_ec2_close(ec2);
		return rc;
	}
	*out = ec2;
	return 0;
}

void ep_ec2_close(struct ep_ec2 *ec2)
{
	if (!ec2)
		return;
	ep_http_free(ec2->http);
	free(ec2);
}

const char *ep_ec2_endpoint(const struct ep_ec2 *ec2)
{
	return ec2->base;
}

uint64_t ep_ec2_requests(const struct ep_ec2 *ec2)
{
	return ec2 ? ec2->requests : 0;
}

/* A signed request: the body, URL and headers, for ep_http_send or ep_http_request_text. */
struct signed_req {
	char *body;
	size_t len;
	char url[320];
	const char *headers[8];
	char *auth;
	struct ep_sigv4 sig;
};

static void signed_release(struct signed_req *q)
{
	if (q->body)
		OPENSSL_cleanse(q->body, q->len); /* may hold a ClientToken; cheap */
	free(q->body);
	free(q->auth);
	ep_sigv4_release(&q->sig);
}

#define CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

static int sign(struct ep_ec2 *ec2, const char *action, const struct ep_ec2_form *form, struct signed_req *q,
		struct ep_error *err)
{
	*q = (struct signed_req){ 0 };
	if (form && form->oom)
		return ep_oom(err);
	if (asprintf(&q->body, "Action=%s&Version=%s%s%s", action, EP_EC2_VERSION, form && form->len ? "&" : "",
		     form && form->len ? form->text : "") < 0) {
		q->body = NULL;
		return ep_oom(err);
	}
	q->len = strlen(q->body);
	const char *host = strstr(ec2->base, "://") + 3;
	snprintf(q->url, sizeof q->url, "%s/", ec2->base);
	char amz_date[20], hash[EP_DIGEST_HEX];
	uint8_t d[EP_DIGEST_LEN];
	time_t now = time(NULL);
	struct tm tm;
	strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	ep_sha256(q->body, q->len, d);
	ep_hex(d, EP_DIGEST_LEN, hash);
	/* botocore signs content-type too; so do we, so a proxy cannot change how the body is read */
	struct ep_sigv4_header h[] = { { "content-type", CONTENT_TYPE }, { "host", host } };
	struct ep_sigv4_request sreq = { .method = "POST", .path = "/", .headers = h, .nheaders = 2,
					 .payload_hash = hash, .region = ec2->region, .service = "ec2",
					 .amz_date = amz_date, .flags = EP_SIGV4_NORMALIZE | EP_SIGV4_ENCODE_PATH };
	int rc = ep_sigv4_sign(&sreq, ec2->creds, &q->sig, err);
	if (!rc && asprintf(&q->auth, "Authorization: %s", q->sig.authorization) < 0) {
		q->auth = NULL;
		rc = ep_oom(err);
	}
	size_t n = 0;
	q->headers[n++] = "Content-Type: " CONTENT_TYPE;
	q->headers[n++] = q->auth;
	for (size_t i = 0; i < 4 && q->sig.headers[i]; i++)
		q->headers[n++] = q->sig.headers[i];
	if (rc)
		signed_release(q);
	return rc;
}

static struct ep_http_request http_request(const struct signed_req *q)
{
	return (struct ep_http_request){ .method = "POST", .url = q->url, .headers = q->headers, .data = q->body,
					 .data_len = q->len, .max_body = ANSWER_MAX };
}

/* What to tell a user about codes that are theirs to fix rather than AWS's. */
static const char *hint(const char *code)
{
	static const char *const hints[][2] = {
		{ "AuthFailure", "the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials) and the clock" },
		{ "SignatureDoesNotMatch", "the credentials were refused: check the secret key" },
		{ "InvalidClientTokenId", "the credentials were refused: the access key is unknown" },
		{ "UnauthorizedOperation", "the credentials lack the permission (the IAM policy must allow it)" },
		{ "RequestExpired", "the request's time is off: check the clock" },
		{ "OptInRequired", "the account is not subscribed to EC2 in this region" },
	};
	for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
		if (!strcmp(code, hints[i][0]))
			return hints[i][1];
	return NULL;
}

int ep_ec2_error(long status, const char *body, size_t len, const char *what, struct ep_error *err)
{
	struct ep_xml x;
	struct ep_error ignored;
	char *code = NULL, *msg = NULL;
	/* EC2's own shape; some proxies and emulators answer <ErrorResponse> or a bare <Error> */
	static const char *const roots[][2] = { { "Response", "/Response/Errors/Error[1]" },
						{ "ErrorResponse", "/ErrorResponse/Error[1]" },
						{ "Error", "/Error" } };
	for (size_t i = 0; !code && len && body && i < sizeof roots / sizeof *roots; i++) {
		if (ep_xml_parse(&x, body, len, "answer", "ec2", roots[i][0], NULL, &ignored))
			continue;
		char expr[80];
		snprintf(expr, sizeof expr, "%s/*[local-name()='Code']", roots[i][1]);
		code = ep_xml_get(&x, NULL, expr);
		snprintf(expr, sizeof expr, "%s/*[local-name()='Message']", roots[i][1]);
		msg = code ? ep_xml_get(&x, NULL, expr) : NULL;
		ep_xml_release(&x);
	}
	if (code) {
		/* bounded: a message goes into a 1 KiB error anyway */
		if (strlen(code) > 100)
			code[100] = '\0';
		if (msg && strlen(msg) > 500)
			msg[500] = '\0';
		const char *h = hint(code);
		ep_fail(err, EP_ERUNTIME, "%s: %ld %s: %s%s%s%s", what, status, ep_printable(code),
			msg ? ep_printable(msg) : "", h ? " (" : "", h ? h : "", h ? ")" : "");
	} else {
		char d[300];
		struct ep_http_response r = { .status = status, .body = (char *)body, .body_len = len };
		ep_http_describe(&r, d, sizeof d);
		ep_fail(err, EP_ERUNTIME, "%s: %s", what, d);
	}
	free(code);
	free(msg);
	return EP_ERUNTIME;
}

int ep_ec2_call(struct ep_ec2 *ec2, const char *action, const struct ep_ec2_form *form, struct ep_xml *answer,
		struct ep_error *err)
{
	char what[400], root[80];
	snprintf(what, sizeof what, "ec2: %s at %s", action, ec2->base);
	snprintf(root, sizeof root, "%sResponse", action);
	*answer = (struct ep_xml){ 0 };
	struct signed_req q;
	int rc = sign(ec2, action, form, &q, err);
	if (rc)
		return rc;
	struct ep_http_request req = http_request(&q);
	struct ep_http_response resp;
	ec2->requests++;
	rc = ep_http_send(ec2->http, &req, what, &resp, err);
	signed_release(&q);
	if (!rc && resp.status != 200)
		rc = ep_ec2_error(resp.status, resp.body, resp.body_len, what, err);
	if (!rc && ep_xml_parse(answer, resp.body ? resp.body : "", resp.body_len, what, "ec2", root, NULL, err))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer is not a %s document", what, root);
	ep_http_response_release(&resp);
	return rc;
}

int ep_ec2_plan(struct ep_ec2 *ec2, const char *action, const struct ep_ec2_form *form,
		void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	struct signed_req q;
	int rc = sign(ec2, action, form, &q, err);
	if (rc)
		return rc;
	struct ep_http_request req = http_request(&q);
	char *text = ep_http_request_text(&req);
	signed_release(&q);
	if (!text)
		return ep_oom(err);
	emit(ctx, text);
	free(text);
	return 0;
}

/* An id EC2 makes: lowercase letters, digits and '-' (import-ami-..., ami-..., snap-...). */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int ep_ec2_import_task(struct ep_xml *x, bool snapshot, const char *task, struct ep_ec2_task *out,
		       struct ep_error *err)
{
	*out = (struct ep_ec2_task){ 0 };
	if (!id_ok(task, 100)) /* it goes into an XPath expression */
		return ep_fail(err, EP_ERUNTIME, "ec2: '%.100s' is not an import task id", task);
	char expr[400];
	/* a snapshot task keeps its state in snapshotTaskDetail */
	snprintf(expr, sizeof expr, "/*/*[local-name()='%s']/*[local-name()='item'][*[local-name()='importTaskId']='%s']%s",
		 snapshot ? "importSnapshotTaskSet" : "importImageTaskSet", task,
		 snapshot ? "/*[local-name()='snapshotTaskDetail']" : "");
	xmlXPathObjectPtr o = ep_xml_all(x, NULL, expr);
	xmlNodePtr n = o && o->nodesetval && o->nodesetval->nodeNr > 0 ? o->nodesetval->nodeTab[0] : NULL;
	char *status = n ? ep_xml_get(x, n, "*[local-name()='status']") : NULL;
	char *message = n ? ep_xml_get(x, n, "*[local-name()='statusMessage']") : NULL;
	char *made = n ? ep_xml_get(x, n, snapshot ? "*[local-name()='snapshotId']" : "*[local-name()='imageId']") : NULL;
	xmlXPathFreeObject(o);
	int rc = 0;
	if (!status || !id_ok(status, sizeof out->status - 1))
		rc = ep_fail(err, EP_ERUNTIME, "ec2: the answer gives no state for import task %s", task);
	else if (made && *made && !id_ok(made, sizeof out->made - 1))
		rc = ep_fail(err, EP_ERUNTIME, "ec2: import task %s names a malformed id", task);
	if (!rc) {
		snprintf(out->status, sizeof out->status, "%s", status);
		snprintf(out->message, sizeof out->message, "%s", message ? ep_printable(message) : "");
		snprintf(out->made, sizeof out->made, "%s", made ? made : "");
	}
	free(status);
	free(message);
	free(made);
	return rc;
}

static bool number(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
	if (!s || *s < '0' || *s > '9' || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

int ep_ec2_task_settings(const char *role, const char *poll_seconds, const char *timeout_minutes, const char *how,
			 struct ep_ec2_task_settings *out, struct ep_error *err)
{
	/* a task takes an hour or more for large disks */
	*out = (struct ep_ec2_task_settings){ .role = role, .poll_seconds = 30, .timeout_minutes = 360 };
	if (role && (!*role || strlen(role) > 64 ||
		     strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") != strlen(role)))
		return ep_fail(err, EP_EINPUT, "%s role-name=%s is not an IAM role name", how, role);
	if (poll_seconds && !number(poll_seconds, 1, 3600, &out->poll_seconds))
		return ep_fail(err, EP_EINPUT, "%s poll-seconds takes 1 to 3600", how);
	if (timeout_minutes && !number(timeout_minutes, 1, 10080, &out->timeout_minutes))
		return ep_fail(err, EP_EINPUT, "%s timeout-minutes takes 1 to 10080 (a week)", how);
	return 0;
}

void ep_ec2_task_plan_note(const struct ep_ec2_task_settings *t, void (*emit)(void *ctx, const char *text), void *ctx)
{
	char note[200];
	snprintf(note, sizeof note, "(then every %u s, for %u min at most, until the task completes:)", t->poll_seconds,
		 t->timeout_minutes);
	emit(ctx, note);
}
