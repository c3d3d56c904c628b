/*
 * VMDK reader: hosted sparse extents (monolithicSparse, and streamOptimized
 * with compressed grains behind markers and the grain directory at the end),
 * and text descriptors naming flat, sparse or zero extents
 * (monolithicFlat, twoGbMaxExtentSparse/Flat). Extent files must resolve
 * inside the descriptor's directory or an --allow-dir. All fields little-endian.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/vmdk.h"

enum ext_type { EXT_FLAT, EXT_SPARSE, EXT_ZERO };

struct extent {
	enum ext_type type;
	uint64_t start, size; /* guest bytes */
	struct ep_disk_file *file;
	char *path;
	uint64_t file_size;
	uint64_t flat_offset;
	/* sparse */
	uint64_t grain;         /* bytes */
	uint32_t gtes_per_gt;
	uint32_t *gd;           /* sector offsets of grain tables */
	uint64_t gd_entries;
	uint32_t *gt;           /* one cached grain table */
	uint64_t gt_index;      /* which, UINT64_MAX when none */
	bool compressed, markers, zeroed_gte;
	uint8_t *zin, *zout;
	uint64_t zout_sector;   /* the grain zout holds, 0 when none */
};

struct vmdk {
	struct ep_disk disk;
	char *path;
	struct extent *ext;
	size_t next, cap_ext;
};

enum kind { K_HOLE, K_ZERO, K_DATA, K_GRAIN };

static int vmdk_probe(const uint8_t *head, size_t len)
{
	if (len >= 4 && ep_le32(head) == VMDK4_MAGIC)
		return 100;
	static const char desc[] = "# Disk DescriptorFile";
	return len >= sizeof desc - 1 && !memcmp(head, desc, sizeof desc - 1) ? 100 : 0;
}

__attribute__((format(printf, 3, 4))) static int bad(const char *path, struct ep_error *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(err, EP_EINPUT, "vmdk: %s in '%s'", msg, path);
}

static struct extent *find_extent(struct vmdk *v, uint64_t off)
{
	size_t lo = 0, hi = v->next;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->ext[mid].start <= off)
			lo = mid;
		else
			hi = mid;
	}
	return &v->ext[lo];
}

static int load_gt(struct extent *e, uint64_t gdi, struct ep_error *err)
{
	if (e->gt_index == gdi)
		return 0;
	uint64_t off = (uint64_t)e->gd[gdi] * 512, bytes = (uint64_t)e->gtes_per_gt * 4;
	if (off + bytes > e->file_size || off < 512)
		return bad(e->path, err, "grain table %llu at sector %u lies outside the file", (unsigned long long)gdi,
			   e->gd[gdi]);
	e->gt_index = UINT64_MAX;
	int rc = ep_disk_file_pread(e->file, e->gt, (size_t)bytes, off, err);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < e->gtes_per_gt; i++)
		e->gt[i] = ep_le32((const uint8_t *)&e->gt[i]);
	e->gt_index = gdi;
	return 0;
}

/* What lies at guest offset off and for how many bytes; *host is a file offset
 * (K_DATA) or a grain's sector (K_GRAIN, compressed). */
static int unit_at(struct vmdk *v, uint64_t off, struct extent **ep, enum kind *kind, uint64_t *host, uint64_t *len,
		   struct ep_error *err)
{
	struct extent *e = find_extent(v, off);
	uint64_t in = off - e->start, left = e->size - in;
	*ep = e;
	*len = left;
	*kind = K_HOLE;
	if (e->type == EXT_ZERO)
		return 0;
	if (e->type == EXT_FLAT) {
		*kind = K_DATA;
		*host = e->flat_offset + in;
		return 0;
	}
	uint64_t gi = in / e->grain, gdi = gi / e->gtes_per_gt;
	*len = e->grain - in % e->grain;
	if (*len > left)
		*len = left;
	if (gdi >= e->gd_entries || e->gd[gdi] == 0) {
		/* no grain table: the rest of its range is a hole */
		uint64_t table_end = (gdi + 1) * e->gtes_per_gt * e->grain;
		*len = table_end - in < left ? table_end - in : left;
		return 0;
	}
	int rc = load_gt(e, gdi, err);
	if (rc)
		return rc;
	uint32_t gte = e->gt[gi % e->gtes_per_gt];
	if (gte == 0)
		return 0;
	if (gte == 1 && e->zeroed_gte) {
		*kind = K_ZERO;
		return 0;
	}
	if ((uint64_t)gte * 512 >= e->file_size)
		return bad(e->path, err, "grain %llu at sector %u lies outside the file", (unsigned long long)gi, gte);
	if (e->compressed) {
		*kind = K_GRAIN;
		*host = gte;
	} else {
		*kind = K_DATA;
		*host = (uint64_t)gte * 512 + in % e->grain;
	}
	return 0;
}

