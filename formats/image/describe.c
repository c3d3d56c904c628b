/* Walks an image component's descriptors down to configs and layer lists (see describe.h). */
#include "formats/image/describe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/digestmap.h"
#include "formats/image/oci_layout.h"
#include "formats/image/walk.h"

#define DOCKER_CONFIG_TYPE "application/vnd.docker.container.image.v1+json"

struct walk {
	const struct ep_component *c;
	const char *what;
	ep_image_read_fn read;
	void *ctx;
	struct ep_image_info *img;
	struct ep_digestmap *seen; /* indexes and manifests of img walked already */
	struct ep_error *err;
};

static int bad(struct walk *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct walk *w, int code, const char *fmt, ...)
{
	char detail[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return ep_fail(w->err, code, "image '%s' in '%s': %s", w->c->name, w->what, ep_printable(detail));
}

static int copy_str(struct walk *w, char **dst, const char *s)
{
	if (s && !ep_printable(*dst = strdup(s)))
		return ep_oom(w->err);
	return 0;
}

/* A descriptor's "platform" and a config both say os, architecture and variant. */
static int platform(struct walk *w, json_t *o, char **out)
{
	const char *os = json_string_value(json_object_get(o, "os"));
	const char *arch = json_string_value(json_object_get(o, "architecture"));
	const char *variant = json_string_value(json_object_get(o, "variant"));
	char buf[256];
	if (!os && !arch)
		return 0;
	snprintf(buf, sizeof buf, "%s/%s%s%s", os ? os : "?", arch ? arch : "?", variant ? "/" : "",
		 variant ? variant : "");
	return copy_str(w, out, buf);
}

/* Reads and parses the JSON file `path` names; when hex is given, checks it first. */
static int read_json(struct walk *w, const char *path, const char *hex, json_t **out, uint8_t sha[EP_DIGEST_LEN])
{
	ssize_t i = ep_file_resolve(w->c->files, w->c->nfiles, path);
	if (i < 0)
		return bad(w, EP_EINPUT, "%s is missing", path);
	const struct ep_file_rec *f = &w->c->files[i];
	if (f->size > EP_OCI_JSON_MAX)
		return bad(w, EP_EINPUT, "%s is larger than 4 MiB", path);
	char *text, got[EP_DIGEST_HEX];
	size_t len;
	int rc = w->read(w->ctx, w->c, f, &text, &len, w->err);
	if (rc)
		return rc;
	ep_sha256(text, len, sha);
	ep_hex(sha, EP_DIGEST_LEN, got);
	json_error_t je;
	*out = hex && strcmp(got, hex) != 0 ? NULL : json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (hex && strcmp(got, hex) != 0)
		return bad(w, EP_EINTEGRITY, "%s does not match its digest (it hashes to %s)", path, got);
	return *out ? 0 : bad(w, EP_EINPUT, "%s is not JSON: %s (line %d)", path, je.text, je.line);
}

static int add_layer(struct walk *w, struct ep_image_manifest *m, const char *hex, uint64_t size)
{
	if (!ep_grow((void **)&m->layers, &m->cap_layers, m->nlayers + 1, sizeof *m->layers))
		return ep_oom(w->err);
	snprintf(m->layers[m->nlayers].digest, EP_IMAGE_DIGEST, "sha256:%s", hex);
	m->layers[m->nlayers++].size = size;
	if (ep_add_overflows(m->layers_size, size, &m->layers_size) || m->layers_size > INT64_MAX)
		return bad(w, EP_EINPUT, "the layers of %s add up to more than 2^63 bytes", m->config);
	return 0;
}

static struct ep_image_manifest *new_manifest(struct walk *w)
{
	struct ep_image_info *img = w->img;
	if (!ep_grow((void **)&img->manifests, &img->cap_manifests, img->nmanifests + 1, sizeof *img->manifests)) {
		ep_oom(w->err);
		return NULL;
	}
	struct ep_image_manifest *m = &img->manifests[img->nmanifests++];
	*m = (struct ep_image_manifest){ 0 };
	return m;
}

/* An OCI or Docker v2 manifest `doc`, reached through desc. An index names its
 * manifests' platforms (as pulls match them); an image alone, its config. */
static int add_manifest(struct walk *w, json_t *desc, json_t *doc, const char *path, bool in_index)
{
	struct ep_image_manifest *m = new_manifest(w);
	uint8_t raw[EP_DIGEST_LEN];
	uint64_t size;
	const char *hex = ep_oci_digest(json_object_get(doc, "config"), raw, &size);
	json_t *layers = json_object_get(doc, "layers"), *l;
	if (!m)
		return w->err->code;
	snprintf(m->digest, sizeof m->digest, "%s", json_string_value(json_object_get(desc, "digest")));
	if (!hex || !json_is_array(layers))
		return bad(w, EP_EINPUT, "manifest %s has no config or no layers", path);
	snprintf(m->config, sizeof m->config, "sha256:%s", hex);
	int rc = copy_str(w, &m->media_type, json_string_value(json_object_get(desc, "mediaType")));
	if (!rc && in_index)
		rc = platform(w, json_object_get(desc, "platform"), &m->platform);
	if (!rc && !m->platform) {
		char cpath[96];
		json_t *config;
		snprintf(cpath, sizeof cpath, "blobs/sha256/%s", hex);
		if (!(rc = read_json(w, cpath, hex, &config, raw))) {
			rc = platform(w, config, &m->platform);
			json_decref(config);
		}
	}
	size_t i;
	json_array_foreach(layers, i, l)
	{
		if (rc || !(hex = ep_oci_digest(l, raw, &size)))
			return rc ? rc : bad(w, EP_EINPUT, "layer %zu of %s has no sha256 digest or no size", i, path);
		rc = add_layer(w, m, hex, size);
	}
	return rc;
}

/* The shared walk reads each index and manifest through the caller's reader ... */
static int load_doc(void *ctx, const struct ep_image_node *n, char **bytes, size_t *len, struct ep_error *err)
{
	struct walk *w = ctx;
	char path[96];
	snprintf(path, sizeof path, "blobs/sha256/%s", n->hex);
	ssize_t i = ep_file_resolve(w->c->files, w->c->nfiles, path);
	if (i < 0)
		return bad(w, EP_EINPUT, "%s is missing", path);
	return w->read(w->ctx, w->c, &w->c->files[i], bytes, len, err);
}

/* ... and hands each manifest over, checked against its digest; configs and layers
 * come from the manifest itself, never read. */
static int visit_doc(void *ctx, const struct ep_image_node *n, const char *bytes, size_t len, struct ep_error *err)
{
	struct walk *w = ctx;
	if (n->kind != EP_OCI_MANIFEST)
		return 0;
	char path[96];
	snprintf(path, sizeof path, "blobs/sha256/%s", n->hex);
	json_t *doc = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = doc ? add_manifest(w, n->desc, doc, path, n->depth > 0) : ep_oom(err);
	json_decref(doc);
	return rc;
}

static const struct ep_image_walk_ops describe_walk = { load_doc, visit_doc };

static struct ep_image_info *new_image(struct walk *w, struct ep_image_list *l)
{
	if (!ep_grow((void **)&l->images, &l->cap_images, l->nimages + 1, sizeof *l->images)) {
		ep_oom(w->err);
		return NULL;
	}
	w->img = &l->images[l->nimages++];
	*w->img = (struct ep_image_info){ 0 };
	return w->img;
}

static int add_tag(struct walk *w, const char *tag)
{
	struct ep_image_info *img = w->img;
	if (!tag)
		return 0;
	char **tags = realloc(img->tags, (img->ntags + 1) * sizeof *tags);
	if (!tags)
		return ep_oom(w->err);
	img->tags = tags;
	tags[img->ntags] = NULL;
	return copy_str(w, &tags[img->ntags++], tag);
}

static int describe_oci(struct walk *w, struct ep_image_list *l)
{
	int rc = 0;
	for (size_t k = 0; !rc && k < w->c->nimages; k++) {
		json_t *desc = json_loads(w->c->images[k], 0, NULL);
		struct ep_image_info *img = new_image(w, l);
		w->seen = ep_digestmap_new();
		rc = !img || !w->seen ? ep_oom(w->err) : !desc ? bad(w, EP_EINPUT, "descriptor %zu is not JSON", k) : 0;
		const char *digest = json_string_value(json_object_get(desc, "digest"));
		if (!rc) {
			snprintf(img->digest, sizeof img->digest, "%s", digest ? digest : "");
			rc = add_tag(w, json_string_value(json_object_get(json_object_get(desc, "annotations"),
									"org.opencontainers.image.ref.name")));
		}
		char where[600];
		snprintf(where, sizeof where, "image '%s' in '%s'", w->c->name, w->what);
		if (!rc && !(rc = copy_str(w, &img->media_type, json_string_value(json_object_get(desc, "mediaType")))))
			rc = ep_image_walk(desc, &describe_walk, w, where, w->seen, w->err);
		ep_digestmap_free(w->seen);
		json_decref(desc);
	}
	return rc;
}

/* One image of manifest.json: its config names the platform and the layers' DiffIDs. */
static int describe_archived(struct walk *w, json_t *entry)
{
	struct ep_image_manifest *m = new_manifest(w);
	const char *config = json_string_value(json_object_get(entry, "Config"));
	json_t *cfg = NULL, *tags = json_object_get(entry, "RepoTags"), *t;
	uint8_t sha[EP_DIGEST_LEN];
	char hex[EP_DIGEST_HEX];
	size_t i;
	int rc = !m ? w->err->code : !config ? bad(w, EP_EINPUT, "an image of manifest.json has no Config") : 0;
	json_array_foreach(rc ? NULL : tags, i, t)
	{
		if ((rc = add_tag(w, json_string_value(t))))
			break;
	}
	if (!rc && !(rc = read_json(w, config, NULL, &cfg, sha))) {
		ep_hex(sha, EP_DIGEST_LEN, hex);
		snprintf(w->img->digest, EP_IMAGE_DIGEST, "sha256:%s", hex);
		memcpy(m->config, w->img->digest, EP_IMAGE_DIGEST);
		if (!(rc = copy_str(w, &w->img->media_type, DOCKER_CONFIG_TYPE)))
			rc = platform(w, cfg, &m->platform);
	}
	json_t *layers = json_object_get(entry, "Layers");
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (!rc && (!json_is_array(layers) || !json_is_array(diff_ids) || json_array_size(layers) != json_array_size(diff_ids)))
		rc = bad(w, EP_EINPUT, "the layers of %s do not match its config's diff_ids", config);
	for (i = 0; !rc && i < json_array_size(layers); i++) {
		const char *path = json_string_value(json_array_get(layers, i));
		const char *id = json_string_value(json_array_get(diff_ids, i));
		ssize_t f = path ? ep_file_resolve(w->c->files, w->c->nfiles, path) : -1;
		if (f < 0 || !id || strncmp(id, "sha256:", 7) != 0 || !ep_unhex(id + 7, sha, EP_DIGEST_LEN))
			rc = bad(w, EP_EINPUT, "layer %zu of %s is missing or has no sha256 DiffID", i, config);
		else
			rc = add_layer(w, m, id + 7, w->c->files[f].size);
	}
	json_decref(cfg);
	return rc;
}

static int describe_archive(struct walk *w, struct ep_image_list *l)
{
	json_t *list, *entry;
	uint8_t sha[EP_DIGEST_LEN];
	int rc = read_json(w, "manifest.json", NULL, &list, sha);
	if (rc)
		return rc;
	if (!json_is_array(list) || json_array_size(list) != w->c->nimages)
		rc = bad(w, EP_EINPUT, "manifest.json does not list the %zu images the bundle's manifest names",
			 w->c->nimages);
	size_t k;
	json_array_foreach(rc ? NULL : list, k, entry)
	{
		if ((rc = !new_image(w, l) ? w->err->code : describe_archived(w, entry)))
			break;
	}
	json_decref(list);
	return rc;
}

int ep_image_describe(const struct ep_component *c, const char *what, ep_image_read_fn read, void *ctx,
		      struct ep_image_list **out, struct ep_error *err)
{
	struct walk w = { .c = c, .what = what, .read = read, .ctx = ctx, .err = err };
	struct ep_image_list *l = calloc(1, sizeof *l);
	if (!l)
		return ep_oom(err);
	int rc = c->format && !strcmp(c->format, "docker-archive") ? describe_archive(&w, l) : describe_oci(&w, l);
	if (rc) {
		ep_image_list_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void ep_image_list_free(struct ep_image_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nimages; i++) {
		struct ep_image_info *img = &l->images[i];
		for (size_t k = 0; k < img->ntags; k++)
			free(img->tags[k]);
		for (size_t k = 0; k < img->nmanifests; k++) {
			free(img->manifests[k].media_type);
			free(img->manifests[k].platform);
			free(img->manifests[k].layers);
		}
		free(img->tags);
		free(img->media_type);
		free(img->manifests);
	}
	free(l->images);
	free(l);
}
