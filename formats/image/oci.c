/*
 * OCI image layout reader (opencontainers/image-spec image-layout.md): checks
 * oci-layout, reads index.json, and walks each chosen descriptor through
 * indexes and manifests to configs and layers. Every blob is hashed and its
 * size compared with its descriptor's before it is accepted.
 */
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/digestmap.h"


struct walk {
	struct ep_oci_image *img;
	struct ep_digestmap *seen;
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
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[1 << 16], digest[EP_DIGEST_LEN];
	char got[EP_DIGEST_HEX];
	int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ? 0 : ep_oom(w->err);
	ssize_t n;
	while (!rc && (n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (!rc && n < 0)
		rc = ep_fail_errno(w->err, EP_ERUNTIME, "oci: cannot read blob %s", hex);
	if (!rc) {
		EVP_DigestFinal_ex(ctx, digest, NULL);
		ep_hex(digest, EP_DIGEST_LEN, got);
		if (strcmp(got, hex) != 0)
			rc = ep_fail(w->err, EP_EINTEGRITY, "oci: blob %s in '%s' does not match its digest (its content hashes to %s)",
				     hex, w->img->dir, got);
	}
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

static int read_json_blob(struct walk *w, const char *hex, uint64_t size, json_t **out)
{
	char path[128], *text = NULL;
	size_t len;
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", w->img->dir, hex);
	if (size > EP_OCI_JSON_MAX)
		return bad(w, EP_EINPUT, "a manifest or index is larger than 4 MiB", hex);
	int rc = ep_read_file(path, EP_OCI_JSON_MAX, &text, &len, w->err);
	if (rc)
		return rc;
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	return *out ? 0 : bad(w, EP_EINPUT, "a manifest or index is not JSON", hex);
}

static int walk_descriptor(struct walk *w, json_t *desc, int depth);

static int walk_list(struct walk *w, json_t *list, int depth)
{
	size_t i;
	json_t *d;
	if (!json_is_array(list))
		return 0;
	json_array_foreach(list, i, d)
	{
		int rc = walk_descriptor(w, d, depth);
		if (rc)
			return rc;
	}
	return 0;
}

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

static int walk_descriptor(struct walk *w, json_t *desc, int depth)
{
	enum ep_oci_kind kind = ep_oci_kind(json_string_value(json_object_get(desc, "mediaType")));
	uint8_t raw[EP_DIGEST_LEN];
	uint64_t n;
	const char *hex = ep_oci_digest(desc, raw, &n);
	if (depth > EP_OCI_MAX_DEPTH)
		return bad(w, EP_EINPUT, "indexes nest too deep", "more than 8 levels (a loop?)");
	if (!hex) {
		const char *digest = json_string_value(json_object_get(desc, "digest"));
		return bad(w, EP_EINPUT, "a descriptor has no sha256 digest or no size", digest ? digest : "(none)");
	}
	if (ep_digestmap_get(w->seen, raw, NULL))
		return 0;
	int rc = check_blob(w, hex, n);
	if (rc)
		return rc;
	struct ep_oci_image *img = w->img;
	if (!ep_digestmap_put(w->seen, raw, 1) ||
	    !ep_grow((void **)&img->blobs, &img->cap_blobs, img->nblobs + 1, sizeof *img->blobs))
		return ep_oom(w->err);
	memcpy(img->blobs[img->nblobs].hex, hex, EP_DIGEST_HEX);
	img->blobs[img->nblobs++].size = n;
	if (kind == EP_OCI_LEAF)
		return 0; /* a config or a layer */
	json_t *doc;
	if ((rc = read_json_blob(w, hex, n, &doc)))
		return rc;
	if (kind == EP_OCI_INDEX)
		rc = walk_list(w, json_object_get(doc, "manifests"), depth + 1);
	else if (!(rc = walk_descriptor(w, json_object_get(doc, "config"), depth + 1)))
		rc = walk_list(w, json_object_get(doc, "layers"), depth + 1);
	json_decref(doc);
	return rc;
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
	struct walk w = { img, ep_digestmap_new(), err };
	char path[4200], *text = NULL;
	size_t len;
	json_t *layout = NULL, *index = NULL;
	int rc = img->dirfd < 0 ? ep_fail_errno(err, EP_EINPUT, "oci: cannot open layout '%s'", dir)
				: !w.seen	? ep_oom(err)
						: 0;
	if (!rc) {
		snprintf(path, sizeof path, "%s/oci-layout", dir);
		if (!(rc = ep_read_file(path, 4096, &text, &len, err))) {
			layout = json_loadb(text, len, 0, NULL);
			const char *v = json_string_value(json_object_get(layout, "imageLayoutVersion"));
			if (!v || strcmp(v, "1.0.0") != 0)
				rc = bad(&w, EP_EINPUT, "oci-layout", "imageLayoutVersion is not 1.0.0");
			free(text);
		}
	}
	if (!rc) {
		snprintf(path, sizeof path, "%s/index.json", dir);
		if (!(rc = ep_read_file(path, EP_OCI_JSON_MAX, &text, &len, err))) {
			index = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
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
			if ((rc = walk_descriptor(&w, d, 0)) || (rc = add_descriptor(img, d, err)))
				break;
		}
	if (!rc && img->ndescriptors == 0)
		rc = ref ? ep_fail(err, EP_EINPUT, "oci: '%s' has no image tagged '%s'", dir, ref)
			 : ep_fail(err, EP_EINPUT, "oci: '%s' holds no image", dir);
	json_decref(layout);
	json_decref(index);
	ep_digestmap_free(w.seen);
	if (rc) {
		ep_oci_free(img);
		return rc;
	}
	*out = img;
	return 0;
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
	free(img->dir);
	free(img);
}
