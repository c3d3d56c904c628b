/* image:oci:DIR[:TAG] and image:docker://HOST/REPO[:TAG]: an image from an OCI layout or a
 * registry, packed as an image component that is an OCI layout holding only the chosen
 * images' blobs, byte for byte, with an index.json naming just those images (the layout's
 * own, byte for byte, when it holds no others) and the layout's own oci-layout. */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image/oci_layout.h"
#include "formats/image/pull.h"

struct image_state {
	struct ep_oci_image *layout; /* image:oci: */
	struct ep_pull *pull;        /* image:docker:// */
	int64_t created;             /* the mtime of every file of the layout packed */
};

/* An image, wherever it comes from: the blobs it needs, in order, and its index.json entries. */
struct image_source {
	const char *path; /* names the component */
	char *const *descriptors;
	size_t ndescriptors;
	const struct ep_oci_blob *blobs;
	size_t nblobs;
	int (*read)(void *src, size_t i, ep_blob_sink sink, void *ctx, struct ep_error *err);
	void *src;
	/* the source's own index.json and oci-layout, kept as they are; NULL: made here */
	const char *index_file, *layout_file;
	size_t index_len, layout_len;
};

/* Where a blob's bytes go: its record. */
struct blob_feed {
	const struct ep_source_sink *sink;
	size_t record;
};

static int feed_blob(void *ctx, const void *data, size_t len, struct ep_error *err)
{
	struct blob_feed *f = ctx;
	return f->sink->feed(f->sink->ctx, f->record, data, len, err);
}

/* A whole file made in memory as record. */
static int feed_whole(const struct ep_source_sink *sink, size_t record, const void *data, size_t len,
		      struct ep_error *err)
{
	int rc = sink->feed(sink->ctx, record, data, len, err);
	return rc ? rc : sink->end(sink->ctx, err);
}

/* An index.json naming just the chosen images. */
static int make_index(const struct image_source *img, char **index, size_t *len, struct ep_error *err)
{
	FILE *f = open_memstream(index, len);
	if (!f)
		return ep_oom(err);
	fputs("{\"schemaVersion\":2,\"manifests\":[", f);
	for (size_t i = 0; i < img->ndescriptors; i++)
		fprintf(f, "%s%s", i ? "," : "", img->descriptors[i]);
	fputs("]}\n", f);
	return fclose(f) ? ep_oom(err) : 0;
}

/* A small file of the layout, whole in memory, as the component's file `name`. */
static int add_whole(const struct ep_source_sink *sink, struct ep_component *c, const char *name, int64_t t,
		     const void *data, size_t len, const char *image, struct ep_error *err)
{
	int rc = ep_component_add_file(c, name, EP_FILE_REG, 0644, t, NULL, err);
	if (!rc && len >= sink->whole_max)
		rc = ep_fail(err, EP_EINPUT, "oci: the %s of '%s' is too large", name, image);
	return rc ? rc : feed_whole(sink, c->nfiles - 1, data, len, err);
}

static int pack_image(const struct ep_source_sink *sink, int64_t t, const struct image_source *img,
		      struct ep_error *err)
{
	struct ep_component *c;
	int rc = sink->add_component(sink->ctx, EP_COMP_IMAGE, img->path, &c, err);
	if (!rc && !(c->format = strdup("oci")))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < img->ndescriptors; i++)
		rc = ep_component_add_image(c, img->descriptors[i], err);
	if (!rc && !(rc = ep_component_add_file(c, "blobs", EP_FILE_DIR, 0755, t, NULL, err)))
		rc = ep_component_add_file(c, "blobs/sha256", EP_FILE_DIR, 0755, t, NULL, err);
	for (size_t i = 0; !rc && i < img->nblobs; i++) {
		char path[96];
		snprintf(path, sizeof path, "blobs/sha256/%s", img->blobs[i].hex);
		if ((rc = ep_component_add_file(c, path, EP_FILE_REG, 0644, t, NULL, err)))
			break;
		struct blob_feed f = { sink, c->nfiles - 1 };
		if (!(rc = img->read(img->src, i, feed_blob, &f, err)))
			rc = sink->end(sink->ctx, err);
	}
	static const char made_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	const char *index = img->index_file, *layout = img->layout_file ? img->layout_file : made_layout;
	size_t index_len = img->index_len, layout_len = img->layout_file ? img->layout_len : sizeof made_layout - 1;
	char *made = NULL;
	if (!rc && !index && !(rc = make_index(img, &made, &index_len, err)))
		index = made;
	if (!rc)
		rc = add_whole(sink, c, "index.json", t, index, index_len, img->path, err);
	if (!rc)
		rc = add_whole(sink, c, "oci-layout", t, layout, layout_len, img->path, err);
	free(made);
	return rc;
}

