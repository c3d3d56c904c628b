/*
 * VHDX reader: fixed and dynamic images. The current header is the valid one
 * (signature and CRC-32C) with the higher sequence number; a header naming a
 * log (a log GUID) means unreplayed writes, and the image is refused. Every
 * region, metadata item and BAT entry is checked against the file first.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/vhdx.h"

struct vhdx {
	struct ep_disk disk;
	struct ep_disk_file *file;
	char *path;
	uint64_t file_size;
	uint32_t block_size, logical_sector;
	uint64_t chunk_ratio, blocks;
	uint64_t *bat;
	uint64_t bat_entries;
};

static int vhdx_probe(const uint8_t *head, size_t len)
{
	return len >= 8 && !memcmp(head, "vhdxfile", 8) ? 100 : 0;
}

__attribute__((format(printf, 3, 4))) static int bad(struct vhdx *v, struct ep_error *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(err, EP_EINPUT, "vhdx: %s in '%s'", msg, v->path);
}

/* The state of the block holding off, and the file offset of off when present. */
static int block_at(struct vhdx *v, uint64_t off, unsigned *state, uint64_t *host, struct ep_error *err)
{
	uint64_t b = off / v->block_size, entry = v->bat[vhdx_bat_index(b, v->chunk_ratio)];
	*state = entry & 7;
	if (*state != VHDX_PAYLOAD_FULLY_PRESENT)
		return 0;
	*host = (entry >> 20) * VHDX_MB + off % v->block_size; /* checked against the file at open */
	(void)err;
	return 0;
}

static int vhdx_classify(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err)
{
	struct vhdx *v = (struct vhdx *)d;
	unsigned state;
	uint64_t host;
	int rc = block_at(v, off, &state, &host, err);
	*data = state == VHDX_PAYLOAD_FULLY_PRESENT;
	*len = v->block_size - off % v->block_size;
	return rc;
}

static int vhdx_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	return ep_disk_merge_extents(d, from, vhdx_classify, out, err);
}

static int vhdx_span(struct ep_disk *d, uint64_t off, uint8_t *p, uint64_t max, uint64_t *n, struct ep_error *err)
{
	struct vhdx *v = (struct vhdx *)d;
	unsigned state;
	uint64_t host = 0;
	int rc = block_at(v, off, &state, &host, err);
	*n = v->block_size - off % v->block_size;
	if (*n > max)
		*n = max;
	if (rc || state != VHDX_PAYLOAD_FULLY_PRESENT) {
		memset(p, 0, (size_t)*n);
		return rc;
	}
	return ep_disk_file_pread_or_zero(v->file, p, (size_t)*n, host, err);
}

static int vhdx_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_disk_read_spans(d, buf, len, off, vhdx_span, err);
}

static int vhdx_close(struct ep_disk *d, struct ep_error *err)
{
	(void)err;
	struct vhdx *v = (struct vhdx *)d;
	ep_disk_file_close(v->file);
	free(v->bat);
	free(v->path);
	free(v);
	return 0;
}

static const struct ep_disk_ops vhdx_ops = {
	.next_extent = vhdx_next_extent,
	.read = vhdx_read,
	.write = ep_disk_no_write,
	.close = vhdx_close,
};

static int read_header(struct vhdx *v, uint8_t h[VHDX_HEADER_SIZE], struct ep_error *err)
{
	uint8_t h2[VHDX_HEADER_SIZE];
	int rc = ep_disk_file_pread(v->file, h, VHDX_HEADER_SIZE, VHDX_HEADER1, err);
	if (!rc)
		rc = ep_disk_file_pread(v->file, h2, VHDX_HEADER_SIZE, VHDX_HEADER2, err);
	if (rc)
		return rc;
	bool ok1 = !memcmp(h, "head", 4) && ep_le32(h + 4) == vhdx_checksum(h, VHDX_HEADER_SIZE, 4);
	bool ok2 = !memcmp(h2, "head", 4) && ep_le32(h2 + 4) == vhdx_checksum(h2, VHDX_HEADER_SIZE, 4);
	if (!ok1 && !ok2)
		return bad(v, err, "%s", "neither header is valid (signature or CRC-32C)");
	if (!ok1 || (ok2 && ep_le64(h2 + 8) > ep_le64(h + 8)))
		memcpy(h, h2, VHDX_HEADER_SIZE);
	if (ep_le16(h + 66) != 1)
		return bad(v, err, "header version %u is not 1", ep_le16(h + 66));
	static const uint8_t no_log[16];
	if (memcmp(h + 48, no_log, 16) != 0)
		return bad(v, err, "%s", "the log holds unreplayed writes (open the image once in Hyper-V or run qemu-img check -r all)");
	return 0;
}

