/*
 * qcow2 writer: version 3, 64 KiB clusters, 16-bit refcounts. Data clusters
 * are appended as they arrive (all-zero clusters are left unallocated), or
 * with -c deflated on every core and packed back to back as compressed
 * clusters; L2 tables live in memory only for the ranges written; at close the L2 tables,
 * the L1 table and refcounts for every cluster used are written after the
 * data, then the header, so `qemu-img check` finds no leak and no error.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "base/endian.h"
#include "base/pool.h"
#include "base/util.h"
#include "formats/disk/disk.h"
#include "formats/disk/qcow2.h"

#define CLUSTER_BITS 16
#define CLUSTER ((uint64_t)1 << CLUSTER_BITS)
#define L2_ENTRIES (CLUSTER / 8)
#define REFCOUNTS_PER_BLOCK (CLUSTER / 2)

struct qwriter {
	struct ep_disk disk;
	int fd;
	char *path;
	uint64_t **l2; /* l1_size tables of L2 entries, NULL where nothing was written */
	uint32_t l1_size;
	uint64_t next_byte; /* where the file's data ends */
	uint16_t *refs;     /* refcount of each data cluster (metadata clusters: 1) */
	size_t cap_refs;
	uint8_t *pending;   /* the cluster being filled */
	uint64_t pending_ci;
	bool has_pending;
	struct ep_pool *pool; /* -c: deflate workers */
	uint64_t last_ci;     /* -c: clusters come in increasing order */
	bool any_written;
	char *backing, *backing_format; /* an overlay's, or NULL */
	struct ep_write_behind wb;
};

static int add_refs(struct qwriter *w, uint64_t from, uint64_t to, struct ep_error *err)
{
	uint64_t first = from / CLUSTER, last = (to - 1) / CLUSTER;
	size_t old = w->cap_refs;
	if (!ep_grow((void **)&w->refs, &w->cap_refs, last + 1, sizeof *w->refs))
		return ep_oom(err);
	memset(w->refs + old, 0, (w->cap_refs - old) * sizeof *w->refs);
	for (uint64_t c = first; c <= last; c++)
		w->refs[c]++;
	return 0;
}

/* A whole new cluster for plain data, after whatever the file holds. */
static uint64_t new_cluster(struct qwriter *w)
{
	uint64_t host = (w->next_byte + CLUSTER - 1) & ~(CLUSTER - 1);
	w->next_byte = host + CLUSTER;
	return host;
}

static uint64_t *l2_slot(struct qwriter *w, uint64_t ci, bool create)
{
	uint64_t l1i = ci / L2_ENTRIES;
	if (!w->l2[l1i] && create)
		w->l2[l1i] = calloc(L2_ENTRIES, sizeof(uint64_t));
	return w->l2[l1i] ? &w->l2[l1i][ci % L2_ENTRIES] : NULL;
}

/* Stores one plain cluster at a new place in the file. */
static int store_plain(struct qwriter *w, const uint8_t *data, uint64_t ci, struct ep_error *err)
{
	uint64_t *slot = l2_slot(w, ci, true);
	if (!slot)
		return ep_oom(err);
	uint64_t host = new_cluster(w);
	int rc = ep_pwrite_full(w->fd, data, CLUSTER, host, w->path, err);
	ep_write_behind(&w->wb, w->fd, host, CLUSTER);
	if (!rc)
		rc = add_refs(w, host, host + CLUSTER, err);
	*slot = host | QCOW2_COPIED;
	return rc;
}

/* ---- -c: deflate in the pool (raw deflate with a 4 KiB window, as qemu reads it) ---- */

