/*
 * vm:azure:CONTAINER/BLOB (the account, key or SAS token from the environment, as the
 * azure: target reads them) or vm:azure:https://ACCOUNT.blob.core.windows.net/C/B?SAS (a
 * SAS URL, what `az disk grant-access` gives for a managed disk): a page blob holding a
 * fixed VHD, as Azure keeps every disk. Its properties (HEAD) and footer (the last 512
 * bytes) say what it is and how large the disk is; Get Page Ranges says which ranges hold
 * data, and only those are read, with ranged GETs of at most 4 MiB, several at once on
 * connections of their own ahead of the pipeline, each checked against the Content-MD5
 * Azure sends and pinned to the blob's ETag (a blob changed meanwhile fails the read).
 * The disk is the blob minus the footer; --format raw takes a page blob without one whole.
 * The azure: target leaves no machine in the blob's metadata (envpack_state alone): the
 * disk is a bare one, described by pack's --vcpus, --memory and --firmware.
 * Granting and revoking a managed disk's SAS (beginGetAccess/endGetAccess) is Azure
 * Resource Manager's, with an Azure AD token: the user runs `az disk grant-access`.
 */
#include "sources/source.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/interrupt.h"
#include "cloud/azure_blob.h"
#include "formats/disk/disk.h"
#include "formats/disk/vhd.h"

#define PIECE EP_AZURE_PAGE_MAX /* one GET; Azure sends a Content-MD5 for at most this much */

/* Where a reader thread puts piece `piece`; a piece i goes into slot i % nslots. */
struct slot {
	size_t piece;
	enum { SLOT_EMPTY, SLOT_FETCHING, SLOT_READY } state;
	uint8_t *buf;
};

struct azure_state {
	struct ep_disk disk; /* what the pipeline reads; first, so that the disk is the state */
	struct ep_azure *az;
	char container[64], blob[1100];
	char url[1600];  /* the blob's, without a credential: for messages and the report */
	char *name;      /* "CONTAINER/BLOB": the component is named after it */
	struct ep_azure_blob_props props;
	struct ep_extent *ranges; /* allocated, within the disk */
	size_t nranges;
	uint64_t data; /* their bytes */
	struct ep_extent *pieces; /* the GETs of the disk, each inside one page range and at most PIECE */
	size_t npieces;
	/* the readers ahead: pieces [consumed, consumed + nslots) may be fetched */
	unsigned jobs;
	struct slot *slots;
	size_t nslots, next, consumed;
	pthread_t threads[EP_AZURE_JOBS_MAX];
	unsigned started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool locked_init, stop;
	int rc; /* a reader's first failure, in err */
	struct ep_error err;
	uint8_t *spare; /* a piece read again out of order */
	uint64_t requests, bytes_read;
	char *component;
	const struct ep_manifest *manifest;
	ep_source_report_fn report;
	void *report_ctx;
};

/* ---- the disk ---- */

static int az_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)err;
	const struct azure_state *s = (const struct azure_state *)d;
	return ep_runs_next(s->ranges, s->nranges, from, out);
}

static void fail_readers(struct azure_state *s, int rc, const struct ep_error *err)
{
	if (!s->rc) {
		s->rc = rc;
		s->err = *err;
	}
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
}

static void *reader(void *arg)
{
	struct azure_state *s = arg;
	struct ep_http *via = NULL;
	struct ep_error err = { 0 };
	int rc = ep_azure_connection(s->az, &via, &err);
	pthread_mutex_lock(&s->lock);
	while (!rc && !s->stop) {
		if (s->next < s->consumed) /* the pipeline went past these: not needed */
			s->next = s->consumed;
		if (s->next >= s->npieces)
			break;
		/* a slot is taken again once its piece is behind the pipeline and no reader fills it */
		if (s->next >= s->consumed + s->nslots || s->slots[s->next % s->nslots].state == SLOT_FETCHING) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		size_t i = s->next++;
		struct slot *sl = &s->slots[i % s->nslots];
		*sl = (struct slot){ .piece = i, .state = SLOT_FETCHING, .buf = sl->buf };
		pthread_mutex_unlock(&s->lock);
		uint64_t requests = 0;
		rc = ep_interrupted() ? ep_fail(&err, EP_ERUNTIME, "azure: %s: interrupted", s->url)
				      : ep_azure_read(s->az, via, s->container, s->blob, s->props.etag, sl->buf, (size_t)s->pieces[i].len,
						      s->pieces[i].off, &requests, &err);
		pthread_mutex_lock(&s->lock);
		s->requests += requests;
		if (!rc) {
			s->bytes_read += s->pieces[i].len;
			sl->state = SLOT_READY;
		}
		pthread_cond_broadcast(&s->cond);
	}
	if (rc)
		fail_readers(s, rc, &err);
	pthread_mutex_unlock(&s->lock);
	ep_http_free(via);
	return NULL;
}

