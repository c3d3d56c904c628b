#include "targets/scratch.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define SCRATCH_FILES 256

struct ep_scratch {
	char *dir;
	char *paths[SCRATCH_FILES];
	size_t npaths;
};

int ep_target_write_disk(struct ep_disk *d, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err)
{
	int rc = 0;
	ep_chunk_stream_start(s, c->chunks, c->nchunks);
	for (size_t i = 0; !rc && i < c->nextents; i++) {
		uint64_t off = c->extents[i].offset;
		for (size_t k = 0; !rc && k < c->extents[i].count; k++) {
			const uint8_t *data;
			size_t len;
			if (!(rc = ep_chunk_stream_pull(s, &data, &len, err)))
				rc = d->ops->write(d, data, len, off, err);
			off += len;
		}
	}
	return rc;
}

int ep_scratch_new(struct ep_scratch **out, struct ep_error *err)
{
	const char *tmp = getenv("TMPDIR");
	struct ep_scratch *sc = calloc(1, sizeof *sc);
	if (!sc || asprintf(&sc->dir, "%s/envpack-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		free(sc);
		return ep_oom(err);
	}
	if (!mkdtemp(sc->dir)) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create a scratch directory '%s'", sc->dir);
		free(sc->dir);
		free(sc);
		return rc;
	}
	*out = sc;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void ep_scratch_free(struct ep_scratch *sc)
{
	if (!sc)
		return;
	nftw(sc->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < sc->npaths; i++)
		free(sc->paths[i]);
	free(sc->dir);
	free(sc);
}

int ep_scratch_path(struct ep_scratch *sc, const char *name, const char **path, struct ep_error *err)
{
	if (!ep_name_ok(name))
		return ep_fail(err, EP_EINPUT, "scratch: '%s' is not a plain file name", name);
	if (sc->npaths == SCRATCH_FILES)
		return ep_fail(err, EP_EINPUT, "scratch: more than %d files", SCRATCH_FILES);
	if (asprintf(&sc->paths[sc->npaths], "%s/%s", sc->dir, name) < 0)
		return ep_oom(err);
	*path = sc->paths[sc->npaths++];
	return 0;
}

int ep_scratch_disk(struct ep_scratch *sc, const struct ep_component *c, struct ep_chunk_stream *s,
		    const char *format, const char *subformat, const char **path, struct ep_error *err)
{
	const struct ep_disk_format *df = ep_disk_format_find(format);
	if (!df || !df->create)
		return ep_fail(err, EP_EINPUT, "envpack does not write disks as '%s'", format);
	char name[200];
	snprintf(name, sizeof name, "%s.%s", c->name, df->extension);
	struct ep_disk *d;
	int rc = ep_scratch_path(sc, name, path, err);
	if (!rc)
		rc = df->create(&d, *path, c->virtual_size, &(struct ep_disk_create_opts){ .subformat = subformat }, err);
	if (rc)
		return rc;
	rc = ep_target_write_disk(d, c, s, err);
	int crc = ep_disk_close(d, err);
	return rc ? rc : crc;
}
