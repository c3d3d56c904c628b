/*
 * gcp:BUCKET[/PREFIX] — each disk as the archive Compute Engine imports: a
 * gzip-compressed GNU tar whose only member is disk.raw, sized up to a whole
 * number of GiB, uploaded to Cloud Storage as PREFIX/IMAGE.tar.gz through the
 * XML API (S3-compatible, AWS4-HMAC-SHA256 with HMAC keys, so the S3 client),
 * followed by the images.insert request that turns it into an image.
 *
 * images.insert needs OAuth2, which envpack does not do: a dry run shows the
 * request, and a real run hands it on (next_request) once the archives are up,
 * as the step left to the user.
 *
 * libarchive's gnutar writer ignores sparse maps, so disk.raw is a plain
 * member and holes are zeros in the tar; the gzip layer under it (base/gzip.h)
 * copies a run of zeros instead of deflating it, so a mostly empty disk costs
 * its data, not its size.
 *
 * Archives are built into a scratch directory as the disks arrive and
 * uploaded at commit, each conditionally (never over an existing object).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "base/gzip.h"
#include "base/util.h"
#include "cloud/gcs.h"
#include "targets/scratch.h"
#include "targets/target.h"

#define GCP_COMPUTE "https://compute.googleapis.com/compute/v1"
#define GIB ((uint64_t)1 << 30)
#define ZERO_RUN EP_GZIP_ZERO_RUN
#define MAX_DISKS 64

struct gcp_disk {
	char *component;
	char image[64];
	char key[1025];
	bool uefi;
	const char *archive; /* in the scratch area, once built */
};

struct gcp_target {
	struct ep_target base;
	struct ep_s3 *s3;
	char bucket[64];
	char prefix[800];
	const char *project, *image, *family, *description, *labels, *location, *features;
	const struct ep_manifest *manifest;
	void (*emit)(void *ctx, const char *text); /* set on a dry run */
	void *emit_ctx;
	void (*next)(void *ctx, const char *text); /* set on a real run: images.insert, left to send */
	void *next_ctx;
	const struct ep_progress *progress;
	struct ep_scratch *scratch;
	struct gcp_disk disks[MAX_DISKS];
	size_t ndisks;
};

/* ---- names ---- */

/* Compute Engine's resource names (images, families): [a-z]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool gce_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !islower((unsigned char)s[0]) || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* A project id, 6 to 30 of [a-z0-9-] starting with a letter, optionally "DOMAIN:" before it. */
static bool project_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	for (const char *p = s; colon && p < colon; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	const char *id = colon ? colon + 1 : s;
	size_t n = strlen(id);
	return n >= 6 && n <= 30 && gce_name_ok(id);
}

/* Cloud Storage bucket names: 3 to 63 of [a-z0-9._-], a letter or digit at each end. */
static bool bucket_ok(const char *s, size_t n)
{
	if (n < 3 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* labels=K=V[,K=V...]: keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}. */
static int labels_check(const char *s, struct ep_error *err)
{
	while (*s) {
		size_t n = strcspn(s, ","), k = strcspn(s, "=");
		bool ok = k < n && k >= 1 && k <= 63 && n - k - 1 <= 63 && islower((unsigned char)s[0]);
		for (size_t i = 0; ok && i < n; i++)
			ok = i == k || islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' || s[i] == '-';
		if (!ok)
			return ep_fail(err, EP_EINPUT,
				       "gcp: -o labels= takes KEY=VALUE,... (lower case letters, digits, '_' and '-'), not '%.*s'",
				       (int)n, s);
		s += n + (s[n] == ',');
	}
	return 0;
}

/* guest-os-features=A,B: Compute Engine's names (UEFI_COMPATIBLE, GVNIC, ...). */
static int features_check(const char *s, struct ep_error *err)
{
	for (const char *p = s; *p; p++)
		if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != ',')
			return ep_fail(err, EP_EINPUT, "gcp: -o guest-os-features= takes names like UEFI_COMPATIBLE,GVNIC, not '%s'", s);
	return 0;
}