static int start_readers(struct azure_state *s, struct ep_error *err)
{
	s->nslots = 2 * (size_t)s->jobs;
	if (!(s->slots = calloc(s->nslots, sizeof *s->slots)))
		return ep_oom(err);
	for (size_t k = 0; k < s->nslots; k++)
		if (!(s->slots[k].buf = malloc(PIECE)))
			return ep_oom(err);
	while (s->started < s->jobs && pthread_create(&s->threads[s->started], NULL, reader, s) == 0)
		s->started++;
	return s->started ? 0 : ep_fail(err, EP_ERUNTIME, "azure: no thread to read %s with", s->url);
}

static void stop_readers(struct azure_state *s)
{
	if (!s->locked_init)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->started; i++)
		pthread_join(s->threads[i], NULL);
	s->started = 0;
}

/* Piece i's bytes: from its slot once a reader has them, or read here when the pipeline
 * asks for one behind it. */
static int piece_data(struct azure_state *s, size_t i, const uint8_t **out, struct ep_error *err)
{
	int rc = s->slots ? 0 : start_readers(s, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	if (i < s->consumed) {
		pthread_mutex_unlock(&s->lock);
		uint64_t requests = 0;
		if (!s->spare && !(s->spare = malloc(PIECE)))
			return ep_oom(err);
		rc = ep_azure_read(s->az, NULL, s->container, s->blob, s->props.etag, s->spare, (size_t)s->pieces[i].len,
				   s->pieces[i].off, &requests, err);
		pthread_mutex_lock(&s->lock);
		s->requests += requests;
		s->bytes_read += rc ? 0 : s->pieces[i].len;
		pthread_mutex_unlock(&s->lock);
		*out = s->spare;
		return rc;
	}
	s->consumed = i; /* the slots of the pieces before it are free */
	pthread_cond_broadcast(&s->cond);
	struct slot *sl = &s->slots[i % s->nslots];
	while (!(sl->piece == i && sl->state == SLOT_READY) && !s->rc)
		pthread_cond_wait(&s->cond, &s->lock);
	if (sl->piece == i && sl->state == SLOT_READY)
		*out = sl->buf; /* no reader takes this slot again before the pipeline moves past i */
	else {
		rc = s->rc;
		*err = s->err;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int az_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct azure_state *s = (struct azure_state *)d;
	if (off > d->virtual_size || len > d->virtual_size - off)
		return ep_fail(err, EP_EINPUT, "azure: a read past the end of %s", s->url);
	memset(buf, 0, len); /* holes read as zeros */
	int rc = 0;
	size_t i = ep_runs_after(s->pieces, s->npieces, off);
	for (; !rc && i < s->npieces && s->pieces[i].off < off + len; i++) {
		const uint8_t *p = NULL;
		if ((rc = piece_data(s, i, &p, err)))
			break;
		uint64_t a = s->pieces[i].off > off ? s->pieces[i].off : off;
		uint64_t b = s->pieces[i].off + s->pieces[i].len < off + len ? s->pieces[i].off + s->pieces[i].len : off + len;
		memcpy((uint8_t *)buf + (a - off), p + (a - s->pieces[i].off), (size_t)(b - a));
	}
	return rc;
}

static int az_disk_close(struct ep_disk *d, struct ep_error *err)
{
	(void)d, (void)err; /* the source's close frees it */
	return 0;
}

static const struct ep_disk_ops az_disk_ops = {
	.next_extent = az_next_extent,
	.read = az_read,
	.write = ep_disk_no_write,
	.close = az_disk_close,
};

/* ---- opening ---- */

/* The blob's name from CONTAINER/BLOB or a SAS URL, and a client for its account. */
static int connect_blob(struct azure_state *s, const char *path, const struct ep_capture_options *c,
			struct ep_error *err)
{
	char endpoint[400] = "", *sas = NULL;
	int rc = 0;
	if (!strncmp(path, "https://", 8) || !strncmp(path, "http://", 7)) {
		rc = ep_azure_parse_url(path, endpoint, sizeof endpoint, s->container, sizeof s->container, s->blob,
					sizeof s->blob, &sas, err);
	} else {
		size_t n = strcspn(path, "/");
		if (!path[n] || n >= sizeof s->container || strlen(path + n + 1) >= sizeof s->blob)
			rc = ep_fail(err, EP_EINPUT, "vm:azure: takes CONTAINER/BLOB or a blob's SAS URL, not '%s'", path);
		else {
			snprintf(s->container, sizeof s->container, "%.*s", (int)n, path);
			snprintf(s->blob, sizeof s->blob, "%s", path + n + 1);
		}
		if (!rc && !ep_azure_container_ok(s->container))
			rc = ep_fail(err, EP_EINPUT, "vm:azure: '%s' is not a container name (3 to 63 lowercase letters, "
						     "digits and single hyphens)", s->container);
		if (!rc && !ep_azure_blob_name_ok(s->blob))
			rc = ep_fail(err, EP_EINPUT, "vm:azure: '%s' is not a blob name envpack reads (letters, digits, '.', "
						     "'_', '-' and '/')", s->blob);
	}
	if (!rc && !(rc = ep_azure_jobs_parse(ep_capture_param(c, "jobs"), "vm:azure: --input-option", &s->jobs, err)))
		s->jobs = s->jobs ? s->jobs : 4;
	const char *ep = ep_capture_param(c, "endpoint");
	struct ep_azure_options ao = { .endpoint = sas ? endpoint : ep, .jobs = s->jobs, .sas = sas };
	if (c && c->http)
		ao.http = *c->http;
	if (!rc)
		rc = ep_azure_open(&s->az, &ao, err);
	if (sas)
		OPENSSL_cleanse(sas, strlen(sas));
	free(sas);
	if (!rc && asprintf(&s->name, "%s/%s", s->container, s->blob) < 0) {
		s->name = NULL;
		rc = ep_oom(err);
	}
	if (!rc)
		ep_azure_blob_url(s->az, s->container, s->blob, s->url, sizeof s->url);
	return rc;
}

/* The disk's size: the blob's less its footer, as the footer says (format NULL or "vhd"),
 * or the whole blob ("raw"). */
static int read_footer(struct azure_state *s, const char *format, struct ep_error *err)
{
	const struct ep_azure_blob_props *p = &s->props;
	if (format && !strcmp(format, "raw")) {
		s->disk.virtual_size = p->length;
		return 0;
	}
	if (p->length < EP_VHD_FOOTER)
		return ep_fail(err, EP_EINPUT, "azure: %s is %llu bytes, too short for a VHD footer; a page blob of a raw "
					       "disk packs with --format raw", s->url, (unsigned long long)p->length);
	uint8_t f[EP_VHD_FOOTER];
	uint32_t type;
	uint64_t size;
	char what[1700];
	snprintf(what, sizeof what, "%s (a raw page blob packs with --format raw)", s->url);
	int rc = ep_azure_read(s->az, NULL, s->container, s->blob, p->etag, f, sizeof f, p->length - EP_VHD_FOOTER,
			       &s->requests, err);
	if (!rc)
		s->bytes_read += sizeof f;
	if (!rc)
		rc = ep_vhd_footer(f, what, &type, &size, err);
	if (!rc && type != EP_VHD_FIXED)
		rc = ep_fail(err, EP_EINPUT, "azure: %s holds a VHD of type %u, not a fixed one (as Azure keeps disks)", s->url,
			     type);
	if (!rc && (size == 0 || size > p->length - EP_VHD_FOOTER))
		rc = ep_fail(err, EP_EINPUT, "azure: %s: its VHD footer says the disk is %llu bytes, but the blob holds %llu "
					     "before the footer", s->url, (unsigned long long)size,
			     (unsigned long long)(p->length - EP_VHD_FOOTER));
	s->disk.virtual_size = size;
	return rc;
}

/* The allocated ranges within the disk, and the GETs that read them. */
static int plan_pieces(struct azure_state *s, struct ep_error *err)
{
	int rc = ep_azure_page_ranges(s->az, s->container, s->blob, s->props.etag, s->props.length, &s->ranges,
				      &s->nranges, &s->requests, err);
	size_t n = 0, cap = 0;
	for (size_t i = 0; !rc && i < s->nranges; i++) {
		struct ep_extent *e = &s->ranges[i];
		if (e->off >= s->disk.virtual_size)
			break; /* the footer, or padding past the disk */
		if (e->len > s->disk.virtual_size - e->off)
			e->len = s->disk.virtual_size - e->off;
		s->ranges[n++] = *e;
		s->data += e->len;
		for (uint64_t at = e->off; !rc && at < e->off + e->len; at += PIECE) {
			if (!ep_grow((void **)&s->pieces, &cap, s->npieces + 1, sizeof *s->pieces))
				rc = ep_oom(err);
			else
				s->pieces[s->npieces++] = (struct ep_extent){
					at, e->off + e->len - at < PIECE ? e->off + e->len - at : PIECE, EP_EXT_DATA
				};
		}
	}
	if (!rc)
		s->nranges = n;
	return rc;
}

static int azure_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		      struct ep_error *err)
{
	struct azure_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	s->disk = (struct ep_disk){ .ops = &az_disk_ops, .format = &ep_disk_raw };
	s->report = opt->report;
	s->report_ctx = opt->report_ctx;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->locked_init = true;
	const struct ep_capture_options *c = opt->capture;
	if (src->format && strcmp(src->format, "raw") && strcmp(src->format, "vhd"))
		return ep_fail(err, EP_EINPUT, "vm:azure: a page blob is a fixed VHD (or with --format raw, a raw disk), "
					       "not %s", src->format);
	int rc = connect_blob(s, src->path, c, err);
	if (!rc && c && c->dry_run_request)
		return ep_azure_plan_read(s->az, s->container, s->blob, c->dry_run_request, c->dry_run_ctx, err);
	if (!rc)
		rc = ep_azure_blob_props(s->az, s->container, s->blob, &s->props, err);
	s->requests += s->az ? 1 : 0;
	if (!rc && strcmp(s->props.type, "PageBlob"))
		rc = ep_fail(err, EP_EINPUT, "azure: %s is a %s, not a page blob (a disk's VHD is one)", s->url,
			     s->props.type[0] ? s->props.type : "blob of no type");
	if (!rc && !strcmp(s->props.state, "uploading"))
		rc = ep_fail(err, EP_EINPUT, "azure: %s is an upload by envpack's azure: target that never completed "
					     "(metadata envpack_state=uploading)", s->url);
	if (!rc && s->props.length % 512)
		rc = ep_fail(err, EP_ERUNTIME, "azure: %s is %llu bytes, not whole pages of 512", s->url,
			     (unsigned long long)s->props.length);
	if (!rc)
		rc = read_footer(s, src->format, err);
	if (!rc)
		rc = plan_pieces(s, err);
	return rc;
}

static uint64_t azure_size(const void *state)
{
	return ((const struct azure_state *)state)->data;
}

static int azure_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		      struct ep_error *err)
{
	(void)src;
	struct azure_state *s = state;
	struct ep_component *c;
	int rc = sink->add_disk(sink->ctx, &s->disk, NULL, s->name, &c, err);
	stop_readers(s); /* every read is done: their connections go */
	if (!rc && !(s->component = strdup(c->name)))
		rc = ep_oom(err);
	s->manifest = sink->manifest;
	return rc;
}

