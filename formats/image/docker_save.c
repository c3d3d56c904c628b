/*
 * docker-archive reader (moby/docker-image-spec). Pass one lists and hashes
 * every entry, refusing anything but plain files and symlinks inside the
 * archive, then checks manifest.json: each Config must hash to its name and
 * each layer to the config's rootfs.diff_ids. Pass two hands the data over.
 */
#include "formats/image/docker_save.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "base/util.h"

#define JSON_MAX (4u << 20)

struct hashed {
	uint8_t sha[EP_DIGEST_LEN];
	char *json; /* manifest.json and *.json entries, kept for checking */
	size_t json_len;
};

static struct archive *open_archive(const char *file, struct ep_error *err)
{
	struct archive *ar = archive_read_new();
	if (!ar) {
		ep_oom(err);
		return NULL;
	}
	archive_read_support_format_tar(ar);
	if (archive_read_open_filename(ar, file, 1 << 16) != ARCHIVE_OK) {
		ep_fail(err, EP_EINPUT, "docker-archive: cannot read '%s': %s", file, archive_error_string(ar));
		archive_read_free(ar);
		return NULL;
	}
	return ar;
}

static int add_entry(struct ep_darchive *a, struct archive_entry *e, struct ep_error *err)
{
	const char *name = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);
	if (!name || archive_entry_hardlink(e) || (type != AE_IFREG && type != AE_IFLNK && type != AE_IFDIR))
		return ep_fail(err, EP_EINPUT, "docker-archive: '%s' holds entry '%s' that is not a file, directory or symlink",
			       a->path, name ? name : "?");
	char path[EP_RELPATH_MAX + 1];
	if (ep_path_format(path, sizeof path, err, "%s", name)) {
		ep_error_prefix(err, "docker-archive: '%s': ", a->path);
		return err->code;
	}
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		path[--n] = '\0';
	if (type == AE_IFDIR)
		return 0; /* directories are implied by their files */
	const char *target = type == AE_IFLNK ? archive_entry_symlink(e) : NULL;
	/* where symlinks lead is checked once all are listed (check_links) */
	if (!ep_relpath_ok(path) || (type == AE_IFLNK && !target))
		return ep_fail(err, EP_EINPUT, "docker-archive: '%s' holds unsafe entry '%s'", a->path, name);
	if (ep_file_find(a->entries, a->nentries, path) >= 0)
		return ep_fail(err, EP_EINPUT, "docker-archive: '%s' holds entry '%s' twice", a->path, path);
	if (!ep_grow((void **)&a->entries, &a->cap_entries, a->nentries + 1, sizeof *a->entries))
		return ep_oom(err);
	struct ep_file_rec *d = &a->entries[a->nentries];
	*d = (struct ep_file_rec){ .type = target ? EP_FILE_SYMLINK : EP_FILE_REG,
					 .size = target ? 0 : (uint64_t)archive_entry_size(e),
					 .mtime = archive_entry_mtime(e),
					 .mode = archive_entry_perm(e) & 0777 };
	d->path = strdup(path);
	d->target = target ? strdup(target) : NULL;
	if (!d->path || (target && !d->target))
		return ep_oom(err);
	a->nentries++;
	return 0;
}

static int hash_data(struct archive *ar, struct hashed *h, bool keep, struct ep_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return ep_oom(err);
	}
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc = 0;
	while ((r = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK) {
		EVP_DigestUpdate(md, buf, len);
		if (keep) {
			char *p = h->json_len + len <= JSON_MAX ? realloc(h->json, h->json_len + len + 1) : NULL;
			if (!p) {
				rc = ep_fail(err, EP_EINPUT, "docker-archive: a JSON entry is larger than 4 MiB");
				break;
			}
			memcpy(p + h->json_len, buf, len);
			h->json = p;
			h->json_len += len;
			h->json[h->json_len] = '\0';
		}
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "docker-archive: damaged data: %s", archive_error_string(ar));
	EVP_DigestFinal_ex(md, h->sha, NULL);
	EVP_MD_CTX_free(md);
	return rc;
}

