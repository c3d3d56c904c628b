/*
 * A live disk read incrementally (vm:domain:): its extents are the windows around the runs
 * its dirty bitmap names, widened to whole chunks of the disk's earlier record (base), so
 * that the packer takes base's chunks outside them as they are (ep_source_sink.add_disk).
 * Inside a window, dirty runs are read from the live disk; the rest comes from base's
 * chunks, or, when the store cannot be read here, from the live disk too.
 */
#ifndef EP_DELTA_DISK_H
#define EP_DELTA_DISK_H

#include <stddef.h>

#include "base/extent.h"
#include "formats/bundle/manifest.h"
#include "formats/disk/disk.h"

/* live, dirty (in order, merged) and base are borrowed until close; load may be NULL. */
int ep_delta_disk_open(struct ep_disk **out, struct ep_disk *live, const struct ep_extent *dirty, size_t ndirty,
		       const struct ep_component *base, ep_chunk_load_fn load, void *load_ctx, struct ep_error *err);

#endif
