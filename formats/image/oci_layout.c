/*
 * OCI image layout reader (opencontainers/image-spec image-layout.md): checks
 * oci-layout, reads index.json, and walks each chosen descriptor through
 * indexes and manifests to configs and layers. Every blob is hashed and its
 * size compared with its descriptor's before it is accepted.
 */
#include "formats/image/oci_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/digestmap.h"

#include "formats/image/walk.h"

struct walk {
	struct ep_oci_image *img;
	struct ep_error *err;
};

static int bad(struct walk *w, int code, const char *what, const char *detail)
{
	return ep_fail(w->err, code, "oci: %s in '%s': %s", what, w->img->dir, detail);
}

/* Hashes blobs/sha256/<hex> and checks it against its descriptor. */
static int check_blob(struct walk *w, const char *hex, uint64_t size)
{
	char path[128];
	snprintf(path, sizeof path, "blobs/sha256/%s", hex);
	int fd = openat(w->img->dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return ep_fail_errno(w->err, EP_EINPUT, "oci: blob %s named in '%s' cannot be opened", hex, w->img->dir);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		close(fd);
		return ep_fail(w->err, EP_EINTEGRITY, "oci: blob %s in '%s' is not a file of the %llu bytes its descriptor says",
			       hex, w->img->dir, (unsigned long long)size);
	}
	char got[EP_DIGEST_HEX];
	int rc = ep_hash_fd(fd, 0, size, "sha256", got, path, w->err);
	if (!rc && strcmp(got, hex) != 0)
		rc = ep_fail(w->err, EP_EINTEGRITY, "oci: blob %s in '%s' does not match its digest (its content hashes to %s)",
			     hex, w->img->dir, got);
	close(fd);
	return rc;
}

static int load_blob(void *ctx, const struct ep_image_node *n, char **bytes, size_t *len, struct ep_error *err)
{
	struct walk *w = ctx;
	char path[PATH_MAX];
	int rc = check_blob(w, n->hex, n->size);
	if (!rc)
		rc = ep_path_format(path, sizeof path, err, "%s/blobs/sha256/%s", w->img->dir, n->hex);
	return rc ? rc : ep_read_file(path, EP_OCI_JSON_MAX, bytes, len, err);
}

static int visit_blob(void *ctx, const struct ep_image_node *n, const char *bytes, size_t len, struct ep_error *err)
{
	struct walk *w = ctx;
	struct ep_oci_image *img = w->img;
	(void)len;
	int rc = bytes ? 0 : check_blob(w, n->hex, n->size); /* load checked the rest */
	if (rc)
		return rc;
	if (!ep_grow((void **)&img->blobs, &img->cap_blobs, img->nblobs + 1, sizeof *img->blobs))
		return ep_oom(err);
	memcpy(img->blobs[img->nblobs].hex, n->hex, EP_DIGEST_HEX);
	img->blobs[img->nblobs++].size = n->size;
	return 0;
}

static const struct ep_image_walk_ops layout_walk = { load_blob, visit_blob };

enum ep_oci_kind ep_oci_kind(const char *media_type)
{
	if (media_type && (strstr(media_type, "image.index") || strstr(media_type, "manifest.list")))
		return EP_OCI_INDEX;
	return media_type && strstr(media_type, "manifest") ? EP_OCI_MANIFEST : EP_OCI_LEAF;
}

const char *ep_oci_digest(const json_t *desc, uint8_t raw[EP_DIGEST_LEN], uint64_t *size)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_t *n = json_object_get(desc, "size");
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || !ep_unhex(digest + 7, raw, EP_DIGEST_LEN) ||
	    !json_is_integer(n) || json_integer_value(n) < 0)
		return NULL;
	*size = (uint64_t)json_integer_value(n);
	return digest + 7;
}

static int add_descriptor(struct ep_oci_image *img, json_t *d, struct ep_error *err)
{
	char *s = json_dumps(d, JSON_COMPACT);
	if (!s || !ep_grow((void **)&img->descriptors, &img->cap_descriptors, img->ndescriptors + 1,
			   sizeof *img->descriptors)) {
		free(s);
		return ep_oom(err);
	}
	img->descriptors[img->ndescriptors++] = s;
	return 0;
}

