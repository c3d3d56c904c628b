/*
 * docker-archive:FILE.tar — an image component as the tar `docker load` and
 * skopeo read, written beside FILE and renamed into place (never over an
 * existing file) at commit. An image packed from a docker-archive comes back
 * byte for byte, so the config and layer digests are the source's. One packed
 * from an OCI layout or a registry is written as `skopeo copy oci:X
 * docker-archive:Y` writes it: the same config, each layer decompressed to the
 * tar its config's diff_id names, and manifest.json; what that changes (the
 * manifest, an index, the compressed layers' digests) is said in a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "base/digestmap.h"
#include "base/util.h"
#include "formats/image/distribution.h"
#include "formats/image/docker_save.h"
#include "formats/image/walk.h"
#include "targets/target.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define DIGEST_TEXT 72 /* "sha256:", 64 hex digits, NUL */

struct da_target {
	struct ep_target base;
	char *path, *tmp;
	int fd;
	bool used;
	const char *platform; /* -o platform=: the image of an index to write; NULL: the host's */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	char **notes; /* warnings, said once the archive is published */
	size_t nnotes, cap_notes;
};

static int da_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		   struct ep_error *err)
{
	static const char *const known[] = { "platform", NULL };
	int rc = ep_target_params_check(opt, "docker-archive", known, err);
	const char *platform = ep_target_param(opt, "platform");
	if (rc)
		return rc;
	if (platform && (!strchr(platform, '/') || platform[0] == '/' || strstr(platform, "//")))
		return ep_fail(err, EP_EINPUT, "docker-archive: -o platform= takes OS/ARCH[/VARIANT], as linux/arm64");
	struct da_target *t = calloc(1, sizeof *t);
	if (!t || !(t->path = strdup(location))) {
		free(t);
		return ep_oom(err);
	}
	t->base.ops = &ep_target_docker_archive;
	t->fd = -1;
	t->platform = platform;
	t->warn = opt ? opt->warn : NULL;
	t->warn_ctx = opt ? opt->warn_ctx : NULL;
	*out = &t->base;
	return 0;
}

static bool archived(const struct ep_component *c)
{
	return c->format && !strcmp(c->format, "docker-archive");
}

static int da_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	if (c->type != EP_COMP_IMAGE)
		return ep_fail(err, EP_EINPUT, "docker-archive: takes container images only ('%s' is not one; use dir:)",
			       c->name);
	if (c->format && !archived(c) && strcmp(c->format, "oci") != 0)
		return ep_fail(err, EP_EINPUT, "docker-archive: '%s' was packed from a %s, which it cannot write",
			       c->name, c->format);
	if (t->used)
		return ep_fail(err, EP_EINPUT, "docker-archive: one file takes one image component");
	if (ep_path_format(dest, cap, err, "%s", t->path))
		return err->code;
	if (access(t->path, F_OK) == 0)
		return ep_fail(err, EP_EINPUT, "'%s' exists; restore never overwrites", t->path);
	return 0;
}

/* The file the archive is written to, beside FILE. */
static int stage(struct da_target *t, struct ep_error *err)
{
	char *dir = strdup(t->path), *name = strdup(t->path);
	if (!dir || !name || asprintf(&t->tmp, "%s/.%s.XXXXXX", dirname(dir), basename(name)) < 0)
		t->tmp = NULL;
	free(dir);
	free(name);
	if (!t->tmp)
		return ep_oom(err);
	if ((t->fd = mkostemp(t->tmp, O_CLOEXEC)) < 0) {
		free(t->tmp);
		t->tmp = NULL;
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create a file beside '%s'", t->path);
	}
	return 0;
}

static la_ssize_t write_cb(struct archive *ar, void *ctx, const void *buf, size_t len)
{
	(void)ar;
	struct da_target *t = ctx;
	struct ep_error ignored;
	off_t at = lseek(t->fd, 0, SEEK_END);
	return at >= 0 && !ep_pwrite_full(t->fd, buf, len, (uint64_t)at, t->tmp, &ignored) ? (la_ssize_t)len : -1;
}

