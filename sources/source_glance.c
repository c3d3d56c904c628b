/*
 * image:glance:NAME|ID — an OpenStack image read from Glance v2: found by id,
 * else by its name (exactly one), its data downloaded (resumed with Range requests
 * after a cut, checked against Glance's os_hash_value or checksum) and packed as a
 * disk: source would be. A raw image streams into the pipeline as it downloads (pack
 * reads a disk front to back), hashed as it passes, the check's failure failing the
 * pack before anything is published; the formats whose readers seek (qcow2, vmdk, vhd,
 * vhdx) are downloaded into a scratch file under TMPDIR first. Its
 * properties become the machine (firmware, OS, memory, vCPUs, disk bus).
 * Credentials and endpoints as the openstack: target reads them (OS_* or
 * clouds.yaml, OS_IMAGE_URL for a standalone Glance), its -o keys taken as
 * --input-option. vm:openstack: reads a server's snapshot through ep_glance_open_image.
 */
#include "sources/glance.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/ring.h"
#include "base/util.h"
#include "cloud/openstack_api.h"
#include "formats/disk/disk.h"

#define VCPUS_MAX 1024
#define RING_BYTES (8u << 20) /* a streamed image's bytes held ahead of pack */

struct glance_state {
	struct ep_disk stream; /* a raw image streamed; first, so that the disk is the state */
	struct ep_ring *ring;  /* its download */
	uint64_t pos;          /* where pack is in it */
	struct ep_os *os;
	bool os_borrowed;           /* vm:openstack:'s */
	struct ep_glance_as as;     /* vm:openstack:'s names and flavor; zero for image:glance: */
	struct ep_os_image image;
	char scratch[PATH_MAX]; /* "" once removed */
	struct ep_disk *disk;
	uint64_t data;
	const struct ep_capture_options *capture;
	ep_source_report_fn report;
	void *report_ctx;
	const struct ep_manifest *manifest; /* once packed */
	char *component;
};

static const char *const disk_formats[] = { "raw", "qcow2", "vmdk", "vhd", "vhdx", NULL };

static bool one_of(const char *v, const char *const *list)
{
	for (size_t i = 0; v && list[i]; i++)
		if (!strcmp(v, list[i]))
			return true;
	return false;
}

static void remove_scratch(struct glance_state *s)
{
	char *slash = strrchr(s->scratch, '/');
	if (!s->scratch[0] || !slash)
		return;
	unlink(s->scratch);
	*slash = '\0';
	rmdir(s->scratch);
	s->scratch[0] = '\0';
}

/* Downloads the image into a private directory under TMPDIR (so that a qcow2's backing
 * file, which may only be looked for beside it, finds nothing) and opens it as its disk
 * format; the file is removed as soon as the disk holds it open. */
static int fetch_disk(struct glance_state *s, struct ep_error *err)
{
	const struct ep_os_image *im = &s->image;
	if (!one_of(im->disk_format, disk_formats))
		return ep_fail(err, EP_EINPUT, "image:glance: image %s ('%s') is in disk format '%s', which envpack does not "
					       "read (raw, qcow2, vmdk, vhd, vhdx)", im->id, im->name,
			       *im->disk_format ? im->disk_format : "(none)");
	const char *tmp = getenv("TMPDIR");
	tmp = tmp && *tmp ? tmp : "/tmp";
	char dir[PATH_MAX];
	if (ep_path_format(dir, sizeof dir, err, "%s/envpack-glance-XXXXXX", tmp))
		return err->code;
	if (!mkdtemp(dir))
		return ep_fail_errno(err, EP_ERUNTIME, "image:glance: cannot make a scratch directory in '%s' (TMPDIR)", tmp);
	int rc = ep_path_format(s->scratch, sizeof s->scratch, err, "%s/%s.%s", dir, im->id, im->disk_format);
	int fd = rc ? -1 : open(s->scratch, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (!rc)
			rc = ep_fail_errno(err, EP_ERUNTIME, "image:glance: cannot make a scratch file in '%s'", dir);
		rmdir(dir);
		s->scratch[0] = '\0';
		return rc;
	}
	ep_interrupt_arm(); /* Ctrl-C or SIGTERM fails the download, and close removes the file */
	rc = ep_os_image_download(s->os, im, fd, NULL, err);
	if (!rc && ep_interrupted())
		rc = ep_fail(err, EP_ERUNTIME, "image:glance: interrupted");
	ep_interrupt_disarm();
	close(fd);
	struct ep_disk_open_opts oo = { .format = im->disk_format };
	if (!rc)
		rc = ep_disk_open(&s->disk, s->scratch, &oo, err);
	remove_scratch(s);
	return rc ? rc : ep_source_disk_data(s->disk, &s->data, err);
}

