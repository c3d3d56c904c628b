/*
 * qcow2 reader: v2 and v3, L1/L2 mapping, zero clusters, compressed clusters
 * (deflate and zstd), extended L2 entries (subclusters), backing chains
 * flattened. Every header field, table offset and cluster descriptor is
 * checked against the real file before use; nothing is allocated in
 * proportion to a declared size that the file does not back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "base/endian.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/qcow2.h"

enum unit_kind { U_HOLE, U_ZERO, U_DATA, U_COMPRESSED, U_BACKING };

struct qcow2 {
	struct ep_disk disk;
	struct ep_disk_file *file;
	char *path;
	uint64_t file_size;
	unsigned cluster_bits, subcluster_bits;
	uint64_t cluster_size;
	bool extended_l2, v3;
	uint64_t l2_entries;
	int compression; /* 0 deflate, 1 zstd */
	uint64_t *l1;
	uint32_t l1_size;
	uint8_t *l2;          /* one cached L2 table */
	uint64_t l2_host;     /* its offset in the file, 0 when none */
	uint8_t *zin, *zout;  /* a compressed cluster and its content */
	uint64_t zout_desc;   /* the descriptor zout holds, 0 when none */
	ZSTD_DCtx *zstd;
	struct ep_parent backing;
};

/* The magic alone: a version this reader does not know is refused by open, not packed as raw. */
static int qcow2_probe(const uint8_t *head, size_t len)
{
	return len >= 4 && ep_be32(head) == QCOW2_MAGIC ? 100 : 0;
}

static int load_l2(struct qcow2 *q, uint64_t host, struct ep_error *err)
{
	if (q->l2_host == host)
		return 0;
	uint64_t end;
	if (host % q->cluster_size || host < q->cluster_size || ep_add_overflows(host, q->cluster_size, &end) ||
	    end > q->file_size)
		return ep_fail(err, EP_EINPUT, "qcow2: L2 table offset 0x%llx of '%s' is misaligned or past the end of the file",
			       (unsigned long long)host, q->path);
	q->l2_host = 0;
	int rc = ep_disk_file_pread(q->file, q->l2, q->cluster_size, host, err);
	if (!rc)
		q->l2_host = host;
	return rc;
}

/*
 * What lies at guest offset off: the kind of the mapping unit (cluster, or
 * subcluster with extended L2 entries) holding it, and how many bytes from
 * off share that answer. *host is the file offset of off for U_DATA, the
 * descriptor for U_COMPRESSED.
 */
static int unit_at(struct qcow2 *q, uint64_t off, enum unit_kind *kind, uint64_t *host, uint64_t *len,
		   struct ep_error *err)
{
	uint64_t cs = q->cluster_size, ci = off >> q->cluster_bits, in = off & (cs - 1);
	uint64_t l1i = ci / q->l2_entries, l2i = ci % q->l2_entries;
	uint64_t left = q->disk.virtual_size - off;
	uint64_t unit_end_in_cluster = cs;
	uint64_t entry = 0, bitmap = 0;
	*kind = U_HOLE;
	if (l1i < q->l1_size && (q->l1[l1i] & QCOW2_OFFSET_MASK)) {
		int rc = load_l2(q, q->l1[l1i] & QCOW2_OFFSET_MASK, err);
		if (rc)
			return rc;
		const uint8_t *e = q->l2 + l2i * (q->extended_l2 ? 16 : 8);
		entry = ep_be64(e);
		bitmap = q->extended_l2 ? ep_be64(e + 8) : 0;
		*len = cs - in;
	} else {
		/* no L2 table: the rest of its range is a hole */
		*len = (q->l2_entries - l2i) * cs - in;
	}
	if (entry & QCOW2_COMPRESSED) {
		*kind = U_COMPRESSED;
		*host = entry & ~(QCOW2_COPIED | QCOW2_COMPRESSED);
	} else if (entry || bitmap) {
		uint64_t hc = entry & QCOW2_OFFSET_MASK;
		bool data;
		if (q->extended_l2) {
			unsigned sc = (unsigned)(in >> q->subcluster_bits);
			unit_end_in_cluster = ((uint64_t)sc + 1) << q->subcluster_bits;
			data = bitmap >> sc & 1;
			if (!data && (bitmap >> (32 + sc) & 1))
				*kind = U_ZERO;
		} else {
			data = hc != 0 && !(entry & QCOW2_ZERO);
			if (q->v3 && (entry & QCOW2_ZERO))
				*kind = U_ZERO;
		}
		*len = unit_end_in_cluster - in;
		if (data) {
			if (hc % cs || hc < cs || hc > ((q->file_size + cs - 1) & ~(cs - 1)) - cs)
				return ep_fail(err, EP_EINPUT,
					       "qcow2: data cluster offset 0x%llx of '%s' is misaligned or past the end of the file",
					       (unsigned long long)hc, q->path);
			*kind = U_DATA;
			*host = hc + in;
		}
	}
	if (*len > left)
		*len = left;
	if (*kind == U_HOLE && q->backing.disk) {
		bool data;
		int rc = ep_parent_classify(&q->backing, off, *len, &data, len, err);
		if (rc)
			return rc;
		if (data)
			*kind = U_BACKING;
	}
	return 0;
}