static int vmdk_classify(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err)
{
	struct extent *e;
	enum kind kind;
	uint64_t host = 0;
	int rc = unit_at((struct vmdk *)d, off, &e, &kind, &host, len, err);
	*data = kind == K_DATA || kind == K_GRAIN;
	int fd = !rc && kind == K_DATA && e->type == EXT_FLAT ? ep_disk_file_fd(e->file) : -1;
	if (fd < 0)
		return rc;
	/* a flat extent file's own holes are holes */
	off_t at = lseek(fd, (off_t)host, SEEK_DATA);
	if (at < 0 && errno == ENXIO) {
		*data = false;
	} else if (at >= 0 && (uint64_t)at > host) {
		*data = false;
		if ((uint64_t)at - host < *len)
			*len = (uint64_t)at - host;
	} else if (at >= 0) {
		off_t hole = lseek(fd, at, SEEK_HOLE);
		if (hole > at && (uint64_t)hole - host < *len)
			*len = (uint64_t)hole - host;
	}
	return 0;
}

static int vmdk_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	return ep_disk_merge_extents(d, from, vmdk_classify, out, err);
}

static int read_grain(struct extent *e, uint64_t sector, struct ep_error *err)
{
	if (e->zout_sector == sector)
		return 0;
	uint64_t off = sector * 512;
	uint8_t hdr[12];
	int rc = ep_disk_file_pread(e->file, hdr, e->markers ? 12 : 0, off, err);
	if (rc)
		return rc;
	uint64_t size = e->markers ? ep_le32(hdr + 8) : 0;
	if (!e->markers)
		return bad(e->path, err, "%s", "compressed grains without markers are not supported");
	if (size == 0 || size > 2 * e->grain + 1024 || off + 12 + size > e->file_size)
		return bad(e->path, err, "the grain at sector %llu has an impossible size %llu", (unsigned long long)sector,
			   (unsigned long long)size);
	if ((rc = ep_disk_file_pread(e->file, e->zin, (size_t)size, off + 12, err)))
		return rc;
	uLongf n = (uLongf)e->grain;
	e->zout_sector = 0;
	if (uncompress(e->zout, &n, e->zin, (uLong)size) != Z_OK) {
		/* a last grain may hold less than a full grain: inflate what is there */
		z_stream z = { .next_in = e->zin, .avail_in = (uInt)size, .next_out = e->zout, .avail_out = (uInt)e->grain };
		if (inflateInit(&z) != Z_OK)
			return ep_oom(err);
		int r = inflate(&z, Z_FINISH);
		n = e->grain - z.avail_out;
		inflateEnd(&z);
		if (r != Z_STREAM_END)
			return bad(e->path, err, "the grain at sector %llu does not decompress", (unsigned long long)sector);
	}
	memset(e->zout + n, 0, (size_t)(e->grain - n));
	e->zout_sector = sector;
	return 0;
}