static int params_check(struct gcp_target *t, const struct ep_target_options *opt, struct ep_error *err)
{
	static const char *const known[] = { "project", "image", "family", "description", "labels",
					     "storage-location", "guest-os-features", NULL };
	int rc = ep_target_params_check(opt, "gcp", known, err);
	if (rc)
		return rc;
	t->project = ep_target_param(opt, "project");
	t->image = ep_target_param(opt, "image");
	t->family = ep_target_param(opt, "family");
	t->description = ep_target_param(opt, "description");
	t->labels = ep_target_param(opt, "labels");
	t->location = ep_target_param(opt, "storage-location");
	t->features = ep_target_param(opt, "guest-os-features");
	if (!t->project)
		return ep_fail(err, EP_EINPUT, "gcp: say which project the image goes to with -o project=PROJECT");
	if (!project_ok(t->project))
		return ep_fail(err, EP_EINPUT, "gcp: '%s' is not a project id (6 to 30 lower case letters, digits and '-')",
			       t->project);
	if (t->image && !gce_name_ok(t->image))
		return ep_fail(err, EP_EINPUT, "gcp: image name '%s' must match [a-z]([-a-z0-9]*[a-z0-9])? (63 at most)", t->image);
	if (t->family && !gce_name_ok(t->family))
		return ep_fail(err, EP_EINPUT, "gcp: image family '%s' must match [a-z]([-a-z0-9]*[a-z0-9])? (63 at most)",
			       t->family);
	if (t->location && (!*t->location || strspn(t->location, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(t->location)))
		return ep_fail(err, EP_EINPUT, "gcp: -o storage-location= takes a region or multi-region (us, europe-west1), not '%s'",
			       t->location);
	if (t->description && strlen(t->description) > 2048)
		return ep_fail(err, EP_EINPUT, "gcp: -o description= is 2048 characters at most");
	if (t->labels && (rc = labels_check(t->labels, err)))
		return rc;
	return t->features ? features_check(t->features, err) : 0;
}

/* ---- opening and planning ---- */

static void gcp_free(struct gcp_target *t)
{
	ep_s3_close(t->s3);
	ep_scratch_free(t->scratch);
	for (size_t i = 0; i < t->ndisks; i++)
		free(t->disks[i].component);
	free(t);
}

static int gcp_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	const char *slash = strchr(location, '/');
	size_t n = slash ? (size_t)(slash - location) : strlen(location);
	if (!bucket_ok(location, n))
		return ep_fail(err, EP_EINPUT, "gcp: '%.*s' is not a bucket name (3 to 63 of a-z, 0-9, '.', '_', '-')", (int)n,
			       location);
	const char *prefix = slash ? slash + 1 : "";
	size_t plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	if (plen >= 800 || *prefix == '/')
		return ep_fail(err, EP_EINPUT, "gcp: the prefix '%s' is too long or starts with '/'", prefix);
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)prefix[i] < 0x20 || prefix[i] == 0x7f)
			return ep_fail(err, EP_EINPUT, "gcp: the prefix holds a control character");
	struct gcp_target *t = calloc(1, sizeof *t);
	if (!t)
		return ep_oom(err);
	t->base.ops = &ep_target_gcp;
	memcpy(t->bucket, location, n);
	memcpy(t->prefix, prefix, plen);
	t->manifest = opt ? opt->manifest : NULL;
	t->emit = opt ? opt->dry_run_request : NULL;
	t->emit_ctx = opt ? opt->dry_run_ctx : NULL;
	t->next = opt ? opt->next_request : NULL;
	t->next_ctx = opt ? opt->next_ctx : NULL;
	t->progress = opt ? opt->progress : NULL;
	struct ep_target_options none = { 0 };
	int rc = params_check(t, opt ? opt : &none, err);
	if (!rc)
		rc = ep_gcs_open(&t->s3, (opt ? opt : &none)->s3, t->emit != NULL, err);
	if (rc) {
		gcp_free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* Whether disk component name belongs to a machine that boots with UEFI. */
static bool disk_uefi(const struct gcp_target *t, const char *name)
{
	for (size_t i = 0; t->manifest && i < t->manifest->nmachines; i++) {
		const struct ep_machine *m = &t->manifest->machines[i];
		for (size_t k = 0; k < m->ndisks; k++)
			if (!strcmp(m->disks[k].component, name) && m->firmware && !strcmp(m->firmware, "uefi"))
				return true;
	}
	return false;
}

static uint64_t round_gib(uint64_t size)
{
	return size ? (size + GIB - 1) / GIB * GIB : GIB;
}

/* The images.insert request for d, as text (credentials masked); NULL when out of memory. */
static char *insert_text(const struct gcp_target *t, const struct gcp_disk *d)
{
	char *key = ep_sigv4_encode(d->key, strlen(d->key), true), *url = NULL, *source = NULL, *body = NULL, *text = NULL;
	char desc[400];
	json_t *o = json_object(), *features = json_array(), *labels = json_object();
	if (!key || !o || !features || !labels || asprintf(&source, "%s/%s/%s", EP_GCS_ENDPOINT, t->bucket, key) < 0 ||
	    asprintf(&url, "%s/projects/%s/global/images", GCP_COMPUTE, t->project) < 0)
		goto out;
	snprintf(desc, sizeof desc, "disk %s, restored by envpack", d->component);
	json_object_set_new(o, "name", json_string(d->image));
	json_object_set_new(o, "description", json_string(t->description ? t->description : desc));
	if (t->family)
		json_object_set_new(o, "family", json_string(t->family));
	json_object_set_new(o, "sourceType", json_string("RAW"));
	json_object_set_new(o, "rawDisk", json_pack("{s:s}", "source", source));
	if (d->uefi)
		json_array_append_new(features, json_pack("{s:s}", "type", "UEFI_COMPATIBLE"));
	for (const char *p = t->features; p && *p;) {
		size_t n = strcspn(p, ",");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
		if (n && !(d->uefi && !strcmp(name, "UEFI_COMPATIBLE")))
			json_array_append_new(features, json_pack("{s:s}", "type", name));
		p += n + (p[n] == ',');
	}
	if (json_array_size(features))
		json_object_set(o, "guestOsFeatures", features);
	for (const char *p = t->labels; p && *p;) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");
		char lk[64], lv[64];
		snprintf(lk, sizeof lk, "%.*s", (int)k, p);
		snprintf(lv, sizeof lv, "%.*s", (int)(n - k - 1), p + k + 1);
		json_object_set_new(labels, lk, json_string(lv));
		p += n + (p[n] == ',');
	}
	if (json_object_size(labels))
		json_object_set(o, "labels", labels);
	if (t->location)
		json_object_set_new(o, "storageLocations", json_pack("[s]", t->location));
	if (!(body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		goto out;
	const char *headers[] = { "Authorization: Bearer ACCESS-TOKEN", "Content-Type: application/json", NULL };
	text = ep_http_request_text(&(struct ep_http_request){
		.method = "POST", .url = url, .headers = headers, .data = body, .data_len = strlen(body) });
out:
	json_decref(o);
	json_decref(features);
	json_decref(labels);
	free(key);
	free(url);
	free(source);
	free(body);
	return text;
}

static struct ep_s3_url object_url(const struct gcp_target *t, const struct gcp_disk *d)
{
	struct ep_s3_url u = { 0 };
	memcpy(u.bucket, t->bucket, sizeof u.bucket);
	memcpy(u.key, d->key, sizeof u.key);
	return u;
}

static int gcp_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct gcp_target *t = (struct gcp_target *)base;
	if (c->type != EP_COMP_DISK)
		return ep_fail(err, EP_EINPUT, "gcp: takes disks only ('%s' is not one; restore it to dir:)", c->name);
	if (t->ndisks == MAX_DISKS)
		return ep_fail(err, EP_EINPUT, "gcp: %d disks at most in one restore", MAX_DISKS);
	if (t->image && t->ndisks)
		return ep_fail(err, EP_EINPUT, "gcp: -o image= names one image, and a second disk ('%s') would need another "
			       "(pick one with --only, or drop -o image= to name each image after its disk)", c->name);
	const char *image = t->image ? t->image : c->name;
	if (!gce_name_ok(image))
		return ep_fail(err, EP_EINPUT, "gcp: disk '%s' needs an image name matching [a-z]([-a-z0-9]*[a-z0-9])?: "
			       "give one with -o image=NAME", c->name);
	struct gcp_disk *d = &t->disks[t->ndisks];
	*d = (struct gcp_disk){ .uefi = disk_uefi(t, c->name) };
	snprintf(d->image, sizeof d->image, "%s", image);
	snprintf(d->key, sizeof d->key, "%s%s%s.tar.gz", t->prefix, *t->prefix ? "/" : "", image);
	if (!(d->component = strdup(c->name)))
		return ep_oom(err);
	t->ndisks++;
	struct ep_s3_url u = object_url(t, d);
	snprintf(dest, cap, "gs://%s/%s, for image %s of project %s%s", t->bucket, d->key, d->image, t->project,
		 d->uefi ? ", UEFI" : "");
	if (!t->emit) { /* a real run looks first: an existing object is refused before anything is built */
		int rc = ep_s3_head(t->s3, &u, NULL, err);
		if (rc == 1)
			return ep_fail(err, EP_EINPUT, "gcp: gs://%s/%s exists; restore never overwrites", t->bucket, d->key);
		return rc;
	}
	/* the archive's size is known once built; at most: the disk's data (deflate adds
	 * well under 0.1% to what it cannot shrink), a full flush between data and each
	 * hole, the tar's blocks, and 1037 bytes for each MiB of zeros (EP_GZIP_ZERO_RUN_MAX) */
	uint64_t data = ep_component_data_size(c);
	uint64_t estimate = data + data / 1000 + (uint64_t)c->nextents * 64 + 4096 +
			    round_gib(c->virtual_size) / ZERO_RUN * EP_GZIP_ZERO_RUN_MAX;
	int rc = ep_s3_plan_put(t->s3, &u, estimate, t->emit, t->emit_ctx, err);
	char note[300];
	snprintf(note, sizeof note, "(the archive: disk.raw of %llu bytes in a gzip-compressed GNU tar; %llu bytes is an "
		 "upper bound, its size is known once built)",
		 (unsigned long long)round_gib(c->virtual_size), (unsigned long long)estimate);
	if (!rc)
		t->emit(t->emit_ctx, note);
	char *text = rc ? NULL : insert_text(t, d);
	if (!rc && !text)
		rc = ep_oom(err);
	if (!rc)
		t->emit(t->emit_ctx, text);
	free(text);
	return rc;
}

/* ---- the archive ---- */

/* libarchive writes the tar into the gzip stream, which keeps the first failure. */
struct gz_sink {
	struct ep_gzip *gz;
	struct ep_error err;
};

static la_ssize_t gz_archive_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	(void)a;
	struct gz_sink *g = ctx;
	return ep_gzip_write(g->gz, buf, len, &g->err) ? -1 : (la_ssize_t)len;
}

