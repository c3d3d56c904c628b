/* disk:PATH: one disk image, in any format formats/disk/ reads; disk:s3://BUCKET/KEY and
 * disk:http(s)://URL read where it lies, through ranged reads (cloud/remote.c). */
#include "sources/source.h"

#include <stdlib.h>
#include <string.h>

#include "cloud/remote.h"
#include "cloud/s3.h"
#include "formats/disk/disk.h"

struct disk_state {
	struct ep_disk *disk;
	uint64_t data; /* bytes in data extents */
	/* an image read where it lies */
	struct ep_remote *remote;
	struct ep_disk_file *file;
	char from[1100]; /* its URL without credentials */
	char *component; /* what it was packed as */
	const struct ep_manifest *manifest;
	ep_source_report_fn report;
	void *report_ctx;
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

static int remote_pread(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_remote_pread(ctx, buf, len, off, err);
}

/* An image at a URL: S3 reached as --input-option endpoint= and region= say, else as the
 * aws: target is (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION), with
 * the same credentials. A dry run only shows the requests reading begins with. */
static int open_remote(const struct ep_source *src, const struct ep_source_options *opt, struct disk_state *s,
		       struct ep_error *err)
{
	const struct ep_capture_options *c = opt->capture;
	struct ep_s3_options o = { .endpoint = ep_capture_param(c, "endpoint"), .region = ep_capture_param(c, "region") };
	if (c && c->http)
		o.http = *c->http;
	ep_remote_public_url(src->path, s->from, sizeof s->from);
	if (c && c->dry_run_request)
		return ep_remote_plan(src->path, &o, EP_PROBE_BYTES, c->dry_run_request, c->dry_run_ctx, err);
	uint64_t size;
	struct ep_disk_open_opts open_opts = { .format = src->format };
	int rc = ep_remote_open(&s->remote, src->path, &o, &size, err);
	if (!rc)
		rc = ep_disk_file_remote(&s->file, s->from, size, remote_pread, s->remote, err);
	open_opts.file = s->file;
	if (!rc)
		rc = ep_disk_open(&s->disk, s->from, &open_opts, err);
	if (!rc)
		rc = ep_source_disk_data(s->disk, &s->data, err);
	s->report = opt->report;
	s->report_ctx = opt->report_ctx;
	return rc;
}

static int disk_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		     struct ep_error *err)
{
	struct disk_state *s = calloc(1, sizeof *s);
	*state = s;
	if (!s)
		return ep_oom(err);
	if (ep_remote_is_url(src->path))
		return open_remote(src, opt, s, err);
	return ep_source_disk_open(src->path, src->format, opt, &s->disk, &s->data, err);
}

static uint64_t disk_size(const void *state)
{
	return ((const struct disk_state *)state)->data;
}

static int disk_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		     struct ep_error *err)
{
	struct disk_state *s = state;
	struct ep_component *c;
	int rc = sink->add_disk(sink->ctx, s->disk, NULL, s->remote ? s->from : src->path, &c, err);
	if (!rc && s->remote && !(s->component = strdup(c->name)))
		rc = ep_oom(err);
	s->manifest = sink->manifest;
	return rc;
}

/* A capture's one-line summary, once every chunk is in: where it was read, in how many requests. */
static void disk_published(void *state, bool yes)
{
	struct disk_state *s = state;
	if (!yes || !s || !s->component || !s->report)
		return;
	struct ep_source_disk_report r = { .component = s->component, .mode = "offline", .from = s->from };
	ep_remote_counts(s->remote, &r.requests, &r.bytes_read);
	for (size_t i = 0; i < s->manifest->ncomponents; i++)
		if (!strcmp(s->manifest->components[i].name, s->component))
			r.added_bytes = s->manifest->components[i].added_bytes;
	s->report(s->report_ctx, &r);
}

static void disk_close(void *state)
{
	struct disk_state *s = state;
	if (s && s->disk)
		ep_disk_close(s->disk, NULL);
	if (s) {
		ep_disk_file_close(s->file);
		ep_remote_close(s->remote);
		free(s->component);
	}
	free(s);
}

const struct ep_source_ops ep_source_disk = {
	.prefix = "disk:",
	.usage = "disk:PATH|s3://BUCKET/KEY|https://URL",
	.bare_disk = true,
	.input_options = "endpoint region",
	.open = disk_open,
	.size = disk_size,
	.pack = disk_pack,
	.published = disk_published,
	.close = disk_close,
};
