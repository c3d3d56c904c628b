/*
 * Prune: the chunks no snapshot names go. Safe beside backups because it
 * holds the store's exclusive lock from the reading of the snapshots to the
 * last removal: a backup (shared lock) either finished before, and its
 * snapshot counts, or starts after, and finds the store as prune left it.
 * chunks/ is never held in memory: it is listed, streaming, against the
 * compact set of what the snapshots name, each chunk judged as it comes.
 * A snapshot that cannot be read stops prune: nothing is removed on a guess,
 * as the chunks of a snapshot that may yet be repaired are not known. The
 * drill records of snapshots no longer there go too (formats/STORE.md, 9).
 * In a store with Object Lock, what no snapshot needs goes only once its
 * retention has passed (section 10): the rest is counted, to go next time.
 */
#include "formats/store/catalog.h"
#include "formats/store/store_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/oidset.h"

/* Object Lock: the unnamed chunks whose retention is asked at once, as chunks/ is listed. */
#define RETAINED_BATCH 1000

struct sweep {
	struct ep_store *st;
	/* what the snapshots name, by their ids' first 8 bytes: a chunk no snapshot names may be
	 * taken for named (kept, one chance in 2^64 / named), never the other way round */
	struct ep_oidset referenced;
	bool dry_run;
	struct ep_prune_stats *stats;
	struct chunk_entry *unnamed; /* Object Lock: the chunks no snapshot names, judged by their retention */
	size_t nunnamed;
};

static int mark(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct sweep *s = ctx;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(s->st, ref->digest, oid);
	return ep_oidset_add(&s->referenced, oid) ? 0 : ep_oom(err);
}

/* Object Lock: of the chunks no snapshot names, those whose retention has passed go; the others
 * stay, counted with the latest retain-until among them. */
static int prune_retained(struct sweep *s, struct ep_error *err)
{
	char(*names)[100] = calloc(s->nunnamed + 1, sizeof *names);
	struct ep_store_retention *r = calloc(s->nunnamed + 1, sizeof *r);
	int rc = names && r ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < s->nunnamed; i++)
		ep_store_oid_name(s->unnamed[i].oid, names[i], sizeof names[i]);
	if (!rc && s->nunnamed)
		rc = ep_store_retentions(s->st, (const char(*)[100])names, s->nunnamed, r, err);
	int64_t now = time(NULL);
	for (size_t i = 0; !rc && i < s->nunnamed; i++) {
		struct ep_prune_stats *t = s->stats;
		if (r[i].until > now) {
			t->chunks_locked++;
			t->bytes_locked += s->unnamed[i].stored;
			t->locked_until = r[i].until > t->locked_until ? r[i].until : t->locked_until;
			continue;
		}
		t->chunks_removed++;
		t->bytes_removed += s->unnamed[i].stored;
		if (!s->dry_run)
			rc = ep_store_remove_chunk(s->st, s->unnamed[i].oid, err);
	}
	s->nunnamed = 0;
	free(names);
	free(r);
	return rc;
}

/* Each chunk as chunks/ is listed: kept, or removed there and then (a directory's entries may
 * go while it is read, an S3 listing's pages go on past deletions). */
static int prune_chunk(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t listed_size, struct ep_error *err)
{
	struct sweep *s = ctx;
	uint64_t stored; /* asked of dir: here, where the listing did not say: the bytes kept and freed are reported */
	int rc = ep_store_chunk_stored(s->st, oid, listed_size, &stored, err);
	if (rc || !stored)
		return rc; /* gone since, or empty: none */
	if (ep_oidset_find(&s->referenced, oid) >= 0) {
		s->stats->chunks_kept++;
		s->stats->bytes_kept += stored;
		return 0;
	}
	if (ep_store_object_lock(s->st)) { /* judged a batch at a time, their retentions asked at once */
		memcpy(s->unnamed[s->nunnamed].oid, oid, EP_DIGEST_LEN);
		s->unnamed[s->nunnamed++].stored = stored;
		return s->nunnamed == RETAINED_BATCH ? prune_retained(s, err) : 0;
	}
	s->stats->chunks_removed++;
	s->stats->bytes_removed += stored;
	return s->dry_run ? 0 : ep_store_remove_chunk(s->st, oid, err);
}

/* The drill records of the snapshots that are gone; the catalog holds those that are not. */
static int prune_drills(struct ep_store *st, const struct ep_catalog *cat, bool dry_run, struct ep_prune_stats *stats,
			struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = calloc(cat->n ? cat->n : 1, sizeof *ids);
	if (!ids)
		return ep_oom(err);
	for (size_t i = 0; i < cat->n; i++)
		memcpy(ids[i], cat->entries[i].id, EP_STORE_ID_HEX);
	if (cat->n)
		qsort(ids, cat->n, sizeof *ids, ep_store_id_cmp);
	uint64_t orphans;
	int rc = ep_store_prune_drills(st, ids, cat->n, dry_run, &stats->drills_removed, &stats->drills_kept, &orphans,
				       stats, err);
	stats->temps_removed += orphans;
	free(ids);
	return rc;
}

int ep_store_prune(struct ep_store *st, bool dry_run, struct ep_prune_stats *stats, struct ep_error *err)
{
	*stats = (struct ep_prune_stats){ 0 };
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	rc = ep_catalog_require_all(&cat, NULL, ep_store_where(st), "prune", err);
	struct sweep s = { .st = st, .dry_run = dry_run, .stats = stats };
	ep_oidset_init(&s.referenced);
	if (!rc && ep_store_object_lock(st) && !(s.unnamed = calloc(RETAINED_BATCH, sizeof *s.unnamed)))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < cat.n; i++)
		rc = ep_manifest_each_ref(cat.entries[i].manifest, mark, &s, err);
	if (!rc && !ep_oidset_seal(&s.referenced))
		rc = ep_oom(err);
	stats->snapshots = cat.n;
	if (!rc)
		rc = ep_store_list_chunks(st, prune_chunk, &s, err);
	if (!rc && s.nunnamed)
		rc = prune_retained(&s, err);
	free(s.unnamed);
	ep_oidset_release(&s.referenced);
	if (!rc && !dry_run)
		rc = ep_store_sweep(st, &stats->temps_removed, err);
	if (!rc)
		rc = prune_drills(st, &cat, dry_run, stats, err);
	if (!rc && !dry_run)
		rc = ep_store_prune_claims(st, err);
	if (!rc && !dry_run)
		rc = ep_store_prune_locks(st, &stats->locks_removed, err);
	ep_catalog_release(&cat);
	return rc;
}
