/* What changed between two manifests (two snapshots, or two bundles): components
 * added or removed; in disks that both have, the data not in the older one; in
 * file trees, each path added, removed or modified (content, mode, type, target). */
#ifndef EP_DIFF_H
#define EP_DIFF_H

#include "formats/bundle/manifest.h"

enum ep_diff_kind { EP_DIFF_ADDED, EP_DIFF_REMOVED, EP_DIFF_CHANGED };

struct ep_diff_item {
	enum ep_diff_kind kind;
	const char *component;
	const char *path;   /* a file of a tree; NULL for a whole component */
	uint64_t new_bytes; /* data the older side does not hold (disks, changed or added files) */
};

struct ep_diff_stats {
	uint64_t added, removed, changed, new_bytes;
};

int ep_manifest_diff(const struct ep_manifest *a, const struct ep_manifest *b,
		     void (*each)(void *ctx, const struct ep_diff_item *item), void *ctx, struct ep_diff_stats *stats,
		     struct ep_error *err);

#endif
