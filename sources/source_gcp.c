/*
 * vm:gcp:gs://BUCKET/OBJECT.tar.gz — a Compute Engine image export, the archive
 * `gcloud compute images export` writes (and the gcp: target writes): disk.raw in a
 * gzip-compressed tar, read from Cloud Storage through the XML API with an HMAC key
 * (cloud/gcs.h) and packed as it streams, with no local copy.
 *
 * One thread downloads (one GET, resumed with a Range GET where the connection was
 * cut) into a ring of RING bytes; pack's thread takes them from it, inflates them with
 * zlib (whose gzip trailer check, CRC-32 and length, libarchive's own reader skips),
 * and hands the tar to libarchive, whose disk.raw is the disk pack reads, front to
 * back as pack_disk does. Memory stays at the ring and a few buffers, whatever the size.
 *
 * images.export needs Google's Compute API (OAuth2), which envpack does not speak: the
 * user runs `gcloud compute images export --destination-uri gs://...` first. The export
 * holds no machine description (nor does the gcp: target's archive: its description
 * goes to images.insert), so the capture is a bare disk that --vcpus, --memory and
 * --firmware describe.
 */
#include "sources/source.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "cloud/gcs.h"
#include "base/ring.h"
#include "base/util.h"
#include "formats/disk/disk.h"

#define RING (8u << 20)    /* downloaded bytes held ahead of the inflater */
#define IN_MAX (1u << 20)  /* compressed bytes taken from the ring at once */
#define OUT_MAX (1u << 20) /* tar bytes handed to libarchive at once */

struct gcp_state {
	struct ep_disk disk; /* the member disk.raw; first, so the disk is the state */
	struct ep_s3 *s3;
	struct ep_s3_url u;
	char name[1100]; /* gs://BUCKET/OBJECT */
	char what[1200]; /* "gcp: GET gs://BUCKET/OBJECT" */
	struct ep_ring *ring; /* the download, on a thread of its own */
	uint64_t got;         /* its bytes, once it ended */
	/* inflating */
	z_stream z;
	bool z_ready, in_end, gz_end;
	uint8_t *in, *out;
	uint64_t taken; /* compressed bytes taken from the ring */
	/* the tar, and where pack is in disk.raw */
	struct archive *ar;
	struct ep_error ar_err; /* what failed under libarchive's read callback */
	uint64_t pos;
	const uint8_t *blk;
	size_t blk_len;
	uint64_t blk_off;
	bool data_end;
	/* the report */
	ep_source_report_fn report;
	void *report_ctx;
	char *component;
	const struct ep_manifest *manifest;
};

/* ---- the spec ---- */

/* gs://BUCKET/OBJECT: Cloud Storage's bucket names, 3 to 63 of [a-z0-9._-]. */
static int gcp_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	const char *p = out->path;
	const char *b = p + 5, *slash = strncmp(p, "gs://", 5) ? NULL : strchr(b, '/');
	size_t n = slash ? (size_t)(slash - b) : 0;
	bool ok = slash && n >= 3 && n <= 63 && slash[1] && strlen(slash + 1) < sizeof ((struct ep_s3_url *)0)->key &&
		  isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]);
	for (size_t i = 0; ok && i < n; i++)
		ok = islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || strchr("._-", b[i]);
	for (const char *q = slash ? slash + 1 : ""; ok && *q; q++)
		ok = (unsigned char)*q >= 0x20 && *q != 0x7f;
	if (!ok)
		return ep_fail(err, EP_EINPUT, "'%s': vm:gcp: takes gs://BUCKET/OBJECT (a bucket of 3 to 63 lower case "
			       "letters, digits, '.', '_' and '-'; an object name without control characters)", spec);
	return 0;
}

/* ---- the download, on the ring's thread ---- */

static int download(void *ctx, struct ep_ring *ring, struct ep_error *err)
{
	struct gcp_state *s = ctx;
	return ep_s3_get_stream(s->s3, &s->u, s->what, ep_ring_push, ring, NULL, &s->got, err);
}

/* ---- gunzip ---- */