static int qcow2_classify(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err)
{
	enum unit_kind kind;
	uint64_t host;
	int rc = unit_at((struct qcow2 *)d, off, &kind, &host, len, err);
	*data = kind == U_DATA || kind == U_COMPRESSED || kind == U_BACKING;
	return rc;
}

static int qcow2_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err)
{
	return ep_disk_merge_extents(d, from, qcow2_classify, out, err);
}

/* Inflates q->zin into q->zout: NULL once a whole cluster came out, else why not. */
static const char *inflate_cluster(struct qcow2 *q, size_t in_len)
{
	if (q->compression == 1) {
		ZSTD_inBuffer in = { q->zin, in_len, 0 };
		ZSTD_outBuffer out = { q->zout, q->cluster_size, 0 };
		ZSTD_DCtx_reset(q->zstd, ZSTD_reset_session_only);
		/* decompression stops once a whole cluster came out (qcow2.txt) */
		while (out.pos < out.size) {
			size_t before = out.pos, r = ZSTD_decompressStream(q->zstd, &out, &in);
			if (ZSTD_isError(r))
				return ZSTD_getErrorName(r);
			if (r == 0 || (in.pos == in.size && out.pos == before))
				break;
		}
		return out.pos == out.size ? NULL : "the data ends before a whole cluster";
	}
	z_stream z = { .next_in = q->zin, .avail_in = (uInt)in_len, .next_out = q->zout, .avail_out = (uInt)q->cluster_size };
	if (inflateInit2(&z, -15) != Z_OK)
		return "zlib cannot start (out of memory)";
	int r = inflate(&z, Z_FINISH);
	const char *why = (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && z.avail_out == 0 ? NULL
			  : r == Z_DATA_ERROR && z.msg					   ? z.msg /* zlib's own, static */
			  : "the data ends before a whole cluster";
	inflateEnd(&z);
	return why;
}

static int read_compressed(struct qcow2 *q, uint64_t desc, struct ep_error *err)
{
	if (q->zout_desc == desc)
		return 0;
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t coff = desc & ((1ULL << x) - 1), sectors = (desc >> x) & ((1ULL << (62 - x)) - 1);
	uint64_t size = (sectors + 1) * 512 - (coff & 511);
	if (size > 2 * q->cluster_size + 512 || coff >= q->file_size)
		return ep_fail(err, EP_EINPUT, "qcow2: compressed cluster at 0x%llx of '%s' is out of bounds",
			       (unsigned long long)coff, q->path);
	if (size > q->file_size - coff)
		size = q->file_size - coff; /* the last sector may be cut short at the end of the file */
	q->zout_desc = 0;
	int rc = ep_disk_file_pread(q->file, q->zin, (size_t)size, coff, err);
	if (rc)
		return rc;
	const char *why = inflate_cluster(q, (size_t)size);
	if (why)
		return ep_fail(err, EP_EINPUT, "qcow2: compressed cluster at 0x%llx of '%s' does not decompress: %s",
			       (unsigned long long)coff, q->path, why);
	q->zout_desc = desc;
	return 0;
}

/* Widens a data span of *n bytes at off (file offset host) over the data units after it that
 * lie right behind it in the file, as writers lay out clusters, so one pread reads them all. */
static int widen_data_span(struct qcow2 *q, uint64_t off, uint64_t host, uint64_t max, uint64_t *n,
			   struct ep_error *err)
{
	while (*n < max) {
		enum unit_kind kind;
		uint64_t next_host = 0, len;
		int rc = unit_at(q, off + *n, &kind, &next_host, &len, err);
		if (rc)
			return rc;
		if (kind != U_DATA || next_host != host + *n)
			break;
		*n += len;
	}
	if (*n > max)
		*n = max;
	return 0;
}

static int qcow2_span(struct ep_disk *d, uint64_t off, uint8_t *p, uint64_t max, uint64_t *n, struct ep_error *err)
{
	struct qcow2 *q = (struct qcow2 *)d;
	enum unit_kind kind;
	uint64_t host = 0;
	int rc = unit_at(q, off, &kind, &host, n, err);
	if (rc)
		return rc;
	if (*n > max)
		*n = max;
	switch (kind) {
	case U_DATA:
		if ((rc = widen_data_span(q, off, host, max, n, err)))
			return rc;
		return ep_disk_file_pread_or_zero(q->file, p, (size_t)*n, host, err);
	case U_COMPRESSED:
		if (!(rc = read_compressed(q, host, err)))
			memcpy(p, q->zout + (off & (q->cluster_size - 1)), (size_t)*n);
		return rc;
	case U_BACKING:
		return ep_disk_read_clipped(q->backing.disk, p, (size_t)*n, off, err);
	default:
		memset(p, 0, (size_t)*n);
		return 0;
	}
}

static int qcow2_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_disk_read_spans(d, buf, len, off, qcow2_span, err);
}