static int vmdk_span(struct ep_disk *d, uint64_t off, uint8_t *p, uint64_t max, uint64_t *n, struct ep_error *err)
{
	struct extent *e;
	enum kind kind;
	uint64_t host = 0;
	int rc = unit_at((struct vmdk *)d, off, &e, &kind, &host, n, err);
	if (rc)
		return rc;
	if (*n > max)
		*n = max;
	if (kind == K_DATA)
		return ep_disk_file_pread_or_zero(e->file, p, (size_t)*n, host, err);
	if (kind == K_GRAIN) {
		if (!(rc = read_grain(e, host, err)))
			memcpy(p, e->zout + (off - e->start) % e->grain, (size_t)*n);
		return rc;
	}
	memset(p, 0, (size_t)*n);
	return 0;
}

static int vmdk_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_disk_read_spans(d, buf, len, off, vmdk_span, err);
}

static int vmdk_close(struct ep_disk *d, struct ep_error *err)
{
	(void)err;
	struct vmdk *v = (struct vmdk *)d;
	for (size_t i = 0; i < v->next; i++) {
		struct extent *e = &v->ext[i];
		ep_disk_file_close(e->file);
		free(e->path);
		free(e->gd);
		free(e->gt);
		free(e->zin);
		free(e->zout);
	}
	free(v->ext);
	free(v->path);
	free(v);
	return 0;
}

static const struct ep_disk_ops vmdk_ops = {
	.next_extent = vmdk_next_extent,
	.read = vmdk_read,
	.write = ep_disk_no_write,
	.close = vmdk_close,
};

/* ---- opening ---- */

static struct extent *add_extent(struct vmdk *v, enum ext_type type, uint64_t size, struct ep_error *err)
{
	if (!ep_grow((void **)&v->ext, &v->cap_ext, v->next + 1, sizeof *v->ext)) {
		ep_oom(err);
		return NULL;
	}
	struct extent *e = &v->ext[v->next];
	*e = (struct extent){ .type = type, .size = size, .gt_index = UINT64_MAX };
	e->start = v->disk.virtual_size;
	if (ep_add_overflows(v->disk.virtual_size, size, &v->disk.virtual_size) || v->disk.virtual_size > (1ULL << 60)) {
		bad(v->path, err, "%s", "the extents add up to an impossible size");
		return NULL;
	}
	v->next++;
	return e;
}

/* Reads e's file: f, taken over, or path opened when f is NULL. */
static int open_extent_file(struct extent *e, const char *path, struct ep_disk_file *f, struct ep_error *err)
{
	if (!(e->path = strdup(path))) {
		ep_disk_file_close(f);
		return ep_oom(err);
	}
	int rc = f ? 0 : ep_disk_file_open(&f, path, false, err);
	if (rc)
		return rc;
	e->file = f;
	e->file_size = ep_disk_file_size(f);
	return 0;
}

/* A hosted sparse extent: header, grain directory, tables; streamOptimized keeps its
 * real header in a footer 1024 bytes from the end. */
