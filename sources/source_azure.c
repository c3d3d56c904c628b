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
 * disk is read (add_disk reads a disk whole before it returns), whether it succeeded or
 * not; .../virtualMachines/V reads the VM first (its size's vCPUs and memory, its firmware)
 * and captures its OS disk, then each data disk by lun, as its machine's: one disk granted,
 * read and revoked after another, so that one SAS at most stands at a time.
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

/* One page blob read: the disk the pipeline reads, first so that the disk is the blob. */
struct blob {
	struct ep_disk disk;
	struct ep_azure *az;
	char container[64], blob[1100];
	char url[1600];  /* the blob's, without a credential: for messages and the report */
	char *name;      /* the component is named after it: "CONTAINER/BLOB", or the managed disk's name */
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
};

/* A disk packed, for its report once published. */
struct packed {
	char *component;
	char from[1600];
	uint64_t bytes_read, requests;
};

struct azure_state {
	struct blob b; /* the disk being read: the VM's OS disk, then each data disk in turn */
	const char *format;
	uint64_t size; /* the first disk's data bytes: what the progress bar is told */
	struct packed packed[1 + EP_ARM_DATA_DISKS_MAX];
	size_t npacked;
	const struct ep_manifest *manifest;
	ep_source_report_fn report;
	void *report_ctx;
	/* a managed disk or VM through Azure Resource Manager */
	struct ep_arm *arm;
	struct ep_arm_id disk_id, vm_id; /* vm_id.name "" for a disk alone; disk_id: the disk being read */
	struct ep_arm_vm vm;
	unsigned vcpus, seconds;
	uint64_t memory_mib;
	bool data_disks; /* the VM's data disks too (data-disks=all) */
	bool granted;    /* disk_id's, until revoked */
	bool armed;      /* Ctrl-C fails the pack rather than killing it, while a grant may stand */
	uint64_t arm_mark; /* ARM's requests before the disk being read: the rest are its */
	char from[500]; /* the disk's resource id: what the report names */
	const struct ep_capture_options *capture;
	ep_warn_fn warn;
	void *warn_ctx;
};

/* ---- the disk ---- */

static int az_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	(void)err;
	const struct blob *s = (const struct blob *)d;
	return ep_runs_next(s->ranges, s->nranges, from, out);
}

static void fail_readers(struct blob *s, int rc, const struct ep_error *err)
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
	struct blob *s = arg;
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

static int start_readers(struct blob *s, struct ep_error *err)
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