/* What was read, from where, in how many requests; reported once every chunk is in. */
static void azure_published(void *state, bool yes)
{
	struct azure_state *s = state;
	if (!s || !yes || !s->report || !s->component)
		return;
	struct ep_source_disk_report r = { .component = s->component, .mode = "full", .bytes_read = s->bytes_read,
					   .from = s->url, .requests = s->requests };
	for (size_t i = 0; i < s->manifest->ncomponents; i++)
		if (!strcmp(s->manifest->components[i].name, s->component))
			r.added_bytes = s->manifest->components[i].added_bytes;
	s->report(s->report_ctx, &r);
}

static void azure_close(void *state)
{
	struct azure_state *s = state;
	if (!s)
		return;
	stop_readers(s);
	for (size_t k = 0; s->slots && k < s->nslots; k++)
		free(s->slots[k].buf);
	free(s->slots);
	if (s->locked_init) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
	}
	ep_azure_close(s->az);
	free(s->spare);
	free(s->ranges);
	free(s->pieces);
	free(s->name);
	free(s->component);
	free(s);
}

const struct ep_source_ops ep_source_vm_azure = {
	.prefix = "vm:azure:",
	.usage = "vm:azure:CONTAINER/BLOB",
	.bare_disk = true,
	.input_options = "endpoint jobs",
	.open = azure_open,
	.size = azure_size,
	.pack = azure_pack,
	.published = azure_published,
	.close = azure_close,
};
