/*
 * VMDK writer: streamOptimized (default: what OVA, ESXi and cloud importers
 * take), grains deflated on every core and appended behind markers, the grain
 * tables, directory and footer at the end; and monolithicSparse, grains
 * stored plain behind preallocated (redundant and primary) grain tables.
 * Writes must come in increasing order, as convert and restore send them.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <zlib.h>

#include "base/endian.h"
#include "base/pool.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/vmdk.h"

#define GRAIN_SECTORS 128ULL
#define GRAIN (GRAIN_SECTORS * 512)
#define GTES 512ULL
#define GT_SECTORS (GTES * 4 / 512)
#define DESC_SECTORS 20ULL

struct vwriter {
	struct ep_disk disk;
	int fd;
	char *path;
	bool stream;
	uint64_t grains, gd_entries;
	uint32_t **gt;       /* gd_entries tables, NULL where nothing was written */
	uint64_t next_sector; /* where the next grain goes */
	uint64_t overhead;    /* sparse: sectors before the first grain */
	uint8_t *pending;
	uint64_t pending_grain;
	bool has_pending;
	uint64_t last_grain;  /* grains must come in increasing order */
	bool any_written;
	struct ep_pool *pool; /* stream: compression workers */
	struct ep_error io;   /* stream: where consume failures land */
	struct ep_write_behind wb;
};

static int set_gte(struct vwriter *w, uint64_t grain, uint32_t sector, struct ep_error *err)
{
	uint64_t gdi = grain / GTES;
	if (!w->gt[gdi] && !(w->gt[gdi] = calloc(GTES, 4)))
		return ep_oom(err);
	w->gt[gdi][grain % GTES] = sector;
	return 0;
}

/* ---- stream: deflate in the pool, append in order ---- */

/* zlib level 4, not qemu-img's 6: on the bench disk's data grains, 2.8 % more bytes for
 * 1.6x less CPU (level 1: 9.6 % more, 2x less), which puts convert at half qemu-img's time. */
#define GRAIN_LEVEL 4

static int deflate_grain(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	(void)shared;
	(void)state;
	uLongf n = (uLongf)(compressBound(GRAIN));
	if (compress2(job->out + 12, &n, job->in, GRAIN, GRAIN_LEVEL) != Z_OK)
		return ep_fail(err, EP_ERUNTIME, "vmdk: deflate failed");
	job->out_len = n;
	return 0;
}

static const struct ep_pool_ops deflate_ops = { NULL, NULL, deflate_grain };

static int append_grain(struct vwriter *w, struct ep_job *job, struct ep_error *err)
{
	uint64_t grain = job->arg[0];
	ep_put_le64(job->out, grain * GRAIN_SECTORS);
	ep_put_le32(job->out + 8, (uint32_t)job->out_len);
	size_t total = (12 + job->out_len + 511) & ~(size_t)511;
	memset(job->out + 12 + job->out_len, 0, total - 12 - job->out_len);
	int rc = ep_pwrite_full(w->fd, job->out, total, w->next_sector * 512, w->path, err);
	ep_write_behind(&w->wb, w->fd, w->next_sector * 512, total);
	if (!rc)
		rc = set_gte(w, grain, (uint32_t)w->next_sector, err);
	w->next_sector += total / 512;
	return rc;
}

static int drain_one(struct vwriter *w, struct ep_error *err)
{
	struct ep_job *job;
	int rc = ep_pool_wait(w->pool, &job, err);
	if (!rc)
		rc = append_grain(w, job, err);
	ep_pool_release(w->pool);
	return rc;
}

static int emit_grain(struct vwriter *w, struct ep_error *err)
{
	if (!w->stream) {
		int rc = ep_pwrite_full(w->fd, w->pending, GRAIN, w->next_sector * 512, w->path, err);
		ep_write_behind(&w->wb, w->fd, w->next_sector * 512, GRAIN);
		if (!rc)
			rc = set_gte(w, w->pending_grain, (uint32_t)w->next_sector, err);
		w->next_sector += GRAIN_SECTORS;
		return rc;
	}
	struct ep_job *job;
	while (!(job = ep_pool_slot(w->pool))) {
		int rc = drain_one(w, err);
		if (rc)
			return rc;
	}
	memcpy(job->in, w->pending, GRAIN);
	job->arg[0] = w->pending_grain;
	ep_pool_submit(w->pool);
	return 0;
}

static int flush_pending(struct vwriter *w, struct ep_error *err)
{
	if (!w->has_pending)
		return 0;
	w->has_pending = false;
	return ep_is_zero(w->pending, GRAIN) ? 0 : emit_grain(w, err);
}

