/*
 * check, in a store with Object Lock (formats/STORE.md, section 10): is each
 * snapshot protected as the store's policy says? Its manifest object must be
 * retained, in the policy's mode, for the policy's days from its creation and
 * until the floor the snapshot records; so must a few of its chunks, picked at
 * random (a HEAD each: every chunk would cost as much as a backup's extension).
 * A shortfall is a warning, not a problem: the data is whole, only its
 * protection is less than promised.
 */
#include "verify/store_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "formats/store/catalog.h"

struct picks {
	const struct ep_store *st;
	char (*names)[100];
	size_t n, cap, first; /* names[first..n) are the current snapshot's chunks */
	unsigned sample, seen;
};

/* Reservoir sampling: each chunk of the snapshot has the same chance to be among the sample. */
static int pick(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct picks *p = ctx;
	uint32_t r = 0;
	size_t at = p->n;
	p->seen++;
	if (p->seen > p->sample) {
		RAND_bytes((unsigned char *)&r, sizeof r);
		if (r % p->seen >= p->sample)
			return 0;
		at = p->first + r % p->seen;
	} else if (!ep_grow((void **)&p->names, &p->cap, p->n + 1, sizeof *p->names)) {
		return ep_oom(err);
	} else {
		p->n++;
	}
	ep_store_chunk_name(p->st, ref->digest, p->names[at], sizeof p->names[at]);
	return 0;
}

static void warn(const struct ep_store_check_options *opt, const char *msg)
{
	if (opt->warn)
		opt->warn(opt->warn_ctx, msg);
}

/* What is wrong with r against the floor, in msg; false when nothing. */
static bool short_of(const struct ep_store_retention *r, enum ep_lock_mode mode, int64_t floor, const char *what,
		     char *msg, size_t cap)
{
	char until[EP_UTC_LEN], want[EP_UTC_LEN];
	ep_utc_format(r->until, until, sizeof until);
	ep_utc_format(floor, want, sizeof want);
	if (r->mode == EP_LOCK_NONE)
		snprintf(msg, cap, "%s is not retained by Object Lock (it should be until %s)", what, want);
	else if (mode == EP_LOCK_COMPLIANCE && r->mode != EP_LOCK_COMPLIANCE)
		snprintf(msg, cap, "%s is retained in governance mode, the store's policy is compliance", what);
	else if (r->until < floor)
		snprintf(msg, cap, "%s is retained until %s only, it should be until %s", what, until, want);
	else
		return false;
	return true;
}

int ep_store_check_retention(struct ep_store *st, const struct ep_catalog *cat, unsigned sample,
			     const struct ep_store_check_options *opt, struct ep_store_check_stats *stats,
			     struct ep_error *err)
{
	const struct ep_store_object_lock *p = ep_store_object_lock(st);
	struct picks pk = { .st = st, .sample = sample };
	size_t *start = calloc(cat->n + 1, sizeof *start); /* each snapshot's names: manifest, then its picks */
	int rc = start ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < cat->n; i++) {
		start[i] = pk.n;
		if (!ep_grow((void **)&pk.names, &pk.cap, pk.n + 1, sizeof *pk.names)) {
			rc = ep_oom(err);
			break;
		}
		snprintf(pk.names[pk.n++], sizeof *pk.names, "snapshots/%s.json", cat->entries[i].id);
		pk.first = pk.n;
		pk.seen = 0;
		rc = ep_manifest_each_ref(cat->entries[i].manifest, pick, &pk, err);
	}
	start[cat->n] = pk.n;
	struct ep_store_retention *r = rc ? NULL : calloc(pk.n + 1, sizeof *r);
	if (!rc && !r)
		rc = ep_oom(err);
	if (!rc && pk.n)
		rc = ep_store_retentions(st, (const char(*)[100])pk.names, pk.n, r, err);
	int64_t days = (int64_t)p->days * ep_store_lock_day();
	for (size_t i = 0; !rc && i < cat->n; i++) {
		const struct ep_catalog_entry *e = &cat->entries[i];
		const struct ep_snapinfo *si = e->manifest->snapshot;
		/* the manifest object: the policy's days from its creation, and the floor it records; an
		 * imported snapshot records none: its chunks were kept for the days from its import, as long
		 * as its manifest object less the slack */
		int64_t floor = e->time + days, recorded = si && si->lock_mode[0] ? si->retain_until : 0;
		int64_t chunks = recorded ? recorded : r[start[i]].until - ep_store_lock_slack(p);
		char what[200], obj[300], msg[700];
		bool short_ = false;
		snprintf(what, sizeof what, "snapshot %.8s (%s)", e->id, e->manifest->created);
		for (size_t k = start[i]; k < start[i + 1]; k++) {
			if (k == start[i])
				snprintf(obj, sizeof obj, "%s", what);
			else
				snprintf(obj, sizeof obj, "%s's chunk %.16s", what, pk.names[k] + 10);
			int64_t want = k == start[i] ? (recorded > floor ? recorded : floor) : chunks;
			if (short_of(&r[k], p->mode, want, obj, msg, sizeof msg)) {
				warn(opt, msg);
				short_ = true;
			}
		}
		stats->retention_short += short_;
	}
	free(r);
	free(pk.names);
	free(start);
	return rc;
}
