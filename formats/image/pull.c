#include "formats/image/pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/digestmap.h"
#include "formats/image/walk.h"

#define REF_NAME "org.opencontainers.image.ref.name"

struct pull_walk {
	struct ep_pull *p;
	const char *root_digest;
	const char *root_bytes;
	size_t root_len;
};

static int load_manifest(void *ctx, const struct ep_image_node *n, char **bytes, size_t *len, struct ep_error *err)
{
	struct pull_walk *w = ctx;
	char media[200], digest[72];
	if (w->root_bytes && !strcmp(n->digest, w->root_digest)) {
		*len = w->root_len;
		return (*bytes = malloc(w->root_len + 1)) ? (memcpy(*bytes, w->root_bytes, w->root_len), 0) : ep_oom(err);
	}
	return ep_registry_get_manifest(w->p->registry, w->p->ref.repo, n->digest, bytes, len, media, sizeof media, digest,
					err);
}

static int visit(void *ctx, const struct ep_image_node *n, const char *bytes, size_t len, struct ep_error *err)
{
	struct ep_pull *p = ((struct pull_walk *)ctx)->p;
	if (!ep_grow((void **)&p->blobs, &p->cap_blobs, p->nblobs + 1, sizeof *p->blobs) ||
	    !ep_grow((void **)&p->manifests, &p->cap_manifests, p->nblobs + 1, sizeof *p->manifests))
		return ep_oom(err);
	char *copy = NULL;
	if (bytes && !(copy = malloc(len ? len : 1)))
		return ep_oom(err);
	if (copy)
		memcpy(copy, bytes, len);
	memcpy(p->blobs[p->nblobs].hex, n->hex, EP_DIGEST_HEX);
	p->blobs[p->nblobs].size = n->size;
	p->manifests[p->nblobs++] = copy;
	return 0;
}

static const struct ep_image_walk_ops pull_walk_ops = { load_manifest, visit };

int ep_pull_collect(const char *text, const char *platform, const struct ep_registry_options *opt,
		    struct ep_pull **out, struct ep_error *err)
{
	struct ep_pull *p = calloc(1, sizeof *p);
	if (!p)
		return ep_oom(err);
	char *bytes = NULL, media[200] = "", digest[72];
	size_t len = 0;
	json_t *doc = NULL, *root = NULL;
	int rc = ep_image_ref_parse(text, &p->ref, err);
	if (!rc) {
		snprintf(p->where, sizeof p->where, "%s/%s%s%s", p->ref.host, p->ref.repo, p->ref.digest[0] ? "@" : ":",
			 p->ref.digest[0] ? p->ref.digest : p->ref.tag);
		rc = ep_registry_open(&p->registry, p->ref.host, opt, err);
	}
	if (!rc)
		rc = ep_registry_get_manifest(p->registry, p->ref.repo, p->ref.digest[0] ? p->ref.digest : p->ref.tag, &bytes,
					      &len, media, sizeof media, digest, err);
	if (!rc && !(doc = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, NULL)))
		rc = ep_fail(err, EP_EINPUT, "registry: the manifest of %s is not JSON", p->where);
	if (!rc && !media[0]) /* some registries omit the type: the document says it */
		snprintf(media, sizeof media, "%s", json_string_value(json_object_get(doc, "mediaType")) ?: "");
	bool is_index = strstr(media, "image.index") || strstr(media, "manifest.list");
	if (!rc && platform && is_index) {
		json_t *d = ep_image_choose(doc, platform);
		if (!d)
			rc = ep_fail(err, EP_EINPUT, "registry: %s has no image for platform %s", p->where, platform);
		else
			root = json_deep_copy(d);
	} else if (!rc) {
		root = json_pack("{s:s,s:s,s:I}", "mediaType", media, "digest", digest, "size", (json_int_t)len);
	}
	if (!rc && !root)
		rc = ep_oom(err);
	if (!rc && p->ref.tag[0]) {
		json_t *notes = json_object_get(root, "annotations");
		if (!json_is_object(notes))
			json_object_set_new(root, "annotations", notes = json_object());
		json_object_set_new(notes, REF_NAME, json_string(p->ref.tag));
	}
	struct ep_digestmap *seen = rc ? NULL : ep_digestmap_new();
	struct pull_walk w = { p, digest, bytes, len };
	char where[800];
	snprintf(where, sizeof where, "registry: %s", p->where);
	if (!rc)
		rc = seen ? ep_image_walk(root, &pull_walk_ops, &w, where, seen, err) : ep_oom(err);
	if (!rc && !(p->descriptor = json_dumps(root, JSON_COMPACT)))
		rc = ep_oom(err);
	ep_digestmap_free(seen);
	json_decref(root);
	json_decref(doc);
	free(bytes);
	if (rc) {
		ep_pull_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int ep_pull_read(struct ep_pull *p, size_t i, ep_blob_sink sink, void *ctx, struct ep_error *err)
{
	char digest[72];
	if (p->manifests[i])
		return sink(ctx, p->manifests[i], (size_t)p->blobs[i].size, err);
	snprintf(digest, sizeof digest, "sha256:%s", p->blobs[i].hex);
	return ep_registry_get_blob(p->registry, p->ref.repo, digest, p->blobs[i].size, sink, ctx, err);
}

void ep_pull_free(struct ep_pull *p)
{
	if (!p)
		return;
	ep_registry_close(p->registry);
	for (size_t i = 0; i < p->nblobs; i++)
		free(p->manifests[i]);
	free(p->manifests);
	free(p->blobs);
	free(p->descriptor);
	free(p);
}