static int vw_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct vwriter *w = (struct vwriter *)d;
	const uint8_t *p = buf;
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "vmdk: write past the virtual size of '%s'", w->path);
	while (len > 0) {
		uint64_t g = off / GRAIN, in = off % GRAIN;
		size_t n = GRAIN - in < len ? (size_t)(GRAIN - in) : len;
		if (!(w->has_pending && w->pending_grain == g)) {
			if (w->any_written && g <= w->last_grain)
				return ep_fail(err, EP_ERUNTIME, "vmdk: '%s' must be written in increasing order", w->path);
			int rc = flush_pending(w, err);
			if (rc)
				return rc;
			memset(w->pending, 0, GRAIN);
			w->pending_grain = w->last_grain = g;
			w->has_pending = w->any_written = true;
		}
		memcpy(w->pending + in, p, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- header, descriptor, tables ---- */

static void header(const struct vwriter *w, uint8_t h[512], uint64_t gd_sector, uint64_t rgd_sector)
{
	memset(h, 0, 512);
	ep_put_le32(h, VMDK4_MAGIC);
	ep_put_le32(h + 4, w->stream ? 3 : 1);
	ep_put_le32(h + 8, w->stream ? VMDK_FLAG_NL_DETECT | VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS
				     : VMDK_FLAG_NL_DETECT | VMDK_FLAG_RGD);
	ep_put_le64(h + 12, w->disk.virtual_size / 512);
	ep_put_le64(h + 20, GRAIN_SECTORS);
	ep_put_le64(h + 28, 1);
	ep_put_le64(h + 36, DESC_SECTORS);
	ep_put_le32(h + 44, GTES);
	ep_put_le64(h + 48, rgd_sector);
	ep_put_le64(h + 56, gd_sector);
	ep_put_le64(h + 64, w->overhead);
	h[73] = '\n';
	h[74] = ' ';
	h[75] = '\r';
	h[76] = '\n';
	ep_put_le16(h + 77, w->stream ? 1 : 0);
}

static int write_descriptor(struct vwriter *w, struct ep_error *err)
{
	char desc[DESC_SECTORS * 512];
	uint32_t cid;
	RAND_bytes((unsigned char *)&cid, sizeof cid);
	char *copy = strdup(w->path);
	if (!copy)
		return ep_oom(err);
	uint64_t sectors = w->disk.virtual_size / 512, cylinders = sectors / (16 * 63);
	memset(desc, 0, sizeof desc);
	snprintf(desc, sizeof desc,
		 "# Disk DescriptorFile\nversion=1\nCID=%08x\nparentCID=ffffffff\ncreateType=\"%s\"\n\n"
		 "# Extent description\nRW %llu SPARSE \"%s\"\n\n# The Disk Data Base\n#DDB\n\n"
		 "ddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"%llu\"\nddb.geometry.heads = \"16\"\n"
		 "ddb.geometry.sectors = \"63\"\nddb.adapterType = \"ide\"\nddb.toolsVersion = \"2147483647\"\n",
		 cid, w->stream ? "streamOptimized" : "monolithicSparse", (unsigned long long)sectors, basename(copy),
		 (unsigned long long)(cylinders > 65535 ? 65535 : cylinders));
	free(copy);
	return ep_pwrite_full(w->fd, desc, sizeof desc, 512, w->path, err);
}

/* Grain tables as written: missing ones empty (sparse) or left out (stream). */
static int write_gt(struct vwriter *w, uint64_t gdi, uint64_t sector, struct ep_error *err)
{
	uint8_t buf[GTES * 4] = { 0 };
	for (uint64_t i = 0; w->gt[gdi] && i < GTES; i++)
		ep_put_le32(buf + 4 * i, w->gt[gdi][i]);
	return ep_pwrite_full(w->fd, buf, sizeof buf, sector * 512, w->path, err);
}

static int write_marker(struct vwriter *w, uint64_t sectors, uint32_t type, struct ep_error *err)
{
	uint8_t m[512] = { 0 };
	ep_put_le64(m, sectors);
	ep_put_le32(m + 12, type);
	int rc = ep_pwrite_full(w->fd, m, sizeof m, w->next_sector * 512, w->path, err);
	w->next_sector++;
	return rc;
}

static int finish_stream(struct vwriter *w, struct ep_error *err)
{
	int rc = 0;
	uint32_t *gd = calloc(w->gd_entries + 1, 4);
	if (!gd)
		return ep_oom(err);
	for (uint64_t i = 0; !rc && i < w->gd_entries; i++) {
		if (!w->gt[i])
			continue;
		if (!(rc = write_marker(w, GT_SECTORS, VMDK_MARKER_GT, err)))
			rc = write_gt(w, i, w->next_sector, err);
		gd[i] = (uint32_t)w->next_sector;
		w->next_sector += GT_SECTORS;
	}
	uint64_t gd_sectors = (w->gd_entries * 4 + 511) / 512, gd_sector;
	if (!rc)
		rc = write_marker(w, gd_sectors, VMDK_MARKER_GD, err);
	gd_sector = w->next_sector;
	uint8_t *buf = calloc(gd_sectors, 512);
	if (!rc && !buf)
		rc = ep_oom(err);
	for (uint64_t i = 0; !rc && i < w->gd_entries; i++)
		ep_put_le32(buf + 4 * i, gd[i]);
	if (!rc)
		rc = ep_pwrite_full(w->fd, buf, gd_sectors * 512, gd_sector * 512, w->path, err);
	w->next_sector += gd_sectors;
	free(buf);
	free(gd);
	uint8_t h[512];
	if (!rc)
		rc = write_marker(w, 1, VMDK_MARKER_FOOTER, err);
	header(w, h, gd_sector, 0);
	if (!rc)
		rc = ep_pwrite_full(w->fd, h, 512, w->next_sector * 512, w->path, err);
	w->next_sector++;
	if (!rc)
		rc = write_marker(w, 0, VMDK_MARKER_EOS, err);
	header(w, h, VMDK_GD_AT_END, 0);
	if (!rc)
		rc = ep_pwrite_full(w->fd, h, 512, 0, w->path, err);
	return rc;
}

/* Sparse layout: header, descriptor, redundant GD and GTs, primary GD and GTs, grains. */
static uint64_t sparse_tables(const struct vwriter *w)
{
	return (w->gd_entries * 4 + 511) / 512 + w->gd_entries * GT_SECTORS;
}

static int finish_sparse(struct vwriter *w, struct ep_error *err)
{
	uint64_t rgd = 1 + DESC_SECTORS, gd = rgd + sparse_tables(w);
	uint64_t gd_sectors = (w->gd_entries * 4 + 511) / 512;
	int rc = 0;
	for (int copy = 0; !rc && copy < 2; copy++) {
		uint64_t dir = copy ? gd : rgd, tables = dir + gd_sectors;
		uint8_t *buf = calloc(gd_sectors, 512);
		if (!buf)
			return ep_oom(err);
		for (uint64_t i = 0; i < w->gd_entries; i++)
			ep_put_le32(buf + 4 * i, (uint32_t)(tables + i * GT_SECTORS));
		rc = ep_pwrite_full(w->fd, buf, gd_sectors * 512, dir * 512, w->path, err);
		free(buf);
		for (uint64_t i = 0; !rc && i < w->gd_entries; i++)
			rc = write_gt(w, i, tables + i * GT_SECTORS, err);
	}
	uint8_t h[512];
	header(w, h, gd, rgd);
	if (!rc)
		rc = ep_pwrite_full(w->fd, h, 512, 0, w->path, err);
	if (!rc && ftruncate(w->fd, (off_t)(w->next_sector * 512)) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot size '%s'", w->path);
	return rc;
}

static int vw_close(struct ep_disk *d, struct ep_error *err)
{
	struct vwriter *w = (struct vwriter *)d;
	int rc = flush_pending(w, err);
	while (!rc && w->pool && ep_pool_pending(w->pool))
		rc = drain_one(w, err);
	if (!rc)
		rc = write_descriptor(w, err);
	if (!rc)
		rc = w->stream ? finish_stream(w, err) : finish_sparse(w, err);
	if (!rc && fdatasync(w->fd) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot sync '%s'", w->path);
	ep_pool_free(w->pool);
	for (uint64_t i = 0; w->gt && i < w->gd_entries; i++)
		free(w->gt[i]);
	free(w->gt);
	free(w->pending);
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w);
	return rc;
}

static const struct ep_disk_ops vwriter_ops = {
	.next_extent = ep_disk_no_extents,
	.read = ep_disk_no_read,
	.write = vw_write,
	.close = vw_close,
};

int ep_vmdk_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err);

int ep_vmdk_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err)
{
	const char *sub = opts && opts->subformat ? opts->subformat : "streamOptimized";
	bool stream = !strcmp(sub, "streamOptimized");
	if (!stream && strcmp(sub, "monolithicSparse") != 0)
		return ep_fail(err, EP_EINPUT, "vmdk: subformat '%s' is not streamOptimized or monolithicSparse", sub);
	if (virtual_size % 512 || virtual_size > (1ULL << 51))
		return ep_fail(err, EP_EINPUT, "vmdk: a virtual size of %llu bytes is not a multiple of 512",
			       (unsigned long long)virtual_size);
	struct vwriter *w = calloc(1, sizeof *w);
	if (!w)
		return ep_oom(err);
	w->fd = -1;
	w->disk = (struct ep_disk){ &vwriter_ops, &ep_disk_vmdk, virtual_size };
	w->stream = stream;
	w->grains = (virtual_size + GRAIN - 1) / GRAIN;
	w->gd_entries = (w->grains + GTES - 1) / GTES;
	w->overhead = stream ? 1 + DESC_SECTORS
			     : ((1 + DESC_SECTORS + 2 * sparse_tables(w)) + GRAIN_SECTORS - 1) / GRAIN_SECTORS * GRAIN_SECTORS;
	w->next_sector = w->overhead;
	int rc = 0;
	if (!(w->path = strdup(path)) || !(w->gt = calloc(w->gd_entries + 1, sizeof *w->gt)) ||
	    !(w->pending = malloc(GRAIN)))
		rc = ep_oom(err);
	else if (stream)
		rc = ep_pool_new(&w->pool, &deflate_ops, w, ep_cpu_count(), GRAIN, compressBound(GRAIN) + 12 + 512, err);
	if (!rc && (w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	if (rc) {
		ep_pool_free(w->pool);
		free(w->gt);
		free(w->pending);
		free(w->path);
		free(w);
		return rc;
	}
	*out = &w->disk;
	return 0;
}
