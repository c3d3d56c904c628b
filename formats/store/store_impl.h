/*
 * What the store core (store.c) and its lock protocol (lock.c) share: the
 * store itself. Nothing outside formats/store/ includes this.
 */
#ifndef EP_STORE_IMPL_H
#define EP_STORE_IMPL_H

#include <pthread.h>

#include "base/digestmap.h"
#include "formats/store/store.h"

struct chunk_entry {
	uint8_t oid[EP_DIGEST_LEN];
	uint64_t stored; /* 0: removed */
};

struct ep_store {
	struct ep_store_backend *be;
	const struct ep_seal *seal; /* encrypted stores: names, snapshots (borrowed); else NULL */
	char id[33];
	struct ep_store_object_lock object_lock; /* Object Lock's policy; mode EP_LOCK_NONE without */
	/* the chunk index: object id -> position in chunks; guarded by lock (pack workers read it) */
	pthread_rwlock_t lock;
	struct ep_digestmap *index;
	struct chunk_entry *chunks;
	size_t nchunks, cap;
	/* a backup's store: chunks/ never listed; what is known of it is in index (written, or
	 * looked at: with sizes) and known (named by snapshots read under the lock, or by the
	 * host's chunk cache: object ids), the rest is asked of the backend chunk by chunk */
	bool lazy;
	bool stream; /* stream_chunks: lazy, and what the backend is asked is not kept */
	struct ep_digestmap *known;
	const uint8_t (*cached)[EP_DIGEST_LEN]; /* a chunk cache's object ids, sorted (borrowed) */
	size_t ncached;
	bool generation_moved; /* this run wrote a new generation (formats/STORE.md, section 12) */
	bool created;          /* by this run */
	uint64_t asked;        /* chunks asked of the backend (lazy) */
	struct ep_store_requests probe_requests; /* sent by the backend --init looked with, found nothing, and closed */
	char lock_record[200]; /* our newest record under locks/, while locked */
	bool locked;
	struct lock_refresh *refresh; /* our hold (the records we write, the thread that refreshes them), while locked */
};

/* chunks/ listed afresh into the index: at open, and again once the lock is taken, since
 * until then another run (prune) may remove what the first listing saw. Nothing for a
 * backup's store (lazy). */
int ep_store_load_index(struct ep_store *st, struct ep_error *err);

/* Prune: the claims of sequence numbers go, but the highest (the next run starts above it). */
int ep_store_prune_claims(struct ep_store *st, struct ep_error *err);
/* Prune (under the exclusive lock): the records of lock holders released or gone go, and ours
 * but the newest; those of a run trying for the lock stay. removed counts them. */
int ep_store_prune_locks(struct ep_store *st, uint64_t *removed, struct ep_error *err);

/* Snapshots and drill records are both signed objects DIR/<id>.json with DIR/<id>.sig beside:
 * what follows is what they share. */
#define EP_STORE_SIGNATURE_MAX ((size_t)4 << 10)
/* 64 lowercase hex digits. */
bool ep_store_id_ok(const char *id);
/* Orders ids (char[EP_STORE_ID_HEX]), for qsort and bsearch. */
int ep_store_id_cmp(const void *a, const void *b);
/* The id of an object's bytes: their SHA-256, keyed in an encrypted store as chunks' names are. */
void ep_store_object_id(const struct ep_store *st, const char *data, size_t len, char id[EP_STORE_ID_HEX]);
/* The ids of the objects DIR/<id>EXT (dir: "snapshots", "drills"; ext: ".json", ".sig"), sorted
 * (heap array, free()). */
int ep_store_list_ids(struct ep_store *st, const char *dir, const char *ext, char (**ids)[EP_STORE_ID_HEX], size_t *n,
		      struct ep_error *err);
/* An object of at most max bytes (plain), opened with the store's key in an encrypted store (its
 * name authenticated): 0, 1 when absent, or a failure. */
int ep_store_get_sealed(struct ep_store *st, const char *name, size_t max, char **data, size_t *len,
			struct ep_error *err);
/* Writes an object, sealed with its name in an encrypted store; if_absent as the backend's put;
 * until: its retain-until in a store with Object Lock (0: the policy's, from now). */
int ep_store_put_sealed_until(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
			      int64_t until, struct ep_error *err);
/* Writes an object, sealed with its name in an encrypted store; if_absent as the backend's put. */
int ep_store_put_sealed(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
			struct ep_error *err);

/* Prune: the drill records of snapshots no longer in the store go (the ids of those it has:
 * sorted), and the signatures of records that never appeared. removed counts the records,
 * orphans the signatures; dry_run removes nothing (and counts no signature). */
int ep_store_prune_drills(struct ep_store *st, char (*const snapshots)[EP_STORE_ID_HEX], size_t nsnapshots,
			  bool dry_run, uint64_t *removed, uint64_t *kept, uint64_t *orphans, struct ep_prune_stats *locked,
			  struct ep_error *err);

/* Object Lock, for prune: whether the object is retained still (its retain-until after now), counted
 * in stats->locked_until when so; false in a store without a policy. */
int ep_store_retained(struct ep_store *st, const char *name, int64_t now, bool *retained, struct ep_prune_stats *stats,
		      struct ep_error *err);
/* The name of the chunk object oid ("chunks/ab/<hex>.zst"; cap: 100 is enough). */
void ep_store_oid_name(const uint8_t oid[EP_DIGEST_LEN], char *name, size_t cap);

/* 0 while our lock stands; else fails (never taken, or lost), so nothing may be published or removed. */
int ep_store_lock_held(struct ep_store *st, struct ep_error *err);

#endif
