#include "cloud/azure_arm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "cloud/ec2.h"

#define AUTHORITY "https://login.microsoftonline.com"
#define SCOPE "https://management.azure.com/.default" /* the audience, whichever endpoint serves it */
#define POLL_DEFAULT 5  /* seconds between looks when no Retry-After says */
#define POLL_MAX 60

struct ep_arm {
	struct ep_http *http;
	char endpoint[300], authority[300];
	char tenant[100], client[100];
	char *secret, *token;
	unsigned timeout_minutes;
	uint64_t requests;
};

static void cleanse_free(char *s)
{
	if (s)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static bool id_chars(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == strlen(s);
}

int ep_arm_open(struct ep_arm **out, const struct ep_arm_options *opt, struct ep_error *err)
{
	struct ep_arm *a = calloc(1, sizeof *a);
	if (!(*out = a))
		return ep_oom(err);
	a->timeout_minutes = opt->timeout_minutes ? opt->timeout_minutes : 10;
	int rc = ep_http_endpoint(opt->endpoint ? opt->endpoint : EP_ARM_ENDPOINT, a->endpoint, sizeof a->endpoint,
				  "vm:azure: --input-option arm-endpoint", err);
	/* azure-identity's AzureAuthorityHosts are bare host names: https is meant */
	const char *auth = getenv("AZURE_AUTHORITY_HOST");
	char host[300];
	snprintf(host, sizeof host, "%s%s", auth && *auth && !strstr(auth, "://") ? "https://" : "",
		 auth && *auth ? auth : AUTHORITY);
	if (!rc)
		rc = ep_http_endpoint(host, a->authority, sizeof a->authority, "vm:azure: AZURE_AUTHORITY_HOST", err);
	const char *tenant = getenv("AZURE_TENANT_ID"), *client = getenv("AZURE_CLIENT_ID"),
		   *secret = getenv("AZURE_CLIENT_SECRET");
	if (!rc && opt->dry) {
		tenant = tenant && *tenant ? tenant : "TENANT_ID";
		client = client && *client ? client : "CLIENT_ID";
		secret = "DRY-RUN-PLACEHOLDER";
	}
	if (!rc && (!tenant || !*tenant || !client || !*client || !secret || !*secret))
		rc = ep_fail(err, EP_EINPUT, "vm:azure: an Azure Resource Manager id needs a service principal: set "
					     "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or grant access yourself, "
					     "az disk grant-access, and give the SAS URL)");
	if (!rc && (!id_chars(tenant) || strlen(tenant) >= sizeof a->tenant || !id_chars(client) ||
		    strlen(client) >= sizeof a->client))
		rc = ep_fail(err, EP_EINPUT, "vm:azure: AZURE_TENANT_ID and AZURE_CLIENT_ID are ids (letters, digits, '.', "
					     "'-' and '_'), not '%.100s' and '%.100s'", tenant, client);
	if (rc)
		return rc;
	snprintf(a->tenant, sizeof a->tenant, "%s", tenant);
	snprintf(a->client, sizeof a->client, "%s", client);
	if (!(a->secret = strdup(secret)))
		return ep_oom(err);
	return opt->dry ? 0 : ep_http_new(&a->http, &opt->http, err);
}

void ep_arm_close(struct ep_arm *a)
{
	if (!a)
		return;
	ep_http_free(a->http);
	cleanse_free(a->secret);
	cleanse_free(a->token);
	free(a);
}

uint64_t ep_arm_requests(const struct ep_arm *a)
{
	return a ? a->requests : 0;
}

/* ---- resource ids ---- */

/* The next '/'-separated segment of *p into buf; false when there is none or it does not fit. */
static bool segment(const char **p, char *buf, size_t cap)
{
	if (**p != '/')
		return false;
	size_t n = strcspn(++*p, "/");
	if (!n || n >= cap)
		return false;
	snprintf(buf, cap, "%.*s", (int)n, *p);
	*p += n;
	return true;
}

int ep_arm_id_parse(const char *id, struct ep_arm_id *out, struct ep_error *err)
{
	char w[5][40];
	const char *p = id;
	*out = (struct ep_arm_id){ 0 };
	bool ok = segment(&p, w[0], sizeof w[0]) && !strcasecmp(w[0], "subscriptions") &&
		  segment(&p, out->subscription, sizeof out->subscription) && segment(&p, w[1], sizeof w[1]) &&
		  !strcasecmp(w[1], "resourceGroups") && segment(&p, out->group, sizeof out->group) &&
		  segment(&p, w[2], sizeof w[2]) && !strcasecmp(w[2], "providers") && segment(&p, w[3], sizeof w[3]) &&
		  !strcasecmp(w[3], "Microsoft.Compute") && segment(&p, w[4], sizeof w[4]) &&
		  segment(&p, out->name, sizeof out->name) && (!*p || !strcmp(p, "/"));
	if (ok && !strcasecmp(w[4], "disks"))
		snprintf(out->type, sizeof out->type, "disks");
	else if (ok && !strcasecmp(w[4], "virtualMachines"))
		snprintf(out->type, sizeof out->type, "virtualMachines");
	else
		ok = false;
	/* ARM's own characters for these names: nothing a URL would need escaped */
	ok = ok && id_chars(out->subscription) && strspn(out->group, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
								  "0123456789.-_()") == strlen(out->group) &&
	     id_chars(out->name);
	if (!ok)
		return ep_fail(err, EP_EINPUT, "vm:azure: '%.300s' is not the resource id of a managed disk or a VM "
					       "(/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/disks/D or "
					       ".../virtualMachines/V)", id);
	return 0;
}

void ep_arm_id_text(const struct ep_arm_id *id, char *buf, size_t cap)
{
	snprintf(buf, cap, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/%s/%s", id->subscription,
		 id->group, id->type, id->name);
}

/* ---- requests ---- */

static int token_form(const struct ep_arm *a, struct ep_ec2_form *f, char *url, size_t cap, struct ep_error *err)
{
	*f = (struct ep_ec2_form){ 0 };
	ep_ec2_form_add(f, "client_credentials", "grant_type");
	ep_ec2_form_add(f, a->client, "client_id");
	ep_ec2_form_add(f, a->secret, "client_secret");
	ep_ec2_form_add(f, SCOPE, "scope");
	snprintf(url, cap, "%s/%s/oauth2/v2.0/token", a->authority, a->tenant);
	return f->oom ? ep_oom(err) : 0;
}

static const char *const token_headers[] = { "Content-Type: application/x-www-form-urlencoded",
					     "Accept: application/json", NULL };

/* An answer's JSON error as "CODE: message" (AAD's error and error_description, or ARM's
 * error.code and error.message), else the HTTP status's account. */
static void describe(const struct ep_http_response *resp, char *buf, size_t cap)
{
	json_t *doc = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *e = json_object_get(doc, "error");
	const char *code = json_is_object(e) ? json_string_value(json_object_get(e, "code")) : json_string_value(e);
	const char *msg = json_is_object(e) ? json_string_value(json_object_get(e, "message"))
					    : json_string_value(json_object_get(doc, "error_description"));
	if (code) {
		char c[100], m[400];
		snprintf(c, sizeof c, "%s", code);
		snprintf(m, sizeof m, "%s", msg ? msg : "");
		m[strcspn(m, "\r\n")] = '\0'; /* AAD's next lines are trace and correlation ids */
		snprintf(buf, cap, "%ld %s: %s", resp->status, ep_printable(c), ep_printable(m));
	} else
		ep_http_describe(resp, buf, cap);
	json_decref(doc);
}

/* Azure AD's token for ARM, asked once. */
static int get_token(struct ep_arm *a, struct ep_error *err)
{
	if (a->token)
		return 0;
	struct ep_ec2_form f;
	char url[500], what[300];
	int rc = token_form(a, &f, url, sizeof url, err);
	snprintf(what, sizeof what, "azure: an Azure AD token for client %s (tenant %s)", a->client, a->tenant);
	struct ep_http_response resp = { 0 };
	if (!rc) {
		a->requests++;
		rc = ep_http_send(a->http, &(struct ep_http_request){ .method = "POST", .url = url, .headers = token_headers,
								      .data = f.text, .data_len = f.len, .max_body = 1 << 20 },
				  what, &resp, err);
	}
	if (f.text)
		OPENSSL_cleanse(f.text, f.len);
	ep_ec2_form_release(&f);
	json_t *doc = NULL;
	if (!rc && resp.status != 200) {
		char d[600];
		describe(&resp, d, sizeof d);
		rc = ep_fail(err, EP_ERUNTIME, "%s: %s", what, d);
	} else if (!rc) {
		doc = json_loadb(resp.body, resp.body_len, 0, NULL);
		const char *t = json_string_value(json_object_get(doc, "access_token"));
		if (!t || !*t || strcspn(t, "\r\n ") != strlen(t))
			rc = ep_fail(err, EP_ERUNTIME, "%s: the answer holds no access_token", what);
		else if (!(a->token = strdup(t)))
			rc = ep_oom(err);
	}
	json_decref(doc);
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	ep_http_response_release(&resp);
	return rc;
}

/* An ARM request (url absolute, on the management endpoint) with the token; the answer's
 * status is the caller's to judge. A token that expired during a long read (they last
 * about an hour) is asked for again once. */
static int arm_send(struct ep_arm *a, const char *method, const char *url, const char *body, const char *what,
		    struct ep_http_response *resp, struct ep_error *err)
{
	bool fresh = !a->token;
	int rc = get_token(a, err);
	if (rc)
		return rc;
	char *auth = NULL;
	if (asprintf(&auth, "Authorization: Bearer %s", a->token) < 0)
		return ep_oom(err);
	const char *headers[] = { auth, "Accept: application/json", body ? "Content-Type: application/json" : NULL, NULL };
	a->requests++;
	rc = ep_http_send(a->http, &(struct ep_http_request){ .method = method, .url = url, .headers = headers,
							      .data = body, .data_len = body ? strlen(body) : 0,
							      .max_body = 1 << 20 },
			  what, resp, err);
	cleanse_free(auth);
	if (!rc && resp->status == 401 && !fresh) {
		cleanse_free(a->token);
		a->token = NULL;
		ep_http_response_release(resp);
		*resp = (struct ep_http_response){ 0 };
		return arm_send(a, method, url, body, what, resp, err);
	}
	return rc;
}

/* A refusal named by what was asked: 404 is the id's (EP_EINPUT), others the account's or Azure's. */
static int arm_error(const struct ep_http_response *resp, const char *what, struct ep_error *err)
{
	char d[600];
	describe(resp, d, sizeof d);
	return ep_fail(err, resp->status == 404 || resp->status == 400 ? EP_EINPUT : EP_ERUNTIME, "%s: %s%s", what, d,
		       resp->status == 403 ? " (the service principal needs a role allowing it on the resource)" : "");
}

/* A JSON GET's document (2xx), else its failure. */
static int arm_get(struct ep_arm *a, const char *url, const char *what, json_t **doc, struct ep_error *err)
{
	struct ep_http_response resp = { 0 };
	int rc = arm_send(a, "GET", url, NULL, what, &resp, err);
	if (!rc && (resp.status < 200 || resp.status > 299))
		rc = arm_error(&resp, what, err);
	if (!rc && !(*doc = json_loadb(resp.body, resp.body_len, 0, NULL)))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer is not JSON", what);
	ep_http_response_release(&resp);
	return rc;
}

/* ---- long-running operations ---- */

struct lro {
	char async[1200], location[1200]; /* Azure-AsyncOperation, Location: where to look */
	unsigned wait;                     /* Retry-After, else POLL_DEFAULT */
	bool want;                         /* a result: a success with none asks the Location for it */
	bool patient;                      /* waited for even once interrupted: a revocation */
};

/* Whether url is on the management endpoint: the token goes nowhere else. */
static bool ours(const struct ep_arm *a, const char *url)
{
	size_t n = strlen(a->endpoint);
	return !strncmp(url, a->endpoint, n) && url[n] == '/';
}

/* Retry-After's seconds (at most POLL_MAX), else POLL_DEFAULT. */
static unsigned retry_after(const struct ep_http_response *resp)
{
	char v[20];
	if (!ep_http_header(resp, "Retry-After", v, sizeof v) || v[0] < '0' || v[0] > '9')
		return POLL_DEFAULT;
	unsigned long s = strtoul(v, NULL, 10);
	return s > POLL_MAX ? POLL_MAX : (unsigned)s;
}

static void lro_headers(const struct ep_arm *a, const struct ep_http_response *resp, struct lro *o)
{
	if (!ep_http_header(resp, "Azure-AsyncOperation", o->async, sizeof o->async) || !ours(a, o->async))
		o->async[0] = '\0';
	if (!ep_http_header(resp, "Location", o->location, sizeof o->location) || !ours(a, o->location))
		o->location[0] = '\0';
	o->wait = retry_after(resp);
}

/* patient: the whole wait, interrupted or not (a revocation after Ctrl-C) */
static int pause_for(unsigned seconds, bool patient, const char *what, struct ep_error *err)
{
	for (unsigned i = 0; patient && i < seconds * 10; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
	return !patient && ep_interrupt_pause(seconds) ? ep_fail(err, EP_ERUNTIME, "%s: interrupted", what) : 0;
}

/* Waits for the operation a 202 answered with; *result gets what it gives (NULL: nothing). */
static int lro_wait(struct ep_arm *a, struct lro *o, const char *what, json_t **result, struct ep_error *err)
{
	*result = NULL;
	if (!o->async[0] && !o->location[0])
		return ep_fail(err, EP_ERUNTIME, "%s: 202 names no operation to follow (Azure-AsyncOperation, Location)",
			       what);
	time_t deadline = time(NULL) + (time_t)a->timeout_minutes * 60;
	int rc = 0;
	while (!rc) {
		if (time(NULL) + (time_t)o->wait > deadline)
			return ep_fail(err, EP_ERUNTIME, "%s: not done within %u min", what, a->timeout_minutes);
		if ((rc = pause_for(o->wait, o->patient, what, err)))
			break;
		struct ep_http_response resp = { 0 };
		rc = arm_send(a, "GET", o->async[0] ? o->async : o->location, NULL, what, &resp, err);
		if (!rc && (resp.status < 200 || resp.status > 299))
			rc = arm_error(&resp, what, err);
		json_t *doc = rc || !resp.body_len ? NULL : json_loadb(resp.body, resp.body_len, 0, NULL);
		const char *status = json_string_value(json_object_get(doc, "status"));
		if (!rc && !o->async[0]) { /* Location: 202 while running, then the result */
			if (resp.status != 202) {
				*result = doc, doc = NULL;
				ep_http_response_release(&resp);
				break;
			}
			char keep[sizeof o->location];
			snprintf(keep, sizeof keep, "%s", o->location);
			lro_headers(a, &resp, o);
			if (!o->location[0]) /* a poll's answer need not name it again */
				snprintf(o->location, sizeof o->location, "%s", keep);
		} else if (!rc && status && !strcasecmp(status, "Succeeded")) {
			json_t *output = json_object_get(json_object_get(doc, "properties"), "output");
			if (output)
				*result = json_incref(output);
			ep_http_response_release(&resp);
			json_decref(doc);
			if (!*result && o->want && o->location[0]) { /* the result is the Location's */
				o->async[0] = '\0';
				o->wait = 0;
				continue;
			}
			break;
		} else if (!rc && status && (!strcasecmp(status, "Failed") || !strcasecmp(status, "Canceled"))) {
			json_t *e = json_object_get(doc, "error");
			const char *ec = json_string_value(json_object_get(e, "code")), *em = json_string_value(json_object_get(e, "message"));
			char c[100], m[300], st[20];
			snprintf(c, sizeof c, "%s", ec ? ec : "no code");
			snprintf(m, sizeof m, "%s", em ? em : "");
			snprintf(st, sizeof st, "%s", status);
			rc = ep_fail(err, EP_ERUNTIME, "%s: the operation %s: %s: %s", what, ep_printable(st), ep_printable(c),
				     ep_printable(m));
		} else if (!rc)
			o->wait = retry_after(&resp);
		json_decref(doc);
		ep_http_response_release(&resp);
	}
	return rc;
}

/* POST of action on a disk: 200 with its result, or 202 and the operation followed. */
static int disk_action(struct ep_arm *a, const struct ep_arm_id *disk, const char *action, const char *body,
		       bool *accepted, json_t **result, struct ep_error *err)
{
	char id[500], url[900], what[700];
	ep_arm_id_text(disk, id, sizeof id);
	snprintf(url, sizeof url, "%s%s/%s?api-version=%s", a->endpoint, id, action, EP_ARM_DISKS_API);
	snprintf(what, sizeof what, "azure: %s of %s", action, id);
	struct ep_http_response resp = { 0 };
	*result = NULL;
	int rc = arm_send(a, "POST", url, body, what, &resp, err);
	if (!rc && resp.status != 200 && resp.status != 202)
		rc = arm_error(&resp, what, err);
	if (!rc && accepted)
		*accepted = true;
	struct lro o = { .want = accepted != NULL, .patient = accepted == NULL };
	if (!rc && resp.status == 202)
		lro_headers(a, &resp, &o);
	else if (!rc && resp.body_len)
		*result = json_loadb(resp.body, resp.body_len, 0, NULL);
	bool follow = !rc && resp.status == 202;
	ep_http_response_release(&resp);
	return follow ? lro_wait(a, &o, what, result, err) : rc;
}

int ep_arm_grant(struct ep_arm *a, const struct ep_arm_id *disk, unsigned seconds, bool *begun, char **sas_url,
		 struct ep_error *err)
{
	char body[100];
	snprintf(body, sizeof body, "{\"access\":\"Read\",\"durationInSeconds\":%u}", seconds);
	json_t *r = NULL;
	*sas_url = NULL;
	int rc = disk_action(a, disk, "beginGetAccess", body, begun, &r, err);
	const char *sas = json_string_value(json_object_get(r, "accessSAS"));
	if (!rc && (!sas || strncmp(sas, "http", 4)))
		rc = ep_fail(err, EP_ERUNTIME, "azure: beginGetAccess of disk %s gave no accessSAS", disk->name);
	if (!rc && !(*sas_url = strdup(sas)))
		rc = ep_oom(err);
	if (sas)
		OPENSSL_cleanse((char *)sas, strlen(sas));
	json_decref(r);
	return rc;
}

int ep_arm_revoke(struct ep_arm *a, const struct ep_arm_id *disk, struct ep_error *err)
{
	json_t *r = NULL;
	int rc = disk_action(a, disk, "endGetAccess", NULL, NULL, &r, err);
	json_decref(r);
	return rc;
}

/* ---- VMs ---- */

static void copy_str(char *dst, size_t cap, json_t *v)
{
	const char *s = json_string_value(v);
	snprintf(dst, cap, "%s", s && strlen(s) < cap ? s : "");
}

static int by_lun(const void *x, const void *y)
{
	unsigned a = ((const struct ep_arm_data_disk *)x)->lun, b = ((const struct ep_arm_data_disk *)y)->lun;
	return (a > b) - (a < b);
}

/* storageProfile.dataDisks into out->data, by lun: managed disks alone, each lun once. */
static int data_disks(json_t *list, const char *what, struct ep_arm_vm *out, struct ep_error *err)
{
	if (list && !json_is_array(list))
		return ep_fail(err, EP_ERUNTIME, "%s: storageProfile.dataDisks is not a list", what);
	if (json_array_size(list) > EP_ARM_DATA_DISKS_MAX)
		return ep_fail(err, EP_ERUNTIME, "%s: the answer lists %zu data disks, more than Azure's %d", what,
			       json_array_size(list), EP_ARM_DATA_DISKS_MAX);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		char name[100], id[400];
		copy_str(name, sizeof name, json_object_get(v, "name"));
		copy_str(id, sizeof id, json_object_get(json_object_get(v, "managedDisk"), "id"));
		json_t *lun = json_object_get(v, "lun");
		json_int_t n = json_integer_value(lun);
		if (!json_is_integer(lun) || n < 0 || n >= EP_ARM_DATA_DISKS_MAX)
			return ep_fail(err, EP_ERUNTIME, "%s: data disk '%s' has no lun from 0 to %d", what,
				       ep_printable(name), EP_ARM_DATA_DISKS_MAX - 1);
		if (!id[0])
			return ep_fail(err, EP_EINPUT, "%s: its data disk '%s' (lun %d) is not a managed disk (an unmanaged "
						       "VHD: give its blob's SAS URL, or capture the OS disk alone with "
						       "--input-option data-disks=none)", what, ep_printable(name), (int)n);
		struct ep_arm_data_disk *d = &out->data[out->ndata++];
		d->lun = (unsigned)n;
		int rc = ep_arm_id_parse(id, &d->id, err);
		if (!rc && strcmp(d->id.type, "disks"))
			rc = ep_fail(err, EP_ERUNTIME, "vm:azure: '%s' is not the resource id of a managed disk", id);
		if (rc) {
			ep_error_prefix(err, "%s: data disk lun %d: ", what, (int)n);
			return rc;
		}
	}
	qsort(out->data, out->ndata, sizeof *out->data, by_lun);
	for (i = 1; i < out->ndata; i++)
		if (out->data[i].lun == out->data[i - 1].lun)
			return ep_fail(err, EP_ERUNTIME, "%s: two data disks at lun %u (%s and %s)", what, out->data[i].lun,
				       out->data[i - 1].id.name, out->data[i].id.name);
	return 0;
}

int ep_arm_vm_get(struct ep_arm *a, const struct ep_arm_id *vm, bool with_data, struct ep_arm_vm *out,
		  struct ep_error *err)
{
	char id[500], url[900], what[700];
	ep_arm_id_text(vm, id, sizeof id);
	snprintf(url, sizeof url, "%s%s?api-version=%s", a->endpoint, id, EP_ARM_VMS_API);
	snprintf(what, sizeof what, "azure: VM %s", id);
	json_t *doc = NULL;
	int rc = arm_get(a, url, what, &doc, err);
	if (rc)
		return rc;
	*out = (struct ep_arm_vm){ .secure_boot = -1 };
	json_t *p = json_object_get(doc, "properties"), *os = json_object_get(json_object_get(p, "storageProfile"), "osDisk"),
	       *sec = json_object_get(p, "securityProfile");
	copy_str(out->location, sizeof out->location, json_object_get(doc, "location"));
	copy_str(out->size, sizeof out->size, json_object_get(json_object_get(p, "hardwareProfile"), "vmSize"));
	copy_str(out->os_disk, sizeof out->os_disk, json_object_get(json_object_get(os, "managedDisk"), "id"));
	const char *ot = json_string_value(json_object_get(os, "osType"));
	snprintf(out->os_type, sizeof out->os_type, "%s", !ot ? "" : !strcasecmp(ot, "Linux") ? "linux"
								  : !strcasecmp(ot, "Windows") ? "windows" : "");
	/* Trusted launch and confidential VMs boot UEFI (Generation 2); uefiSettings says so too */
	const char *type = json_string_value(json_object_get(sec, "securityType"));
	json_t *uefi = json_object_get(sec, "uefiSettings"), *sb = json_object_get(uefi, "secureBootEnabled");
	out->uefi = uefi || (type && (!strcasecmp(type, "TrustedLaunch") || !strcasecmp(type, "ConfidentialVM")));
	out->secure_boot = json_is_boolean(sb) ? json_is_true(sb) : -1;
	if (!out->location[0] || !id_chars(out->location) || !out->size[0] || !id_chars(out->size))
		rc = ep_fail(err, EP_ERUNTIME, "%s: the answer names no location and hardwareProfile.vmSize", what);
	else if (!out->os_disk[0])
		rc = ep_fail(err, EP_EINPUT, "%s: its OS disk is not a managed disk (an unmanaged VHD: give its blob's "
					     "SAS URL)", what);
	else if (with_data)
		rc = data_disks(json_object_get(json_object_get(p, "storageProfile"), "dataDisks"), what, out, err);
	json_decref(doc);
	return rc;
}

int ep_arm_vm_size(struct ep_arm *a, const char *subscription, const char *location, const char *size,
		   unsigned *vcpus, uint64_t *memory_mib, struct ep_error *err)
{
	char url[900], what[300];
	snprintf(url, sizeof url, "%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/vmSizes?api-version=%s",
		 a->endpoint, subscription, location, EP_ARM_VMS_API);
	snprintf(what, sizeof what, "azure: the VM sizes of %s", location);
	json_t *doc = NULL;
	int rc = arm_get(a, url, what, &doc, err);
	if (rc)
		return rc;
	json_t *v;
	size_t i;
	rc = ep_fail(err, EP_ERUNTIME, "%s: no size %s among them", what, size);
	json_array_foreach(json_object_get(doc, "value"), i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		json_int_t c = json_integer_value(json_object_get(v, "numberOfCores")),
			   m = json_integer_value(json_object_get(v, "memoryInMB"));
		if (name && !strcasecmp(name, size) && c > 0 && c <= 4096 && m > 0 && m <= ((json_int_t)1 << 40)) {
			*vcpus = (unsigned)c, *memory_mib = (uint64_t)m;
			rc = 0;
			break;
		}
	}
	json_decref(doc);
	return rc;
}

/* ---- dry run ---- */

static int show_arm(const char *method, const char *url, const char *body, void (*emit)(void *ctx, const char *text),
		    void *ctx, struct ep_error *err)
{
	const char *headers[] = { "Authorization: Bearer AZURE_AD_TOKEN", "Accept: application/json",
				  body ? "Content-Type: application/json" : NULL, NULL };
	return ep_http_show(&(struct ep_http_request){ .method = method, .url = url, .headers = headers, .data = body,
					       .data_len = body ? strlen(body) : 0 },
		    emit, ctx, err);
}

/* One disk's grant, its poll, the reads and its revocation. */
static int plan_disk(struct ep_arm *a, const char *id, unsigned seconds, const char *reads,
		     void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err)
{
	char url[1000], body[100];
	snprintf(url, sizeof url, "%s%s/beginGetAccess?api-version=%s", a->endpoint, id, EP_ARM_DISKS_API);
	snprintf(body, sizeof body, "{\"access\":\"Read\",\"durationInSeconds\":%u}", seconds);
	int rc = show_arm("POST", url, body, emit, ctx, err);
	if (!rc) {
		emit(ctx, "(then GET the Azure-AsyncOperation URL it answers 202 with, else its Location, every Retry-After "
			  "seconds until it gives accessSAS)");
		emit(ctx, reads);
		snprintf(url, sizeof url, "%s%s/endGetAccess?api-version=%s", a->endpoint, id, EP_ARM_DISKS_API);
		rc = show_arm("POST", url, NULL, emit, ctx, err);
	}
	if (!rc)
		emit(ctx, "(sent once the disk is read, whether the read succeeds or not, and its operation followed as "
			  "the grant's)");
	return rc;
}

int ep_arm_plan(struct ep_arm *a, const struct ep_arm_id *vm, const struct ep_arm_id *disk, bool data_disks,
		unsigned seconds, const char *reads, void (*emit)(void *ctx, const char *text), void *ctx,
		struct ep_error *err)
{
	struct ep_ec2_form f;
	char url[1000], id[500];
	int rc = token_form(a, &f, url, sizeof url, err);
	if (!rc)
		rc = ep_http_show(&(struct ep_http_request){ .method = "POST", .url = url, .headers = token_headers, .data = f.text,
						     .data_len = f.len },
			  emit, ctx, err);
	ep_ec2_form_release(&f);
	if (!rc && vm) {
		ep_arm_id_text(vm, id, sizeof id);
		snprintf(url, sizeof url, "%s%s?api-version=%s", a->endpoint, id, EP_ARM_VMS_API);
		rc = show_arm("GET", url, NULL, emit, ctx, err);
		snprintf(url, sizeof url, "%s/subscriptions/%s/providers/Microsoft.Compute/locations/LOCATION/vmSizes"
					  "?api-version=%s", a->endpoint, vm->subscription, EP_ARM_VMS_API);
		if (!rc)
			rc = show_arm("GET", url, NULL, emit, ctx, err);
		snprintf(id, sizeof id, "OS_DISK_ID");
	} else
		ep_arm_id_text(disk, id, sizeof id);
	if (!rc)
		emit(ctx, vm ? "(LOCATION and OS_DISK_ID: the VM's location and storageProfile.osDisk.managedDisk.id)"
			     : "(the token: Azure AD's access_token, sent as the bearer of each request below)");
	if (!rc)
		rc = plan_disk(a, id, seconds, reads, emit, ctx, err);
	if (!rc && vm && data_disks) {
		emit(ctx, "(then the same for each of storageProfile.dataDisks by lun, one disk after another, DATA_DISK_ID "
			  "its managedDisk.id; --input-option data-disks=none leaves them out)");
		rc = plan_disk(a, "DATA_DISK_ID", seconds, reads, emit, ctx, err);
	}
	return rc;
}
