#include "formats/store/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/bundle/bundle.h"
#include "formats/bundle/codec.h"

static int cmp_entry(const void *a, const void *b)
{
	const struct ep_catalog_entry *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->sequence != y->sequence)
		return x->sequence < y->sequence ? -1 : 1;
	return strcmp(x->id, y->id);
}

void ep_catalog_release(struct ep_catalog *c)
{
	for (size_t i = 0; i < c->n; i++)
		ep_manifest_free(c->entries[i].manifest);
	free(c->entries);
	free(c->bad);
	*c = (struct ep_catalog){ 0 };
}

/* One snapshot into e: 0, or why it cannot be used (EP_ERUNTIME: the store could not be read). */
static int load_entry(struct ep_store *st, struct ep_bundle *chunks, const char *id, struct ep_catalog_entry *e,
		      struct ep_error *err)
{
	struct ep_store_snapshot snap;
	char *what; /* for messages */
	if (asprintf(&what, "%s@%s", ep_store_where(st), id) < 0)
		return ep_oom(err);
	int rc = ep_store_get_snapshot(st, id, &snap, err);
	if (!rc) {
		rc = ep_manifest_parse(snap.manifest, snap.manifest_len, what, &e->manifest, err);
		e->signed_ = snap.signature != NULL;
		ep_store_snapshot_release(&snap);
	}
	if (!rc)
		rc = ep_manifest_resolve(e->manifest, ep_bundle_load_chunk, chunks, what, err);
	if (!rc && (e->time = ep_manifest_created(e->manifest)) < 0)
		rc = ep_fail(err, EP_EINPUT, "%s: manifest: created '%s' is not an RFC 3339 UTC time", what,
			     e->manifest->created);
	free(what);
	if (rc) {
		ep_manifest_free(e->manifest);
		*e = (struct ep_catalog_entry){ 0 };
		return rc;
	}
	memcpy(e->id, id, EP_STORE_ID_HEX);
	e->sequence = e->manifest->snapshot ? e->manifest->snapshot->sequence : 0;
	return 0;
}

int ep_catalog_load(struct ep_store *st, struct ep_catalog *out, struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = NULL;
	size_t n = 0;
	*out = (struct ep_catalog){ 0 };
	struct ep_bundle *chunks = NULL; /* the store's chunks: disks' extent lists are read from it */
	int rc = ep_store_snapshot_ids(st, &ids, &n, err);
	if (!rc && n && (!(out->entries = calloc(n, sizeof *out->entries)) || !(out->bad = calloc(n, sizeof *out->bad))))
		rc = ep_oom(err);
	if (!rc && n)
		rc = ep_store_snapshot_open(&chunks, st, NULL, ep_store_where(st), err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct ep_catalog_bad *bad = &out->bad[out->nbad];
		if (!load_entry(st, chunks, ids[i], &out->entries[out->n], &bad->why)) {
			out->n++;
			continue;
		}
		/* what the store could not tell us is no verdict on the snapshot: stop, rather than
		 * pass over a snapshot that may be fine (and make latest an older one) */
		if (bad->why.code == EP_ERUNTIME) {
			*err = bad->why;
			rc = err->code;
			break;
		}
		memcpy(bad->id, ids[i], EP_STORE_ID_HEX);
		out->nbad++;
	}
	free(ids);
	ep_bundle_close(chunks);
	if (rc) {
		ep_catalog_release(out);
		return rc;
	}
	if (out->n)
		qsort(out->entries, out->n, sizeof *out->entries, cmp_entry);
	return 0;
}

uint64_t ep_catalog_max_sequence(const struct ep_catalog *c)
{
	uint64_t max = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].sequence > max)
			max = c->entries[i].sequence;
	return max;
}

void ep_catalog_bad_message(const struct ep_catalog_bad *b, const char *store, char *buf, size_t cap)
{
	snprintf(buf, cap, "snapshot file '%.300s/snapshots/%s.json' cannot be used: %s", store, b->id, b->why.msg);
}

int ep_catalog_require_all(const struct ep_catalog *c, const bool *skip, const char *store, const char *doing,
			   struct ep_error *err)
{
	const struct ep_catalog_bad *first = NULL;
	size_t left = 0;
	for (size_t i = 0; i < c->nbad; i++)
		if (!skip || !skip[i])
			left++, first = first ? first : &c->bad[i];
	if (!first)
		return 0;
	char more[48] = "";
	if (left > 1)
		snprintf(more, sizeof more, " (and %zu more)", left - 1);
	return ep_fail(err, EP_EINTEGRITY,
		       "store '%s': %s removes nothing while snapshot file '%.300s/snapshots/%s.json'%s cannot be used, as it "
		       "may name chunks that would go: repair it, or remove it ('envpack forget %s %.*s'). It: %s",
		       store, doing, store, first->id, more, store, EP_STORE_SHORT_ID, first->id, first->why.msg);
}

static const struct ep_catalog_entry *latest(const struct ep_catalog *c, const char *store, struct ep_error *err)
{
	const struct ep_catalog_entry *best = NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!best || c->entries[i].sequence > best->sequence ||
		    (c->entries[i].sequence == best->sequence && c->entries[i].time >= best->time))
			best = &c->entries[i];
	if (!best && c->nbad) {
		char why[1500];
		ep_catalog_bad_message(&c->bad[0], store, why, sizeof why);
		ep_fail(err, EP_EINTEGRITY, "store '%s' has no snapshot that can be used: %s", store, why);
	} else if (!best)
		ep_fail(err, EP_EINPUT, "store '%s' has no snapshots", store);
	return best;
}

