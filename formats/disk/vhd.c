/*
 * VHD (Virtual PC / Hyper-V, qemu's "vpc"): fixed and dynamic images, read and
 * written, and differencing images read through their parent. All fields are
 * big-endian; the footer's checksum is the one's complement of its byte sum.
 * Dynamic images map 2 MiB blocks through a BAT; each block is a sector bitmap
 * (in a differencing image: which sectors the child holds) and its data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/vhd.h"

#define FOOTER 512
#define DYN_HEADER 1024
#define TYPE_FIXED 2
#define TYPE_DYNAMIC 3
#define TYPE_DIFF 4
#define BAT_UNUSED 0xffffffffu
#define BLOCK ((uint32_t)2 << 20)
#define MAX_CHS 65535ULL * 16 * 255

struct vhd {
	struct ep_disk disk;
	int fd;                    /* the writer's */
	struct ep_disk_file *file; /* the reader's */
	char *path;
	uint64_t file_size;
	bool dynamic, writable;
	uint32_t block_size, bitmap_size; /* bytes, bitmap padded to 512 */
	uint32_t *bat;                    /* dynamic: sector offsets of blocks, host order */
	uint32_t bat_entries;
	uint64_t bat_offset;
	struct ep_parent parent;  /* differencing images */
	uint8_t *bitmap;          /* the cached sector bitmap of bitmap_block */
	uint64_t bitmap_block;
	/* writer state */
	uint8_t footer[FOOTER];
	uint64_t next_block; /* where the next new block goes */
	uint8_t *pending;    /* dynamic: the block being filled */
	uint32_t pending_index;
	bool has_pending;
	struct ep_write_behind wb;
};

static uint32_t checksum(const uint8_t *p, size_t len, size_t field)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i++)
		if (i < field || i >= field + 4)
			sum += p[i];
	return ~sum;
}

static int vhd_probe(const uint8_t *head, size_t len)
{
	/* dynamic images start with a footer copy; fixed ones are found by their footer on open */
	return len >= 8 && !memcmp(head, "conectix", 8) ? 100 : 0;
}

static uint64_t block_of(const struct vhd *v, uint64_t off)
{
	return off / v->block_size;
}

enum source { FROM_NOWHERE, FROM_FILE, FROM_PARENT };

static int load_bitmap(struct vhd *v, uint64_t block, uint64_t at, struct ep_error *err)
{
	if (v->bitmap_block == block)
		return 0;
	v->bitmap_block = UINT64_MAX;
	int rc = ep_disk_file_pread(v->file, v->bitmap, v->bitmap_size, at, err);
	if (!rc)
		v->bitmap_block = block;
	return rc;
}

/* Where the bytes at off come from, for how long (within its block), and their file offset. */
static int source_at(struct vhd *v, uint64_t off, enum source *src, uint64_t *host, uint64_t *len,
		     struct ep_error *err)
{
	uint64_t in = off % v->block_size;
	*len = v->block_size - in;
	if (*len > v->disk.virtual_size - off)
		*len = v->disk.virtual_size - off;
	if (!v->dynamic) {
		*src = FROM_FILE;
		*host = off;
		return 0;
	}
	uint64_t block = block_of(v, off);
	uint32_t entry = v->bat[block];
	if (entry == BAT_UNUSED) {
		*src = v->parent.disk ? FROM_PARENT : FROM_NOWHERE;
		return 0;
	}
	*src = FROM_FILE;
	*host = (uint64_t)entry * 512 + v->bitmap_size + in;
	if (!v->parent.disk)
		return 0;
	/* a differencing block holds only the sectors its bitmap marks; the rest is the parent's */
	int rc = load_bitmap(v, block, (uint64_t)entry * 512, err);
	if (rc)
		return rc;
	uint64_t sector = in / 512, sectors = v->block_size / 512, run = sector;
	bool mine = v->bitmap[sector / 8] >> (7 - sector % 8) & 1;
	while (run < sectors && (bool)(v->bitmap[run / 8] >> (7 - run % 8) & 1) == mine)
		run++;
	if (!mine)
		*src = FROM_PARENT;
	if (run * 512 - in < *len)
		*len = run * 512 - in;
	return 0;
}

