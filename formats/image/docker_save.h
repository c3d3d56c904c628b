/* docker-archive files (what `docker save` and `skopeo copy docker-archive:` write)
 * as a source: every entry checked, every image's config and layers checked
 * against the digests its manifest.json and config name. */
#ifndef EP_DOCKER_ARCHIVE_H
#define EP_DOCKER_ARCHIVE_H

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

#endif