static uint64_t blobs_size(const struct ep_oci_blob *blobs, size_t n)
{
	uint64_t sum = 0;
	for (size_t k = 0; k < n; k++)
		sum += blobs[k].size;
	return sum;
}

static void image_close(void *state)
{
	struct image_state *s = state;
	if (!s)
		return;
	ep_oci_free(s->layout);
	ep_pull_free(s->pull);
	free(s);
}

/* ---- image:oci:DIR[:TAG] ---- */

/* A tag follows the last ':' unless what follows it is a path. */
static int oci_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	const char *rest = out->path;
	const char *colon = strrchr(rest, ':');
	size_t n = colon && !strchr(colon, '/') ? (size_t)(colon - rest) : strlen(rest);
	if (n >= sizeof out->dir || (colon && strlen(colon + 1) >= sizeof out->ref))
		return ep_fail(err, EP_EINPUT, "'%s': the path or tag is too long", spec);
	memcpy(out->dir, rest, n);
	out->dir[n] = '\0';
	if (colon && !strchr(colon, '/'))
		snprintf(out->ref, sizeof out->ref, "%s", colon + 1);
	out->path = out->dir;
	return 0;
}

static int oci_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	struct image_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	s->created = opt->created;
	return ep_oci_collect(src->dir, *src->ref ? src->ref : NULL, &s->layout, err);
}

static uint64_t oci_size(const void *state)
{
	const struct ep_oci_image *img = ((const struct image_state *)state)->layout;
	return blobs_size(img->blobs, img->nblobs);
}

static int read_layout_blob(void *src, size_t i, ep_blob_sink sink, void *ctx, struct ep_error *err)
{
	return ep_oci_read_blob(src, i, sink, ctx, err);
}

static int oci_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		    struct ep_error *err)
{
	(void)src;
	struct image_state *s = state;
	struct ep_oci_image *l = s->layout;
	const struct image_source img = { l->dir, l->descriptors, l->ndescriptors, l->blobs, l->nblobs,
					  read_layout_blob, l, l->index_file, l->layout_file, l->index_len, l->layout_len };
	return pack_image(sink, s->created, &img, err);
}

const struct ep_source_ops ep_source_oci = {
	.prefix = "image:oci:",
	.usage = "image:oci:DIR[:TAG]",
	.parse = oci_parse,
	.open = oci_open,
	.size = oci_size,
	.pack = oci_pack,
	.close = image_close,
};

/* ---- image:docker://HOST[:PORT]/REPO[:TAG|@DIGEST] ---- */

static int registry_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
			 struct ep_error *err)
{
	static const struct ep_registry_options none;
	struct image_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	s->created = opt->created;
	return ep_pull_collect(src->path, src->platform, opt->registry ? opt->registry : &none, &s->pull, err);
}

static uint64_t registry_size(const void *state)
{
	const struct ep_pull *pull = ((const struct image_state *)state)->pull;
	return blobs_size(pull->blobs, pull->nblobs);
}

static int read_registry_blob(void *src, size_t i, ep_blob_sink sink, void *ctx, struct ep_error *err)
{
	return ep_pull_read(src, i, sink, ctx, err);
}

static int registry_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
			 struct ep_error *err)
{
	(void)src;
	struct image_state *s = state;
	struct ep_pull *p = s->pull;
	const struct image_source img = { p->ref.repo, &p->descriptor, 1, p->blobs, p->nblobs, read_registry_blob, p,
					  NULL, NULL, 0, 0 };
	return pack_image(sink, s->created, &img, err);
}

const struct ep_source_ops ep_source_registry = {
	.prefix = "image:docker://",
	.usage = "image:docker://HOST/REPO[:TAG]",
	.open = registry_open,
	.size = registry_size,
	.pack = registry_pack,
	.close = image_close,
};