static int vhd_classify(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err)
{
	struct vhd *v = (struct vhd *)d;
	enum source src;
	uint64_t host;
	int rc = source_at(v, off, &src, &host, len, err);
	*data = src == FROM_FILE;
	if (!rc && src == FROM_PARENT)
		rc = ep_parent_classify(&v->parent, off, *len, data, len, err);
	return rc;
}

static int vhd_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	struct vhd *v = (struct vhd *)d;
	if (!v->dynamic) /* the data is a raw image: its holes are the file's */
		return ep_disk_file_next_extent(v->file, from, d->virtual_size, out, err);
	return ep_disk_merge_extents(d, from, vhd_classify, out, err);
}

static int vhd_span(struct ep_disk *d, uint64_t off, uint8_t *p, uint64_t max, uint64_t *n, struct ep_error *err)
{
	struct vhd *v = (struct vhd *)d;
	enum source src;
	uint64_t host = 0;
	int rc = source_at(v, off, &src, &host, n, err);
	if (rc)
		return rc;
	if (*n > max)
		*n = max;
	if (src == FROM_FILE)
		return ep_disk_file_pread_or_zero(v->file, p, (size_t)*n, host, err);
	if (src == FROM_PARENT)
		return ep_disk_read_clipped(v->parent.disk, p, (size_t)*n, off, err);
	memset(p, 0, (size_t)*n);
	return 0;
}

static int vhd_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_disk_read_spans(d, buf, len, off, vhd_span, err);
}

/* ---- writing ---- */

static void chs(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt)
{
	/* the geometry algorithm of the VHD specification's appendix */
	uint64_t total = size / 512, cth;
	unsigned h, s;
	if (total > MAX_CHS)
		total = MAX_CHS;
	if (total >= 65535ULL * 16 * 63) {
		s = 255;
		h = 16;
		cth = total / s;
	} else {
		s = 17;
		cth = total / s;
		h = (unsigned)((cth + 1023) / 1024);
		if (h < 4)
			h = 4;
		if (cth >= h * 1024ULL || h > 16) {
			s = 31;
			h = 16;
			cth = total / s;
		}
		if (cth >= h * 1024ULL) {
			s = 63;
			h = 16;
			cth = total / s;
		}
	}
	*cyl = (uint16_t)(cth / h);
	*heads = (uint8_t)h;
	*spt = (uint8_t)s;
}

static void make_footer(struct vhd *v, uint8_t type, uint64_t data_offset)
{
	uint8_t *f = v->footer;
	memset(f, 0, FOOTER);
	memcpy(f, "conectix", 8);
	ep_put_be32(f + 8, 2);
	ep_put_be32(f + 12, 0x00010000);
	ep_put_be64(f + 16, data_offset);
	ep_put_be32(f + 24, (uint32_t)(time(NULL) - 946684800));
	/* readers that size disks by CHS geometry (Virtual PC, qemu before 8.2) use
	 * current_size only for known creators; Hyper-V's id makes them read it exactly */
	memcpy(f + 28, "win ", 4);
	ep_put_be32(f + 32, 0x00010000);
	memcpy(f + 36, "Wi2k", 4);
	ep_put_be64(f + 40, v->disk.virtual_size);
	ep_put_be64(f + 48, v->disk.virtual_size);
	uint16_t c;
	uint8_t h, s;
	chs(v->disk.virtual_size, &c, &h, &s);
	ep_put_be16(f + 56, c);
	f[58] = h;
	f[59] = s;
	ep_put_be32(f + 60, type);
	uint8_t uuid[16] = { 0 };
	RAND_bytes(uuid, sizeof uuid);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	memcpy(f + 68, uuid, 16);
	ep_put_be32(f + 64, checksum(f, FOOTER, 64));
}