static int open_sparse(struct extent *e, uint64_t *capacity, struct ep_error *err)
{
	uint8_t h[512];
	if (e->file_size < sizeof h) /* malformed input (2), as other images cut short, not a short read (3) */
		return bad(e->path, err, "the sparse extent header is truncated (%llu bytes of %zu)",
			   (unsigned long long)e->file_size, sizeof h);
	int rc = ep_disk_file_pread(e->file, h, sizeof h, 0, err);
	if (rc)
		return rc;
	if (ep_le32(h) != VMDK4_MAGIC)
		return bad(e->path, err, "%s", "no KDMV sparse extent header");
	uint64_t gd_offset = ep_le64(h + 56);
	if (gd_offset == VMDK_GD_AT_END) {
		if (e->file_size < 1536 || (rc = ep_disk_file_pread(e->file, h, sizeof h, e->file_size - 1024, err)))
			return rc ? rc : bad(e->path, err, "%s", "the stream is too short for its footer");
		if (ep_le32(h) != VMDK4_MAGIC)
			return bad(e->path, err, "%s", "the streamOptimized footer is missing");
		gd_offset = ep_le64(h + 56);
	}
	uint32_t version = ep_le32(h + 4), flags = ep_le32(h + 8);
	if (version < 1 || version > 3)
		return bad(e->path, err, "unsupported version %u", version);
	*capacity = ep_le64(h + 12);
	uint64_t grain_sectors = ep_le64(h + 20);
	e->gtes_per_gt = ep_le32(h + 44);
	e->compressed = flags & VMDK_FLAG_COMPRESSED;
	e->markers = flags & VMDK_FLAG_MARKERS;
	e->zeroed_gte = flags & VMDK_FLAG_ZEROED_GTE;
	if (e->compressed && ep_le16(h + 77) != 1)
		return bad(e->path, err, "compression algorithm %u is not deflate", ep_le16(h + 77));
	if (grain_sectors < 1 || grain_sectors > 2048 || (grain_sectors & (grain_sectors - 1)))
		return bad(e->path, err, "grain size %llu sectors is not a power of two up to 1 MiB",
			   (unsigned long long)grain_sectors);
	if (e->gtes_per_gt < 1 || e->gtes_per_gt > 4096)
		return bad(e->path, err, "numGTEsPerGT %u is out of range", e->gtes_per_gt);
	if (*capacity > (1ULL << 51))
		return bad(e->path, err, "capacity %llu sectors is too large", (unsigned long long)*capacity);
	e->grain = grain_sectors * 512;
	uint64_t coverage = e->grain * e->gtes_per_gt;
	e->gd_entries = (*capacity * 512 + coverage - 1) / coverage;
	uint64_t gd_end;
	if (ep_add_overflows(gd_offset * 512, e->gd_entries * 4, &gd_end) || gd_end > e->file_size || gd_offset == 0)
		return bad(e->path, err, "the grain directory (sector %llu, %llu entries) lies outside the file",
			   (unsigned long long)gd_offset, (unsigned long long)e->gd_entries);
	if (!(e->gd = malloc(e->gd_entries * 4 + 4)) || !(e->gt = malloc((size_t)e->gtes_per_gt * 4)) ||
	    (e->compressed && (!(e->zin = malloc(2 * e->grain + 1024)) || !(e->zout = malloc(e->grain)))))
		return ep_oom(err);
	if ((rc = ep_disk_file_pread(e->file, e->gd, e->gd_entries * 4, gd_offset * 512, err)))
		return rc;
	for (uint64_t i = 0; i < e->gd_entries; i++)
		e->gd[i] = ep_le32((const uint8_t *)&e->gd[i]);
	return 0;
}

/* Parses a text descriptor and opens its extents. */
static int open_descriptor(struct vmdk *v, const char *text, const struct ep_disk_open_opts *opts,
			   struct ep_error *err)
{
	const char *line = text;
	int rc = 0;
	while (*line && !rc) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char buf[1200];
		if (n >= sizeof buf)
			return bad(v->path, err, "%s", "a descriptor line is too long");
		memcpy(buf, line, n);
		buf[n] = '\0';
		if (n && buf[n - 1] == '\r')
			buf[n - 1] = '\0';
		line = eol ? eol + 1 : line + n;
		char access[16], type[16], name[1024] = "";
		unsigned long long sectors, offset = 0;
		if (!strncmp(buf, "parentCID", 9) && !strstr(buf, "ffffffff"))
			return bad(v->path, err, "%s", "delta disks with a parent (snapshots) are not read yet");
		if (!strncmp(buf, "createType", 10) && strstr(buf, "vmfsSparse"))
			return bad(v->path, err, "%s", "ESX sparse (COWD) extents are not read");
		int fields = sscanf(buf, "%15s %llu %15s \"%1023[^\"]\" %llu", access, &sectors, type, name, &offset);
		if (fields < 3 || (strcmp(access, "RW") && strcmp(access, "RDONLY") && strcmp(access, "NOACCESS")))
			continue;
		if (sectors > (1ULL << 51))
			return bad(v->path, err, "an extent of %llu sectors is too large", sectors);
		enum ext_type t = !strcmp(type, "FLAT") || !strcmp(type, "VMFS") ? EXT_FLAT
				  : !strcmp(type, "SPARSE")                    ? EXT_SPARSE
				  : !strcmp(type, "ZERO")                      ? EXT_ZERO
										: (enum ext_type)-1;
		if ((int)t < 0)
			return bad(v->path, err, "extent type %s is not supported", type);
		struct extent *e = add_extent(v, t, sectors * 512, err);
		if (!e)
			return err->code;
		if (t == EXT_ZERO)
			continue;
		char resolved[PATH_MAX];
		if (fields < 4 || !*name)
			return bad(v->path, err, "%s", "an extent line names no file");
		if ((rc = ep_disk_resolve_ref(v->path, name, opts, resolved, err)) ||
		    (rc = open_extent_file(e, resolved, NULL, err)))
			return rc;
		if (t == EXT_FLAT) {
			e->flat_offset = offset * 512;
			if (e->flat_offset > e->file_size || e->size > e->file_size - e->flat_offset)
				return bad(v->path, err, "flat extent '%s' is shorter than the %llu sectors it declares", name,
					   sectors);
		} else {
			uint64_t capacity;
			if ((rc = open_sparse(e, &capacity, err)))
				return rc;
			if (capacity * 512 < e->size)
				return bad(v->path, err, "sparse extent '%s' holds fewer sectors than declared", name);
		}
	}
	if (!rc && v->next == 0)
		return bad(v->path, err, "%s", "the descriptor names no extent");
	return rc;
}

