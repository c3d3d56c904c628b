/*
 * Disks written out locally before they go up to a cloud: each in the format
 * the cloud imports, in a private directory under $TMPDIR (mode 0700) that is
 * removed whole when the scratch area is freed, whatever happened.
 */
#ifndef EP_SCRATCH_H
#define EP_SCRATCH_H

#include "base/error.h"
#include "formats/bundle/manifest.h"
#include "formats/disk/disk.h"
#include "verify/chunk_stream.h"

/* Streams disk component c from s into d, an image created at c's virtual size. */
int ep_target_write_disk(struct ep_disk *d, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err);

struct ep_scratch;

int ep_scratch_new(struct ep_scratch **out, struct ep_error *err);
/* Removes the directory and all in it. */
void ep_scratch_free(struct ep_scratch *sc);
/* Writes component c as NAME.EXT in format (subformat may be NULL); *path, owned by
 * sc, names the finished image. */
int ep_scratch_disk(struct ep_scratch *sc, const struct ep_component *c, struct ep_chunk_stream *s,
		    const char *format, const char *subformat, const char **path, struct ep_error *err);
/* A new file path NAME inside the scratch directory (for archives built from its disks), owned by sc. */
int ep_scratch_path(struct ep_scratch *sc, const char *name, const char **path, struct ep_error *err);

#endif
