/* disk:PATH: one disk image, in any format formats/disk/ reads. */
#include "sources/source.h"

#include <stdlib.h>

#include "formats/disk/disk.h"

struct disk_state {
	struct ep_disk *disk;
	uint64_t data; /* bytes in data extents */
};

int ep_source_disk_data(struct ep_disk *d, uint64_t *data, struct ep_error *err)
{
	struct ep_extent ext;
	int rc;
	for (uint64_t from = 0; (rc = ep_disk_next_extent(d, from, &ext, err)) == 1; from = ext.off + ext.len)
		*data += ext.len;
	return rc;
}

/* Opens a disk and counts its data for the progress bar. */
int ep_source_disk_open(const char *path, const char *format, const struct ep_source_options *opt,
			struct ep_disk **out, uint64_t *data, struct ep_error *err)
{
	struct ep_disk_open_opts open_opts = { .format = format, .allow_dirs = opt->allow_dirs, .nallow = opt->nallow };
	int rc = ep_disk_open(out, path, &open_opts, err);
	return rc ? rc : ep_source_disk_data(*out, data, err);
}

static int disk_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		     struct ep_error *err)
{
	struct disk_state *s = calloc(1, sizeof *s);
	*state = s;
	return s ? ep_source_disk_open(src->path, src->format, opt, &s->disk, &s->data, err) : ep_oom(err);
}

static uint64_t disk_size(const void *state)
{
	return ((const struct disk_state *)state)->data;
}

static int disk_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		     struct ep_error *err)
{
	struct ep_component *c;
	return sink->add_disk(sink->ctx, ((struct disk_state *)state)->disk, NULL, src->path, &c, err);
}

static void disk_close(void *state)
{
	struct disk_state *s = state;
	if (s && s->disk)
		ep_disk_close(s->disk, NULL);
	free(s);
}

const struct ep_source_ops ep_source_disk = {
	.prefix = "disk:",
	.usage = "disk:PATH",
	.bare_disk = true,
	.open = disk_open,
	.size = disk_size,
	.pack = disk_pack,
	.close = disk_close,
};