static int corrupt(struct gcp_state *s, const char *why, struct ep_error *err)
{
	return ep_fail(err, EP_EINTEGRITY, "%s: the gzip stream is corrupt (%s, %llu bytes in); nothing was published",
		       s->name, why, (unsigned long long)s->taken);
}

/* Feeds the inflater: 0, or a failure (the download's, or bytes that are no gzip). */
static int gz_fill(struct gcp_state *s, struct ep_error *err)
{
	ssize_t n = ep_ring_take(s->ring, s->in, IN_MAX, err);
	if (n < 0)
		return (int)n;
	s->taken += (uint64_t)n;
	if (s->taken == (uint64_t)n && (n == 0 || s->in[0] != 0x1f || (n > 1 && s->in[1] != 0x8b)))
		return ep_fail(err, EP_EINPUT, "%s is not gzip-compressed: an image export is a .tar.gz (disk.raw in a "
			       "gzip-compressed tar)", s->name);
	s->z.next_in = s->in, s->z.avail_in = (uInt)n;
	s->in_end = n == 0;
	return 0;
}

/* Up to cap bytes of the tar into out: the count, 0 at the end of the gzip stream (its
 * trailer checked), or a negative status. Members one after another are one stream, as
 * gzip -d reads them. */
static ssize_t gz_read(struct gcp_state *s, uint8_t *out, size_t cap, struct ep_error *err)
{
	s->z.next_out = out, s->z.avail_out = (uInt)cap;
	while (s->z.avail_out == cap && !s->gz_end) {
		int rc = s->z.avail_in || s->in_end ? 0 : gz_fill(s, err);
		if (rc)
			return rc;
		if (!s->z.avail_in && s->in_end)
			return corrupt(s, "it ends early", err);
		int z = inflate(&s->z, Z_NO_FLUSH);
		if (z == Z_STREAM_END) {
			rc = s->z.avail_in ? 0 : gz_fill(s, err); /* more: another member */
			if (rc)
				return rc;
			if (s->z.avail_in)
				inflateReset(&s->z);
			else
				s->gz_end = true;
		} else if (z == Z_MEM_ERROR) {
			return ep_oom(err);
		} else if (z != Z_OK && z != Z_BUF_ERROR) {
			return corrupt(s, s->z.msg ? s->z.msg : "bad data", err);
		}
	}
	return (ssize_t)(cap - s->z.avail_out);
}

static la_ssize_t tar_read(struct archive *a, void *ctx, const void **buf)
{
	struct gcp_state *s = ctx;
	ssize_t n = gz_read(s, s->out, OUT_MAX, &s->ar_err);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", s->ar_err.msg);
		return -1;
	}
	*buf = s->out;
	return n;
}

/* libarchive failed: the stream's own failure when it was that, else the tar is corrupt. */
static int tar_error(struct gcp_state *s, struct ep_error *err)
{
	if (s->ar_err.code) {
		*err = s->ar_err;
		return err->code;
	}
	return ep_fail(err, EP_EINTEGRITY, "%s: the tar is corrupt: %s; nothing was published", s->name,
		       archive_error_string(s->ar));
}

/* ---- the tar's members ---- */

/* Whether entry e is disk.raw ("./disk.raw" too), refusing one that is no regular file. */
static int member_is_disk(struct gcp_state *s, struct archive_entry *e, bool *disk, struct ep_error *err)
{
	const char *name = archive_entry_pathname(e);
	name = name ? name : "";
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	*disk = !strcmp(name, "disk.raw");
	if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) && !archive_entry_symlink(e))
		return 0;
	char shown[256];
	snprintf(shown, sizeof shown, "%s", name);
	return ep_fail(err, EP_EINPUT, "%s: member '%s' is not a regular file: an image export holds disk.raw, a "
		       "regular file, alone", s->name, ep_printable(shown));
}

/* Reads headers up to the next disk.raw: 1 at it, 0 at the end of the tar. Other regular
 * members are passed over (libarchive skips their data). */