/* An image packed from a docker-archive: its entries as they were. */
static int put_archived(struct da_target *t, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	int rc = 0;
	struct archive *ar = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	if (!ar || !e || archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    archive_write_open(ar, t, NULL, write_cb, NULL) != ARCHIVE_OK)
		rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s'", t->path);
	ep_chunk_stream_start(s, c->chunks, c->nchunks);
	for (size_t i = 0; !rc && i < c->nfiles; i++) {
		const struct ep_file_rec *f = &c->files[i];
		if (f->type == EP_FILE_DIR)
			continue; /* implied by the entries beneath */
		archive_entry_clear(e);
		archive_entry_set_pathname(e, f->path);
		archive_entry_set_mtime(e, (time_t)f->mtime, 0);
		archive_entry_set_perm(e, f->mode ? f->mode & 0777 : 0777);
		if (f->type == EP_FILE_SYMLINK) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, f->target);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)f->size);
		}
		if (archive_write_header(ar, e) != ARCHIVE_OK) {
			rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
			break;
		}
		for (size_t k = 0; !rc && k < f->count; k++) {
			const uint8_t *data;
			size_t len;
			if ((rc = ep_chunk_stream_pull(s, &data, &len, err)))
				break;
			if (archive_write_data(ar, data, len) != (la_ssize_t)len)
				rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
		}
	}
	if (!rc && archive_write_close(ar) != ARCHIVE_OK)
		rc = ep_fail(err, EP_ERUNTIME, "cannot write '%s': %s", t->path, archive_error_string(ar));
	if (ar)
		archive_write_free(ar);
	archive_entry_free(e);
	return rc;
}

/* ---- an image packed from an OCI layout or a registry ---- */

struct convert {
	struct da_target *t;
	const struct ep_component *c;
	struct ep_chunk_stream *s;
	struct ep_digestmap *files; /* blob digest -> file record + 1 */
	struct ep_digestmap *done;  /* manifests written already (a second tag only adds its tag) */
	struct ep_darchive_writer *w;
	char where[200]; /* "docker-archive: image 'NAME'" */
};

/* What one image became, for its warning. */
struct image_note {
	char tag[400];
	char platform[200], index[DIGEST_TEXT]; /* "" unless chosen from an index */
	bool host; /* the platform is the host's, not one -o platform= named */
	char manifest[DIGEST_TEXT], config[DIGEST_TEXT];
	FILE *layers; /* "sha256:A -> sha256:B" for each layer stored under another digest */
	char *layers_text;
	size_t layers_len, nchanged;
};

/* The record of blob desc names, of the size it says. */
static const struct ep_file_rec *blob_of(struct convert *cv, json_t *desc, struct ep_error *err)
{
	uint8_t raw[EP_DIGEST_LEN];
	uint64_t size, v;
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	if (!ep_oci_digest(desc, raw, &size)) {
		ep_fail(err, EP_EINPUT, "%s: a descriptor has no sha256 digest or no size", cv->where);
		return NULL;
	}
	if (!ep_digestmap_get(cv->files, raw, &v) || cv->c->files[v - 1].size != size) {
		ep_fail(err, EP_EINTEGRITY, "%s names %s, which the bundle lacks", cv->where, digest);
		return NULL;
	}
	return &cv->c->files[v - 1];
}

/* An index, manifest or config that desc names: read whole, checked against its digest, parsed. */
static int load_json(struct convert *cv, json_t *desc, char **bytes, size_t *len, json_t **doc,
		     struct ep_error *err)
{
	const struct ep_file_rec *f = blob_of(cv, desc, err);
	const char *want = json_string_value(json_object_get(desc, "digest"));
	uint8_t sha[EP_DIGEST_LEN];
	char got[EP_DIGEST_HEX];
	int rc = f ? ep_chunk_stream_read(cv->s, cv->c->chunks + f->first, f->count, EP_OCI_JSON_MAX, bytes, len, err)
		   : err->code;
	if (rc)
		return rc;
	ep_sha256(*bytes, *len, sha);
	ep_hex(sha, EP_DIGEST_LEN, got);
	json_error_t je;
	if (strcmp(got, want + 7) != 0)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: %s does not match its digest (it hashes to sha256:%s)", cv->where,
			     want, got);
	else if (!(*doc = json_loadb(*bytes, *len, JSON_REJECT_DUPLICATES, &je)))
		rc = ep_fail(err, EP_EINPUT, "%s: %s is not JSON: %s (line %d)", cv->where, want, ep_printable(je.text),
			     je.line);
	if (rc) {
		free(*bytes);
		*bytes = NULL;
	}
	return rc;
}

/* Refuses an index that has no image for the platform wanted, naming those it has. */
static int no_platform(struct convert *cv, json_t *index, const char *digest, const char *want,
		       struct ep_error *err)
{
	char have[600] = "", p[200];
	size_t i, n = 0;
	json_t *d;
	json_array_foreach(json_object_get(index, "manifests"), i, d)
	{
		if (!ep_image_platform(d, p, sizeof p))
			snprintf(p, sizeof p, "(no platform)");
		if (n < sizeof have)
			n += (size_t)snprintf(have + n, sizeof have - n, "%s%s", i ? ", " : "", p);
	}
	return ep_fail(err, EP_EINPUT,
		       "%s: index %s has no image for %s%s (it has %s); choose one with -o platform=OS/ARCH[/VARIANT]",
		       cv->where, digest, want ? want : "this host", cv->t->platform || !want ? "" : ", this host's",
		       ep_printable(have));
}