static int check_manifest(struct ep_darchive *a, const struct hashed *h, struct ep_error *err)
{
	ssize_t mi = ep_file_find(a->entries, a->nentries, "manifest.json");
	if (mi < 0 || !h[mi].json)
		return ep_fail(err, EP_EINPUT, "docker-archive: '%s' has no manifest.json", a->path);
	json_t *m = json_loads(h[mi].json, JSON_REJECT_DUPLICATES, NULL), *img;
	size_t k;
	int rc = json_is_array(m) && json_array_size(m) ? 0
							: ep_fail(err, EP_EINPUT, "docker-archive: manifest.json of '%s' is not a list of images", a->path);
	json_array_foreach(m, k, img)
	{
		if (rc)
			break;
		const char *config = json_string_value(json_object_get(img, "Config"));
		ssize_t ci = config ? ep_file_resolve(a->entries, a->nentries, config) : -1;
		char hex[EP_DIGEST_HEX];
		if (ci < 0 || !h[ci].json) {
			rc = ep_fail(err, EP_EINPUT, "docker-archive: '%s' lacks config '%s'", a->path, config ? config : "?");
			break;
		}
		ep_hex(h[ci].sha, EP_DIGEST_LEN, hex);
		/* configs are named after their digest: "<hex>.json" or "blobs/sha256/<hex>" */
		const char *base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
		uint8_t named[EP_DIGEST_LEN];
		char head[EP_DIGEST_HEX];
		snprintf(head, sizeof head, "%.64s", base);
		if (ep_unhex(head, named, EP_DIGEST_LEN) && strcmp(head, hex) != 0) {
			rc = ep_fail(err, EP_EINTEGRITY, "docker-archive: config '%s' in '%s' hashes to %s", config, a->path, hex);
			break;
		}
		json_t *cfg = json_loads(h[ci].json, 0, NULL);
		json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
		json_t *layers = json_object_get(img, "Layers");
		if (!json_is_array(layers) || !json_is_array(diff_ids) || json_array_size(layers) != json_array_size(diff_ids))
			rc = ep_fail(err, EP_EINPUT, "docker-archive: the layers of '%s' in '%s' do not match its config", config,
				     a->path);
		for (size_t l = 0; !rc && l < json_array_size(layers); l++) {
			const char *lp = json_string_value(json_array_get(layers, l));
			const char *want = json_string_value(json_array_get(diff_ids, l));
			ssize_t li = lp ? ep_file_resolve(a->entries, a->nentries, lp) : -1;
			char got[EP_DIGEST_HEX];
			if (li < 0) {
				rc = ep_fail(err, EP_EINPUT, "docker-archive: '%s' lacks layer '%s'", a->path, lp ? lp : "?");
				break;
			}
			ep_hex(h[li].sha, EP_DIGEST_LEN, got);
			if (!want || strncmp(want, "sha256:", 7) != 0 || strcmp(want + 7, got) != 0)
				rc = ep_fail(err, EP_EINTEGRITY,
					     "docker-archive: layer '%s' in '%s' does not match its digest (%s, content hashes to sha256:%s)",
					     lp, a->path, want ? want : "none", got);
		}
		const char *tag = json_string_value(json_array_get(json_object_get(img, "RepoTags"), 0));
		json_t *d = json_pack("{s:s,s:s+,s:I}", "mediaType", "application/vnd.docker.container.image.v1+json", "digest",
				      "sha256:", hex, "size", (json_int_t)a->entries[ci].size);
		if (d && tag)
			json_object_set_new(d, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", tag));
		char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
		if (!rc && (!s || !ep_grow((void **)&a->descriptors, &a->cap_descriptors, a->ndescriptors + 1,
					   sizeof *a->descriptors)))
			rc = ep_oom(err);
		if (!rc) {
			a->descriptors[a->ndescriptors++] = s;
			s = NULL;
		}
		free(s);
		json_decref(d);
		json_decref(cfg);
	}
	json_decref(m);
	return rc;
}

/* Each symlink, followed through all the others, stays inside the archive. */
static int check_links(const struct ep_darchive *a, struct ep_error *err)
{
	ssize_t i;
	enum ep_link_end how;
	int rc = ep_files_check_links(a->entries, a->nentries, &i, &how, err);
	if (rc || i < 0)
		return rc;
	return ep_fail(err, EP_EINPUT, "docker-archive: '%s' holds symlink '%s' that %s", a->path, a->entries[i].path,
		       how == EP_LINK_LOOP ? "loops" : "points outside the archive");
}

int ep_darchive_scan(const char *file, struct ep_darchive **out, struct ep_error *err)
{
	struct ep_darchive *a = calloc(1, sizeof *a);
	if (!a || !(a->path = strdup(file))) {
		free(a);
		return ep_oom(err);
	}
	struct archive *ar = open_archive(file, err);
	struct hashed *h = NULL;
	size_t cap_h = 0;
	int rc = ar ? 0 : err->code;
	struct archive_entry *e;
	int r = ARCHIVE_OK;
	while (!rc && (r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		size_t before = a->nentries;
		if ((rc = add_entry(a, e, err)) || a->nentries == before || a->entries[before].type != EP_FILE_REG)
			continue;
		if (!ep_grow((void **)&h, &cap_h, a->nentries, sizeof *h)) {
			rc = ep_oom(err);
			break;
		}
		memset(&h[before], 0, sizeof *h);
		size_t n = strlen(a->entries[before].path);
		bool json = n > 5 && !strcmp(a->entries[before].path + n - 5, ".json");
		rc = hash_data(ar, &h[before], json, err);
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ep_fail(err, EP_EINPUT, "docker-archive: '%s' is damaged: %s", file, archive_error_string(ar));
	if (!rc && !ep_grow((void **)&h, &cap_h, a->nentries + 1, sizeof *h))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < a->nentries; i++)
		if (a->entries[i].type != EP_FILE_REG)
			memset(&h[i], 0, sizeof h[i]);
	if (!rc)
		rc = check_links(a, err);
	if (!rc)
		rc = check_manifest(a, h, err);
	for (size_t i = 0; h && i < a->nentries; i++)
		free(h[i].json);
	free(h);
	if (ar)
		archive_read_free(ar);
	if (rc) {
		ep_darchive_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int ep_darchive_read(const struct ep_darchive *a, ep_darchive_data_fn fn, void *ctx, struct ep_error *err)
{
	struct archive *ar = open_archive(a->path, err);
	if (!ar)
		return err->code;
	struct archive_entry *e;
	int r, rc = 0;
	while (!rc && (r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		char path[EP_RELPATH_MAX + 1];
		ssize_t i = -1;
		if (!ep_path_format(path, sizeof path, err, "%s", archive_entry_pathname(e)))
			i = ep_file_find(a->entries, a->nentries, path);
		if (i < 0) {
			rc = ep_fail(err, EP_ERUNTIME, "docker-archive: '%s' changed while being packed", a->path);
			break;
		}
		const void *buf;
		size_t len;
		la_int64_t off;
		while (!rc && (r = archive_read_data_block(ar, &buf, &len, &off)) == ARCHIVE_OK)
			rc = fn(ctx, (size_t)i, buf, len, err);
		if (!rc && r != ARCHIVE_EOF)
			rc = ep_fail(err, EP_EINPUT, "docker-archive: '%s' is damaged: %s", a->path, archive_error_string(ar));
		if (!rc)
			rc = fn(ctx, (size_t)i, NULL, 0, err); /* the entry's end */
	}
	archive_read_free(ar);
	return rc;
}

void ep_darchive_free(struct ep_darchive *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nentries; i++) {
		free(a->entries[i].path);
		free(a->entries[i].target);
	}
	free(a->entries);
	for (size_t i = 0; i < a->ndescriptors; i++)
		free(a->descriptors[i]);
	free(a->descriptors);
	free(a->path);
	free(a);
}
