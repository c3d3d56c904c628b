#include "verify/drill_record.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- shape ---- */

__attribute__((format(printf, 3, 4))) static int bad_field(struct ep_error *err, const char *where, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return ep_fail(err, EP_EINPUT, "%s%s", where, what);
}

static bool is_id(const json_t *v)
{
	uint8_t raw[EP_DIGEST_LEN];
	const char *s = json_string_value(v);
	return s && strlen(s) == 64 && ep_unhex(s, raw, sizeof raw);
}

static bool is_time(const json_t *v)
{
	return ep_utc_time(json_string_value(v)) >= 0;
}

/* A finite count of seconds, 0 or more; absent is fine when optional. */
static bool is_seconds(const json_t *v, bool optional)
{
	if (!v || json_is_null(v))
		return optional;
	double s = json_number_value(v);
	return json_is_number(v) && isfinite(s) && s >= 0;
}

static bool is_optional(const json_t *v, json_type type)
{
	return !v || json_typeof(v) == type;
}

static int check_check(const json_t *c, const char *where, struct ep_error *err)
{
	if (!json_is_object(c))
		return bad_field(err, where, "is not an object");
	if (!json_is_string(json_object_get(c, "kind")))
		return bad_field(err, where, "\"kind\" is not a string");
	if (!json_is_string(json_object_get(c, "target")))
		return bad_field(err, where, "\"target\" is not a string");
	if (!json_is_boolean(json_object_get(c, "passed")))
		return bad_field(err, where, "\"passed\" is not true or false");
	if (!is_seconds(json_object_get(c, "seconds"), true))
		return bad_field(err, where, "\"seconds\" is not a number of seconds");
	if (!is_optional(json_object_get(c, "detail"), JSON_STRING))
		return bad_field(err, where, "\"detail\" is not a string");
	return 0;
}

static int check_machine(const json_t *m, size_t i, struct ep_error *err)
{
	char where[64];
	snprintf(where, sizeof where, "\"machines\"[%zu]: ", i);
	if (!json_is_object(m))
		return bad_field(err, where, "is not an object");
	const json_t *passed = json_object_get(m, "passed"), *bytes = json_object_get(m, "bytes_read");
	if (!json_is_string(json_object_get(m, "name")))
		return bad_field(err, where, "\"name\" is not a string");
	if (!json_is_boolean(passed))
		return bad_field(err, where, "\"passed\" is not true or false");
	/* a machine that came up has a recovery time; one that did not may have none */
	if (!is_seconds(json_object_get(m, "rto_seconds"), !json_is_true(passed)))
		return bad_field(err, where, "\"rto_seconds\" is not a number of seconds");
	if (bytes && (!json_is_integer(bytes) || json_integer_value(bytes) < 0))
		return bad_field(err, where, "\"bytes_read\" is not a count of bytes");
	if (!is_optional(json_object_get(m, "console_tail"), JSON_STRING))
		return bad_field(err, where, "\"console_tail\" is not a string");
	const json_t *checks = json_object_get(m, "checks"), *c;
	if (!is_optional(checks, JSON_ARRAY))
		return bad_field(err, where, "\"checks\" is not an array");
	size_t k;
	json_array_foreach(checks, k, c) {
		char at[96];
		snprintf(at, sizeof at, "%s\"checks\"[%zu]: ", where, k);
		int rc = check_check(c, at, err);
		if (rc)
			return rc;
	}
	return 0;
}

