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
	/* the chunk index: object id -> position in chunks; guarded by lock (pack workers read it) */
	pthread_rwlock_t lock;
	struct ep_digestmap *index;
	struct chunk_entry *chunks;
	size_t nchunks, cap, live;
	char lock_record[200]; /* our record under locks/, while locked */
	bool locked;
	struct lock_refresh *refresh; /* the thread that keeps the record fresh, while locked */
};

/* chunks/ listed afresh into the index: at open, and again once the lock is taken, since
 * until then another run (prune) may remove what the first listing saw. */
int ep_store_load_index(struct ep_store *st, struct ep_error *err);

/* Prune: the claims of sequence numbers go, but the highest (the next run starts above it). */
int ep_store_prune_claims(struct ep_store *st, struct ep_error *err);

/* 0 while our lock stands; else fails (never taken, or lost), so nothing may be published or removed. */
int ep_store_lock_held(struct ep_store *st, struct ep_error *err);

#endif
