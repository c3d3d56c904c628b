/* Copying one open disk into another: the data extents only, in order. */
#ifndef EP_CONVERT_H
#define EP_CONVERT_H

#include "base/progress.h"
#include "formats/disk/disk.h"

/* Copies every data extent of src into dst (created with src's virtual size). */
int ep_disk_copy(struct ep_disk *src, struct ep_disk *dst, const struct ep_progress *progress, struct ep_error *err);

#endif