int ep_drill_record_check(const json_t *r, struct ep_error *err)
{
	const char *kind = json_string_value(json_object_get(r, "kind"));
	const json_t *version = json_object_get(r, "version"), *machines = json_object_get(r, "machines"), *m;
	if (!json_is_object(r))
		return bad_field(err, "", "not a JSON object");
	if (!kind || strcmp(kind, EP_DRILL_KIND))
		return bad_field(err, "", "\"kind\" is not \"%s\"", EP_DRILL_KIND);
	if (!json_is_integer(version) || json_integer_value(version) != EP_DRILL_VERSION)
		return bad_field(err, "", "\"version\" is not %d (this envpack reads version %d)", EP_DRILL_VERSION,
				 EP_DRILL_VERSION);
	if (json_object_get(r, "id")) /* readers add it: the object's id */
		return bad_field(err, "", "\"id\" is a reader's (the record's object id): a record has none");
	if (!is_id(json_object_get(r, "snapshot")))
		return bad_field(err, "", "\"snapshot\" is not a snapshot id (64 hex digits)");
	if (!is_time(json_object_get(r, "snapshot_time")))
		return bad_field(err, "", "\"snapshot_time\" is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)");
	if (!json_is_string(json_object_get(r, "snapshot_name")))
		return bad_field(err, "", "\"snapshot_name\" is not a string");
	if (!is_time(json_object_get(r, "started")))
		return bad_field(err, "", "\"started\" is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)");
	if (!json_is_string(json_object_get(r, "host")))
		return bad_field(err, "", "\"host\" is not a string");
	if (!json_is_boolean(json_object_get(r, "passed")))
		return bad_field(err, "", "\"passed\" is not true or false");
	const json_t *integrity = json_object_get(r, "integrity_failure");
	if (integrity && !json_is_boolean(integrity))
		return bad_field(err, "", "\"integrity_failure\" is not true or false");
	if (!json_is_array(machines))
		return bad_field(err, "", "\"machines\" is not an array");
	size_t i;
	json_array_foreach(machines, i, m) {
		int rc = check_machine(m, i, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- writing ---- */

int ep_drill_record_put(struct ep_store *st, const struct ep_key *key, const json_t *record, char id[EP_STORE_ID_HEX],
			struct ep_error *err)
{
	int rc = ep_drill_record_check(record, err);
	if (rc) {
		ep_error_prefix(err, "drill record: ");
		return rc;
	}
	char *bytes = json_dumps(record, EP_DRILL_JSON_FLAGS), *sigjson = NULL;
	size_t siglen = 0;
	struct ep_signature sig;
	if (!bytes)
		return ep_oom(err);
	rc = ep_sign(key, bytes, strlen(bytes), &sig, err);
	if (!rc)
		rc = ep_signature_to_json(&sig, &sigjson, &siglen, err);
	if (!rc)
		rc = ep_store_put_drill(st, bytes, strlen(bytes), sigjson, siglen, id, err);
	free(bytes);
	free(sigjson);
	return rc;
}

/* ---- reading ---- */

/* One record, its signature checked before it is parsed: 0 with *out, or why it cannot be used
 * (EP_ERUNTIME: the store could not be read; *untrusted: only that its signer is not trusted). */
static int load_one(struct ep_store *st, const struct ep_trust *trust, const char *id, json_t **out, bool *untrusted,
		    struct ep_error *err)
{
	*untrusted = false;
	struct ep_store_drill d;
	char what[100], signer[EP_KEY_ID_HEX];
	json_error_t je;
	*out = NULL;
	snprintf(what, sizeof what, "drills/%s.json", id);
	int rc = ep_store_get_drill(st, id, &d, err);
	if (!rc && !trust->insecure)
		rc = ep_trust_check(trust, what, d.record, d.record_len, d.signature, d.signature_len, signer,
				    untrusted, err);
	if (!rc && !(*out = json_loadb(d.record, d.record_len, JSON_REJECT_DUPLICATES, &je)))
		rc = ep_fail(err, EP_EINTEGRITY, "'%s' is not JSON: %s", what, je.text);
	if (!rc && ep_drill_record_check(*out, err)) {
		ep_error_prefix(err, "'%s': ", what);
		rc = err->code = EP_EINTEGRITY; /* signed, but not a record: the store's problem now */
	}
	if (!rc)
		rc = json_object_set_new(*out, "id", json_string(id)) ? ep_oom(err) : 0;
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	ep_store_drill_release(&d);
	return rc;
}

static json_t *bad_json(struct ep_store *st, const char *id, const struct ep_error *why, bool untrusted)
{
	char file[PATH_MAX + 100];
	snprintf(file, sizeof file, "%s/drills/%s.json", ep_store_where(st), id);
	return json_pack("{s:s,s:s,s:s,s:b}", "id", id, "file", file, "problem", why->msg, "untrusted", untrusted);
}

static int by_started(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	int64_t tx = ep_utc_time(json_string_value(json_object_get(x, "started")));
	int64_t ty = ep_utc_time(json_string_value(json_object_get(y, "started")));
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "id")), json_string_value(json_object_get(y, "id")));
}