/* ---- a raw image streamed into pack: no scratch file ---- */

static int stream_fill(void *ctx, struct ep_ring *ring, struct ep_error *err)
{
	struct glance_state *s = ctx;
	return ep_os_image_stream(s->os, &s->image, ep_ring_push, ring, err);
}

/* len bytes of the download into buf, or its failure. */
static int stream_take(struct glance_state *s, uint8_t *buf, size_t len, struct ep_error *err)
{
	while (len) {
		ssize_t n = ep_ring_take(s->ring, buf, len, err);
		if (n < 0)
			return (int)n;
		if (!n)
			return ep_fail(err, EP_EINTEGRITY, "image:glance: image %s ended at byte %llu of %llu",
				       s->image.id, (unsigned long long)s->pos, (unsigned long long)s->image.size);
		buf += n, len -= (size_t)n, s->pos += (uint64_t)n;
	}
	return 0;
}

static int stream_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct glance_state *s = (struct glance_state *)d;
	if (off < s->pos || off > d->virtual_size || len > d->virtual_size - off)
		return ep_fail(err, EP_ERUNTIME, "image:glance: image %s streams front to back: a read at %llu after %llu",
			       s->image.id, (unsigned long long)off, (unsigned long long)s->pos);
	while (len && s->pos < off) { /* passed over, through buf */
		int rc = stream_take(s, buf, off - s->pos < len ? (size_t)(off - s->pos) : len, err);
		if (rc)
			return rc;
	}
	return stream_take(s, buf, len, err);
}

static const struct ep_disk_ops stream_ops = {
	.next_extent = ep_disk_all_data,
	.read = stream_read,
	.write = ep_disk_no_write,
	.close = ep_disk_no_close, /* the state owns it */
};

static int stream_disk(struct glance_state *s, struct ep_error *err)
{
	s->stream = (struct ep_disk){ .ops = &stream_ops, .format = &ep_disk_raw, .virtual_size = s->image.size };
	s->disk = &s->stream;
	s->data = s->image.size;
	return ep_ring_start(&s->ring, RING_BYTES, stream_fill, s, err);
}

/* After pack read the image: the download ended with every byte and the hash matching. */
static int stream_end(struct glance_state *s, struct ep_error *err)
{
	uint8_t extra;
	ssize_t n = ep_ring_take(s->ring, &extra, 1, err);
	if (n > 0)
		return ep_fail(err, EP_EINTEGRITY, "image:glance: image %s has more than its %llu bytes", s->image.id,
			       (unsigned long long)s->image.size);
	return (int)n;
}

static struct glance_state *state_new(const struct ep_source_options *opt)
{
	struct glance_state *s = calloc(1, sizeof *s);
	if (s) {
		s->capture = opt->capture;
		s->report = opt->report;
		s->report_ctx = opt->report_ctx;
	}
	return s;
}