static int flush_block(struct vhd *v, struct ep_error *err)
{
	if (!v->has_pending)
		return 0;
	v->has_pending = false;
	if (ep_is_zero(v->pending + v->bitmap_size, v->block_size))
		return 0;
	memset(v->pending, 0xff, v->bitmap_size); /* every sector present */
	int rc = ep_pwrite_full(v->fd, v->pending, v->bitmap_size + v->block_size, v->next_block, v->path, err);
	if (rc)
		return rc;
	ep_write_behind(&v->wb, v->fd, v->next_block, v->bitmap_size + v->block_size);
	v->bat[v->pending_index] = (uint32_t)(v->next_block / 512);
	v->next_block += v->bitmap_size + v->block_size;
	return 0;
}

static int vhd_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct vhd *v = (struct vhd *)d;
	const uint8_t *p = buf;
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "vhd: write past the virtual size of '%s'", v->path);
	if (!v->dynamic) { /* fixed: the data is a raw image; zero blocks stay holes */
		int rc = ep_disk_raw_write_sparse(v->fd, buf, len, off, v->path, err);
		ep_write_behind(&v->wb, v->fd, off, len);
		return rc;
	}
	while (len > 0) {
		uint32_t b = (uint32_t)block_of(v, off);
		size_t in = off % v->block_size, n = v->block_size - in < len ? v->block_size - in : len;
		int rc = 0;
		if (!(v->has_pending && v->pending_index == b)) {
			if ((rc = flush_block(v, err)))
				return rc;
			if (v->bat[b] != BAT_UNUSED) { /* written before: update in place */
				uint64_t host = (uint64_t)v->bat[b] * 512 + v->bitmap_size + in;
				if ((rc = ep_pwrite_full(v->fd, p, n, host, v->path, err)))
					return rc;
				goto next;
			}
			memset(v->pending, 0, v->bitmap_size + v->block_size);
			v->pending_index = b;
			v->has_pending = true;
		}
		memcpy(v->pending + v->bitmap_size + in, p, n);
		if (in + n == v->block_size && (rc = flush_block(v, err)))
			return rc;
	next:
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int finish(struct vhd *v, struct ep_error *err)
{
	int rc = 0;
	if (!v->dynamic) {
		make_footer(v, TYPE_FIXED, UINT64_MAX);
		rc = ep_pwrite_full(v->fd, v->footer, FOOTER, v->disk.virtual_size, v->path, err);
	} else if (!(rc = flush_block(v, err))) {
		make_footer(v, TYPE_DYNAMIC, FOOTER);
		uint8_t header[DYN_HEADER] = { 0 };
		memcpy(header, "cxsparse", 8);
		ep_put_be64(header + 8, UINT64_MAX);
		ep_put_be64(header + 16, v->bat_offset);
		ep_put_be32(header + 24, 0x00010000);
		ep_put_be32(header + 28, v->bat_entries);
		ep_put_be32(header + 32, v->block_size);
		ep_put_be32(header + 36, checksum(header, DYN_HEADER, 36));
		size_t bat_bytes = ((size_t)v->bat_entries * 4 + 511) & ~(size_t)511;
		uint8_t *bat = malloc(bat_bytes);
		if (!bat)
			return ep_oom(err);
		memset(bat, 0xff, bat_bytes);
		for (uint32_t i = 0; i < v->bat_entries; i++)
			ep_put_be32(bat + 4 * i, v->bat[i]);
		if (!(rc = ep_pwrite_full(v->fd, v->footer, FOOTER, 0, v->path, err)) &&
		    !(rc = ep_pwrite_full(v->fd, header, DYN_HEADER, FOOTER, v->path, err)) &&
		    !(rc = ep_pwrite_full(v->fd, bat, bat_bytes, v->bat_offset, v->path, err)))
			rc = ep_pwrite_full(v->fd, v->footer, FOOTER, v->next_block, v->path, err);
		free(bat);
	}
	if (!rc && fdatasync(v->fd) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot sync '%s'", v->path);
	return rc;
}

static int vhd_close(struct ep_disk *d, struct ep_error *err)
{
	struct vhd *v = (struct vhd *)d;
	int rc = v->writable ? finish(v, err) : 0;
	if (v->parent.disk)
		ep_disk_close(v->parent.disk, NULL);
	free(v->bitmap);
	if (v->file)
		ep_disk_file_close(v->file);
	else if (v->fd >= 0)
		close(v->fd);
	free(v->bat);
	free(v->pending);
	free(v->path);
	free(v);
	return rc;
}

static const struct ep_disk_ops vhd_ops = {
	.next_extent = vhd_next_extent,
	.read = vhd_read,
	.write = vhd_write,
	.close = vhd_close,
};

static struct vhd *vhd_new(const char *path)
{
	struct vhd *v = calloc(1, sizeof *v);
	if (v && !(v->path = strdup(path))) {
		free(v);
		return NULL;
	}
	if (v) {
		v->fd = -1;
		v->disk = (struct ep_disk){ &vhd_ops, &ep_disk_vhd, 0 };
	}
	return v;
}

static int vhd_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		      const struct ep_disk_create_opts *opts, struct ep_error *err)
{
	const char *sub = opts && opts->subformat ? opts->subformat : "dynamic";
	if (strcmp(sub, "fixed") != 0 && strcmp(sub, "dynamic") != 0)
		return ep_fail(err, EP_EINPUT, "vhd: subformat '%s' is not fixed or dynamic", sub);
	if (virtual_size % 512 || virtual_size > 2040ULL << 30)
		return ep_fail(err, EP_EINPUT, "vhd: a virtual size of %llu bytes is not a multiple of 512 up to 2040 GiB",
			       (unsigned long long)virtual_size);
	struct vhd *v = vhd_new(path);
	if (!v)
		return ep_oom(err);
	v->dynamic = !strcmp(sub, "dynamic");
	/* Azure takes only fixed VHDs of a whole number of MiB: pad with zeros up to one */
	if (!v->dynamic)
		virtual_size = (virtual_size + (1ULL << 20) - 1) & ~((1ULL << 20) - 1);
	v->disk.virtual_size = virtual_size;
	v->writable = true;
	v->block_size = BLOCK;
	v->bitmap_size = 512;
	v->bat_entries = (uint32_t)((virtual_size + BLOCK - 1) / BLOCK);
	v->bat_offset = FOOTER + DYN_HEADER;
	v->next_block = v->bat_offset + (((uint64_t)v->bat_entries * 4 + 511) & ~511ULL);
	v->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int rc = 0;
	if (v->fd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	else if (!v->dynamic && ftruncate(v->fd, (off_t)(virtual_size + FOOTER)) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot size '%s'", path);
	else if (v->dynamic && (!(v->bat = malloc((size_t)v->bat_entries * 4 + 4)) ||
				!(v->pending = malloc(v->bitmap_size + v->block_size))))
		rc = ep_oom(err);
	if (rc) {
		if (v->fd >= 0)
			unlink(path);
		v->writable = false;
		vhd_close(&v->disk, NULL);
		return rc;
	}
	if (v->dynamic)
		memset(v->bat, 0xff, (size_t)v->bat_entries * 4);
	*out = &v->disk;
	return 0;
}

/* ---- opening ---- */

__attribute__((format(printf, 3, 4))) static int bad(struct vhd *v, struct ep_error *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(err, EP_EINPUT, "vhd: %s in '%s'", msg, v->path);
}

/* qemu's rule: Virtual PC and old qemu sized disks by CHS geometry, everyone else by current_size */
static uint64_t footer_size(const uint8_t *f)
{
	uint64_t chs_size = (uint64_t)ep_be16(f + 56) * f[58] * f[59] * 512;
	bool by_chs = (!memcmp(f + 28, "vpc ", 4) || !memcmp(f + 28, "qemu", 4)) &&
		      chs_size != MAX_CHS * 512;
	return by_chs ? chs_size : ep_be64(f + 48);
}

int ep_vhd_footer(const uint8_t *f, const char *what, uint32_t *type, uint64_t *size, struct ep_error *err)
{
	if (memcmp(f, "conectix", 8))
		return ep_fail(err, EP_EINPUT, "vhd: no footer (conectix cookie) at the end of %s", what);
	if (ep_be32(f + 64) != checksum(f, FOOTER, 64))
		return ep_fail(err, EP_EINPUT, "vhd: the footer checksum is wrong in %s", what);
	*type = ep_be32(f + 60);
	*size = footer_size(f);
	return 0;
}

/* A parent locator's path as UTF-8 with '/' separators: relative for W2ru, the base
 * name for absolute ones (W2ku, MacX), which only make sense on the machine that wrote them. */
static int locator_path(struct vhd *v, const uint8_t *entry, char *out, size_t cap, struct ep_error *err)
{
	uint32_t len = ep_be32(entry + 8);
	uint64_t at = ep_be64(entry + 16);
	uint8_t raw[1024];
	if (len == 0 || len > sizeof raw || at > v->file_size || v->file_size - at < len)
		return bad(v, err, "%s", "a parent locator lies outside the file");
	int rc = ep_disk_file_pread(v->file, raw, len, at, err);
	if (rc)
		return rc;
	size_t n = 0;
	bool utf16 = memcmp(entry, "MacX", 4) != 0;
	for (uint32_t i = 0; i < len && n + 4 < cap; i += utf16 ? 2 : 1) {
		uint32_t c = utf16 ? (i + 1 < len ? ep_le16(raw + i) : 0) : raw[i];
		if (c == 0)
			break;
		if (c >= 0xd800 && c < 0xe000)
			return bad(v, err, "%s", "a parent locator holds a character outside the BMP");
		if (c == '\\')
			c = '/';
		if (c < 0x80) {
			out[n++] = (char)c;
		} else if (c < 0x800) {
			out[n++] = (char)(0xc0 | c >> 6);
			out[n++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[n++] = (char)(0xe0 | c >> 12);
			out[n++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[n++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[n] = '\0';
	const char *rel = out;
	if (!memcmp(entry, "W2ru", 4)) {
		while (!strncmp(rel, "./", 2))
			rel += 2;
	} else {
		const char *slash = strrchr(out, '/');
		rel = slash ? slash + 1 : out;
	}
	memmove(out, rel, strlen(rel) + 1);
	return *out ? 0 : bad(v, err, "%s", "a parent locator names no file");
}

static int open_parent(struct vhd *v, const uint8_t *h, const struct ep_disk_open_opts *opts, struct ep_error *err)
{
	static const char *const codes[] = { "W2ru", "W2ku", "MacX" };
	int rc = bad(v, err, "%s", "the differencing image has no usable parent locator");
	for (size_t c = 0; c < 3 && !v->parent.disk; c++)
		for (int i = 0; i < 8 && !v->parent.disk; i++) {
			const uint8_t *entry = h + 576 + 24 * i;
			char path[2048];
			if (memcmp(entry, codes[c], 4) != 0)
				continue;
			if ((rc = locator_path(v, entry, path, sizeof path, err)))
				return rc;
			rc = ep_disk_open_ref(&v->parent.disk, v->path, path, NULL, opts, err);
		}
	if (rc)
		return rc;
	if (v->parent.disk->virtual_size != v->disk.virtual_size)
		return bad(v, err, "the parent's size %llu differs from the child's",
			   (unsigned long long)v->parent.disk->virtual_size);
	if (!(v->bitmap = malloc(v->bitmap_size)))
		return ep_oom(err);
	return 0;
}

static int open_dynamic(struct vhd *v, const uint8_t *footer, const struct ep_disk_open_opts *opts,
			struct ep_error *err)
{
	uint64_t hoff = ep_be64(footer + 16);
	uint8_t h[DYN_HEADER];
	if (hoff > v->file_size || v->file_size - hoff < DYN_HEADER)
		return bad(v, err, "the dynamic header offset %llu is past the end", (unsigned long long)hoff);
	int rc = ep_disk_file_pread(v->file, h, DYN_HEADER, hoff, err);
	if (rc)
		return rc;
	if (memcmp(h, "cxsparse", 8))
		return bad(v, err, "%s", "the dynamic header has no cxsparse cookie");
	if (ep_be32(h + 36) != checksum(h, DYN_HEADER, 36))
		return bad(v, err, "%s", "the dynamic header checksum is wrong");
	v->block_size = ep_be32(h + 32);
	v->bat_entries = ep_be32(h + 28);
	v->bat_offset = ep_be64(h + 16);
	if (v->block_size < 512 || v->block_size > (256u << 20) || (v->block_size & (v->block_size - 1)))
		return bad(v, err, "block size %u is not a power of two from 512 B to 256 MiB", v->block_size);
	v->bitmap_size = ((v->block_size / 512 / 8) + 511) & ~511u;
	if ((uint64_t)v->bat_entries * v->block_size < v->disk.virtual_size)
		return bad(v, err, "the BAT (%u entries) is too small for the virtual size", v->bat_entries);
	uint64_t bat_end;
	if (ep_add_overflows(v->bat_offset, (uint64_t)v->bat_entries * 4, &bat_end) || bat_end > v->file_size)
		return bad(v, err, "the BAT at %llu runs past the end", (unsigned long long)v->bat_offset);
	if (!(v->bat = malloc((size_t)v->bat_entries * 4 + 4)))
		return ep_oom(err);
	if ((rc = ep_disk_file_pread(v->file, v->bat, (size_t)v->bat_entries * 4, v->bat_offset, err)))
		return rc;
	for (uint32_t i = 0; i < v->bat_entries; i++) {
		uint32_t e = ep_be32((const uint8_t *)&v->bat[i]);
		if (e != BAT_UNUSED && ((uint64_t)e * 512 + v->bitmap_size >= v->file_size || (uint64_t)e * 512 < hoff))
			return bad(v, err, "BAT entry %u points outside the file", i);
		v->bat[i] = e;
	}
	v->dynamic = true;
	v->bitmap_block = UINT64_MAX;
	return ep_be32(footer + 60) == TYPE_DIFF ? open_parent(v, h, opts, err) : 0;
}

static int vhd_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		    struct ep_error *err)
{
	struct vhd *v = vhd_new(path);
	if (!v)
		return ep_oom(err);
	uint8_t f[FOOTER];
	int rc = ep_disk_file_get(&v->file, path, opts, false, err);
	v->file_size = rc ? 0 : ep_disk_file_size(v->file);
	if (!rc && v->file_size < FOOTER)
		rc = bad(v, err, "%s", "the file is too short for a footer");
	else if (!rc && !(rc = ep_disk_file_pread(v->file, f, FOOTER, v->file_size - FOOTER, err)) && memcmp(f, "conectix", 8)) {
		/* a damaged end: dynamic images keep a footer copy at the start */
		rc = ep_disk_file_pread(v->file, f, FOOTER, 0, err);
		if (!rc && memcmp(f, "conectix", 8))
			rc = bad(v, err, "%s", "no footer (conectix cookie)");
	}
	if (!rc && ep_be32(f + 64) != checksum(f, FOOTER, 64))
		rc = bad(v, err, "%s", "the footer checksum is wrong");
	if (!rc) {
		uint32_t type = ep_be32(f + 60);
		v->disk.virtual_size = footer_size(f);
		v->block_size = BLOCK; /* fixed images: only the unit reads are split into */
		if (type == TYPE_FIXED) {
			if (v->disk.virtual_size > v->file_size - FOOTER)
				rc = bad(v, err, "the fixed disk's size %llu is larger than the file",
					 (unsigned long long)v->disk.virtual_size);
		} else if (type == TYPE_DYNAMIC || type == TYPE_DIFF) {
			rc = open_dynamic(v, f, opts ? opts : &(struct ep_disk_open_opts){ 0 }, err);
		} else {
			rc = bad(v, err, "unknown disk type %u", type);
		}
	}
	if (rc) {
		vhd_close(&v->disk, NULL);
		return rc;
	}
	*out = &v->disk;
	return 0;
}

const struct ep_disk_format ep_disk_vhd = {
	.name = "vhd",
	.probe = vhd_probe,
	.open = vhd_open,
	.create = vhd_create,
	.extension = "vhd",
};