/* Finds the BAT and metadata regions in the first valid region table. */
static int read_regions(struct vhdx *v, uint64_t *bat_off, uint64_t *bat_len, uint64_t *meta_off, uint64_t *meta_len,
			struct ep_error *err)
{
	uint8_t *r = malloc(VHDX_REGION_SIZE);
	if (!r)
		return ep_oom(err);
	int rc = 0;
	bool valid = false;
	for (int copy = 0; !rc && !valid && copy < 2; copy++) {
		rc = ep_disk_file_pread(v->file, r, VHDX_REGION_SIZE, copy ? VHDX_REGION2 : VHDX_REGION1, err);
		valid = !rc && !memcmp(r, "regi", 4) && ep_le32(r + 4) == vhdx_checksum(r, VHDX_REGION_SIZE, 4);
	}
	uint32_t count = valid ? ep_le32(r + 8) : 0;
	if (!rc && !valid)
		rc = bad(v, err, "%s", "neither region table is valid");
	else if (!rc && count > 2047)
		rc = bad(v, err, "the region table lists %u entries", count);
	*bat_len = *meta_len = 0;
	for (uint32_t i = 0; !rc && i < count; i++) {
		const uint8_t *e = r + 16 + 32 * i;
		uint64_t off = ep_le64(e + 16), len = ep_le32(e + 24), end;
		bool required = ep_le32(e + 28) & 1;
		if (off % VHDX_MB || len % VHDX_MB || ep_add_overflows(off, len, &end) || end > v->file_size || off < VHDX_MB)
			rc = bad(v, err, "region %u (offset %llu, length %llu) is misaligned or past the end", i,
				 (unsigned long long)off, (unsigned long long)len);
		else if (!memcmp(e, vhdx_guid_bat, 16))
			*bat_off = off, *bat_len = len;
		else if (!memcmp(e, vhdx_guid_metadata, 16))
			*meta_off = off, *meta_len = len;
		else if (required)
			rc = bad(v, err, "region %u is required but unknown", i);
	}
	free(r);
	if (!rc && (!*bat_len || !*meta_len))
		rc = bad(v, err, "%s", "the BAT or metadata region is missing");
	return rc;
}

static int read_metadata(struct vhdx *v, uint64_t meta_off, uint64_t meta_len, struct ep_error *err)
{
	uint8_t *m = malloc(VHDX_METADATA_TABLE);
	if (!m)
		return ep_oom(err);
	int rc = ep_disk_file_pread(v->file, m, VHDX_METADATA_TABLE, meta_off, err);
	uint16_t count = rc ? 0 : ep_le16(m + 10);
	bool have_params = false, have_size = false;
	if (!rc && memcmp(m, "metadata", 8))
		rc = bad(v, err, "%s", "the metadata table has no signature");
	else if (!rc && count > 2047)
		rc = bad(v, err, "the metadata table lists %u items", count);
	for (uint16_t i = 0; !rc && i < count; i++) {
		const uint8_t *e = m + 32 + 32 * i;
		uint32_t off = ep_le32(e + 16), len = ep_le32(e + 20), flags = ep_le32(e + 24);
		uint8_t item[8] = { 0 };
		bool known = !memcmp(e, vhdx_guid_file_params, 16) || !memcmp(e, vhdx_guid_disk_size, 16) ||
			     !memcmp(e, vhdx_guid_logical_sector, 16);
		if (!memcmp(e, vhdx_guid_parent_locator, 16))
			rc = bad(v, err, "%s", "differencing images (with a parent) are not read yet");
		else if (!known && (flags & 4) && memcmp(e, vhdx_guid_disk_id, 16) && memcmp(e, vhdx_guid_physical_sector, 16))
			rc = bad(v, err, "metadata item %u is required but unknown", i);
		else if (!known)
			continue;
		else if (len < 4 || len > 8 || off < VHDX_METADATA_TABLE || off > meta_len - len)
			rc = bad(v, err, "metadata item %u lies outside the metadata region", i);
		else
			rc = ep_disk_file_pread(v->file, item, len, meta_off + off, err);
		if (rc)
			break;
		if (!memcmp(e, vhdx_guid_file_params, 16)) {
			v->block_size = ep_le32(item);
			have_params = true;
			if (ep_le32(item + 4) & 2)
				rc = bad(v, err, "%s", "differencing images (with a parent) are not read yet");
		} else if (!memcmp(e, vhdx_guid_disk_size, 16)) {
			v->disk.virtual_size = ep_le64(item);
			have_size = true;
		} else {
			v->logical_sector = ep_le32(item);
		}
	}
	free(m);
	if (rc)
		return rc;
	if (!have_params || !have_size || !v->logical_sector)
		return bad(v, err, "%s", "a required metadata item is missing");
	if (v->block_size < VHDX_MB || v->block_size > 256 * VHDX_MB || (v->block_size & (v->block_size - 1)))
		return bad(v, err, "block size %u is not a power of two from 1 to 256 MiB", v->block_size);
	if (v->logical_sector != 512 && v->logical_sector != 4096)
		return bad(v, err, "logical sector size %u is not 512 or 4096", v->logical_sector);
	if (v->disk.virtual_size > (64ULL << 40) || v->disk.virtual_size % v->logical_sector)
		return bad(v, err, "virtual size %llu is not a sector multiple up to 64 TiB",
			   (unsigned long long)v->disk.virtual_size);
	return 0;
}