static int next_disk(struct gcp_state *s, struct ep_error *err)
{
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(s->ar, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return tar_error(s, err);
		bool disk;
		int rc = member_is_disk(s, e, &disk, err);
		if (rc || disk) {
			if (!rc && archive_entry_size(e) < 0)
				rc = ep_fail(err, EP_EINPUT, "%s: disk.raw has no size", s->name);
			s->disk.virtual_size = rc ? 0 : (uint64_t)archive_entry_size(e);
			return rc ? rc : 1;
		}
	}
}

/* ---- disk.raw as a disk, read front to back ---- */

/* The next block libarchive has of disk.raw (a sparse member's holes lie between blocks). */
static int next_block(struct gcp_state *s, struct ep_error *err)
{
	const void *b;
	size_t n;
	la_int64_t off;
	int r = archive_read_data_block(s->ar, &b, &n, &off);
	if (r == ARCHIVE_EOF) {
		s->data_end = true;
		return 0;
	}
	if (r < ARCHIVE_WARN)
		return tar_error(s, err);
	if (off < 0 || (uint64_t)off < s->pos || (uint64_t)off > s->disk.virtual_size ||
	    n > s->disk.virtual_size - (uint64_t)off)
		return ep_fail(err, EP_EINTEGRITY, "%s: disk.raw's sparse map is out of order or past its size", s->name);
	s->blk = b, s->blk_len = n, s->blk_off = (uint64_t)off;
	return 0;
}

/* len bytes of disk.raw from pack's position into out (NULL: passed over). */
static int take(struct gcp_state *s, uint8_t *out, uint64_t len, struct ep_error *err)
{
	while (len) {
		if (!s->blk_len && !s->data_end) {
			int rc = next_block(s, err);
			if (rc)
				return rc;
			continue;
		}
		uint64_t n;
		if (s->blk_len && s->blk_off == s->pos) {
			n = len < s->blk_len ? len : s->blk_len;
			if (out)
				memcpy(out, s->blk, (size_t)n);
			s->blk += n, s->blk_len -= (size_t)n, s->blk_off += n;
		} else { /* a hole, up to the next block or the end */
			uint64_t to = s->blk_len ? s->blk_off : s->disk.virtual_size;
			n = len < to - s->pos ? len : to - s->pos;
			if (!n)
				return ep_fail(err, EP_EINTEGRITY, "%s: disk.raw ends before its size", s->name);
			if (out)
				memset(out, 0, (size_t)n);
		}
		s->pos += n, len -= n;
		out = out ? out + n : NULL;
	}
	return 0;
}

static int disk_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct gcp_state *s = (struct gcp_state *)d;
	if (off < s->pos || off > d->virtual_size || len > d->virtual_size - off)
		return ep_fail(err, EP_ERUNTIME, "%s: disk.raw streams front to back: a read at %llu after %llu", s->name,
			       (unsigned long long)off, (unsigned long long)s->pos);
	int rc = take(s, NULL, off - s->pos, err);
	return rc ? rc : take(s, buf, len, err);
}

static const struct ep_disk_ops disk_ops = {
	.next_extent = ep_disk_all_data,
	.read = disk_read,
	.write = ep_disk_no_write,
	.close = ep_disk_no_close, /* the state owns it */
};

/* ---- the source ---- */

static int start(struct gcp_state *s, struct ep_error *err)
{
	if (!(s->in = malloc(IN_MAX)) || !(s->out = malloc(OUT_MAX)) || !(s->ar = archive_read_new()))
		return ep_oom(err);
	if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
		return ep_oom(err);
	s->z_ready = true;
	if (archive_read_support_format_tar(s->ar) != ARCHIVE_OK)
		return ep_fail(err, EP_ERUNTIME, "gcp: libarchive: %s", archive_error_string(s->ar));
	int rc = ep_ring_start(&s->ring, RING, download, s, err);
	if (rc)
		return rc;
	if (archive_read_open(s->ar, s, NULL, tar_read, NULL) != ARCHIVE_OK)
		return tar_error(s, err);
	rc = next_disk(s, err);
	if (rc == 0)
		rc = ep_fail(err, EP_EINPUT, "%s holds no disk.raw: not an image export (gcloud compute images export "
			     "writes disk.raw in a .tar.gz)", s->name);
	return rc == 1 ? 0 : rc;
}