/* The image found: a dry run's download shown, a raw one streamed, the others fetched. */
static int open_found(struct glance_state *s, int rc, struct ep_error *err)
{
	if (!rc && ep_os_dry_run(s->os)) /* a dry run: the download shown, nothing read */
		return ep_os_image_download(s->os, &s->image, -1, NULL, err);
	if (!rc && !strcmp(s->image.disk_format, "raw"))
		return stream_disk(s, err);
	return rc ? rc : fetch_disk(s, err);
}

int ep_glance_open_image(struct ep_os *os, const char *id, const struct ep_glance_as *as,
			 const struct ep_source_options *opt, void **state, struct ep_error *err)
{
	struct glance_state *s = state_new(opt);
	if (!(*state = s))
		return ep_oom(err);
	s->os = os;
	s->os_borrowed = true;
	s->as = *as;
	return open_found(s, ep_os_image_find(os, id, &s->image, err), err);
}

int ep_glance_connect(const struct ep_capture_options *c, struct ep_os **os, struct ep_error *err)
{
	struct ep_os_options oo = { .cloud = ep_capture_param(c, "cloud"),
				    .image_url = ep_capture_param(c, "image-url"),
				    .compute_url = ep_capture_param(c, "compute-url"),
				    .region = ep_capture_param(c, "region"),
				    .interface = ep_capture_param(c, "interface"),
				    .emit = c ? c->dry_run_request : NULL,
				    .emit_ctx = c ? c->dry_run_ctx : NULL };
	if (c && c->http)
		oo.http = *c->http;
	int rc = ep_os_open(os, &oo, err);
	return rc ? rc : ep_os_auth(*os, err);
}

static int glance_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		       struct ep_error *err)
{
	struct glance_state *s = state_new(opt);
	if (!(*state = s))
		return ep_oom(err);
	int rc = ep_glance_connect(opt->capture, &s->os, err);
	if (!rc)
		rc = ep_os_image_find(s->os, src->path, &s->image, err);
	return open_found(s, rc, err);
}

static uint64_t glance_size(const void *state)
{
	return ((const struct glance_state *)state)->data;
}

