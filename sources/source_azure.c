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
 * vm:azure:/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/disks/D (a managed
 * disk's resource id, as the portal shows it) has Azure Resource Manager grant a read SAS
 * (cloud/azure_arm.c), reads the blob through it as above and revokes the grant once the
 * pack is over, whether it succeeded or not; .../virtualMachines/V reads the VM first
 * (its size's vCPUs and memory, its firmware) and captures its OS disk as its machine's.
 */
#include "sources/source.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/interrupt.h"
#include "cloud/azure_arm.h"
#include "cloud/azure_blob.h"
#include "formats/disk/disk.h"
#include "formats/disk/vhd.h"

#define PIECE EP_AZURE_PAGE_MAX /* one GET; Azure sends a Content-MD5 for at most this much */
/* The widest hole one GET reads through to join two ranges: 256 KiB take about as long
 * to come as a request takes to answer, at the ~100 MB/s one connection to Azure moves. */
#define GAP_MAX ((uint64_t)256 << 10)

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
	struct ep_extent *pieces; /* the GETs of the disk, each of at most PIECE, holes of at most GAP_MAX inside */
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
	/* a managed disk or VM through Azure Resource Manager */
	struct ep_arm *arm;
	struct ep_arm_id disk_id, vm_id; /* vm_id.name "" for a disk alone */
	struct ep_arm_vm vm;
	unsigned vcpus;
	uint64_t memory_mib;
	bool granted;    /* until revoked */
	bool armed;      /* Ctrl-C fails the pack rather than killing it, while a grant may stand */
	char from[500]; /* the disk's resource id: what the report names */
	const struct ep_capture_options *capture;
	ep_warn_fn warn;
	void *warn_ctx;
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

/* The allocated ranges within the disk, and the GETs that read them: a fragmented disk's
 * neighbouring ranges, up to GAP_MAX apart, share one GET of at most PIECE (the hole
 * between reads as zeros and costs less than a request's round trip). */
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
		for (uint64_t at = e->off, end = e->off + e->len; !rc && at < end;) {
			struct ep_extent *p = s->npieces ? &s->pieces[s->npieces - 1] : NULL;
			if (p && at - (p->off + p->len) <= GAP_MAX && at < p->off + PIECE) {
				p->len = (end < p->off + PIECE ? end : p->off + PIECE) - p->off;
				at = p->off + p->len;
			} else if (!ep_grow((void **)&s->pieces, &cap, s->npieces + 1, sizeof *s->pieces))
				rc = ep_oom(err);
			else {
				s->pieces[s->npieces++] = (struct ep_extent){ at, end - at < PIECE ? end - at : PIECE, EP_EXT_DATA };
				at += s->pieces[s->npieces - 1].len;
			}
		}
	}
	if (!rc)
		s->nranges = n;
	return rc;
}

/* ---- Azure Resource Manager ---- */

/* The grant's life: long enough for a large disk at the ~100 MB/s one blob gives (a SAS
 * that expires mid-read fails it); it is revoked as soon as the read is over anyway. */
#define ACCESS_SECONDS 14400
#define ARM_READS "(then, through the SAS URL accessSAS gives: a HEAD of its blob, Get Page Ranges and ranged GETs " \
		  "of at most 4 MiB of the allocated ranges)"

static int arm_settings(const struct ep_capture_options *c, unsigned *seconds, struct ep_error *err)
{
	const char *v = ep_capture_param(c, "access-seconds");
	char *end = NULL;
	unsigned long n = v ? strtoul(v, &end, 10) : ACCESS_SECONDS;
	if (v && (!*v || *end || *v == '-' || n < 60 || n > 86400 * 7))
		return ep_fail(err, EP_EINPUT, "vm:azure: --input-option access-seconds= takes 60 to 604800 seconds, not '%s'",
			       v);
	*seconds = (unsigned)n;
	return 0;
}

/* The disk (or the VM's OS disk) granted, its SAS URL into *sas_url. */
static int arm_grant(struct azure_state *s, const char *path, const struct ep_capture_options *c, char **sas_url,
		     struct ep_error *err)
{
	struct ep_arm_id id;
	unsigned seconds = 0;
	int rc = ep_arm_id_parse(path, &id, err);
	if (!rc)
		rc = arm_settings(c, &seconds, err);
	bool dry = c && c->dry_run_request;
	struct ep_arm_options ao = { .endpoint = ep_capture_param(c, "arm-endpoint"), .dry = dry };
	if (c && c->http)
		ao.http = *c->http;
	if (!rc)
		rc = ep_arm_open(&s->arm, &ao, err);
	bool vm = !rc && !strcmp(id.type, "virtualMachines");
	if (vm)
		s->vm_id = id;
	else
		s->disk_id = id;
	if (!rc && dry)
		return ep_arm_plan(s->arm, vm ? &id : NULL, &id, seconds, ARM_READS, c->dry_run_request, c->dry_run_ctx, err);
	if (vm && !(rc = ep_arm_vm_get(s->arm, &id, &s->vm, err)))
		rc = ep_arm_vm_size(s->arm, id.subscription, s->vm.location, s->vm.size, &s->vcpus, &s->memory_mib, err);
	if (vm && !rc)
		rc = ep_arm_id_parse(s->vm.os_disk, &s->disk_id, err);
	if (!rc)
		ep_arm_id_text(&s->disk_id, s->from, sizeof s->from);
	if (rc)
		return rc;
	ep_interrupt_arm();
	s->armed = true;
	return ep_arm_grant(s->arm, &s->disk_id, seconds, &s->granted, sas_url, err);
}