int ep_oci_collect(const char *dir, const char *ref, struct ep_oci_image **out, struct ep_error *err)
{
	struct ep_oci_image *img = calloc(1, sizeof *img);
	if (!img || !(img->dir = strdup(dir))) {
		free(img);
		return ep_oom(err);
	}
	img->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct walk w = { img, err };
	struct ep_digestmap *seen = ep_digestmap_new();
	char where[PATH_MAX + 16]; /* "oci: '" DIR "'" */
	snprintf(where, sizeof where, "oci: '%s'", dir);
	char path[PATH_MAX], *text = NULL;
	size_t len;
	json_t *layout = NULL, *index = NULL;
	int rc = img->dirfd < 0 ? ep_fail_errno(err, EP_EINPUT, "oci: cannot open layout '%s'", dir)
				: !seen		? ep_oom(err)
						: 0;
	if (!rc) {
		if (!(rc = ep_path_format(path, sizeof path, err, "%s/oci-layout", dir)) &&
		    !(rc = ep_read_file(path, 4096, &text, &len, err))) {
			layout = json_loadb(text, len, 0, NULL);
			const char *v = json_string_value(json_object_get(layout, "imageLayoutVersion"));
			if (!v || strcmp(v, "1.0.0") != 0)
				rc = bad(&w, EP_EINPUT, "oci-layout", "imageLayoutVersion is not 1.0.0");
			img->layout_file = text;
			img->layout_len = len;
		}
	}
	if (!rc) {
		if (!(rc = ep_path_format(path, sizeof path, err, "%s/index.json", dir)) &&
		    !(rc = ep_read_file(path, EP_OCI_JSON_MAX, &text, &len, err))) {
			index = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
			if (!ref) {
				img->index_file = text;
				img->index_len = len;
			} else
				free(text);
			if (!json_is_array(json_object_get(index, "manifests")))
				rc = bad(&w, EP_EINPUT, "index.json", "it is not an image index");
		}
	}
	size_t i;
	json_t *d;
	if (!rc)
		json_array_foreach(json_object_get(index, "manifests"), i, d)
		{
			const char *name = json_string_value(
				json_object_get(json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
			if (ref && (!name || strcmp(name, ref) != 0))
				continue;
			if ((rc = ep_image_walk(d, &layout_walk, &w, where, seen, err)) || (rc = add_descriptor(img, d, err)))
				break;
		}
	if (!rc && img->ndescriptors == 0)
		rc = ref ? ep_fail(err, EP_EINPUT, "oci: '%s' has no image tagged '%s'", dir, ref)
			 : ep_fail(err, EP_EINPUT, "oci: '%s' holds no image", dir);
	json_decref(layout);
	json_decref(index);
	ep_digestmap_free(seen);
	if (rc) {
		ep_oci_free(img);
		return rc;
	}
	*out = img;
	return 0;
}

int ep_oci_read_blob(const struct ep_oci_image *img, size_t i,
		     int (*sink)(void *ctx, const void *data, size_t len, struct ep_error *err), void *ctx,
		     struct ep_error *err)
{
	char path[96];
	snprintf(path, sizeof path, "blobs/sha256/%s", img->blobs[i].hex);
	int fd = openat(img->dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s/%s'", img->dir, path);
	size_t cap = (size_t)1 << 20;
	uint8_t *buf = malloc(cap);
	ssize_t n;
	int rc = buf ? 0 : ep_oom(err);
	while (!rc && (n = read(fd, buf, cap)) != 0)
		rc = n < 0 ? ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s/%s'", img->dir, path) : sink(ctx, buf, (size_t)n, err);
	free(buf);
	close(fd);
	return rc;
}

void ep_oci_free(struct ep_oci_image *img)
{
	if (!img)
		return;
	if (img->dirfd >= 0)
		close(img->dirfd);
	for (size_t i = 0; i < img->ndescriptors; i++)
		free(img->descriptors[i]);
	free(img->descriptors);
	free(img->blobs);
	free(img->layout_file);
	free(img->index_file);
	free(img->dir);
	free(img);
}
