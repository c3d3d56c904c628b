/* docker-archive files (what `docker save` and `skopeo copy docker-archive:` write)
 * read as a source (and written, below): every entry checked, every image's config and layers checked
 * against the digests its manifest.json and config name. */
#ifndef EP_DOCKER_ARCHIVE_H
#define EP_DOCKER_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"

struct ep_darchive {
	char *path;
	struct ep_file_rec *entries; /* EP_FILE_REG or EP_FILE_SYMLINK; first and count unused */
	size_t nentries, cap_entries;
	char **descriptors; /* one per image: its config, tagged with its first RepoTag */
	size_t ndescriptors, cap_descriptors;
};

int ep_darchive_scan(const char *file, struct ep_darchive **out, struct ep_error *err);
void ep_darchive_free(struct ep_darchive *a);
/* Reads the archive again, handing each regular entry's data to fn in entries order. */
typedef int (*ep_darchive_data_fn)(void *ctx, size_t index, const void *data, size_t len, struct ep_error *err);
int ep_darchive_read(const struct ep_darchive *a, ep_darchive_data_fn fn, void *ctx, struct ep_error *err);

/*
 * Writing the layout skopeo writes (`skopeo copy oci:X docker-archive:Y`):
 * each layer an uncompressed tar named <diff_id hex>.tar, each config
 * <digest hex>.json byte for byte, and manifest.json (Config, RepoTags,
 * Layers) last. A layer is decompressed as it arrives and its tar header
 * written once its size is known, so no layer is ever held whole.
 */
struct ep_darchive_writer;

/* Writes at the start of fd (borrowed), which must be seekable; path names it in messages. */
int ep_darchive_writer_new(struct ep_darchive_writer **out, int fd, const char *path, int64_t mtime,
			   struct ep_error *err);
void ep_darchive_writer_free(struct ep_darchive_writer *w);
/* Whether the archive holds the layer of this diff_id ("sha256:<hex>") already. */
bool ep_darchive_writer_holds(const struct ep_darchive_writer *w, const char *diff_id);
/* Starts the layer of diff_id, its blob of media_type (a tar layer's) fed next: uncompressed, gzip or
 * zstd, as its first bytes show (skopeo labels uncompressed layers tar+gzip; docker and skopeo sniff too). */
int ep_darchive_layer_begin(struct ep_darchive_writer *w, const char *media_type, const char *diff_id,
			    struct ep_error *err);
int ep_darchive_layer_feed(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err);
/* Ends the layer: its compressed stream must be complete and its content hash to diff_id (else EP_EINTEGRITY). */
int ep_darchive_layer_end(struct ep_darchive_writer *w, struct ep_error *err);
/* Adds a config (once, whatever the number of images naming it) and the image of that config and those
 * layers (written already), tagged with tags; a further image of the same config and layers adds its tags. */
int ep_darchive_add_image(struct ep_darchive_writer *w, const char *config, size_t config_len,
			  const char *config_hex, const char *const *diff_ids, size_t nlayers, const char *const *tags,
			  size_t ntags, struct ep_error *err);
/* Writes manifest.json and the end of the archive. */
int ep_darchive_writer_finish(struct ep_darchive_writer *w, struct ep_error *err);

#endif