static void stop_readers(struct blob *s)
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
static int piece_data(struct blob *s, size_t i, const uint8_t **out, struct ep_error *err)
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
	struct blob *s = (struct blob *)d;
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
static int connect_blob(struct blob *s, const char *path, const struct ep_capture_options *c,
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
static int read_footer(struct blob *s, const char *format, struct ep_error *err)
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
static int plan_pieces(struct blob *s, struct ep_error *err)
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

/* Opens the page blob at path (CONTAINER/BLOB or a SAS URL) as the disk read next, named
 * name (NULL: CONTAINER/BLOB): its properties, its footer, the GETs that will read it. */
static int blob_open(struct blob *b, const char *path, const char *format, const struct ep_capture_options *c,
		     const char *name, struct ep_error *err)
{
	*b = (struct blob){ .disk = { .ops = &az_disk_ops, .format = &ep_disk_raw } };
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->locked_init = true;
	int rc = connect_blob(b, path, c, err);
	if (!rc && name) {
		free(b->name);
		if (!(b->name = strdup(name)))
			rc = ep_oom(err);
	}
	if (!rc && c && c->dry_run_request)
		return ep_azure_plan_read(b->az, b->container, b->blob, c->dry_run_request, c->dry_run_ctx, err);
	if (!rc)
		rc = ep_azure_blob_props(b->az, b->container, b->blob, &b->props, err);
	b->requests += b->az ? 1 : 0;
	if (!rc && strcmp(b->props.type, "PageBlob"))
		rc = ep_fail(err, EP_EINPUT, "azure: %s is a %s, not a page blob (a disk's VHD is one)", b->url,
			     b->props.type[0] ? b->props.type : "blob of no type");
	if (!rc && !strcmp(b->props.state, "uploading"))
		rc = ep_fail(err, EP_EINPUT, "azure: %s is an upload by envpack's azure: target that never completed "
					     "(metadata envpack_state=uploading)", b->url);
	if (!rc && b->props.length % 512)
		rc = ep_fail(err, EP_ERUNTIME, "azure: %s is %llu bytes, not whole pages of 512", b->url,
			     (unsigned long long)b->props.length);
	if (!rc)
		rc = read_footer(b, format, err);
	if (!rc)
		rc = plan_pieces(b, err);
	return rc;
}

/* Its readers stopped, everything it holds freed: ready to open another. */
static void blob_release(struct blob *b)
{
	stop_readers(b);
	for (size_t k = 0; b->slots && k < b->nslots; k++)
		free(b->slots[k].buf);
	free(b->slots);
	if (b->locked_init) {
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cond);
	}
	ep_azure_close(b->az);
	free(b->spare);
	free(b->ranges);
	free(b->pieces);
	free(b->name);
	*b = (struct blob){ 0 };
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

/* data-disks=all (the default) or none: a VM's alone. */
static int data_disks_setting(const struct ep_capture_options *c, bool vm, bool *all, struct ep_error *err)
{
	const char *v = ep_capture_param(c, "data-disks");
	*all = !v || !strcmp(v, "all");
	if (v && strcmp(v, "all") && strcmp(v, "none"))
		return ep_fail(err, EP_EINPUT, "vm:azure: --input-option data-disks= takes all or none, not '%s'", v);
	if (v && !vm)
		return ep_fail(err, EP_EINPUT, "vm:azure: --input-option data-disks= is a VM's (.../virtualMachines/V), "
					       "not a disk's");
	return 0;
}

/* Grants disk id, the disk read next, its SAS URL into *sas_url; Ctrl-C fails the pack from
 * the first grant on, so that every grant is revoked. */
static int grant(struct azure_state *s, const struct ep_arm_id *id, char **sas_url, struct ep_error *err)
{
	s->disk_id = *id;
	ep_arm_id_text(id, s->from, sizeof s->from);
	if (!s->armed)
		ep_interrupt_arm();
	s->armed = true;
	return ep_arm_grant(s->arm, &s->disk_id, s->seconds, &s->granted, sas_url, err);
}

/* The disk (or the VM's OS disk, the VM read first) granted, its SAS URL into *sas_url. */
static int arm_open(struct azure_state *s, const char *path, const struct ep_capture_options *c, char **sas_url,
		    struct ep_error *err)
{
	struct ep_arm_id id;
	int rc = ep_arm_id_parse(path, &id, err);
	if (!rc)
		rc = arm_settings(c, &s->seconds, err);
	bool dry = c && c->dry_run_request;
	struct ep_arm_options ao = { .endpoint = ep_capture_param(c, "arm-endpoint"), .dry = dry };
	if (c && c->http)
		ao.http = *c->http;
	if (!rc)
		rc = ep_arm_open(&s->arm, &ao, err);
	bool vm = !rc && !strcmp(id.type, "virtualMachines");
	if (vm)
		s->vm_id = id;
	if (!rc && dry)
		return ep_arm_plan(s->arm, vm ? &id : NULL, &id, s->data_disks, s->seconds, ARM_READS, c->dry_run_request,
				   c->dry_run_ctx, err);
	if (vm && !(rc = ep_arm_vm_get(s->arm, &id, s->data_disks, &s->vm, err)))
		rc = ep_arm_vm_size(s->arm, id.subscription, s->vm.location, s->vm.size, &s->vcpus, &s->memory_mib, err);
	if (vm && !rc)
		rc = ep_arm_id_parse(s->vm.os_disk, &id, err);
	return rc ? rc : grant(s, &id, sas_url, err);
}

/* The grant of the disk just read goes; a revocation that fails is said, and the capture
 * stands (the SAS expires by itself). */
static void revoke(struct azure_state *s)
{
	struct ep_error e = { 0 };
	int rc = s->granted ? ep_arm_revoke(s->arm, &s->disk_id, &e) : 0;
	s->granted = false;
	if (!rc || !s->warn)
		return;
	char msg[1700];
	snprintf(msg, sizeof msg, "vm:azure: could not revoke the read access to %s (az disk revoke-access; it expires "
				  "by itself): %s", s->from, e.msg);
	s->warn(s->warn_ctx, msg);
}

/* Every grant revoked: Ctrl-C takes its course again. */
static void disarm(struct azure_state *s)
{
	revoke(s);
	if (s->armed)
		ep_interrupt_disarm();
	s->armed = false;
}

/* The VM's machine: its size's vCPUs and memory, its firmware, the disks packed (the OS
 * disk first); pack's options by hand win. */
static int add_machine(struct azure_state *s, struct ep_manifest *manifest, struct ep_error *err)
{
	const char *components[1 + EP_ARM_DATA_DISKS_MAX];
	for (size_t i = 0; i < s->npacked; i++)
		components[i] = s->packed[i].component;
	struct ep_capture_machine said = {
		.name = s->vm_id.name,
		.fallback = s->vm_id.name,
		.firmware = s->vm.uefi ? "uefi" : "bios",
		.secure_boot = s->vm.secure_boot < 0 ? EP_SECURE_BOOT_UNKNOWN
			       : s->vm.secure_boot ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF,
		.os = s->vm.os_type[0] ? s->vm.os_type : NULL,
		.vcpus = s->vcpus,
		.memory_mib = s->memory_mib,
		.more_disks = components + 1,
		.nmore_disks = s->npacked - 1,
	};
	return ep_capture_machine_add(s->capture, &said, manifest, components[0], "vm:azure:", err);
}

extern const struct ep_source_ops ep_source_vm_azure_vm;

static int azure_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		      struct ep_error *err)
{
	struct azure_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	s->report = opt->report;
	s->report_ctx = opt->report_ctx;
	s->warn = opt->warn, s->warn_ctx = opt->warn_ctx;
	s->capture = opt->capture;
	const struct ep_capture_options *c = opt->capture;
	if (src->format && strcmp(src->format, "raw") && strcmp(src->format, "vhd"))
		return ep_fail(err, EP_EINPUT, "vm:azure: a page blob is a fixed VHD (or with --format raw, a raw disk), "
					       "not %s", src->format);
	s->format = src->format && !strcmp(src->format, "raw") ? "raw" : NULL;
	int rc = data_disks_setting(c, src->ops == &ep_source_vm_azure_vm, &s->data_disks, err);
	char *sas_url = NULL;
	if (!rc && src->path[0] == '/' && ((rc = arm_open(s, src->path, c, &sas_url, err)) || (c && c->dry_run_request)))
		return rc;
	if (!rc)
		rc = blob_open(&s->b, sas_url ? sas_url : src->path, s->format, c, s->from[0] ? s->disk_id.name : NULL, err);
	if (sas_url)
		OPENSSL_cleanse(sas_url, strlen(sas_url));
	free(sas_url);
	s->size = s->b.data;
	return rc;
}

