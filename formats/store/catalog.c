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
	*c = (struct ep_catalog){ 0 };
}

int ep_catalog_load(struct ep_store *st, struct ep_catalog *out, struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = NULL;
	size_t n = 0;
	*out = (struct ep_catalog){ 0 };
	struct ep_bundle *chunks = NULL; /* the store's chunks: disks' extent lists are read from it */
	int rc = ep_store_snapshot_ids(st, &ids, &n, err);
	if (!rc && n && !(out->entries = calloc(n, sizeof *out->entries)))
		rc = ep_oom(err);
	if (!rc && n)
		rc = ep_store_snapshot_open(&chunks, st, NULL, ep_store_where(st), err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct ep_store_snapshot snap;
		struct ep_catalog_entry *e = &out->entries[out->n];
		char what[EP_STORE_ID_HEX + 4200];
		snprintf(what, sizeof what, "%s@%s", ep_store_where(st), ids[i]);
		if ((rc = ep_store_get_snapshot(st, ids[i], &snap, err)))
			break;
		rc = ep_manifest_parse(snap.manifest, snap.manifest_len, what, &e->manifest, err);
		if (!rc && (rc = ep_manifest_resolve(e->manifest, ep_bundle_load_chunk, chunks, what, err))) {
			ep_manifest_free(e->manifest);
			e->manifest = NULL;
		}
		e->signed_ = snap.signature != NULL;
		ep_store_snapshot_release(&snap);
		if (rc)
			break;
		memcpy(e->id, ids[i], EP_STORE_ID_HEX);
		e->time = ep_manifest_created(e->manifest);
		e->sequence = e->manifest->snapshot ? e->manifest->snapshot->sequence : 0;
		out->n++;
		if (e->time < 0)
			rc = ep_fail(err, EP_EINPUT, "%s: manifest: created '%s' is not an RFC 3339 UTC time", what,
				     e->manifest->created);
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

const struct ep_catalog_entry *ep_catalog_find(const struct ep_catalog *c, const char *ref, const char *store,
					       struct ep_error *err)
{
	if (!strcmp(ref, "latest")) {
		const struct ep_catalog_entry *best = NULL;
		for (size_t i = 0; i < c->n; i++)
			if (!best || c->entries[i].sequence > best->sequence ||
			    (c->entries[i].sequence == best->sequence && c->entries[i].time >= best->time))
				best = &c->entries[i];
		if (!best)
			ep_fail(err, EP_EINPUT, "store '%s' has no snapshots", store);
		return best;
	}
	size_t len = strlen(ref);
	if (len < 4 || len > 64 || strspn(ref, "0123456789abcdef") != len) {
		ep_fail(err, EP_EINPUT, "'%s' names no snapshot: give an id (4 or more of its hex digits) or 'latest'", ref);
		return NULL;
	}
	const struct ep_catalog_entry *found = NULL;
	for (size_t i = 0; i < c->n; i++) {
		if (strncmp(c->entries[i].id, ref, len))
			continue;
		if (found) {
			ep_fail(err, EP_EINPUT, "store '%s': '%s' names more than one snapshot; give more digits", store, ref);
			return NULL;
		}
		found = &c->entries[i];
	}
	if (!found)
		ep_fail(err, EP_EINPUT, "store '%s' has no snapshot %s", store, ref);
	return found;
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
