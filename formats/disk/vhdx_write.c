/*
 * VHDX writer: dynamic images with 8 MiB blocks. Layout: file identifier,
 * two headers, two region tables, an empty 1 MiB log, the metadata region,
 * the BAT, then the blocks in the order they fill. All-zero blocks stay
 * NOT_PRESENT; zero runs inside a block stay holes in the file.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/vhdx.h"

#define BLOCK ((uint32_t)8 << 20)
#define SECTOR 512u
#define LOG_OFFSET VHDX_MB
#define META_OFFSET (2 * VHDX_MB)
#define BAT_OFFSET (3 * VHDX_MB)

struct xwriter {
	struct ep_disk disk;
	int fd;
	char *path;
	uint64_t blocks, chunk_ratio;
	uint64_t *block_mb; /* file offset of each block in MiB, 0 when absent */
	uint64_t bat_bytes, next_block;
	uint8_t *pending;
	uint64_t pending_block;
	bool has_pending;
	struct ep_write_behind wb;
};

static int flush_block(struct xwriter *w, struct ep_error *err)
{
	if (!w->has_pending)
		return 0;
	w->has_pending = false;
	if (ep_is_zero(w->pending, BLOCK))
		return 0;
	int rc = ep_disk_raw_write_sparse(w->fd, w->pending, BLOCK, w->next_block, w->path, err);
	if (rc)
		return rc;
	ep_write_behind(&w->wb, w->fd, w->next_block, BLOCK);
	w->block_mb[w->pending_block] = w->next_block / VHDX_MB;
	w->next_block += BLOCK;
	return 0;
}

