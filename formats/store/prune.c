/*
 * Prune: the chunks no snapshot names go. Safe beside backups because it
 * holds the store's exclusive lock from the reading of the snapshots to the
 * last removal: a backup (shared lock) either finished before, and its
 * snapshot counts, or starts after, and finds the index as prune left it.
 * A snapshot that cannot be read stops prune: nothing is removed on a guess,
 * as the chunks of a snapshot that may yet be repaired are not known. The
 * drill records of snapshots no longer there go too (formats/STORE.md, 9).
 */
#include "formats/store/catalog.h"
#include "formats/store/store_impl.h"

#include <stdlib.h>
#include <string.h>

#include "base/digestmap.h"

struct sweep {
	struct ep_store *st;
	struct ep_digestmap *referenced;
	bool dry_run;
	struct ep_prune_stats *stats;
};

static int mark(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct sweep *s = ctx;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(s->st, ref->digest, oid);
	return ep_digestmap_put(s->referenced, oid, 1) ? 0 : ep_oom(err);
}

static int prune_chunk(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err)
{
	struct sweep *s = ctx;
	if (ep_digestmap_get(s->referenced, oid, NULL)) {
		s->stats->chunks_kept++;
		s->stats->bytes_kept += stored;
		return 0;
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
				       err);
	stats->temps_removed += orphans;
	free(ids);
	return rc;
}

int ep_store_prune(struct ep_store *st, bool dry_run, struct ep_prune_stats *stats, struct ep_error *err)
{
	*stats = (struct ep_prune_stats){ 0 };
	struct ep_catalog cat;
	struct ep_digestmap *referenced = ep_digestmap_new();
	int rc = referenced ? ep_catalog_load(st, &cat, err) : ep_oom(err);
	if (!rc && (rc = ep_catalog_require_all(&cat, NULL, ep_store_where(st), "prune", err)))
		ep_catalog_release(&cat);
	if (rc) {
		ep_digestmap_free(referenced);
		return rc;
	}
	struct sweep s = { st, referenced, dry_run, stats };
	for (size_t i = 0; !rc && i < cat.n; i++)
		rc = ep_manifest_each_ref(cat.entries[i].manifest, mark, &s, err);
	stats->snapshots = cat.n;
	if (!rc)
		rc = ep_store_each_chunk(st, prune_chunk, &s, err);
	if (!rc && !dry_run)
		rc = ep_store_sweep(st, &stats->temps_removed, err);
	if (!rc)
		rc = prune_drills(st, &cat, dry_run, stats, err);
	if (!rc && !dry_run)
		rc = ep_store_prune_claims(st, err);
	if (!rc && !dry_run)
		rc = ep_store_prune_locks(st, &stats->locks_removed, err);
	ep_catalog_release(&cat);
	ep_digestmap_free(referenced);
	return rc;
}
