/*
 * Recovery after an attack (formats/STORE.md, section 11): in a versioned bucket a
 * delete leaves a delete marker and an overwrite a new version, so what the store held at
 * a time is still there unless every version was removed. Each object's version at that
 * time is copied onto its own key, which makes it current again; nothing is deleted, so
 * recovery itself can be undone the same way.
 */
#include "formats/store/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEP_BATCH 256 /* restored objects whose retention is judged at once */

struct recover_walk {
	struct ep_store *st;
	bool dry_run;
	struct ep_recover_stats *stats;
	int (*later)(void *ctx, const char *id, struct ep_error *err);
	void *ctx;
	/* Object Lock: what was restored, its retention to make sure of (a batch at a time) */
	struct ep_store_keep_item keep[KEEP_BATCH];
	size_t nkeep;
};

/* A copy is asked to be retained as a put is, but a server may give it the source version's
 * retention instead (radosgw 16 does): HEAD says, and what is short is extended. */
static int keep_restored(struct recover_walk *w, struct ep_error *err)
{
	struct ep_store_keep_stats ks = { 0 };
	const struct ep_store_object_lock *p = ep_store_object_lock(w->st);
	int rc = p && w->nkeep ? ep_store_keep_until(w->st, w->keep, w->nkeep, ep_store_lock_target(p, time(NULL)), &ks, err)
			       : 0;
	w->nkeep = 0;
	return rc;
}

static bool under(const char *name, const char *dir)
{
	return !strncmp(name, dir, strlen(dir));
}

/* The id of a snapshot's manifest "snapshots/<id>.json"; false for any other name. */
static bool snapshot_id(const char *name, char id[EP_STORE_ID_HEX])
{
	if (!under(name, "snapshots/") || strlen(name) != 10 + 64 + 5 || strcmp(name + 74, ".json"))
		return false;
	snprintf(id, EP_STORE_ID_HEX, "%.64s", name + 10);
	return ep_store_id_ok(id);
}

static int recover_key(void *ctx, const struct ep_store_key_at *k, struct ep_error *err)
{
	struct recover_walk *w = ctx;
	char id[EP_STORE_ID_HEX];
	/* a lock record or claim of then would stand for a holder long gone */
	if (under(k->name, "locks/") || under(k->name, "claims/"))
		return 0;
	if (!k->version)
		return k->exists && snapshot_id(k->name, id) && ++w->stats->later ? w->later(w->ctx, id, err) : 0;
	if (k->current) {
		w->stats->unchanged++;
		return 0;
	}
	int folder = under(k->name, "snapshots/") ? EP_RECOVER_SNAPSHOTS
		     : under(k->name, "chunks/")  ? EP_RECOVER_CHUNKS
						  : EP_RECOVER_OTHER;
	int rc = w->dry_run ? 0 : w->st->be->lock->restore(w->st->be, k->name, k->version, err);
	if (rc == 1)
		rc = (ep_error_prefix(err, "store '%s': %s cannot be recovered: ", ep_store_where(w->st), k->name),
		      EP_ERUNTIME);
	if (!rc) {
		w->stats->restored[folder]++;
		w->stats->bytes[folder] += k->size;
	}
	if (!rc && !w->dry_run && ep_store_object_lock(w->st) && strlen(k->name) < sizeof w->keep->name) {
		w->keep[w->nkeep] = (struct ep_store_keep_item){ .known_short = false };
		snprintf(w->keep[w->nkeep++].name, sizeof w->keep->name, "%s", k->name);
		if (w->nkeep == KEEP_BATCH)
			rc = keep_restored(w, err);
	}
	return rc;
}

int ep_store_recover(struct ep_store *st, int64_t t, bool dry_run, struct ep_recover_stats *stats,
		     int (*later)(void *ctx, const char *id, struct ep_error *err), void *ctx, struct ep_error *err)
{
	*stats = (struct ep_recover_stats){ 0 };
	if (!st->be->lock || !st->be->lock->keys_at)
		return ep_store_as_of(st, t, err); /* says why not */
	int rc = dry_run ? 0 : ep_store_lock_held(st, err);
	struct recover_walk *w = rc ? NULL : calloc(1, sizeof *w);
	if (!rc && !w)
		rc = ep_oom(err);
	if (!rc) {
		*w = (struct recover_walk){ .st = st, .dry_run = dry_run, .stats = stats, .later = later, .ctx = ctx };
		rc = st->be->lock->keys_at(st->be, t, recover_key, w, err);
	}
	if (!rc)
		rc = keep_restored(w, err);
	free(w);
	return rc;
}