/* The snapshots, read or not, whose ids start with ref: how many, and the last of each kind. */
static size_t match(const struct ep_catalog *c, const char *ref, const struct ep_catalog_entry **good,
		    const struct ep_catalog_bad **bad)
{
	size_t len = strlen(ref), found = 0;
	*good = NULL;
	*bad = NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!strncmp(c->entries[i].id, ref, len))
			found++, *good = &c->entries[i];
	for (size_t i = 0; i < c->nbad; i++)
		if (!strncmp(c->bad[i].id, ref, len))
			found++, *bad = &c->bad[i];
	return found;
}

static bool ref_ok(const char *ref, struct ep_error *err)
{
	if (ep_store_id_prefix_ok(ref))
		return true;
	ep_fail(err, EP_EINPUT, "'%s' names no snapshot: give an id (4 or more of its hex digits) or 'latest'", ref);
	return false;
}

const struct ep_catalog_entry *ep_catalog_find(const struct ep_catalog *c, const char *ref, const char *store,
					       struct ep_error *err)
{
	if (!strcmp(ref, "latest"))
		return latest(c, store, err);
	const struct ep_catalog_entry *good;
	const struct ep_catalog_bad *bad;
	if (!ref_ok(ref, err))
		return NULL;
	size_t found = match(c, ref, &good, &bad);
	if (found > 1)
		ep_fail(err, EP_EINPUT, "store '%s': '%s' names more than one snapshot; give more digits", store, ref);
	else if (bad) {
		char why[1500];
		ep_catalog_bad_message(bad, store, why, sizeof why);
		ep_fail(err, EP_EINTEGRITY, "%s", why);
	} else if (!good)
		ep_fail(err, EP_EINPUT, "store '%s' has no snapshot %s", store, ref);
	return found == 1 ? good : NULL;
}

const struct ep_catalog_bad *ep_catalog_find_bad(const struct ep_catalog *c, const char *ref)
{
	const struct ep_catalog_entry *good;
	const struct ep_catalog_bad *bad;
	struct ep_error ignored;
	return ref_ok(ref, &ignored) && match(c, ref, &good, &bad) == 1 ? bad : NULL;
}

/* ---- retention ---- */

bool ep_policy_empty(const struct ep_policy *p)
{
	return !p->last && !p->hourly && !p->daily && !p->weekly && !p->monthly && !p->yearly && !p->nkeep_tags;
}

enum { RULE_LAST, RULE_HOURLY, RULE_DAILY, RULE_WEEKLY, RULE_MONTHLY, RULE_YEARLY, RULES };
static const char *const rule_name[RULES] = { "last", "hourly", "daily", "weekly", "monthly", "yearly" };

/* The bucket a time falls in for a rule: the same value means the same hour, day, ... */
static int64_t bucket(int rule, int64_t t, size_t index)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	int64_t y = tm.tm_year + 1900;
	switch (rule) {
	case RULE_LAST: return -(int64_t)index - 1; /* every snapshot its own */
	case RULE_HOURLY: return ((y * 1000 + tm.tm_yday) * 100) + tm.tm_hour;
	case RULE_DAILY: return y * 1000 + tm.tm_yday;
	case RULE_WEEKLY: {
		char iso[16]; /* ISO 8601 week-based year and week, as restic buckets weeks */
		strftime(iso, sizeof iso, "%G%V", &tm);
		return strtoll(iso, NULL, 10);
	}
	case RULE_MONTHLY: return y * 100 + tm.tm_mon;
	default: return y;
	}
}

static bool has_tag(const struct ep_manifest *m, const struct ep_policy *p)
{
	for (size_t i = 0; m->snapshot && i < m->snapshot->ntags; i++)
		for (size_t k = 0; k < p->nkeep_tags; k++)
			if (!strcmp(m->snapshot->tags[i], p->keep_tags[k]))
				return true;
	return false;
}

static bool same_group(const struct ep_manifest *a, const struct ep_manifest *b)
{
	const char *ha = a->snapshot ? a->snapshot->host : "", *hb = b->snapshot ? b->snapshot->host : "";
	return !strcmp(a->name, b->name) && !strcmp(ha, hb);
}

int ep_policy_apply(const struct ep_catalog *c, const struct ep_policy *p, bool *keep, const char **why,
		    struct ep_error *err)
{
	bool *done = calloc(c->n ? c->n : 1, sizeof *done);
	if (!done)
		return ep_oom(err);
	const int counts[RULES] = { p->last, p->hourly, p->daily, p->weekly, p->monthly, p->yearly };
	for (size_t g = c->n; g-- > 0;) { /* each group once, from its newest snapshot */
		if (done[g])
			continue;
		int left[RULES];
		int64_t last[RULES];
		bool seen[RULES] = { false };
		memcpy(left, counts, sizeof left);
		for (size_t i = g + 1; i-- > 0;) { /* newest first */
			const struct ep_catalog_entry *e = &c->entries[i];
			if (done[i] || !same_group(e->manifest, c->entries[g].manifest))
				continue;
			done[i] = true;
			keep[i] = false;
			why[i] = "";
			if (has_tag(e->manifest, p)) {
				keep[i] = true;
				why[i] = "tag";
			}
			for (int r = 0; r < RULES; r++) {
				if (!left[r])
					continue;
				int64_t b = bucket(r, e->time, i);
				if (seen[r] && b == last[r])
					continue;
				seen[r] = true;
				last[r] = b;
				if (left[r] > 0)
					left[r]--;
				if (!keep[i])
					why[i] = rule_name[r];
				keep[i] = true;
			}
		}
	}
	free(done);
	return 0;
}