/* Glance's os_type, else its os_distro, as the machine model's OS hint. */
static const char *os_of(const struct ep_os_image *im)
{
	static const char *const linuxes[] = { "arch",	   "centos", "debian", "fedora", "gentoo",   "mandrake",
					       "mandriva", "mes",    "opensuse", "rhel", "sled", "sles", "suse",
					       "ubuntu",   "rocky",  "almalinux", "alma", "alpine", "cirros",
					       "oraclelinux", "linux", NULL };
	char v[64];
	if (ep_os_image_prop(im, "os_type", v, sizeof v) && (!strcmp(v, "linux") || !strcmp(v, "windows")))
		return !strcmp(v, "linux") ? "linux" : "windows";
	if (!ep_os_image_prop(im, "os_distro", v, sizeof v))
		return "other";
	for (char *p = v; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	return !strcmp(v, "windows") ? "windows" : one_of(v, linuxes) ? "linux" : "other";
}

/* A positive integer property, else 0. */
static uint64_t number_of(const struct ep_os_image *im, const char *key, uint64_t max)
{
	char v[32], *end;
	if (!ep_os_image_prop(im, key, v, sizeof v) || !*v || *v == '-')
		return 0;
	unsigned long long n = strtoull(v, &end, 10);
	return *end || n > max ? 0 : (uint64_t)n;
}

/* hw_cpu_sockets x hw_cpu_cores x hw_cpu_threads (a missing one counts 1), when any is set; else 1. */
static unsigned vcpus_of(const struct ep_os_image *im)
{
	uint64_t s = number_of(im, "hw_cpu_sockets", VCPUS_MAX), c = number_of(im, "hw_cpu_cores", VCPUS_MAX),
		 t = number_of(im, "hw_cpu_threads", VCPUS_MAX);
	uint64_t n = (s ? s : 1) * (c ? c : 1) * (t ? t : 1);
	return n > VCPUS_MAX ? 1 : (unsigned)n;
}

/* The machine the image describes, pack's options given by hand winning. */
static int add_machine(struct glance_state *s, struct ep_manifest *manifest, const char *component,
		       struct ep_error *err)
{
	const struct ep_os_image *im = &s->image;
	char fw[16], sb[16], type[64], bus[16];
	const struct ep_glance_as *as = &s->as;
	struct ep_capture_machine said = { .name = as->name ? as->name : im->name, .fallback = "glance-image",
					   .os = os_of(im), .vcpus = as->vcpus ? as->vcpus : vcpus_of(im),
					   .memory_mib = as->memory_mib ? as->memory_mib : number_of(im, "min_ram", 16777216) };
	said.firmware = ep_os_image_prop(im, "hw_firmware_type", fw, sizeof fw) && !strcmp(fw, "uefi") ? "uefi" : "bios";
	if (ep_os_image_prop(im, "os_secure_boot", sb, sizeof sb))
		said.secure_boot = !strcmp(sb, "required") ? EP_SECURE_BOOT_ON : !strcmp(sb, "disabled") ? EP_SECURE_BOOT_OFF
													: EP_SECURE_BOOT_UNKNOWN;
	if (ep_os_image_prop(im, "hw_machine_type", type, sizeof type) && strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == strlen(type))
		said.machine = type;
	static const char *const buses[] = { "virtio", "sata", "ide", "scsi", NULL };
	if (ep_os_image_prop(im, "hw_disk_bus", bus, sizeof bus) && one_of(bus, buses))
		said.bus = bus;
	return ep_capture_machine_add(s->capture, &said, manifest, component, as->what ? as->what : "image:glance:", err);
}

static int glance_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		       struct ep_error *err)
{
	(void)src;
	struct glance_state *s = state;
	char path[300];
	/* the component: the image's name (vm:openstack:: the server's) */
	snprintf(path, sizeof path, "%s.%s", s->as.name ? s->as.name : s->image.name, s->image.disk_format);
	for (char *p = path; *p; p++)
		if (*p == '/')
			*p = '_';
	struct ep_component *c;
	int rc = sink->add_disk(sink->ctx, s->disk, NULL, path, &c, err);
	if (!rc && !(s->component = strdup(c->name)))
		rc = ep_oom(err);
	if (!rc && s->ring)
		rc = stream_end(s, err);
	if (!rc)
		rc = add_machine(s, sink->manifest, s->component, err);
	s->manifest = sink->manifest;
	return rc;
}

/* Once published: what was read, from where, in how many requests. */
static void glance_published(void *state, bool yes)
{
	struct glance_state *s = state;
	if (!s || !yes || !s->report || !s->component)
		return;
	struct ep_source_disk_report r = { .component = s->component, .mode = "full", .bytes_read = s->image.size,
					   .from = s->as.from ? s->as.from : s->image.url, .requests = ep_os_requests(s->os) };
	for (size_t i = 0; i < s->manifest->ncomponents; i++)
		if (!strcmp(s->manifest->components[i].name, s->component))
			r.added_bytes = s->manifest->components[i].added_bytes;
	s->report(s->report_ctx, &r);
}

static void glance_close(void *state)
{
	struct glance_state *s = state;
	if (!s)
		return;
	ep_ring_close(s->ring); /* a download still running is stopped */
	if (s->disk)
		ep_disk_close(s->disk, NULL);
	remove_scratch(s);
	ep_os_image_release(&s->image);
	if (!s->os_borrowed)
		ep_os_close(s->os);
	free(s->component);
	free(s);
}

const struct ep_source_ops ep_source_glance = {
	.prefix = "image:glance:",
	.usage = "image:glance:NAME|ID",
	.input_options = "cloud region interface image-url", /* the openstack: target's -o keys */
	.machine_options = true,
	.open = glance_open,
	.size = glance_size,
	.pack = glance_pack,
	.published = glance_published,
	.close = glance_close,
};
