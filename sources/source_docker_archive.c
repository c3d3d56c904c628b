/* image:docker-archive:FILE: a `docker save` tar, packed as an image component holding
 * its entries as they are. */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image/docker_save.h"

static int archive_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
			struct ep_error *err)
{
	(void)opt;
	struct ep_darchive *a = NULL;
	int rc = ep_darchive_scan(src->path, &a, err);
	*state = a;
	return rc;
}

static uint64_t archive_size(const void *state)
{
	const struct ep_darchive *a = state;
	uint64_t sum = 0;
	for (size_t k = 0; k < a->nentries; k++)
		sum += a->entries[k].size;
	return sum;
}

struct archive_pack {
	const struct ep_source_sink *sink;
	size_t *records; /* entry index -> file record */
};

static int archive_data(void *ctx, size_t index, const void *data, size_t len, struct ep_error *err)
{
	struct archive_pack *ap = ctx;
	const struct ep_source_sink *sink = ap->sink;
	return data ? sink->feed(sink->ctx, ap->records[index], data, len, err) : sink->end(sink->ctx, err);
}

static int archive_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
			struct ep_error *err)
{
	(void)src;
	const struct ep_darchive *a = state;
	struct ep_component *c;
	int rc = sink->add_component(sink->ctx, EP_COMP_IMAGE, a->path, &c, err);
	size_t *records = calloc(a->nentries + 1, sizeof *records);
	if (!rc && (!records || !(c->format = strdup("docker-archive"))))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < a->ndescriptors; i++)
		rc = ep_component_add_image(c, a->descriptors[i], err);
	for (size_t i = 0; !rc && i < a->nentries; i++) {
		const struct ep_file_rec *e = &a->entries[i];
		/* parent directories first, each once: the manifest lists a directory before its content */
		for (const char *slash = strchr(e->path, '/'); !rc && slash; slash = strchr(slash + 1, '/')) {
			char dir[PATH_MAX + 1];
			snprintf(dir, sizeof dir, "%.*s", (int)(slash - e->path), e->path);
			bool known = false;
			for (size_t k = 0; k < c->nfiles && !known; k++)
				known = !strcmp(c->files[k].path, dir);
			if (!known)
				rc = ep_component_add_file(c, dir, EP_FILE_DIR, 0755, e->mtime, NULL, err);
		}
		if (!rc && !(rc = ep_component_add_file(c, e->path, e->type, e->mode, e->mtime, e->target, err)))
			records[i] = c->nfiles - 1;
	}
	struct archive_pack ap = { sink, records };
	if (!rc)
		rc = ep_darchive_read(a, archive_data, &ap, err);
	free(records);
	return rc;
}

static void archive_close(void *state)
{
	ep_darchive_free(state);
}

const struct ep_source_ops ep_source_docker_archive = {
	.prefix = "image:docker-archive:",
	.usage = "image:docker-archive:FILE",
	.open = archive_open,
	.size = archive_size,
	.pack = archive_pack,
	.close = archive_close,
};