/* records, oldest first, into a new array. */
static json_t *sorted(json_t **records, size_t n)
{
	json_t *a = json_array();
	if (n)
		qsort(records, n, sizeof *records, by_started);
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append(a, records[i])) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int ep_drill_records_load(struct ep_store *st, const struct ep_trust *trust, json_t **verified, json_t **bad,
			  struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = NULL;
	size_t n = 0, ngood = 0;
	json_t **good = NULL;
	struct ep_key *key = NULL;
	*verified = *bad = NULL;
	/* a key that cannot be read is the caller's mistake, not every record's fault */
	int rc = trust->pubkey && !trust->insecure ? ep_key_load_public(trust->pubkey, &key, err) : 0;
	ep_key_free(key);
	if (!rc)
		rc = ep_store_drill_ids(st, &ids, &n, err);
	if (!rc && (!(good = calloc(n ? n : 1, sizeof *good)) || !(*bad = json_array())))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct ep_error why = { 0 };
		bool untrusted;
		if (!load_one(st, trust, ids[i], &good[ngood], &untrusted, &why)) {
			ngood++;
		} else if (why.code == EP_ERUNTIME) { /* no verdict on the record: stop */
			*err = why;
			rc = err->code;
		} else if (json_array_append_new(*bad, bad_json(st, ids[i], &why, untrusted)))
			rc = ep_oom(err);
	}
	if (!rc && !(*verified = sorted(good, ngood)))
		rc = ep_oom(err);
	for (size_t i = 0; i < ngood; i++)
		json_decref(good[i]);
	free(good);
	free(ids);
	if (rc) {
		json_decref(*bad);
		*bad = NULL;
	}
	return rc;
}

/* ---- summaries ---- */

bool ep_drill_rto(const json_t *record, double *rto)
{
	const json_t *m;
	size_t i;
	bool any = false;
	*rto = 0;
	json_array_foreach(json_object_get(record, "machines"), i, m) {
		const json_t *v = json_object_get(m, "rto_seconds");
		if (json_is_number(v) && (!any || json_number_value(v) > *rto))
			*rto = json_number_value(v);
		any = any || json_is_number(v);
	}
	return any;
}

json_t *ep_drill_latest(const json_t *verified)
{
	json_t *by_snapshot = json_object(), *r;
	size_t i;
	if (!by_snapshot)
		return NULL;
	/* oldest first: each later drill of a snapshot replaces the one before */
	json_array_foreach(verified, i, r) {
		double rto;
		bool has_rto = ep_drill_rto(r, &rto);
		json_t *last = json_pack("{s:O,s:O,s:O,s:o}", "id", json_object_get(r, "id"), "started",
					 json_object_get(r, "started"), "passed", json_object_get(r, "passed"),
					 "rto_seconds", has_rto ? json_real(rto) : json_null());
		const char *snap = json_string_value(json_object_get(r, "snapshot"));
		if (!last || !snap || json_object_set_new(by_snapshot, snap, last)) {
			json_decref(by_snapshot);
			return NULL;
		}
	}
	return by_snapshot;
}
