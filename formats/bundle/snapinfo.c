#include "formats/bundle/snapinfo.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

#define HOST_MAX 255
#define SOURCE_MAX 4096

bool ep_snap_tag_ok(const char *tag)
{
	size_t n = strlen(tag);
	if (n == 0 || n > 64)
		return false;
	for (const char *p = tag; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._:+=@-", *p)))
			return false;
	return true;
}

static bool printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

struct ep_snapinfo *ep_snapinfo_new(const char *host, uint64_t sequence)
{
	struct ep_snapinfo *s = calloc(1, sizeof *s);
	if (s && !(s->host = strdup(host))) {
		free(s);
		return NULL;
	}
	if (s)
		s->sequence = sequence;
	return s;
}

int ep_snapinfo_add(char ***list, size_t *n, size_t max, const char *s, struct ep_error *err)
{
	if (*n == max)
		return ep_fail(err, EP_EINPUT, "snapshot: more than %zu tags or sources", max);
	char **grown = realloc(*list, (*n + 1) * sizeof **list);
	if (!grown)
		return ep_oom(err);
	*list = grown;
	if (!(grown[*n] = strdup(s)))
		return ep_oom(err);
	(*n)++;
	return 0;
}

void ep_snapinfo_free(struct ep_snapinfo *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntags; i++)
		free(s->tags[i]);
	for (size_t i = 0; i < s->nsources; i++)
		free(s->sources[i]);
	free(s->tags);
	free(s->sources);
	free(s->host);
	free(s);
}

struct ep_snapinfo *ep_snapinfo_dup(const struct ep_snapinfo *s)
{
	struct ep_error ignored = { 0 };
	struct ep_snapinfo *d = ep_snapinfo_new(s->host, s->sequence);
	bool ok = d != NULL;
	if (ok) {
		memcpy(d->lock_mode, s->lock_mode, sizeof d->lock_mode);
		d->retain_until = s->retain_until;
	}
	for (size_t i = 0; ok && i < s->ntags; i++)
		ok = !ep_snapinfo_add(&d->tags, &d->ntags, EP_SNAP_TAGS_MAX, s->tags[i], &ignored);
	for (size_t i = 0; ok && i < s->nsources; i++)
		ok = !ep_snapinfo_add(&d->sources, &d->nsources, EP_SNAP_SOURCES_MAX, s->sources[i], &ignored);
	if (!ok) {
		ep_snapinfo_free(d);
		return NULL;
	}
	return d;
}

static json_t *strings(char **list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(list[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *ep_snapinfo_to_json(const struct ep_snapinfo *s)
{
	json_t *o = json_pack("{s:s,s:I,s:o,s:o}", "host", s->host, "sequence", (json_int_t)s->sequence, "tags",
			      strings(s->tags, s->ntags), "sources", strings(s->sources, s->nsources));
	if (o && s->lock_mode[0]) {
		char until[EP_UTC_LEN];
		ep_utc_format(s->retain_until, until, sizeof until);
		if (json_object_set_new(o, "object_lock", json_pack("{s:s,s:s}", "mode", s->lock_mode, "retain_until", until))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* "object_lock": {"mode": "governance" or "compliance", "retain_until": RFC 3339 UTC}, optional. */
static int parse_lock(json_t *o, const char *what, struct ep_snapinfo *s, struct ep_error *err)
{
	const char *mode = json_string_value(json_object_get(o, "mode"));
	int64_t until = ep_utc_time(json_string_value(json_object_get(o, "retain_until")));
	if (!o)
		return 0;
	if (!json_is_object(o) || !mode || (strcmp(mode, "governance") && strcmp(mode, "compliance")) || until <= 0)
		return ep_fail(err, EP_EINPUT, "%s: manifest: snapshot object_lock needs a mode (governance or compliance) "
					      "and a retain_until time", what);
	snprintf(s->lock_mode, sizeof s->lock_mode, "%s", mode);
	s->retain_until = until;
	return 0;
}

static int parse_list(json_t *a, const char *key, const char *what, size_t max, bool (*ok)(const char *), char ***list,
		      size_t *n, struct ep_error *err)
{
	if (!json_is_array(a) || json_array_size(a) > max)
		return ep_fail(err, EP_EINPUT, "%s: manifest: snapshot %s is not a list of at most %zu", what, key, max);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v) || !ok(s))
			return ep_fail(err, EP_EINPUT, "%s: manifest: snapshot %s[%zu] is not allowed", what, key, i);
		int rc = ep_snapinfo_add(list, n, max, s, err);
		if (rc)
			return rc;
	}
	return 0;
}

static bool source_ok(const char *s)
{
	return printable(s, SOURCE_MAX);
}

int ep_snapinfo_parse(json_t *o, const char *what, struct ep_snapinfo **out, struct ep_error *err)
{
	json_t *seq = json_object_get(o, "sequence");
	const char *host = json_string_value(json_object_get(o, "host"));
	if (!json_is_object(o) || !host || strlen(host) != json_string_length(json_object_get(o, "host")) ||
	    !printable(host, HOST_MAX) || !json_is_integer(seq) || json_integer_value(seq) < 1)
		return ep_fail(err, EP_EINPUT, "%s: manifest: snapshot needs a printable host and a sequence from 1", what);
	struct ep_snapinfo *s = ep_snapinfo_new(host, (uint64_t)json_integer_value(seq));
	if (!s)
		return ep_oom(err);
	int rc = parse_list(json_object_get(o, "tags"), "tags", what, EP_SNAP_TAGS_MAX, ep_snap_tag_ok, &s->tags,
			    &s->ntags, err);
	if (!rc)
		rc = parse_list(json_object_get(o, "sources"), "sources", what, EP_SNAP_SOURCES_MAX, source_ok,
				&s->sources, &s->nsources, err);
	if (!rc)
		rc = parse_lock(json_object_get(o, "object_lock"), what, s, err);
	if (rc) {
		ep_snapinfo_free(s);
		return rc;
	}
	*out = s;
	return 0;
}
