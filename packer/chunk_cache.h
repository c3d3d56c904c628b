/*
 * A host's chunk cache for a store (formats/STORE.md, section 12): the object ids of
 * chunks it saw in the store, so that its next backup asks the store nothing about
 * them. Kept beside the files cache in the host's state directory. It is trusted only
 * while the store's generation is the one it was made at (prune writes a new one before
 * it removes a chunk) and the snapshot it was made with is still in the store (a store
 * rolled back is no longer the store it describes); else it is ignored and made anew.
 */
#ifndef EP_CHUNK_CACHE_H
#define EP_CHUNK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/bundle/manifest.h"
#include "formats/store/catalog.h"
#include "formats/store/store.h"

#define EP_CHUNK_CACHE_MAX ((size_t)1 << 20) /* ids kept: 32 MiB, ~1 TiB of a host's chunks */

struct ep_chunk_cache {
	char token[EP_STORE_TOKEN_HEX]; /* the store's generation, read under the lock */
	uint8_t (*oids)[EP_DIGEST_LEN]; /* sorted; those of a valid cache, else NULL */
	size_t n;
	const char *state; /* "used", "stale" (or unreadable), "none" (no file, no state directory), "ignored" */
	/* Object Lock: the floor of the snapshot the cache was made with ("" and 0: none), and
	 * which of oids that snapshot names (a bit each), retained until that floor at least */
	char lock_mode[12];
	int64_t retain_until;
	uint8_t *named;
};

/* The generation of st (whose lock the caller holds) into c, and the cache at path (NULL: none
 * kept) given to the store as known chunks when it is valid and not to be ignored. cat: the
 * store's snapshots read under the same lock, which say whether the cache's snapshot is still
 * there; NULL (not read): the store is asked. A cache that cannot be read, or is stale, is no
 * failure: it is ignored. */
int ep_chunk_cache_open(struct ep_chunk_cache *c, struct ep_store *st, const char *path, bool ignore,
			const struct ep_catalog *cat, struct ep_error *err);
/* Writes the cache at path anew after snapshot `snapshot` (m) was published: m's chunks, and
 * those c held while both fit in EP_CHUNK_CACHE_MAX. A failure only loses the shortcut. */
void ep_chunk_cache_save(const struct ep_chunk_cache *c, struct ep_store *st, const char *path, const char *snapshot,
			 const struct ep_manifest *m);
/* Whether a valid cache's snapshot names the chunk (by object id): retained until the cache's
 * retain_until then, as that snapshot promised. A host that cannot read the store's snapshots
 * (an encrypted store's public key only) knows so what it published last. */
bool ep_chunk_cache_named(const struct ep_chunk_cache *c, const uint8_t oid[EP_DIGEST_LEN]);
void ep_chunk_cache_release(struct ep_chunk_cache *c);

#endif