static int qcow2_close(struct ep_disk *d, struct ep_error *err)
{
	struct qcow2 *q = (struct qcow2 *)d;
	int rc = 0;
	if (q->backing.disk)
		rc = ep_disk_close(q->backing.disk, err);
	ep_disk_file_close(q->file);
	ZSTD_freeDCtx(q->zstd);
	free(q->l1);
	free(q->l2);
	free(q->zin);
	free(q->zout);
	free(q->path);
	free(q);
	return rc;
}

static const struct ep_disk_ops qcow2_ops = {
	.next_extent = qcow2_next_extent,
	.read = qcow2_read,
	.write = ep_disk_no_write,
	.close = qcow2_close,
};

__attribute__((format(printf, 3, 4))) static int bad(struct qcow2 *q, struct ep_error *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return ep_fail(err, EP_EINPUT, "qcow2: %s in '%s'", msg, q->path);
}

/* Header extensions: only the backing format matters for reading. */
static int read_extensions(struct qcow2 *q, const uint8_t *h, uint64_t from, char *backing_format, size_t cap,
			   struct ep_error *err)
{
	uint64_t off = from, end = q->cluster_size < q->file_size ? q->cluster_size : q->file_size;
	while (off + 8 <= end) {
		uint32_t type = ep_be32(h + off), len = ep_be32(h + off + 4);
		if (type == 0)
			return 0;
		if (len > end - off - 8)
			return bad(q, err, "header extension 0x%08x at %llu runs past the first cluster", type,
				   (unsigned long long)off);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			if (len == 0 || len >= cap)
				return bad(q, err, "the backing format name has length %u", len);
			memcpy(backing_format, h + off + 8, len);
			backing_format[len] = '\0';
		}
		off += 8 + (((uint64_t)len + 7) & ~7ULL);
	}
	return 0;
}