static int xw_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct xwriter *w = (struct xwriter *)d;
	const uint8_t *p = buf;
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "vhdx: write past the virtual size of '%s'", w->path);
	while (len > 0) {
		uint64_t b = off / BLOCK, in = off % BLOCK;
		size_t n = BLOCK - in < len ? (size_t)(BLOCK - in) : len;
		int rc = 0;
		if (!(w->has_pending && w->pending_block == b)) {
			if ((rc = flush_block(w, err)))
				return rc;
			if (w->block_mb[b]) { /* written before: update in place */
				if ((rc = ep_pwrite_full(w->fd, p, n, w->block_mb[b] * VHDX_MB + in, w->path, err)))
					return rc;
				goto next;
			}
			memset(w->pending, 0, BLOCK);
			w->pending_block = b;
			w->has_pending = true;
		}
		memcpy(w->pending + in, p, n);
	next:
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void put_guid_random(uint8_t *p)
{
	RAND_bytes(p, 16);
	p[7] = (uint8_t)((p[7] & 0x0f) | 0x40); /* version 4, in the little-endian third field */
	p[8] = (uint8_t)((p[8] & 0x3f) | 0x80);
}

static int write_metadata(struct xwriter *w, struct ep_error *err)
{
	uint8_t *m = calloc(1, VHDX_METADATA_TABLE + 4096);
	if (!m)
		return ep_oom(err);
	static const struct {
		const uint8_t *guid;
		uint32_t len, flags;
	} items[] = {
		{ vhdx_guid_file_params, 8, 4 },     { vhdx_guid_disk_size, 8, 6 },
		{ vhdx_guid_disk_id, 16, 6 },        { vhdx_guid_logical_sector, 4, 6 },
		{ vhdx_guid_physical_sector, 4, 6 },
	};
	memcpy(m, "metadata", 8);
	ep_put_le16(m + 10, 5);
	uint32_t off = VHDX_METADATA_TABLE;
	for (int i = 0; i < 5; i++) {
		uint8_t *e = m + 32 + 32 * i, *item = m + off;
		memcpy(e, items[i].guid, 16);
		ep_put_le32(e + 16, off);
		ep_put_le32(e + 20, items[i].len);
		ep_put_le32(e + 24, items[i].flags);
		if (i == 0)
			ep_put_le32(item, BLOCK);
		else if (i == 1)
			ep_put_le64(item, w->disk.virtual_size);
		else if (i == 2)
			put_guid_random(item);
		else
			ep_put_le32(item, SECTOR);
		off += 16;
	}
	int rc = ep_pwrite_full(w->fd, m, VHDX_METADATA_TABLE + 4096, META_OFFSET, w->path, err);
	free(m);
	return rc;
}

static int write_bat(struct xwriter *w, struct ep_error *err)
{
	uint8_t *bat = calloc(1, w->bat_bytes);
	if (!bat)
		return ep_oom(err);
	for (uint64_t b = 0; b < w->blocks; b++) {
		uint64_t entry = w->block_mb[b] ? w->block_mb[b] << 20 | VHDX_PAYLOAD_FULLY_PRESENT : VHDX_PAYLOAD_NOT_PRESENT;
		ep_put_le64(bat + 8 * vhdx_bat_index(b, w->chunk_ratio), entry);
	}
	int rc = ep_pwrite_full(w->fd, bat, w->bat_bytes, BAT_OFFSET, w->path, err);
	free(bat);
	return rc;
}

static int write_headers(struct xwriter *w, struct ep_error *err)
{
	uint8_t id[VHDX_HEADER1] = { 0 };
	memcpy(id, "vhdxfile", 8);
	static const char creator[] = "envpack";
	for (size_t i = 0; i < sizeof creator - 1; i++)
		id[8 + 2 * i] = (uint8_t)creator[i]; /* UTF-16LE */
	uint8_t *region = calloc(1, VHDX_REGION_SIZE);
	if (!region)
		return ep_oom(err);
	memcpy(region, "regi", 4);
	ep_put_le32(region + 8, 2);
	memcpy(region + 16, vhdx_guid_bat, 16);
	ep_put_le64(region + 32, BAT_OFFSET);
	ep_put_le32(region + 40, (uint32_t)w->bat_bytes);
	ep_put_le32(region + 44, 1);
	memcpy(region + 48, vhdx_guid_metadata, 16);
	ep_put_le64(region + 64, META_OFFSET);
	ep_put_le32(region + 72, (uint32_t)VHDX_MB);
	ep_put_le32(region + 76, 1);
	ep_put_le32(region + 4, vhdx_checksum(region, VHDX_REGION_SIZE, 4));
	uint8_t h[VHDX_HEADER_SIZE] = { 0 };
	memcpy(h, "head", 4);
	put_guid_random(h + 16);
	put_guid_random(h + 32);
	ep_put_le16(h + 66, 1);
	ep_put_le32(h + 68, (uint32_t)VHDX_MB);
	ep_put_le64(h + 72, LOG_OFFSET);
	int rc = ep_pwrite_full(w->fd, id, sizeof id, 0, w->path, err);
	for (int copy = 0; !rc && copy < 2; copy++) {
		ep_put_le64(h + 8, (uint64_t)copy + 1);
		ep_put_le32(h + 4, vhdx_checksum(h, VHDX_HEADER_SIZE, 4));
		if (!(rc = ep_pwrite_full(w->fd, h, sizeof h, copy ? VHDX_HEADER2 : VHDX_HEADER1, w->path, err)))
			rc = ep_pwrite_full(w->fd, region, VHDX_REGION_SIZE, copy ? VHDX_REGION2 : VHDX_REGION1, w->path, err);
	}
	free(region);
	return rc;
}

static int xw_close(struct ep_disk *d, struct ep_error *err)
{
	struct xwriter *w = (struct xwriter *)d;
	int rc = flush_block(w, err);
	if (!rc)
		rc = write_metadata(w, err);
	if (!rc)
		rc = write_bat(w, err);
	if (!rc)
		rc = write_headers(w, err);
	if (!rc && (ftruncate(w->fd, (off_t)w->next_block) != 0 || fdatasync(w->fd) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot finish '%s'", w->path);
	close(w->fd);
	free(w->block_mb);
	free(w->pending);
	free(w->path);
	free(w);
	return rc;
}

static const struct ep_disk_ops xwriter_ops = {
	.next_extent = ep_disk_no_extents,
	.read = ep_disk_no_read,
	.write = xw_write,
	.close = xw_close,
};

int ep_vhdx_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err);

int ep_vhdx_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err)
{
	if (opts && opts->subformat && strcmp(opts->subformat, "dynamic") != 0)
		return ep_fail(err, EP_EINPUT, "vhdx: subformat '%s' is not dynamic", opts->subformat);
	if (virtual_size % SECTOR || virtual_size > (64ULL << 40))
		return ep_fail(err, EP_EINPUT, "vhdx: a virtual size of %llu bytes is not a multiple of 512 up to 64 TiB",
			       (unsigned long long)virtual_size);
	struct xwriter *w = calloc(1, sizeof *w);
	if (!w)
		return ep_oom(err);
	w->disk = (struct ep_disk){ &xwriter_ops, &ep_disk_vhdx, virtual_size };
	w->blocks = (virtual_size + BLOCK - 1) / BLOCK;
	w->chunk_ratio = VHDX_SECTORS_PER_CHUNK * SECTOR / BLOCK;
	uint64_t entries = w->blocks ? vhdx_bat_index(w->blocks - 1, w->chunk_ratio) + 1 : 1;
	w->bat_bytes = (entries * 8 + VHDX_MB - 1) / VHDX_MB * VHDX_MB;
	w->next_block = BAT_OFFSET + w->bat_bytes;
	w->fd = -1;
	int rc = 0;
	if (!(w->path = strdup(path)) || !(w->block_mb = calloc(w->blocks + 1, sizeof *w->block_mb)) ||
	    !(w->pending = malloc(BLOCK)))
		rc = ep_oom(err);
	else if ((w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	if (rc) {
		free(w->path);
		free(w->block_mb);
		free(w->pending);
		free(w);
		return rc;
	}
	*out = &w->disk;
	return 0;
}