/* The first disk's data bytes: the data disks' are known only once each is granted. */
static uint64_t azure_size(const void *state)
{
	return ((const struct azure_state *)state)->size;
}

/* Packs the disk being read, then revokes its grant: add_disk reads a disk whole before it
 * returns, so nothing reads through the SAS again. */
static int pack_blob(struct azure_state *s, const struct ep_source_sink *sink, struct ep_error *err)
{
	struct ep_component *c = NULL;
	int rc = sink->add_disk(sink->ctx, &s->b.disk, NULL, s->b.name, &c, err);
	stop_readers(&s->b); /* every read is done: their connections go */
	revoke(s);
	struct packed *p = &s->packed[s->npacked];
	if (!rc && !(p->component = strdup(c->name)))
		rc = ep_oom(err);
	if (rc)
		return rc;
	s->npacked++;
	snprintf(p->from, sizeof p->from, "%s", s->from[0] ? s->from : s->b.url);
	p->bytes_read = s->b.bytes_read;
	p->requests = s->b.requests + ep_arm_requests(s->arm) - s->arm_mark;
	return 0;
}

/* The VM's data disks by lun, each granted, read and revoked before the next is granted. */
static int pack_data_disks(struct azure_state *s, const struct ep_source_sink *sink, struct ep_error *err)
{
	int rc = 0;
	for (size_t k = 0; !rc && s->data_disks && k < s->vm.ndata; k++) {
		const struct ep_arm_data_disk *d = &s->vm.data[k];
		char *sas = NULL;
		blob_release(&s->b);
		s->arm_mark = ep_arm_requests(s->arm);
		rc = grant(s, &d->id, &sas, err);
		if (!rc)
			rc = blob_open(&s->b, sas, s->format, s->capture, d->id.name, err);
		if (sas)
			OPENSSL_cleanse(sas, strlen(sas));
		free(sas);
		if (!rc)
			rc = pack_blob(s, sink, err);
		if (rc)
			ep_error_prefix(err, "vm:azure: data disk %s (lun %u) of VM %s: ", d->id.name, d->lun, s->vm_id.name);
	}
	return rc;
}

static int azure_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		      struct ep_error *err)
{
	(void)src;
	struct azure_state *s = state;
	s->manifest = sink->manifest;
	int rc = pack_blob(s, sink, err);
	if (!rc && s->vm_id.name[0])
		rc = pack_data_disks(s, sink, err);
	if (!rc && s->vm_id.name[0])
		rc = add_machine(s, sink->manifest, err);
	return rc;
}

/* What was read, from where, in how many requests: a line for each disk once every chunk is in. */
static void azure_published(void *state, bool yes)
{
	struct azure_state *s = state;
	if (s)
		disarm(s);
	for (size_t k = 0; s && yes && s->report && k < s->npacked; k++) {
		const struct packed *p = &s->packed[k];
		struct ep_source_disk_report r = { .component = p->component, .mode = "full", .bytes_read = p->bytes_read,
						   .from = p->from, .requests = p->requests };
		for (size_t i = 0; i < s->manifest->ncomponents; i++)
			if (!strcmp(s->manifest->components[i].name, p->component))
				r.added_bytes = s->manifest->components[i].added_bytes;
		s->report(s->report_ctx, &r);
	}
}

static void azure_close(void *state)
{
	struct azure_state *s = state;
	if (!s)
		return;
	blob_release(&s->b);
	disarm(s); /* a grant still standing: the pack failed before its disk was read */
	ep_arm_close(s->arm);
	for (size_t k = 0; k < s->npacked; k++)
		free(s->packed[k].component);
	free(s);
}

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

#define AZURE_INPUT_OPTIONS "endpoint jobs arm-endpoint access-seconds data-disks"

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