static int gcp_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	struct gcp_state *s = calloc(1, sizeof *s);
	*state = s;
	if (!s)
		return ep_oom(err);
	s->disk = (struct ep_disk){ .ops = &disk_ops, .format = &ep_disk_raw };
	s->report = opt->report, s->report_ctx = opt->report_ctx;
	const char *slash = strchr(src->path + 5, '/');
	memcpy(s->u.bucket, src->path + 5, (size_t)(slash - src->path - 5));
	snprintf(s->u.key, sizeof s->u.key, "%s", slash + 1);
	snprintf(s->name, sizeof s->name, "gs://%s/%s", s->u.bucket, s->u.key);
	snprintf(s->what, sizeof s->what, "gcp: GET %s", s->name);
	const struct ep_capture_options *c = opt->capture;
	struct ep_s3_options so = { .endpoint = ep_capture_param(c, "endpoint") };
	if (c && c->http)
		so.http = *c->http;
	bool dry = c && c->dry_run_request;
	int rc = ep_gcs_open(&s->s3, &so, dry, err);
	if (!rc && dry)
		return ep_s3_plan_get(s->s3, &s->u, c->dry_run_request, c->dry_run_ctx, err);
	return rc ? rc : start(s, err);
}

static uint64_t gcp_size(const void *state)
{
	return ((const struct gcp_state *)state)->disk.virtual_size;
}

/* After disk.raw: the rest of the tar holds no second one, and the gzip stream and the
 * download end sound (its trailer, the object's size and MD5 ETag checked). */
static int finish(struct gcp_state *s, struct ep_error *err)
{
	int rc = next_disk(s, err);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "%s holds a second disk.raw: an image export holds one", s->name);
	for (ssize_t n = 1; !rc && n > 0;)
		if ((n = gz_read(s, s->out, OUT_MAX, err)) < 0)
			rc = (int)n;
	return rc;
}

static int gcp_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink, struct ep_error *err)
{
	(void)src;
	struct gcp_state *s = state;
	char path[1100];
	size_t n = strlen(s->u.key);
	/* the component is named after the object, "images/web.tar.gz" -> "web" */
	snprintf(path, sizeof path, "%.*s", (int)(n > 3 && !strcmp(s->u.key + n - 3, ".gz") ? n - 3 : n), s->u.key);
	struct ep_component *c;
	int rc = sink->add_disk(sink->ctx, &s->disk, NULL, path, &c, err);
	if (!rc && !(s->component = strdup(c->name)))
		rc = ep_oom(err);
	s->manifest = sink->manifest;
	return rc ? rc : finish(s, err);
}

static void gcp_published(void *state, bool yes)
{
	struct gcp_state *s = state;
	if (!s || !yes || !s->report || !s->component)
		return;
	uint64_t counts[EP_S3_KINDS];
	ep_s3_counts(s->s3, counts);
	struct ep_source_disk_report r = { .component = s->component, .mode = "full", .bytes_read = s->got,
					   .from = s->name };
	for (int k = 0; k < EP_S3_KINDS; k++)
		r.requests += counts[k];
	for (size_t i = 0; s->manifest && i < s->manifest->ncomponents; i++)
		if (!strcmp(s->manifest->components[i].name, s->component))
			r.added_bytes = s->manifest->components[i].added_bytes;
	s->report(s->report_ctx, &r);
}

static void gcp_close(void *state)
{
	struct gcp_state *s = state;
	if (!s)
		return;
	ep_ring_close(s->ring); /* a download still running is told to stop, and its connection dropped */
	if (s->ar)
		archive_read_free(s->ar);
	if (s->z_ready)
		inflateEnd(&s->z);
	ep_s3_close(s->s3);
	free(s->in);
	free(s->out);
	free(s->component);
	free(s);
}

const struct ep_source_ops ep_source_vm_gcp = {
	.prefix = "vm:gcp:",
	.usage = "vm:gcp:gs://BUCKET/OBJECT.tar.gz",
	.bare_disk = true,
	.input_options = "endpoint",
	.parse = gcp_parse,
	.open = gcp_open,
	.size = gcp_size,
	.pack = gcp_pack,
	.published = gcp_published,
	.close = gcp_close,
};
