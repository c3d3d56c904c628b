/* Store operations above the formats: backup (the pack pipeline into a store),
 * import and export (a bundle is a store of one snapshot in a tar). */
#ifndef EP_BACKUP_H
#define EP_BACKUP_H

#include "formats/store/store.h"
#include "packer/pack.h"
#include "verify/check.h"

struct ep_backup_result {
	char id[EP_STORE_ID_HEX];
	uint64_t sequence;
	/* A store with Object Lock (formats/STORE.md, section 10): the floor the snapshot records
	 * (0 without), the chunks it reuses that the previous snapshot of the environment (same
	 * name and host) keeps long enough, so that nothing was sent for them, and what was sent
	 * for the others (HEADs, PutObjectRetention) before the snapshot was published. */
	int64_t retain_until;
	uint64_t lock_covered;
	struct ep_store_keep_stats lock_keep;
	/* How it knew which chunks the store holds (formats/STORE.md, section 12): the chunks the
	 * environment's last snapshot names, the host's chunk cache ("used", "stale", "none",
	 * "ignored") and how many chunks it holds, and how many chunks were asked of the store. */
	uint64_t known_previous, known_cached, chunks_asked;
	const char *chunk_cache;
};

/* What a host keeps of a store between backups (files in its state directory; NULL: none). */
struct ep_backup_cache {
	const char *files;  /* the files cache, below */
	const char *chunks; /* the chunk cache (packer/chunk_cache.h) */
	bool reread;        /* use the files cache for nothing, but still write it */
	bool check_chunks;  /* trust neither the last snapshot nor the chunk cache: ask of every chunk */
};

/* Packs sources into st as a new snapshot, recording snapshot info (its sequence is set
 * here: one above the store's largest, or info's own if higher; on a host that holds only
 * an encrypted store's public key, one above the number of snapshots). pack->seal is the
 * store's. The caller holds st's shared lock. st should be opened lazy_index (its chunks
 * not listed): a chunk is taken as there when the previous snapshot of the environment (same
 * name and host) names it, or the chunk cache holds it, else the store is asked about it
 * alone (formats/STORE.md, section 12).
 *
 * cache->files: for each raw disk image file backed up,
 * its identity (device, inode, size, mtime and ctime to the nanosecond), the snapshot and
 * component that hold it, and that component's record. A disk whose identity is unchanged,
 * whose every chunk the store still holds, is not read again: its record is copied
 * (restic's files cache), also on a host that cannot read an encrypted store's snapshots.
 * Only raw files: a qcow2's backing file could change under an unchanged top.
 * The same file holds the live disks' history (packer/history.h), which vm:domain:
 * sources read for incremental backups.
 *
 * In a store with Object Lock, the snapshot records the floor until which it and every chunk
 * it names are retained: the chunks it writes and the snapshot itself are retained until then
 * at least, and the chunks it reuses are made so (extended when short) before it is published. */
int ep_backup(struct ep_store *st, const struct ep_pack_options *pack, const struct ep_source *sources,
	      size_t nsources, struct ep_snapinfo *info, const struct ep_backup_cache *cache,
	      struct ep_pack_stats *stats, struct ep_backup_result *res, struct ep_error *err);

/* Object Lock: every chunk m names, and config.json, retained until floor at least (HEAD each,
 * extend those short); nothing on a store without it. */
int ep_backup_keep_named(struct ep_store *st, const struct ep_manifest *m, int64_t floor,
			 struct ep_store_keep_stats *stats, struct ep_error *err);

/* Copies a verified bundle's chunks (those st lacks) and its manifest into st. In a store with
 * Object Lock, every chunk it names is retained for the policy's days from now at least before
 * the snapshot appears (its manifest, signed elsewhere, records no floor). */
int ep_import(struct ep_store *st, const char *bundle, const struct ep_trust *trust, unsigned threads,
	      char id[EP_STORE_ID_HEX], uint64_t *added_bytes, struct ep_error *err);
/* Writes snapshot id of st, verified, as a bundle at path (atomically). */
int ep_export(struct ep_store *st, const char *id, const struct ep_trust *trust, unsigned threads, const char *path,
	      uint64_t *bytes, struct ep_error *err);

#endif
