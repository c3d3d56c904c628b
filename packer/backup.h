/* Store operations above the formats: backup (the pack pipeline into a store),
 * import and export (a bundle is a store of one snapshot in a tar). */
#ifndef EP_BACKUP_H
#define EP_BACKUP_H

#include "formats/store/store.h"
#include "pack.h"
#include "verify/check.h"

struct ep_backup_result {
	char id[EP_STORE_ID_HEX];
	uint64_t sequence;
};

/* Packs sources into st as a new snapshot, recording snapshot info (its sequence is set
 * here: one above the store's largest, or info's own if higher). The caller holds st's
 * shared lock. */
int ep_backup(struct ep_store *st, const struct ep_pack_options *pack, const struct ep_source *sources,
	      size_t nsources, struct ep_snapinfo *info, struct ep_pack_stats *stats, struct ep_backup_result *res,
	      struct ep_error *err);

/* Copies a verified bundle's chunks (those st lacks) and its manifest into st. */
int ep_import(struct ep_store *st, const char *bundle, const struct ep_trust *trust, unsigned threads,
	      char id[EP_STORE_ID_HEX], uint64_t *added_bytes, struct ep_error *err);
/* Writes snapshot id of st, verified, as a bundle at path (atomically). */
int ep_export(struct ep_store *st, const char *id, const struct ep_trust *trust, unsigned threads, const char *path,
	      uint64_t *bytes, struct ep_error *err);

#endif