/* From an image's descriptor down through indexes, each time to the entry of the platform
 * wanted, to one image manifest: *doc, and the descriptor naming it in *desc (owned by *keep). */
static int find_manifest(struct convert *cv, json_t *top, json_t **desc, json_t **doc, json_t **keep,
			 struct image_note *note, struct ep_error *err)
{
	const char *want = cv->t->platform ? cv->t->platform : ep_image_host_platform();
	json_t *d = top;
	int rc = 0;
	for (int depth = 0; !rc && ep_oci_kind(json_string_value(json_object_get(d, "mediaType"))) == EP_OCI_INDEX;
	     depth++) {
		char *bytes;
		size_t len;
		json_t *index;
		if (depth == EP_OCI_MAX_DEPTH)
			return ep_fail(err, EP_EINPUT, "%s: indexes nest more than %d deep", cv->where, EP_OCI_MAX_DEPTH);
		if ((rc = load_json(cv, d, &bytes, &len, &index, err)))
			break;
		free(bytes);
		if (!note->index[0])
			snprintf(note->index, sizeof note->index, "%s", json_string_value(json_object_get(d, "digest")));
		json_t *entry = want ? ep_image_choose(index, want) : NULL;
		if (!entry)
			rc = no_platform(cv, index, json_string_value(json_object_get(d, "digest")), want, err);
		else {
			ep_image_platform(entry, note->platform, sizeof note->platform);
			note->host = !cv->t->platform;
			json_decref(*keep);
			*keep = index;
			d = entry;
		}
		if (rc)
			json_decref(index);
	}
	if (!rc && ep_oci_kind(json_string_value(json_object_get(d, "mediaType"))) != EP_OCI_MANIFEST)
		rc = ep_fail(err, EP_EINPUT, "%s: %s is not an image manifest", cv->where,
			     json_string_value(json_object_get(d, "digest")) ?: "a descriptor");
	char *bytes = NULL;
	size_t len;
	if (!rc && !(rc = load_json(cv, d, &bytes, &len, doc, err))) {
		snprintf(note->manifest, sizeof note->manifest, "%s", json_string_value(json_object_get(d, "digest")));
		*desc = d;
	}
	free(bytes);
	return rc;
}

/* One layer, decompressed from the bundle's chunks into the archive as the tar its diff_id names. */
static int write_layer(struct convert *cv, json_t *desc, const char *diff_id, struct ep_error *err)
{
	if (ep_darchive_writer_holds(cv->w, diff_id))
		return 0;
	const struct ep_file_rec *f = blob_of(cv, desc, err);
	if (!f)
		return err->code;
	int rc = ep_darchive_layer_begin(cv->w, json_string_value(json_object_get(desc, "mediaType")), diff_id, err);
	const uint8_t *data;
	size_t len;
	int r = 0;
	if (!rc)
		ep_chunk_stream_start(cv->s, cv->c->chunks + f->first, f->count);
	while (!rc && (r = ep_chunk_stream_next(cv->s, &data, &len, err)) == 1)
		rc = ep_darchive_layer_feed(cv->w, data, len, err);
	if (!rc && r < 0)
		rc = r;
	if (!rc)
		rc = ep_darchive_layer_end(cv->w, err);
	if (rc)
		ep_error_prefix(err, "%s: layer %s: ", cv->where, json_string_value(json_object_get(desc, "digest")));
	return rc;
}

/* The config's diff_ids, one for each of the manifest's layers, as strings. */
static int diff_ids_of(struct convert *cv, json_t *config, json_t *layers, const char ***out, struct ep_error *err)
{
	json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	size_t n = json_array_size(layers);
	if (!json_is_array(layers) || !json_is_array(ids) || json_array_size(ids) != n)
		return ep_fail(err, EP_EINPUT, "%s: its config names %zu diff_ids for %zu layers", cv->where,
			       json_array_size(ids), n);
	if (!(*out = calloc(n + 1, sizeof **out)))
		return ep_oom(err);
	for (size_t i = 0; i < n; i++)
		if (!((*out)[i] = json_string_value(json_array_get(ids, i))))
			return ep_fail(err, EP_EINPUT, "%s: diff_id %zu of its config is not a string", cv->where, i);
	return 0;
}

