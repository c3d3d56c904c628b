/* An image component held in memory for ep_image_describe, shared by its unit
 * tests and fuzz target: each file record's content is kept beside it. */
#ifndef EP_TEST_IMAGE_MEM_H
#define EP_TEST_IMAGE_MEM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/manifest.h"
#include "formats/image/describe.h"

#define MEM_FILES 64

struct mem_image {
	struct ep_manifest *m;
	struct ep_component *c;
	char *data[MEM_FILES];
	size_t len[MEM_FILES];
};

static inline void mem_init(struct mem_image *mi, const char *format)
{
	memset(mi, 0, sizeof *mi);
	mi->m = ep_manifest_new("env", "2026-01-01T00:00:00Z", "test");
	mi->c = ep_manifest_add_component(mi->m, EP_COMP_IMAGE, "img", "src");
	mi->c->format = strdup(format);
}

/* A file at path, or at blobs/sha256/<its digest> when path is NULL; hex gets its digest. */
static inline void mem_file(struct mem_image *mi, const char *path, const void *data, size_t len,
			    char hex[EP_DIGEST_HEX])
{
	uint8_t sha[EP_DIGEST_LEN];
	char name[96];
	struct ep_error err = { 0 };
	ep_sha256(data, len, sha);
	ep_hex(sha, EP_DIGEST_LEN, hex);
	snprintf(name, sizeof name, "blobs/sha256/%s", hex);
	if (mi->c->nfiles == MEM_FILES || ep_component_add_file(mi->c, path ? path : name, EP_FILE_REG, 0644, 0, NULL, &err))
		abort();
	mi->c->files[mi->c->nfiles - 1].size = len;
	char *copy = malloc(len + 1);
	if (!copy)
		abort();
	memcpy(copy, data, len);
	copy[len] = '\0';
	mi->data[mi->c->nfiles - 1] = copy;
	mi->len[mi->c->nfiles - 1] = len;
}

static inline void mem_link(struct mem_image *mi, const char *path, const char *target)
{
	struct ep_error err = { 0 };
	if (mi->c->nfiles == MEM_FILES || ep_component_add_file(mi->c, path, EP_FILE_SYMLINK, 0, 0, target, &err))
		abort();
}

static inline void mem_descriptor(struct mem_image *mi, const char *media_type, const char *hex, size_t size,
				  const char *ref)
{
	char d[512];
	struct ep_error err = { 0 };
	snprintf(d, sizeof d, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu%s%s%s}", media_type, hex, size,
		 ref ? ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" : "", ref ? ref : "", ref ? "\"}" : "");
	if (ep_component_add_image(mi->c, d, &err))
		abort();
}

static inline int mem_read(void *ctx, const struct ep_component *c, const struct ep_file_rec *f, char **out,
			   size_t *len, struct ep_error *err)
{
	struct mem_image *mi = ctx;
	size_t i = (size_t)(f - c->files);
	if (!(*out = malloc(mi->len[i] + 1)))
		return ep_oom(err);
	memcpy(*out, mi->data[i], mi->len[i]);
	(*out)[mi->len[i]] = '\0';
	*len = mi->len[i];
	return 0;
}

static inline int mem_describe(struct mem_image *mi, struct ep_image_list **out, struct ep_error *err)
{
	return ep_image_describe(mi->c, "mem.envpack", mem_read, mi, out, err);
}

static inline void mem_free(struct mem_image *mi)
{
	for (size_t i = 0; i < MEM_FILES; i++)
		free(mi->data[i]);
	ep_manifest_free(mi->m);
}

#endif