/* Zeros up to offset `to` of the member (holes, and the padding to a whole GiB). */
static int write_zeros(struct archive *a, const uint8_t *zeros, uint64_t from, uint64_t to)
{
	while (from < to) {
		size_t n = to - from < ZERO_RUN ? (size_t)(to - from) : ZERO_RUN;
		if (archive_write_data(a, zeros, n) != (la_ssize_t)n)
			return -1;
		from += n;
	}
	return 0;
}

/* c as disk.raw, its size a whole number of GiB, dated mtime, in a gzip-compressed GNU tar at path. */
static int write_archive(const struct ep_component *c, struct ep_chunk_stream *s, time_t mtime, const char *path,
			 struct ep_error *err)
{
	uint8_t *zeros = calloc(1, ZERO_RUN);
	struct gz_sink g = { 0 };
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int rc = zeros && a && e ? 0 : ep_oom(err);
	int fd = -1;
	if (!rc) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			rc = ep_fail_errno(err, EP_ERUNTIME, "gcp: cannot create '%s'", path);
	}
	if (!rc)
		rc = ep_gzip_open(&g.gz, fd, path, err);
	/* unblocked: libarchive hands each write straight on, so a hole stays one run of zeros */
	if (!rc && (archive_write_set_format_gnutar(a) != ARCHIVE_OK || archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
		    archive_write_open(a, &g, NULL, gz_archive_write, NULL) != ARCHIVE_OK))
		rc = ep_fail(err, EP_ERUNTIME, "gcp: cannot start the archive: %s", archive_error_string(a));
	uint64_t size = round_gib(c->virtual_size);
	if (!rc) {
		archive_entry_set_pathname(e, "disk.raw");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)size);
		archive_entry_set_mtime(e, mtime, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK)
			rc = ep_fail(err, EP_ERUNTIME, "gcp: %s", archive_error_string(a));
	}
	uint64_t at = 0;
	if (!rc)
		ep_chunk_stream_start(s, c->chunks, c->nchunks);
	for (size_t i = 0; !rc && i < c->nextents; i++) {
		uint64_t off = c->extents[i].offset;
		if (off < at || off > size) {
			rc = ep_fail(err, EP_EINTEGRITY, "gcp: extent %zu of '%s' is out of order", i, c->name);
			break;
		}
		if (write_zeros(a, zeros, at, off)) {
			rc = -1;
			break;
		}
		for (size_t k = 0; !rc && k < c->extents[i].count; k++) {
			const uint8_t *data;
			size_t len;
			if ((rc = ep_chunk_stream_pull(s, &data, &len, err)))
				break;
			if (len > size - off)
				rc = ep_fail(err, EP_EINTEGRITY, "gcp: '%s' holds data past its size", c->name);
			else if (archive_write_data(a, data, len) != (la_ssize_t)len)
				rc = -1;
			off += len;
		}
		at = off;
	}
	if (!rc && write_zeros(a, zeros, at, size))
		rc = -1;
	if (!rc && archive_write_close(a) != ARCHIVE_OK)
		rc = -1;
	if (rc == -1) /* the archive or the gzip layer under it failed */
		rc = g.err.code ? (*err = g.err, g.err.code) : ep_fail(err, EP_ERUNTIME, "gcp: %s", archive_error_string(a));
	if (!rc)
		rc = ep_gzip_finish(g.gz, err);
	if (a)
		archive_write_free(a);
	archive_entry_free(e);
	ep_gzip_free(g.gz);
	if (fd >= 0)
		close(fd);
	free(zeros);
	return rc;
}