static int write_image(struct convert *cv, json_t *manifest, const char *tag, struct image_note *note,
		       struct ep_error *err)
{
	json_t *cdesc = json_object_get(manifest, "config"), *layers = json_object_get(manifest, "layers");
	json_t *config = NULL;
	char *cbytes = NULL;
	size_t clen = 0;
	const char **ids = NULL;
	int rc = load_json(cv, cdesc, &cbytes, &clen, &config, err);
	if (!rc) {
		snprintf(note->config, sizeof note->config, "%s", json_string_value(json_object_get(cdesc, "digest")));
		rc = diff_ids_of(cv, config, layers, &ids, err);
	}
	for (size_t i = 0; !rc && i < json_array_size(layers); i++) {
		json_t *l = json_array_get(layers, i);
		const char *digest = json_string_value(json_object_get(l, "digest"));
		if ((rc = write_layer(cv, l, ids[i], err)))
			break;
		if (digest && strcmp(digest, ids[i]) != 0) {
			fprintf(note->layers, "%s%s -> %s", note->nchanged ? ", " : "", digest, ids[i]);
			note->nchanged++;
		}
	}
	if (!rc)
		rc = ep_darchive_add_image(cv->w, cbytes, clen, note->config + 7, ids, json_array_size(layers),
					   (const char *const[]){ tag }, tag[0] ? 1 : 0, err);
	free(ids);
	free(cbytes);
	json_decref(config);
	return rc;
}

/* Whether ref is a whole image reference, [HOST/]REPO:TAG, as docker load takes one. */
static bool whole_reference(const char *ref)
{
	const char *colon = strrchr(ref, ':'), *slash = strchr(ref, '/');
	char name[300];
	struct ep_image_ref parsed;
	struct ep_error ignored;
	if (!colon || strchr(colon, '/') || !ep_image_tag_ok(colon + 1) || (size_t)(colon - ref) >= sizeof name)
		return false;
	snprintf(name, sizeof name, "%.*s", (int)(colon - ref), ref);
	/* a first component with '.' or ':', or localhost, is a registry host (docker's rule) */
	if (slash && (memchr(ref, '.', (size_t)(slash - ref)) || memchr(ref, ':', (size_t)(slash - ref)) ||
		      !strncmp(ref, "localhost/", 10)))
		return !ep_image_ref_parse(ref, &parsed, &ignored) && !parsed.digest[0];
	return ep_image_repo_ok(name);
}

/* The RepoTag docker load gives the image: its reference name when that is a whole reference,
 * else NAME:REF, NAME being the component's name in lowercase (as registry: names the
 * repository); "" when neither makes a reference. */
static void repo_tag(const struct ep_component *c, json_t *desc, char *out, size_t cap)
{
	json_t *notes = json_object_get(desc, "annotations");
	const char *ref = json_string_value(json_object_get(notes, "io.containerd.image.name"));
	char name[200];
	if (!ref)
		ref = json_string_value(json_object_get(notes, REF_NAME));
	out[0] = '\0';
	if (!ref)
		return;
	if (whole_reference(ref)) {
		snprintf(out, cap, "%s", strlen(ref) < cap ? ref : "");
		return;
	}
	snprintf(name, sizeof name, "%s", c->name);
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	int n = ep_image_repo_ok(name) && ep_image_tag_ok(ref) ? snprintf(out, cap, "%s:%s", name, ref) : -1;
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}

static int add_note(struct da_target *t, const struct image_note *n, const char *name)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	if (!f)
		return EP_ERUNTIME;
	fprintf(f, "docker-archive: '%s': image '%s'%s%s%s", t->path, name, n->tag[0] ? " (" : " (untagged", n->tag,
		")");
	if (n->index[0])
		fprintf(f, ", %s of index %s, chosen %s", n->platform, n->index,
			n->host ? "as this host's platform (-o platform= chooses another)" : "by -o platform=");
	fprintf(f, ": a docker archive keeps no manifest, so manifest %s%s%s %s not kept (docker load and skopeo make "
		   "a manifest anew from the config and layers); the config %s and the layers' diff_ids are the source's",
		n->manifest, n->index[0] ? " and index " : "", n->index, n->index[0] ? "are" : "is", n->config);
	if (n->nchanged)
		fprintf(f, "; %zu compressed layer%s %s stored uncompressed, under the diff_id%s the config names: %s",
			n->nchanged, n->nchanged == 1 ? "" : "s", n->nchanged == 1 ? "is" : "are", n->nchanged == 1 ? "" : "s",
			n->layers_text);
	if (fclose(f) || !ep_grow((void **)&t->notes, &t->cap_notes, t->nnotes + 1, sizeof *t->notes)) {
		free(msg);
		return EP_ERUNTIME;
	}
	t->notes[t->nnotes++] = msg;
	return 0;
}