static int parse_header(struct qcow2 *q, const uint8_t *h, const struct ep_disk_open_opts *opts,
			struct ep_error *err)
{
	if (q->file_size < 4 || ep_be32(h) != QCOW2_MAGIC)
		return bad(q, err, "%s", "no qcow2 header");
	uint32_t version = ep_be32(h + 4);
	if (q->file_size >= 8 && version != 2 && version != 3)
		return ep_fail(err, EP_EINPUT, "'%s': qcow2 version %u is not supported (envpack reads versions 2 and 3)",
			       q->path, version);
	if (q->file_size < 72)
		return bad(q, err, "%s", "the header is truncated");
	q->v3 = version == 3;
	q->cluster_bits = ep_be32(h + 20);
	if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return bad(q, err, "cluster_bits %u is out of range (9 to 21)", q->cluster_bits);
	q->cluster_size = 1ULL << q->cluster_bits;
	uint64_t header_len = 72, incompat = 0;
	if (q->v3) {
		if (q->file_size < QCOW2_V3_HEADER)
			return bad(q, err, "%s", "the v3 header is truncated");
		incompat = ep_be64(h + 72);
		header_len = ep_be32(h + 100);
		if (header_len < QCOW2_V3_HEADER || header_len % 8 || header_len > q->cluster_size ||
		    header_len > q->file_size)
			return bad(q, err, "header_length %llu is invalid", (unsigned long long)header_len);
	}
	if (ep_be32(h + 32) != 0)
		return bad(q, err, "%s", "the image is encrypted, which envpack does not read");
	if (incompat & QCOW2_INCOMPAT_DATA_FILE)
		return bad(q, err, "%s", "the image keeps its data in an external data file, which envpack refuses");
	if (incompat & QCOW2_INCOMPAT_CORRUPT)
		return bad(q, err, "%s", "the image is marked corrupt (run qemu-img check -r)");
	if (incompat & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2))
		return bad(q, err, "unknown incompatible features 0x%llx", (unsigned long long)incompat);
	q->compression = header_len > 104 ? h[104] : 0;
	if ((q->compression != 0) != !!(incompat & QCOW2_INCOMPAT_COMPRESSION) || q->compression > 1)
		return bad(q, err, "compression type %d does not match its feature bit", q->compression);
	q->extended_l2 = incompat & QCOW2_INCOMPAT_EXTL2;
	if (q->extended_l2 && q->cluster_bits < 14)
		return bad(q, err, "%s", "extended L2 entries need clusters of at least 16 KiB");
	q->subcluster_bits = q->cluster_bits - 5;
	q->l2_entries = q->cluster_size / (q->extended_l2 ? 16 : 8);
	q->disk.virtual_size = ep_be64(h + 24);
	q->l1_size = ep_be32(h + 36);
	uint64_t l1_off = ep_be64(h + 40), l1_end;
	if (q->l1_size > QCOW2_MAX_L1_ENTRIES)
		return bad(q, err, "l1_size %u is larger than 32 MiB of entries", q->l1_size);
	if (q->disk.virtual_size > (uint64_t)q->l1_size * q->l2_entries * q->cluster_size)
		return bad(q, err, "the L1 table (%u entries) is too small for the virtual size %llu", q->l1_size,
			   (unsigned long long)q->disk.virtual_size);
	if (q->l1_size && (l1_off % q->cluster_size || ep_add_overflows(l1_off, (uint64_t)q->l1_size * 8, &l1_end) ||
			   l1_end > q->file_size))
		return bad(q, err, "l1_table_offset 0x%llx is misaligned or past the end of the file",
			   (unsigned long long)l1_off);
	if (!(q->l1 = malloc((size_t)q->l1_size * 8 + 8)) || !(q->l2 = malloc(q->cluster_size)) ||
	    !(q->zin = malloc(2 * q->cluster_size + 512)) || !(q->zout = malloc(q->cluster_size)) ||
	    (q->compression == 1 && !(q->zstd = ZSTD_createDCtx())))
		return ep_oom(err);
	if (q->zstd)
		ZSTD_DCtx_setParameter(q->zstd, ZSTD_d_windowLogMax, 22);
	int rc = ep_disk_file_pread(q->file, q->l1, (size_t)q->l1_size * 8, l1_off, err);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < q->l1_size; i++)
		q->l1[i] = ep_be64((const uint8_t *)&q->l1[i]);
	/* backing file */
	uint64_t bf_off = ep_be64(h + 8);
	uint32_t bf_len = ep_be32(h + 16);
	if (!bf_off)
		return 0;
	if (bf_len == 0 || bf_len > 1023 || bf_off > q->cluster_size - bf_len || bf_off + bf_len > q->file_size)
		return bad(q, err, "the backing file name (offset %llu, length %u) lies outside the first cluster",
			   (unsigned long long)bf_off, bf_len);
	char name[1024], format[64] = "";
	memcpy(name, h + bf_off, bf_len);
	name[bf_len] = '\0';
	if (strlen(name) != bf_len)
		return bad(q, err, "%s", "the backing file name holds a NUL byte");
	if ((rc = read_extensions(q, h, header_len, format, sizeof format, err)))
		return rc;
	if (*format && !ep_disk_format_find(format))
		return bad(q, err, "unknown backing format '%s'", format);
	if ((rc = ep_disk_open_ref(&q->backing.disk, q->path, name, *format ? format : NULL, opts, err)))
		return rc;
	return 0;
}

static int qcow2_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		      struct ep_error *err)
{
	struct qcow2 *q = calloc(1, sizeof *q);
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return ep_oom(err);
	}
	q->disk = (struct ep_disk){ &qcow2_ops, &ep_disk_qcow2, 0 };
	uint8_t *head = NULL;
	int rc = ep_disk_file_get(&q->file, path, opts, false, err);
	if (!rc && !(head = calloc(1, 1u << QCOW2_MAX_CLUSTER_BITS)))
		rc = ep_oom(err);
	if (!rc) {
		q->file_size = ep_disk_file_size(q->file);
		size_t n = q->file_size < (1u << QCOW2_MAX_CLUSTER_BITS) ? (size_t)q->file_size : 1u << QCOW2_MAX_CLUSTER_BITS;
		if (!(rc = ep_disk_file_pread(q->file, head, n, 0, err)))
			rc = parse_header(q, head, opts, err);
	}
	free(head);
	if (rc) {
		qcow2_close(&q->disk, NULL);
		return rc;
	}
	*out = &q->disk;
	return 0;
}

int ep_qcow2_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		    const struct ep_disk_create_opts *opts, struct ep_error *err);

const struct ep_disk_format ep_disk_qcow2 = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_open,
	.create = ep_qcow2_create,
	.extension = "qcow2",
};