/* A text descriptor, NUL-terminated. */
static int read_descriptor(struct ep_disk_file *f, const char *path, char **out, struct ep_error *err)
{
	uint64_t size = ep_disk_file_size(f);
	if (size > VMDK_DESCRIPTOR_MAX)
		return ep_fail(err, EP_EINPUT, "'%s' is not a regular file of at most %u bytes", path, VMDK_DESCRIPTOR_MAX);
	char *text = malloc((size_t)size + 1);
	if (!text)
		return ep_oom(err);
	int rc = ep_disk_file_pread(f, text, (size_t)size, 0, err);
	text[size] = '\0';
	if (rc)
		free(text);
	else
		*out = text;
	return rc;
}

static int vmdk_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		     struct ep_error *err)
{
	static const struct ep_disk_open_opts none;
	struct vmdk *v = calloc(1, sizeof *v);
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return ep_oom(err);
	}
	v->disk = (struct ep_disk){ &vmdk_ops, &ep_disk_vmdk, 0 };
	char *text = NULL;
	uint8_t magic[4] = { 0 };
	struct ep_disk_file *f = NULL;
	int rc = ep_disk_file_get(&f, path, opts, false, err);
	if (!rc && ep_disk_file_size(f) < 4)
		rc = bad(path, err, "%s", "the file is too short");
	else if (!rc)
		rc = ep_disk_file_pread(f, magic, 4, 0, err);
	if (!rc && ep_le32(magic) == VMDK4_MAGIC) {
		struct extent *e = add_extent(v, EXT_SPARSE, 0, err);
		uint64_t capacity = 0;
		if (!e)
			rc = err->code;
		else if (!(rc = open_extent_file(e, path, f, err)) && !(rc = open_sparse(e, &capacity, err)))
			e->size = v->disk.virtual_size = capacity * 512;
		f = NULL; /* the extent's, or closed */
	} else if (!rc && !(rc = read_descriptor(f, path, &text, err))) {
		/* The descriptor ends at its first NUL, as qemu and VMware read it: qemu pads
		 * it with NULs, and when it rewrites a shorter CID in place the old text's
		 * tail stays behind that NUL. */
		rc = open_descriptor(v, text, opts ? opts : &none, err);
	}
	ep_disk_file_close(f);
	free(text);
	if (rc) {
		vmdk_close(&v->disk, NULL);
		return rc;
	}
	*out = &v->disk;
	return 0;
}

int ep_vmdk_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		   const struct ep_disk_create_opts *opts, struct ep_error *err);

const struct ep_disk_format ep_disk_vmdk = {
	.name = "vmdk",
	.probe = vmdk_probe,
	.open = vmdk_open,
	.create = ep_vmdk_create,
	.extension = "vmdk",
};