/* disk.raw is dated when the bundle was packed: the same bundle makes the same archive,
 * byte for byte, so a re-run resumes an upload cut short (its parts' MD5s match). */
static time_t bundle_time(const struct gcp_target *t)
{
	int64_t created = t->manifest ? ep_manifest_created(t->manifest) : -1;
	return created < 0 ? 0 : (time_t)created;
}

static int gcp_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct gcp_target *t = (struct gcp_target *)base;
	struct gcp_disk *d = NULL;
	for (size_t i = 0; !d && i < t->ndisks; i++)
		if (!strcmp(t->disks[i].component, c->name))
			d = &t->disks[i];
	if (!d)
		return ep_fail(err, EP_EINPUT, "gcp: disk '%s' was not planned", c->name);
	char name[80];
	snprintf(name, sizeof name, "%s.tar.gz", d->image);
	int rc = t->scratch ? 0 : ep_scratch_new(&t->scratch, err);
	if (!rc)
		rc = ep_scratch_path(t->scratch, name, &d->archive, err);
	return rc ? rc : write_archive(c, s, bundle_time(t), d->archive, err);
}

static int upload(struct gcp_target *t, const struct gcp_disk *d, struct ep_error *err)
{
	int fd = open(d->archive, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		int rc = ep_fail_errno(err, EP_ERUNTIME, "gcp: cannot open '%s'", d->archive);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	struct ep_s3_url u = object_url(t, d);
	struct ep_s3_put_stats stats;
	int rc = ep_s3_put_file(t->s3, &u, fd, (uint64_t)st.st_size, t->progress, &stats, err);
	close(fd);
	return rc;
}

static int gcp_commit(struct ep_target *base, struct ep_error *err)
{
	struct gcp_target *t = (struct gcp_target *)base;
	int rc = 0;
	size_t up = 0;
	for (; !rc && up < t->ndisks; up += !rc)
		rc = t->disks[up].archive ? upload(t, &t->disks[up], err)
					  : ep_fail(err, EP_ERUNTIME, "gcp: disk '%s' was never written", t->disks[up].component);
	/* all or nothing: the archives this run put up go again when a later one failed (that
	 * one's parts stay, for a re-run to resume: the same bundle makes the same bytes) */
	for (size_t i = 0; rc && i < up; i++) {
		struct ep_s3_url u = object_url(t, &t->disks[i]);
		struct ep_error ignored = { 0 };
		ep_s3_delete(t->s3, &u, &ignored);
	}
	/* every archive is up: what makes them images needs OAuth2, so it is handed on */
	for (size_t i = 0; !rc && t->next && i < t->ndisks; i++) {
		char *text = insert_text(t, &t->disks[i]);
		if (!text)
			rc = ep_oom(err);
		else
			t->next(t->next_ctx, text);
		free(text);
	}
	gcp_free(t);
	return rc;
}

static void gcp_abort(struct ep_target *base)
{
	gcp_free((struct gcp_target *)base);
}

const struct ep_target_ops ep_target_gcp = {
	.scheme = "gcp",
	.summary = "disks as Compute Engine image archives (disk.raw in a .tar.gz) in Cloud Storage, plus images.insert",
	.location = "BUCKET[/PREFIX]",
	.open = gcp_open,
	.plan = gcp_plan,
	.put_disk = gcp_put_disk,
	.commit = gcp_commit,
	.abort = gcp_abort,
};