/* Descriptor k of the component: its platform's manifest, config and layers into the archive. */
static int convert_image(struct convert *cv, size_t k, struct ep_error *err)
{
	json_t *top = json_loads(cv->c->images[k], 0, NULL), *desc = NULL, *doc = NULL, *keep = NULL;
	struct image_note note = { 0 };
	int rc = top ? 0 : ep_fail(err, EP_EINPUT, "%s: descriptor %zu is not JSON", cv->where, k);
	if (!rc && !(note.layers = open_memstream(&note.layers_text, &note.layers_len)))
		rc = ep_oom(err);
	if (!rc) {
		repo_tag(cv->c, top, note.tag, sizeof note.tag);
		rc = find_manifest(cv, top, &desc, &doc, &keep, &note, err);
	}
	uint8_t raw[EP_DIGEST_LEN];
	uint64_t size;
	bool again = !rc && ep_oci_digest(desc, raw, &size) && ep_digestmap_get(cv->done, raw, NULL);
	if (!rc)
		rc = write_image(cv, doc, note.tag, &note, err);
	if (note.layers && fclose(note.layers) && !rc)
		rc = ep_oom(err);
	if (!rc && !again && (!ep_digestmap_put(cv->done, raw, 1) || add_note(cv->t, &note, cv->c->name)))
		rc = ep_oom(err);
	free(note.layers_text);
	json_decref(doc);
	json_decref(keep);
	json_decref(top);
	return rc;
}

static int put_converted(struct da_target *t, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err)
{
	struct convert cv = { .t = t, .c = c, .s = s, .files = ep_digestmap_new(), .done = ep_digestmap_new() };
	snprintf(cv.where, sizeof cv.where, "docker-archive: image '%s'", c->name);
	int rc = cv.files && cv.done ? ep_target_image_blobs(c, cv.files, err) : ep_oom(err);
	if (!rc)
		rc = ep_darchive_writer_new(&cv.w, t->fd, t->tmp, c->nfiles ? c->files[0].mtime : 0, err);
	if (!rc && c->nimages == 0)
		rc = ep_fail(err, EP_EINPUT, "%s holds no image", cv.where);
	for (size_t k = 0; !rc && k < c->nimages; k++)
		rc = convert_image(&cv, k, err);
	if (!rc)
		rc = ep_darchive_writer_finish(cv.w, err);
	ep_darchive_writer_free(cv.w);
	ep_digestmap_free(cv.files);
	ep_digestmap_free(cv.done);
	return rc;
}

static int da_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	char dest[PATH_MAX];
	int rc = da_plan(base, c, dest, sizeof dest, err);
	if (!rc) {
		t->used = true;
		rc = stage(t, err);
	}
	if (rc)
		return rc;
	return archived(c) ? put_archived(t, c, s, err) : put_converted(t, c, s, err);
}

static void da_free(struct da_target *t)
{
	if (t->fd >= 0)
		close(t->fd);
	for (size_t i = 0; i < t->nnotes; i++)
		free(t->notes[i]);
	free(t->notes);
	free(t->tmp);
	free(t->path);
	free(t);
}

static void da_abort(struct ep_target *base)
{
	struct da_target *t = (struct da_target *)base;
	if (t->tmp)
		unlink(t->tmp);
	da_free(t);
}

static int da_commit(struct ep_target *base, struct ep_error *err)
{
	struct da_target *t = (struct da_target *)base;
	int rc = 0;
	if (t->tmp) {
		mode_t mask = umask(0);
		umask(mask);
		fchmod(t->fd, 0666 & ~mask);
		if (fsync(t->fd) != 0 || renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->path, RENAME_NOREPLACE) != 0) {
			rc = ep_fail_errno(err, errno == EEXIST ? EP_EINPUT : EP_ERUNTIME, "cannot create '%s'", t->path);
			da_abort(base);
			return rc;
		}
	}
	for (size_t i = 0; t->warn && i < t->nnotes; i++)
		t->warn(t->warn_ctx, t->notes[i]);
	da_free(t);
	return rc;
}

const struct ep_target_ops ep_target_docker_archive = {
	.scheme = "docker-archive",
	.summary = "a docker-archive tar, as docker load and skopeo read it (an OCI image's layers uncompressed, as skopeo copy does)",
	.open = da_open,
	.plan = da_plan,
	.put_files = da_put_files,
	.commit = da_commit,
	.abort = da_abort,
};