/* The grant goes once the reads are over; a revocation that fails is said, and the
 * capture stands (the SAS expires by itself). */
static void arm_revoke(struct azure_state *s)
{
	struct ep_error e = { 0 };
	int rc = s->granted ? ep_arm_revoke(s->arm, &s->disk_id, &e) : 0;
	s->granted = false;
	if (s->armed)
		ep_interrupt_disarm();
	s->armed = false;
	if (!rc || !s->warn)
		return;
	char msg[1700];
	snprintf(msg, sizeof msg, "vm:azure: could not revoke the read access to %s (az disk revoke-access; it expires "
				  "by itself): %s", s->from, e.msg);
	s->warn(s->warn_ctx, msg);
}

/* The VM's machine: its size's vCPUs and memory, its firmware; pack's options by hand win. */
static int add_machine(struct azure_state *s, struct ep_manifest *manifest, struct ep_error *err)
{
	struct ep_capture_machine said = {
		.name = s->vm_id.name,
		.fallback = s->vm_id.name,
		.firmware = s->vm.uefi ? "uefi" : "bios",
		.secure_boot = s->vm.secure_boot < 0 ? EP_SECURE_BOOT_UNKNOWN
			       : s->vm.secure_boot ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF,
		.os = s->vm.os_type[0] ? s->vm.os_type : NULL,
		.vcpus = s->vcpus,
		.memory_mib = s->memory_mib,
	};
	return ep_capture_machine_add(s->capture, &said, manifest, s->component, "vm:azure:", err);
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
	s->warn = opt->warn, s->warn_ctx = opt->warn_ctx;
	s->capture = opt->capture;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->locked_init = true;
	const struct ep_capture_options *c = opt->capture;
	if (src->format && strcmp(src->format, "raw") && strcmp(src->format, "vhd"))
		return ep_fail(err, EP_EINPUT, "vm:azure: a page blob is a fixed VHD (or with --format raw, a raw disk), "
					       "not %s", src->format);
	char *sas_url = NULL;
	int rc = 0;
	if (src->path[0] == '/') {
		if ((rc = arm_grant(s, src->path, c, &sas_url, err)) || (c && c->dry_run_request))
			return rc;
	}
	rc = connect_blob(s, sas_url ? sas_url : src->path, c, err);
	if (sas_url)
		OPENSSL_cleanse(sas_url, strlen(sas_url));
	free(sas_url);
	if (!rc && s->from[0]) { /* the component is named after the disk */
		free(s->name);
		if (!(s->name = strdup(s->disk_id.name)))
			rc = ep_oom(err);
	}
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
	if (!rc && s->vm_id.name[0])
		rc = add_machine(s, sink->manifest, err);
	s->manifest = sink->manifest;
	return rc;
}

/* What was read, from where, in how many requests; reported once every chunk is in. */
static void azure_published(void *state, bool yes)
{
	struct azure_state *s = state;
	if (s)
		arm_revoke(s); /* the reads are over */
	if (!s || !yes || !s->report || !s->component)
		return;
	struct ep_source_disk_report r = { .component = s->component, .mode = "full", .bytes_read = s->bytes_read,
					   .from = s->from[0] ? s->from : s->url,
					   .requests = s->requests + ep_arm_requests(s->arm) };
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
	arm_revoke(s); /* not revoked yet: the pack failed before publishing */
	ep_arm_close(s->arm);
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

extern const struct ep_source_ops ep_source_vm_azure_vm;

/* A VM's id makes a machine of its own: the kind that is no bare disk. */
static int azure_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	struct ep_arm_id id;
	int rc = out->path[0] == '/' ? ep_arm_id_parse(out->path, &id, err) : 0;
	(void)spec; /* the message quotes the id */
	if (!rc && out->path[0] == '/' && !strcmp(id.type, "virtualMachines"))
		out->ops = &ep_source_vm_azure_vm;
	return rc;
}

#define AZURE_INPUT_OPTIONS "endpoint jobs arm-endpoint access-seconds"

const struct ep_source_ops ep_source_vm_azure = {
	.prefix = "vm:azure:",
	.usage = "vm:azure:CONTAINER/BLOB|SAS_URL|DISK_ID|VM_ID",
	.bare_disk = true,
	.input_options = AZURE_INPUT_OPTIONS,
	.parse = azure_parse,
	.open = azure_open,
	.size = azure_size,
	.pack = azure_pack,
	.published = azure_published,
	.close = azure_close,
};

const struct ep_source_ops ep_source_vm_azure_vm = {
	.prefix = "vm:azure:",
	.usage = "vm:azure:VM_ID",
	.input_options = AZURE_INPUT_OPTIONS,
	.machine_options = true,
	.open = azure_open,
	.size = azure_size,
	.pack = azure_pack,
	.published = azure_published,
	.close = azure_close,
};
