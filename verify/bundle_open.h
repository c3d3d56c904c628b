/*
 * A bundle opened by name, whichever of the three it is: a snapshot in a store
 * (STORE@SNAPSHOT), a bundle at a URL (s3://, http(s)://, read a range at a
 * time), or a bundle file here. The one place that tells them apart.
 */
#ifndef EP_BUNDLE_OPEN_H
#define EP_BUNDLE_OPEN_H

#include "base/error.h"
#include "formats/bundle/bundle.h"
#include "formats/store/store.h"

/* The kinds a name may be taken for. */
enum { EP_OPEN_FILE = 1, EP_OPEN_URL = 2, EP_OPEN_SNAPSHOT = 4, EP_OPEN_ANY = 7 };

struct ep_s3_options;
struct ep_bundle_open_options {
	unsigned kinds;                     /* EP_OPEN_*: what arg may be */
	const struct ep_s3_options *remote; /* how URLs and s3:// stores are reached; NULL: defaults */
	const struct ep_seal *seal;         /* opens encrypted bundles and stores (borrowed); NULL: none */
	/* STORE@SNAPSHOT: the snapshot SNAPSHOT (an id, a unique prefix of one, latest) names in st */
	int (*resolve)(void *ctx, struct ep_store *st, const char *snapshot, char id[EP_STORE_ID_HEX],
		       struct ep_error *err);
	void *resolve_ctx;
};

/* A bundle at a URL, read where it lies. */
int ep_bundle_open_url(struct ep_bundle **out, const char *url, const struct ep_s3_options *remote,
		       const struct ep_seal *seal, struct ep_error *err);
/* arg opened as the first kind that claims it, in the order above (a file by that name wins
 * over STORE@SNAPSHOT, except s3://BUCKET/PREFIX@SNAPSHOT); *st: the store to close after
 * *b, or NULL. */
int ep_bundle_open_named(struct ep_bundle **b, struct ep_store **st, const char *arg,
			 const struct ep_bundle_open_options *o, struct ep_error *err);

#endif
