/* A store's snapshot read as the bundle it would export to: the store is its chunk source. */
#include "formats/store/store.h"

#include <stdlib.h>

#include "formats/bundle/bundle.h"

static bool store_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size)
{
	return ep_store_has_chunk(ctx, digest, size);
}

static int store_read(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size, struct ep_error *err)
{
	return ep_store_read_chunk(ctx, digest, buf, size, err);
}

static int store_fetch(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap, size_t *size,
		       struct ep_error *err)
{
	return ep_store_fetch_chunk(ctx, digest, buf, cap, size, err);
}

static int store_has_many(void *ctx, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, uint64_t *sizes,
			  struct ep_error *err)
{
	bool *have = malloc(n ? n : 1);
	int rc = have ? ep_store_has_chunks(ctx, digests, n, have, sizes, err) : ep_oom(err);
	for (size_t i = 0; !rc && i < n; i++)
		sizes[i] = have[i] ? sizes[i] : 0;
	free(have);
	return rc;
}

/* the store is borrowed; its chunks are fetched without asking their sizes first (formats/STORE.md, section 12) */
static const struct ep_chunk_source_ops store_source = { store_has, store_read, NULL, store_fetch, store_has_many };

int ep_store_snapshot_open(struct ep_bundle **out, struct ep_store *st, const char *id, const char *path,
			   struct ep_error *err)
{
	struct ep_store_snapshot snap = { 0 };
	int rc = id ? ep_store_get_snapshot(st, id, &snap, err) : 0;
	if (rc)
		return rc;
	return ep_bundle_open_source(out, path, &store_source, st, ep_store_seal(st), snap.manifest, snap.manifest_len,
				     snap.signature, snap.signature_len, err);
}