static int vhdx_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		     struct ep_error *err)
{
	struct vhdx *v = calloc(1, sizeof *v);
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return ep_oom(err);
	}
	v->disk = (struct ep_disk){ &vhdx_ops, &ep_disk_vhdx, 0 };
	uint8_t h[VHDX_HEADER_SIZE], sig[8];
	uint64_t bat_off = 0, bat_len = 0, meta_off = 0, meta_len = 0;
	int rc = ep_disk_file_get(&v->file, path, opts, false, err);
	v->file_size = rc ? 0 : ep_disk_file_size(v->file);
	if (!rc && v->file_size < 2 * VHDX_MB)
		rc = bad(v, err, "%s", "the file is shorter than the VHDX headers");
	else if (!rc && !(rc = ep_disk_file_pread(v->file, sig, 8, 0, err)) && memcmp(sig, "vhdxfile", 8))
		rc = bad(v, err, "%s", "no vhdxfile signature");
	if (!rc)
		rc = read_header(v, h, err);
	if (!rc)
		rc = read_regions(v, &bat_off, &bat_len, &meta_off, &meta_len, err);
	if (!rc)
		rc = read_metadata(v, meta_off, meta_len, err);
	if (!rc) {
		v->chunk_ratio = VHDX_SECTORS_PER_CHUNK * v->logical_sector / v->block_size;
		v->blocks = (v->disk.virtual_size + v->block_size - 1) / v->block_size;
		v->bat_entries = v->blocks ? vhdx_bat_index(v->blocks - 1, v->chunk_ratio) + 1 : 0;
		if (v->bat_entries * 8 > bat_len)
			rc = bad(v, err, "the BAT region (%llu bytes) is too small for %llu blocks", (unsigned long long)bat_len,
				 (unsigned long long)v->blocks);
		else if (!(v->bat = malloc(v->bat_entries * 8 + 8)))
			rc = ep_oom(err);
		else
			rc = ep_disk_file_pread(v->file, v->bat, v->bat_entries * 8, bat_off, err);
	}
	for (uint64_t i = 0; !rc && i < v->bat_entries; i++) {
		v->bat[i] = ep_le64((const uint8_t *)&v->bat[i]);
		unsigned state = v->bat[i] & 7;
		bool bitmap_entry = (i + 1) % (v->chunk_ratio + 1) == 0;
		if (!bitmap_entry && state == VHDX_PAYLOAD_PARTIALLY_PRESENT)
			rc = bad(v, err, "BAT entry %llu is partially present, which needs a parent", (unsigned long long)i);
		else if (!bitmap_entry && state == VHDX_PAYLOAD_FULLY_PRESENT &&
			 ((v->bat[i] >> 20) * VHDX_MB < VHDX_MB || (v->bat[i] >> 20) * VHDX_MB >= v->file_size))
			rc = bad(v, err, "BAT entry %llu points outside the file", (unsigned long long)i);
	}
	if (rc) {
		vhdx_close(&v->disk, NULL);
		return rc;
	}
	*out = &v->disk;
	return 0;
}

int ep_vhdx_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err);

const struct ep_disk_format ep_disk_vhdx = {
	.name = "vhdx",
	.probe = vhdx_probe,
	.open = vhdx_open,
	.create = ep_vhdx_create,
	.extension = "vhdx",
};