static void *deflater_new(void *shared)
{
	(void)shared;
	z_stream *z = calloc(1, sizeof *z);
	if (z && deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

static void deflater_free(void *state)
{
	deflateEnd(state);
	free(state);
}

static int deflate_cluster(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	(void)shared;
	(void)err;
	z_stream *z = state;
	deflateReset(z);
	z->next_in = job->in;
	z->avail_in = CLUSTER;
	z->next_out = job->out;
	z->avail_out = CLUSTER - 512;
	/* no room left: the cluster does not compress, and is stored plain */
	job->flag = deflate(z, Z_FINISH) == Z_STREAM_END;
	job->out_len = CLUSTER - 512 - z->avail_out;
	return 0;
}

static const struct ep_pool_ops deflate_ops = { deflater_new, deflater_free, deflate_cluster };

/* Appends a compressed cluster right after the data before it (qcow2.txt: compressed
 * cluster descriptor); every host cluster its sectors touch gains a reference. */
static int store_compressed(struct qwriter *w, struct ep_job *job, struct ep_error *err)
{
	uint64_t ci = job->arg[0];
	if (!job->flag)
		return store_plain(w, job->in, ci, err);
	uint64_t *slot = l2_slot(w, ci, true);
	if (!slot)
		return ep_oom(err);
	uint64_t at = w->next_byte, sectors = ((at + job->out_len - 1) >> 9) - (at >> 9);
	int rc = ep_pwrite_full(w->fd, job->out, job->out_len, at, w->path, err);
	ep_write_behind(&w->wb, w->fd, at, job->out_len);
	if (!rc)
		rc = add_refs(w, at & ~511ULL, ((at >> 9) + sectors + 1) << 9, err);
	*slot = QCOW2_COMPRESSED | sectors << (62 - (CLUSTER_BITS - 8)) | at;
	w->next_byte = at + job->out_len;
	return rc;
}

static int drain_one(struct qwriter *w, struct ep_error *err)
{
	struct ep_job *job;
	int rc = ep_pool_wait(w->pool, &job, err);
	if (!rc)
		rc = store_compressed(w, job, err);
	ep_pool_release(w->pool);
	return rc;
}

static int submit_compressed(struct qwriter *w, const uint8_t *data, uint64_t ci, struct ep_error *err)
{
	struct ep_job *job;
	while (!(job = ep_pool_slot(w->pool))) {
		int rc = drain_one(w, err);
		if (rc)
			return rc;
	}
	memcpy(job->in, data, CLUSTER);
	job->arg[0] = ci;
	ep_pool_submit(w->pool);
	return 0;
}

static int flush_pending(struct qwriter *w, struct ep_error *err)
{
	if (!w->has_pending)
		return 0;
	w->has_pending = false;
	if (ep_is_zero(w->pending, CLUSTER))
		return 0; /* unallocated clusters read as zeros */
	return w->pool ? submit_compressed(w, w->pending, w->pending_ci, err)
		       : store_plain(w, w->pending, w->pending_ci, err);
}

/* Writes the whole clusters at the start of *p that are neither written before nor
 * all zero, consecutive in the file as in the disk, with one pwrite; skips zero ones. */
static int write_run(struct qwriter *w, const uint8_t **p, uint64_t *off, size_t *len, struct ep_error *err)
{
	size_t n = 0;
	uint64_t ci = *off >> CLUSTER_BITS;
	while (n + CLUSTER <= *len) {
		uint64_t *slot = l2_slot(w, ci + n / CLUSTER, false);
		if ((slot && *slot) || ep_is_zero(*p + n, CLUSTER))
			break;
		n += CLUSTER;
	}
	int rc = 0;
	if (n == 0) {
		uint64_t *slot = l2_slot(w, ci, false);
		if (slot && *slot) /* written before: update in place */
			rc = ep_pwrite_full(w->fd, *p, CLUSTER, *slot & QCOW2_OFFSET_MASK, w->path, err);
		n = CLUSTER; /* or all zero: left unallocated */
	} else {
		uint64_t host = (w->next_byte + CLUSTER - 1) & ~(CLUSTER - 1);
		rc = ep_pwrite_full(w->fd, *p, n, host, w->path, err);
		ep_write_behind(&w->wb, w->fd, host, n);
		for (size_t k = 0; !rc && k < n / CLUSTER; k++) {
			uint64_t *slot = l2_slot(w, ci + k, true);
			if (!slot)
				return ep_oom(err);
			*slot = new_cluster(w) | QCOW2_COPIED;
		}
		if (!rc)
			rc = add_refs(w, host, host + n, err);
	}
	*p += n;
	*off += n;
	*len -= n;
	return rc;
}

static int qw_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct qwriter *w = (struct qwriter *)d;
	const uint8_t *p = buf;
	uint64_t end;
	if (ep_add_overflows(off, len, &end) || end > d->virtual_size)
		return ep_fail(err, EP_EINPUT, "qcow2: write past the virtual size of '%s'", w->path);
	while (len > 0) {
		uint64_t ci = off >> CLUSTER_BITS, in = off & (CLUSTER - 1);
		size_t n = CLUSTER - in < len ? (size_t)(CLUSTER - in) : len;
		int rc = 0;
		if (w->pool && !(w->has_pending && w->pending_ci == ci) && w->any_written && ci <= w->last_ci)
			return ep_fail(err, EP_ERUNTIME, "qcow2: '%s' is compressed, so it must be written in increasing order",
				       w->path);
		if (!w->pool && in == 0 && len >= CLUSTER && !(w->has_pending && w->pending_ci == ci)) {
			/* whole clusters: straight from the caller's buffer, neighbours in one write */
			if ((rc = flush_pending(w, err)) || (rc = write_run(w, &p, &off, &len, err)))
				return rc;
			continue;
		}
		if (!(w->has_pending && w->pending_ci == ci)) {
			if ((rc = flush_pending(w, err)))
				return rc;
			uint64_t *slot = l2_slot(w, ci, false);
			if (slot && *slot) { /* written before: update in place */
				if ((rc = ep_pwrite_full(w->fd, p, n, (*slot & QCOW2_OFFSET_MASK) + in, w->path, err)))
					return rc;
				goto next;
			}
			memset(w->pending, 0, CLUSTER);
			w->pending_ci = w->last_ci = ci;
			w->has_pending = w->any_written = true;
		}
		memcpy(w->pending + in, p, n);
		if (in + n == CLUSTER && (rc = flush_pending(w, err)))
			return rc;
	next:
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int write_be64_table(struct qwriter *w, const uint64_t *v, size_t count, uint64_t host, struct ep_error *err)
{
	size_t bytes = (count * 8 + CLUSTER - 1) & ~(CLUSTER - 1);
	uint8_t *buf = calloc(1, bytes ? bytes : CLUSTER);
	if (!buf)
		return ep_oom(err);
	for (size_t i = 0; i < count; i++)
		ep_put_be64(buf + i * 8, v[i]);
	int rc = ep_pwrite_full(w->fd, buf, bytes, host, w->path, err);
	free(buf);
	return rc;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* The backing file's format as a header extension, the end extension, then its name:
 * all inside cluster 0 (the lengths are checked at create). */
static void put_backing(const struct qwriter *w, uint8_t *header)
{
	if (!w->backing)
		return;
	size_t at = QCOW2_V3_HEADER, flen = strlen(w->backing_format), blen = strlen(w->backing);
	ep_put_be32(header + at, QCOW2_EXT_BACKING_FORMAT);
	ep_put_be32(header + at + 4, (uint32_t)flen);
	memcpy(header + at + 8, w->backing_format, flen);
	at += 8 + (flen + 7) / 8 * 8;
	at += 8; /* the end extension: type 0, length 0 */
	memcpy(header + at, w->backing, blen);
	ep_put_be64(header + 8, at);
	ep_put_be32(header + 16, (uint32_t)blen);
}

/* Lays out and writes the L2 tables, L1 table, refcounts and header after the data. */
static int finish(struct qwriter *w, struct ep_error *err)
{
	int rc = flush_pending(w, err);
	while (!rc && w->pool && ep_pool_pending(w->pool))
		rc = drain_one(w, err);
	if (rc)
		return rc;
	/* metadata starts at a cluster boundary after the data; every metadata cluster has one reference */
	uint64_t data_clusters = div_up(w->next_byte, CLUSTER), next_host = data_clusters * CLUSTER;
	uint64_t *l1 = calloc(w->l1_size + 1, sizeof *l1);
	if (!l1)
		return ep_oom(err);
	for (uint32_t i = 0; !rc && i < w->l1_size; i++) {
		if (!w->l2[i])
			continue;
		l1[i] = next_host | QCOW2_COPIED;
		rc = write_be64_table(w, w->l2[i], L2_ENTRIES, next_host, err);
		next_host += CLUSTER;
	}
	uint64_t l1_host = next_host, l1_clusters = div_up((uint64_t)w->l1_size * 8, CLUSTER);
	if (!rc)
		rc = write_be64_table(w, l1, w->l1_size, l1_host, err);
	free(l1);
	if (rc)
		return rc;
	/* refcount blocks cover every cluster, their own and the table's included */
	uint64_t used = l1_host / CLUSTER + (l1_clusters ? l1_clusters : 1), blocks = 0, table_clusters = 0, total;
	for (;;) {
		total = used + blocks + table_clusters;
		uint64_t nb = div_up(total, REFCOUNTS_PER_BLOCK), nt = div_up(nb * 8, CLUSTER);
		if (nb == blocks && nt == table_clusters)
			break;
		blocks = nb;
		table_clusters = nt;
	}
	uint64_t table_host = used * CLUSTER, block_host = table_host + table_clusters * CLUSTER;
	uint64_t *table = calloc(table_clusters * CLUSTER / 8, sizeof *table);
	uint8_t *block = malloc(CLUSTER);
	if (!table || !block) {
		free(table);
		free(block);
		return ep_oom(err);
	}
	for (uint64_t b = 0; !rc && b < blocks; b++) {
		memset(block, 0, CLUSTER);
		for (uint64_t k = 0; k < REFCOUNTS_PER_BLOCK && b * REFCOUNTS_PER_BLOCK + k < total; k++) {
			uint64_t c = b * REFCOUNTS_PER_BLOCK + k;
			ep_put_be16(block + 2 * k, c == 0 ? 1 : c < data_clusters ? (c < w->cap_refs ? w->refs[c] : 0) : 1);
		}
		table[b] = block_host + b * CLUSTER;
		rc = ep_pwrite_full(w->fd, block, CLUSTER, table[b], w->path, err);
	}
	if (!rc)
		rc = write_be64_table(w, table, blocks, table_host, err);
	free(table);
	free(block);
	if (rc)
		return rc;
	uint8_t header[CLUSTER];
	memset(header, 0, sizeof header);
	ep_put_be32(header, QCOW2_MAGIC);
	ep_put_be32(header + 4, 3);
	ep_put_be32(header + 20, CLUSTER_BITS);
	ep_put_be64(header + 24, w->disk.virtual_size);
	ep_put_be32(header + 36, w->l1_size);
	ep_put_be64(header + 40, l1_host);
	ep_put_be64(header + 48, table_host);
	ep_put_be32(header + 56, (uint32_t)table_clusters);
	ep_put_be32(header + 96, 4); /* 16-bit refcounts */
	ep_put_be32(header + 100, QCOW2_V3_HEADER);
	put_backing(w, header);
	if ((rc = ep_pwrite_full(w->fd, header, sizeof header, 0, w->path, err)))
		return rc;
	if (ftruncate(w->fd, (off_t)(total * CLUSTER)) != 0 || fdatasync(w->fd) != 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot finish '%s'", w->path);
	return 0;
}

static void qwriter_free(struct qwriter *w)
{
	ep_pool_free(w->pool);
	for (uint32_t i = 0; w->l2 && i < w->l1_size; i++)
		free(w->l2[i]);
	free(w->l2);
	free(w->refs);
	free(w->pending);
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->backing);
	free(w->backing_format);
	free(w);
}

static int qw_close(struct ep_disk *d, struct ep_error *err)
{
	struct qwriter *w = (struct qwriter *)d;
	int rc = finish(w, err);
	qwriter_free(w);
	return rc;
}

static const struct ep_disk_ops qwriter_ops = {
	.next_extent = ep_disk_no_extents,
	.read = ep_disk_no_read,
	.write = qw_write,
	.close = qw_close,
};

int ep_qcow2_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		    const struct ep_disk_create_opts *opts, struct ep_error *err);

int ep_qcow2_create(struct ep_disk **out, const char *path, uint64_t virtual_size,
		    const struct ep_disk_create_opts *opts, struct ep_error *err)
{
	if (opts && opts->subformat)
		return ep_fail(err, EP_EINPUT, "qcow2: no subformat '%s'", opts->subformat);
	bool compress = opts && opts->compress;
	const char *backing = opts ? opts->backing : NULL, *bformat = opts && opts->backing_format ? opts->backing_format : "raw";
	/* qemu's limits, which keep both well inside cluster 0 */
	/* the problem before the name, which may fill the message */
	if (backing && strlen(backing) > 1023)
		return ep_fail(err, EP_EINPUT, "qcow2: the backing file name is too long (%zu bytes, at most 1023): '%s'",
			       strlen(backing), backing);
	if (backing && strlen(bformat) > 16)
		return ep_fail(err, EP_EINPUT, "qcow2: the backing file format '%s' is too long (at most 16 bytes)", bformat);
	uint64_t l1_size = div_up(virtual_size, CLUSTER * L2_ENTRIES);
	if (l1_size > QCOW2_MAX_L1_ENTRIES)
		return ep_fail(err, EP_EINPUT, "qcow2: a virtual size of %llu bytes is too large",
			       (unsigned long long)virtual_size);
	struct qwriter *w = calloc(1, sizeof *w);
	if (!w)
		return ep_oom(err);
	w->fd = -1;
	w->disk = (struct ep_disk){ &qwriter_ops, &ep_disk_qcow2, virtual_size };
	w->l1_size = (uint32_t)l1_size;
	w->next_byte = CLUSTER; /* cluster 0 is the header */
	w->path = strdup(path);
	w->l2 = calloc(l1_size + 1, sizeof *w->l2);
	w->pending = malloc(CLUSTER);
	struct ep_error pool_err = { 0 };
	if (w->path && w->l2 && w->pending && compress &&
	    ep_pool_new(&w->pool, &deflate_ops, w, ep_cpu_count(), CLUSTER, CLUSTER, &pool_err) != 0)
		w->pool = NULL, free(w->pending), w->pending = NULL;
	bool ok = w->path && w->l2 && w->pending &&
		  (!backing || ((w->backing = strdup(backing)) && (w->backing_format = strdup(bformat))));
	int rc = ok ? 0 : ep_oom(err);
	if (!rc && (w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", path);
	if (rc) {
		qwriter_free(w);
		return rc;
	}
	*out = &w->disk;
	return 0;
}
