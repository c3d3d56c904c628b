#include "backup.h"

#include <string.h>

#include "formats/store/catalog.h"

struct store_dest {
	struct ep_store *st;
	char id[EP_STORE_ID_HEX];
};

static bool store_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN])
{
	return ep_store_has_chunk(((struct store_dest *)ctx)->st, digest, NULL);
}

static int store_add_chunk(void *ctx, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
			   struct ep_error *err)
{
	return ep_store_put_chunk(((struct store_dest *)ctx)->st, digest, zdata, zlen, err);
}

static int store_commit(void *ctx, const char *manifest, size_t len, const char *sig, size_t siglen,
			struct ep_error *err)
{
	struct store_dest *d = ctx;
	return ep_store_put_snapshot(d->st, manifest, len, sig, siglen, d->id, err);
}

static void store_abort(void *ctx)
{
	(void)ctx; /* chunks already written stay: the next backup reuses them, prune collects the rest */
}

int ep_backup(struct ep_store *st, const struct ep_pack_options *pack, const struct ep_source *sources,
	      size_t nsources, struct ep_snapinfo *info, struct ep_pack_stats *stats, struct ep_backup_result *res,
	      struct ep_error *err)
{
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	uint64_t next = ep_catalog_max_sequence(&cat) + 1;
	if (info->sequence < next) /* the caller may know of a higher one, in a store since rolled back */
		info->sequence = next;
	ep_catalog_release(&cat);
	struct store_dest d = { .st = st };
	const struct ep_pack_dest dest = { &d, store_has, store_add_chunk, store_commit, store_abort };
	struct ep_pack_options opt = *pack;
	opt.dest = &dest;
	opt.snapshot = info;
	rc = ep_pack(&opt, sources, nsources, stats, err);
	if (!rc) {
		memcpy(res->id, d.id, EP_STORE_ID_HEX);
		res->sequence = info->sequence;
	}
	return rc;
}
