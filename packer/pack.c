#include "packer/pack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "packer/chunker.h"
#include "base/digestmap.h"
#include "base/pool.h"
#include "formats/bundle/bundle.h"
#include "formats/bundle/codec.h"
#include "formats/bundle/manifest.h"
#include "formats/disk/disk.h"

_Static_assert(EP_CDC_MAX <= EP_BUNDLE_CHUNK_MAX, "chunks must fit the bundle format's limit");

/* An encoded chunk at most: the pool's output buffers, and finish()'s. */
#define ENCODED_MAX EP_BUNDLE_STORED_MAX(EP_CDC_MAX)

#define READ_SIZE ((size_t)4 << 20)
/* What is read but not yet cut: the largest chunk's lookahead and a read. */
#define BUF_BASE (4 * EP_CDC_MAX + READ_SIZE)
/* Workers read their chunks where they were cut (no copy), so the buffer also holds the
 * chunks still in the pool: as many as it has slots, about the average size each. */
#define BUF_CAP (BUF_BASE + EP_POOL_MAX_SLOTS * EP_CDC_AVG)
/* All-zero blocks of this size (aligned on the disk) are holes: not stored. */
#define ZERO_BLOCK ((size_t)64 << 10)

struct packer {
	const struct ep_pack_options *opt;
	struct ep_pack_stats *stats;
	struct ep_manifest *manifest;
	const struct ep_pack_dest *dest;
	struct ep_pool *pool;
	pthread_mutex_t lock; /* guards `written`, which workers read */
	struct ep_digestmap *written;
	/* bytes read but not yet cut into chunks: buf[start..end) */
	uint8_t *buf;
	size_t start, end;
	/* where the chunks submitted and not yet consumed lie in buf, oldest first:
	 * buf[inflight[i % EP_POOL_MAX_SLOTS]] for i in [oldest, newest) */
	struct { size_t lo, hi; } inflight[EP_POOL_MAX_SLOTS];
	uint64_t oldest, newest;
	/* where the chunks being cut belong */
	size_t component, record;
	uint64_t done, total;
};

/* ---- worker side: hash, then compress unless the bundle has the chunk already ---- */

static void *worker_new(void *shared)
{
	struct packer *pk = shared;
	return ep_codec_encoder_new(pk->opt->level);
}

static void worker_free(void *state)
{
	ep_codec_encoder_free(state);
}

static bool is_written(struct packer *pk, const uint8_t *digest)
{
	pthread_mutex_lock(&pk->lock);
	bool known = ep_digestmap_get(pk->written, digest, NULL);
	pthread_mutex_unlock(&pk->lock);
	return known || (pk->dest->has && pk->dest->has(pk->dest->ctx, digest));
}

static int work(void *shared, void *state, struct ep_job *job, struct ep_error *err)
{
	struct packer *pk = shared;
	ep_sha256(job->in, job->in_len, job->digest);
	/* `written` and the destination only grow, so a chunk seen here is certainly there already */
	job->flag = !is_written(pk, job->digest);
	if (!job->flag)
		return 0;
	/* job->out: the pool's output buffer, or finish()'s of the same size */
	return ep_codec_encode(state, pk->opt->seal, job->digest, job->in, job->in_len, job->out,
			       ENCODED_MAX, &job->out_len, err);
}

static const struct ep_pool_ops pack_ops = { worker_new, worker_free, work };

/* ---- caller side: results in submission order, so the bundle is deterministic ---- */

/* A worked job's chunk into the destination, unless it is there already: the worker found it
 * there, or an earlier job of this run wrote it since (the destination is not asked again: a
 * store may answer with a request each time). */
static int store_job(struct packer *pk, struct ep_job *job, struct ep_error *err)
{
	pthread_mutex_lock(&pk->lock);
	bool known = !job->flag || ep_digestmap_get(pk->written, job->digest, NULL);
	pthread_mutex_unlock(&pk->lock);
	if (known)
		return 0;
	int rc = pk->dest->add_chunk(pk->dest->ctx, job->digest, job->out, job->out_len, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&pk->lock);
	bool ok = ep_digestmap_put(pk->written, job->digest, 1);
	pthread_mutex_unlock(&pk->lock);
	if (!ok)
		return ep_oom(err);
	pk->stats->stored_bytes += job->out_len;
	pk->stats->unique_chunks++;
	return 0;
}

static int consume(struct packer *pk, struct ep_job *job, struct ep_error *err)
{
	if (!job->flag && !ep_digestmap_get(pk->written, job->digest, NULL))
		pk->stats->reused_chunks++; /* the destination had it before this run */
	uint64_t stored = pk->stats->stored_bytes;
	int rc = store_job(pk, job, err);
	if (rc)
		return rc;
	struct ep_component *c = &pk->manifest->components[job->arg[0]];
	c->added_bytes += pk->stats->stored_bytes - stored;
	if ((rc = ep_component_append(c, job->arg[1], job->digest, (uint32_t)job->in_len, err)))
		return rc;
	pk->stats->chunks++;
	pk->stats->data_bytes += job->in_len;
	pk->done += job->in_len;
	ep_progress_report(pk->opt->progress, pk->done, pk->total);
	return 0;
}

static int consume_oldest(struct packer *pk, struct ep_error *err)
{
	struct ep_job *job;
	int rc = ep_pool_wait(pk->pool, &job, err);
	if (!rc)
		rc = consume(pk, job, err);
	ep_pool_release(pk->pool);
	pk->oldest++;
	return rc;
}

/* Whether a chunk still in the pool lies in buf[lo..hi). */
static bool inflight_overlaps(const struct packer *pk, size_t lo, size_t hi)
{
	for (uint64_t i = pk->oldest; i < pk->newest; i++) {
		size_t k = (size_t)(i % EP_POOL_MAX_SLOTS);
		if (pk->inflight[k].lo < hi && lo < pk->inflight[k].hi)
			return true;
	}
	return false;
}

/* Before buf[lo..hi) is written: the chunks workers still read there are consumed first. */
static int settle(struct packer *pk, size_t lo, size_t hi, struct ep_error *err)
{
	int rc = 0;
	while (!rc && inflight_overlaps(pk, lo, hi))
		rc = consume_oldest(pk, err);
	return rc;
}

static int emit(struct packer *pk, size_t len, struct ep_error *err)
{
	struct ep_job *job;
	while (!(job = ep_pool_slot(pk->pool))) {
		int rc = consume_oldest(pk, err);
		if (rc)
			return rc;
	}
	job->in = pk->buf + pk->start; /* stays put until consumed: see settle */
	job->in_len = len;
	job->arg[0] = pk->component;
	job->arg[1] = pk->record;
	ep_pool_submit(pk->pool);
	size_t k = (size_t)(pk->newest++ % EP_POOL_MAX_SLOTS);
	pk->inflight[k].lo = pk->start;
	pk->inflight[k].hi = pk->start + len;
	pk->start += len;
	return 0;
}

/* Readers refuse an extent of more chunks than the minimum chunk allows (BUNDLE.md, section 3, Limits). */
_Static_assert(EP_CDC_MIN == EP_BUNDLE_CHUNK_MIN, "the chunker's minimum is the format's");

/* Cuts what is buffered; unless `final`, keeps a tail shorter than the largest chunk
 * so that every cut sees as much data as it could. */
static int cut(struct packer *pk, bool final, struct ep_error *err)
{
	while (pk->end > pk->start) {
		size_t avail = pk->end - pk->start;
		if (!final && avail < EP_CDC_MAX)
			break;
		int rc = emit(pk, ep_cdc_cut(pk->buf + pk->start, avail), err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Room for n more bytes at buf + end, where no worker reads any more. */
static int make_room(struct packer *pk, size_t n, struct ep_error *err)
{
	if (pk->end + n <= BUF_CAP)
		return settle(pk, pk->end, pk->end + n, err);
	size_t keep = pk->end - pk->start;
	int rc = settle(pk, 0, keep + n, err);
	if (rc)
		return rc;
	memmove(pk->buf, pk->buf + pk->start, keep);
	pk->start = 0;
	pk->end = keep;
	return 0;
}

/* ---- what sources hand over: components, disks and records ---- */

/* A unique, safe component name from a path's last element. */
static int component_name(const struct ep_manifest *m, const char *path, bool strip_ext, char *out, size_t cap,
			  struct ep_error *err)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *base = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/' && i + 1 < len)
			base = path + i + 1;
	size_t n = (size_t)(path + len - base);
	char stem[100];
	if (n >= sizeof stem)
		n = sizeof stem - 1;
	memcpy(stem, base, n);
	stem[n] = '\0';
	char *dot = strrchr(stem, '.');
	if (strip_ext && dot && dot != stem)
		*dot = '\0';
	for (char *p = stem; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			*p = '_';
	if (!ep_name_ok(stem))
		snprintf(stem, sizeof stem, "%s", strip_ext ? "disk" : "files");
	for (unsigned k = 1; k < 10000; k++) {
		if (k == 1)
			snprintf(out, cap, "%s", stem);
		else
			snprintf(out, cap, "%s-%u", stem, k);
		bool taken = false;
		for (size_t i = 0; i < m->ncomponents; i++)
			taken |= !strcmp(m->components[i].name, out);
		if (!taken)
			return 0;
	}
	return ep_fail(err, EP_EINPUT, "too many sources named like '%s'", path);
}

static int add_component(struct packer *pk, enum ep_component_type type, const char *path,
			 struct ep_component **out, struct ep_error *err)
{
	char name[128];
	int rc = component_name(pk->manifest, path, type == EP_COMP_DISK, name, sizeof name, err);
	if (rc)
		return rc;
	const char *base = strrchr(path, '/');
	base = base && base[1] ? base + 1 : path;
	if (!(*out = ep_manifest_add_component(pk->manifest, type, name, base)))
		return ep_oom(err);
	pk->component = pk->manifest->ncomponents - 1;
	return 0;
}

/* Where pack_disk is in an earlier record of the disk it packs: extent `extent`, its chunk
 * `chunk`, which starts at `at`. */
struct base_cursor {
	const struct ep_component *base;
	size_t extent, chunk;
	uint64_t at;
};

static int drain(struct packer *pk, struct ep_error *err)
{
	int rc = 0;
	while (!rc && ep_pool_pending(pk->pool))
		rc = consume_oldest(pk, err);
	return rc;
}

/* Takes a chunk of an earlier record as it is: not a byte read. Joins c's last extent (whose
 * chunks are all in) when it ends where the chunk starts and would still hold no more chunks
 * than its length allows (readers check); else starts an extent. */
static int take_chunk(struct packer *pk, struct ep_component *c, uint64_t at, const struct ep_chunk_ref *r,
		      struct ep_error *err)
{
	struct ep_extent_rec *last = c->nextents ? &c->extents[c->nextents - 1] : NULL;
	bool join = last && last->offset + last->length == at &&
		    last->count + 1 <= 1 + (last->length + r->size) / EP_BUNDLE_CHUNK_MIN;
	int rc = join ? 0 : ep_component_add_extent(c, at, err);
	if (!rc)
		rc = ep_component_append(c, c->nextents - 1, r->digest, r->size, err);
	pk->stats->chunks++;
	pk->stats->reused_chunks++;
	pk->stats->data_bytes += r->size;
	return rc;
}

/* The base's chunks that end by `to`, in order: those starting before `from` lay in a run
 * read again and are passed over, the others taken. Chunks still being cut are consumed
 * first, so that c's chunks stay in disk order. */
static int copy_base(struct packer *pk, struct ep_component *c, struct base_cursor *cur, uint64_t from, uint64_t to,
		     struct ep_error *err)
{
	const struct ep_component *b = cur->base;
	bool drained = false;
	int rc = 0;
	while (!rc && cur->extent < b->nextents) {
		const struct ep_extent_rec *e = &b->extents[cur->extent];
		if (cur->chunk == e->count) {
			if (++cur->extent < b->nextents)
				cur->at = b->extents[cur->extent].offset;
			cur->chunk = 0;
			continue;
		}
		const struct ep_chunk_ref *r = &b->chunks[e->first + cur->chunk];
		if (cur->at + r->size > to)
			break;
		if (cur->at >= from) {
			if (!drained && !(rc = drain(pk, err)))
				drained = true;
			if (!rc)
				rc = take_chunk(pk, c, cur->at, r, err);
		}
		cur->at += r->size;
		cur->chunk++;
	}
	return rc;
}

/* A disk's data extents into a new disk component; zero blocks are holes, not stored. With
 * base, d's extents are the runs read again, and base's chunks outside them are taken. */
static int pack_disk(struct packer *pk, struct ep_disk *d, const struct ep_component *base, const char *path,
		     struct ep_component **out, struct ep_error *err)
{
	struct ep_component *c;
	int rc = add_component(pk, EP_COMP_DISK, path, &c, err);
	if (rc)
		return rc;
	*out = c;
	if (!(c->format = strdup(d->format->name)))
		return ep_oom(err);
	c->virtual_size = d->virtual_size;
	pk->stats->virtual_bytes += d->virtual_size;
	struct base_cursor cur = { .base = base, .at = base && base->nextents ? base->extents[0].offset : 0 };
	bool run_open = false;
	struct ep_extent ext;
	uint64_t from = 0;
	while ((rc = ep_disk_next_extent(d, from, &ext, err)) == 1) {
		if (base && (rc = copy_base(pk, c, &cur, from, ext.off, err)))
			return rc;
		uint64_t ext_end = ext.off + ext.len;
		for (uint64_t off = ext.off; off < ext_end;) {
			size_t n = ext_end - off < READ_SIZE ? (size_t)(ext_end - off) : READ_SIZE;
			if ((rc = make_room(pk, n, err)))
				return rc;
			uint8_t *read_at = pk->buf + pk->end;
			if ((rc = d->ops->read(d, read_at, n, off, err)))
				return rc;
			/* Zero blocks end the current run; data blocks move down to close the gap
			 * (the write position never passes the read position). */
			for (size_t i = 0; i < n;) {
				size_t len = ZERO_BLOCK - (size_t)((off + i) % ZERO_BLOCK);
				if (len > n - i)
					len = n - i;
				if (ep_is_zero(read_at + i, len)) {
					if (run_open && (rc = cut(pk, true, err)))
						return rc;
					run_open = false;
				} else {
					if (!run_open) {
						if ((rc = ep_component_add_extent(c, off + i, err)))
							return rc;
						pk->record = c->nextents - 1;
						run_open = true;
					}
					if (pk->buf + pk->end != read_at + i)
						memmove(pk->buf + pk->end, read_at + i, len);
					pk->end += len;
					if ((rc = cut(pk, false, err)))
						return rc;
				}
				i += len;
			}
			off += n;
		}
		if (run_open && (rc = cut(pk, true, err)))
			return rc;
		run_open = false;
		from = ext_end;
	}
	if (!rc && base)
		rc = copy_base(pk, c, &cur, from, UINT64_MAX, err);
	return rc;
}

/* A disk the destination holds whole and unchanged (the files cache): its record copied,
 * not a byte read. */
static int reuse_disk(struct packer *pk, const struct ep_component *from, const char *path, struct ep_error *err)
{
	struct ep_component *c;
	int rc = add_component(pk, EP_COMP_DISK, path, &c, err);
	if (!rc && !(c->format = strdup(from->format ? from->format : "raw")))
		rc = ep_oom(err);
	if (rc)
		return rc;
	c->virtual_size = from->virtual_size;
	pk->stats->virtual_bytes += from->virtual_size;
	for (size_t i = 0; !rc && i < from->nextents; i++) {
		uint64_t at = from->extents[i].offset;
		for (size_t k = 0; !rc && k < from->extents[i].count; k++) {
			const struct ep_chunk_ref *r = &from->chunks[from->extents[i].first + k];
			rc = take_chunk(pk, c, at, r, err);
			at += r->size;
		}
	}
	return rc;
}

/* Chunks everything read gives until its end into record. */
static int feed_from(struct packer *pk, size_t record, ep_source_read_fn read_fn, void *src, struct ep_error *err)
{
	pk->record = record;
	for (;;) {
		int rc = make_room(pk, READ_SIZE, err);
		if (rc)
			return rc;
		ssize_t n = read_fn(src, pk->buf + pk->end, READ_SIZE, err);
		if (n < 0)
			return (int)n;
		pk->end += (size_t)n;
		rc = cut(pk, n == 0, err);
		if (rc || n == 0)
			return rc;
	}
}

/* Chunks len bytes into the current record, keeping a tail for the next call (see cut). */
static int feed(struct packer *pk, const void *data, size_t len, struct ep_error *err)
{
	const uint8_t *p = data;
	while (len > 0) {
		size_t n = len < READ_SIZE ? len : READ_SIZE;
		int rc = make_room(pk, n, err);
		if (rc)
			return rc;
		memcpy(pk->buf + pk->end, p, n);
		pk->end += n;
		p += n;
		len -= n;
		rc = cut(pk, false, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the sink sources pack through (sources/source.h) ---- */

static int sink_add_component(void *ctx, enum ep_component_type type, const char *path, struct ep_component **out,
			      struct ep_error *err)
{
	return add_component(ctx, type, path, out, err);
}

static int sink_add_disk(void *ctx, struct ep_disk *d, const struct ep_component *base, const char *path,
			 struct ep_component **out, struct ep_error *err)
{
	return pack_disk(ctx, d, base, path, out, err);
}

static int sink_feed(void *ctx, size_t record, const void *data, size_t len, struct ep_error *err)
{
	struct packer *pk = ctx;
	pk->record = record;
	return feed(pk, data, len, err);
}

static int sink_feed_from(void *ctx, size_t record, ep_source_read_fn read_fn, void *src, struct ep_error *err)
{
	return feed_from(ctx, record, read_fn, src, err);
}

static int sink_end(void *ctx, struct ep_error *err)
{
	return cut(ctx, true, err);
}

/* ---- the whole job ---- */

/* The disk: sources become one machine's disks, the first bootable. */
static int describe_machine(struct packer *pk, const struct ep_machine_spec *spec, const size_t *disks, size_t n,
			    struct ep_error *err)
{
	if (n == 0)
		return ep_fail(err, EP_EINPUT, "--vcpus, --memory and --firmware describe the machine of disk: sources; name one");
	struct ep_machine *m = ep_manifest_add_machine(pk->manifest);
	if (!m || !(m->name = strdup(spec->name)) || !(m->firmware = strdup(spec->firmware)) || !(m->os = strdup(spec->os)))
		return ep_oom(err);
	m->vcpus = spec->vcpus;
	m->memory_mib = spec->memory_mib;
	bool linux_os = !strcmp(spec->os, "linux");
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		rc = ep_machine_add_disk(m, pk->manifest->components[disks[i]].name, linux_os ? "virtio" : "sata", "disk",
					 i == 0, err);
	if (!rc && spec->network)
		rc = ep_machine_add_nic(m, linux_os ? "virtio" : "e1000", NULL, spec->network, err);
	return rc ? rc : ep_machine_check(m, "pack", err);
}

/* Opens every source but the disks a destination holds already (not read at all), adding
 * the bytes to read to *total for the progress bar. */
static int open_sources(const struct ep_pack_options *opt, const struct ep_source *src, size_t n, void **opened,
			uint64_t *total, struct ep_error *err)
{
	const struct ep_source_options so = { .allow_dirs = opt->allow_dirs, .nallow = opt->nallow,
					      .registry = opt->registry, .include_secrets = opt->include_secrets,
					      .allow_unlisted = opt->allow_unlisted, .libvirt_uri = opt->libvirt_uri,
					      .report = opt->report, .report_ctx = opt->report_ctx,
					      .warn = opt->warn, .warn_ctx = opt->warn_ctx, .created = opt->created,
					      .history = opt->history, .quiesce = opt->quiesce,
					      .capture = opt->capture };
	int rc = ep_capture_params_check(opt->capture, src, n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		if (src[i].reuse)
			continue;
		if (!(rc = src[i].ops->open(&src[i], &so, &opened[i], err)))
			*total += src[i].ops->size(opened[i]);
	}
	return rc;
}

int ep_pack_dry_run(const struct ep_pack_options *opt, const struct ep_source *sources, size_t nsources,
		    struct ep_error *err)
{
	void **opened = calloc(nsources ? nsources : 1, sizeof *opened);
	uint64_t total = 0;
	int rc = opened ? open_sources(opt, sources, nsources, opened, &total, err) : ep_oom(err);
	for (size_t i = 0; opened && i < nsources; i++)
		sources[i].ops->close(opened[i]);
	free(opened);
	return rc;
}

/* A large disk's extents go into list chunks of their own (BUNDLE.md, extent_lists), hashed,
 * compressed and sealed as data chunks are: an unchanged disk lists into the same chunks. */
static int list_disk(struct packer *pk, struct ep_component *c, void *state, uint8_t *out, struct ep_error *err)
{
	size_t n;
	char **pieces = ep_component_list_pieces(c, &n);
	struct ep_chunk_ref *refs = pieces ? calloc(n ? n : 1, sizeof *refs) : NULL;
	int rc = refs ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct ep_job job = { .in = (uint8_t *)pieces[i], .in_len = strlen(pieces[i]), .out = out };
		if (job.in_len > EP_BUNDLE_CHUNK_MAX)
			rc = ep_fail(err, EP_ERUNTIME, "the extent list of '%s' is too large", c->name);
		if (!rc && !(rc = work(pk, state, &job, err)))
			rc = store_job(pk, &job, err);
		memcpy(refs[i].digest, job.digest, EP_DIGEST_LEN);
		refs[i].size = (uint32_t)job.in_len;
	}
	if (!rc)
		rc = ep_component_set_lists(c, refs, n, err);
	for (size_t i = 0; pieces && i < n; i++)
		free(pieces[i]);
	free(pieces);
	free(refs);
	return rc;
}

static int finish(struct packer *pk, struct ep_error *err)
{
	int rc = drain(pk, err);
	void *state = NULL;
	uint8_t *out = NULL;
	for (size_t i = 0; !rc && i < pk->manifest->ncomponents; i++) {
		struct ep_component *c = &pk->manifest->components[i];
		if (c->type != EP_COMP_DISK || c->nchunks <= EP_LIST_INLINE)
			continue;
		if (!state && (!(state = worker_new(pk)) || !(out = malloc(ENCODED_MAX))))
			rc = ep_oom(err);
		if (!rc)
			rc = list_disk(pk, c, state, out, err);
	}
	if (state)
		worker_free(state);
	free(out);
	char *json = NULL, *sigjson = NULL;
	size_t len = 0, siglen = 0;
	if (!rc && pk->dest->prepare)
		rc = pk->dest->prepare(pk->dest->ctx, pk->manifest, err);
	if (!rc)
		rc = ep_manifest_to_json(pk->manifest, &json, &len, err);
	if (!rc && pk->opt->key) {
		struct ep_signature sig;
		if (!(rc = ep_sign(pk->opt->key, json, len, &sig, err)))
			rc = ep_signature_to_json(&sig, &sigjson, &siglen, err);
	}
	if (!rc)
		rc = pk->dest->commit(pk->dest->ctx, json, len, sigjson, siglen, err);
	free(json);
	free(sigjson);
	return rc;
}

/* ---- the default destination: a bundle file ---- */

static int bundle_add_chunk(void *ctx, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
			    struct ep_error *err)
{
	return ep_bundle_writer_add_chunk(*(struct ep_bundle_writer **)ctx, digest, zdata, zlen, err);
}

static int bundle_commit(void *ctx, const char *manifest, size_t len, const char *sig, size_t siglen,
			 struct ep_error *err)
{
	struct ep_bundle_writer **w = ctx;
	int rc = ep_bundle_writer_add(*w, EP_BUNDLE_MANIFEST_NAME, manifest, len, err);
	if (!rc && sig)
		rc = ep_bundle_writer_add(*w, EP_BUNDLE_SIGNATURE_NAME, sig, siglen, err);
	if (rc)
		return rc;
	rc = ep_bundle_writer_commit(*w, err); /* frees the writer either way */
	*w = NULL;
	return rc;
}

static void bundle_abort(void *ctx)
{
	struct ep_bundle_writer **w = ctx;
	if (*w)
		ep_bundle_writer_abort(*w);
	*w = NULL;
}

int ep_pack(const struct ep_pack_options *opt, const struct ep_source *sources, size_t nsources,
	    struct ep_pack_stats *stats, struct ep_error *err)
{
	char created[32];
	time_t t = (time_t)opt->created;
	struct tm tm;
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (!ep_name_ok(opt->name))
		return ep_fail(err, EP_EINPUT, "environment name '%s' must be letters, digits, '.', '_' or '-'",
			       opt->name);
	struct packer pk = { .opt = opt, .stats = stats };
	*stats = (struct ep_pack_stats){ 0 };
	void **opened = calloc(nsources ? nsources : 1, sizeof *opened); /* each source's state */
	pk.buf = malloc(BUF_CAP);
	pk.written = ep_digestmap_new();
	pk.manifest = ep_manifest_new(opt->name, created, opt->tool);
	pthread_mutex_init(&pk.lock, NULL);
	int rc = opened && pk.buf && pk.written && pk.manifest ? 0 : ep_oom(err);
	if (!rc)
		rc = open_sources(opt, sources, nsources, opened, &pk.total, err);
	if (!rc)
		rc = ep_pool_new(&pk.pool, &pack_ops, &pk, opt->threads, 0, ENCODED_MAX, err);
	struct ep_bundle_writer *writer = NULL;
	const struct ep_pack_dest bundle_dest = { &writer, NULL, bundle_add_chunk, bundle_commit, bundle_abort, NULL };
	pk.dest = opt->dest ? opt->dest : &bundle_dest;
	if (!rc && !opt->dest && !(rc = ep_bundle_writer_open(&writer, opt->output, opt->created, err)))
		ep_bundle_writer_seal(writer, opt->seal);
	if (!rc && opt->snapshot && !(pk.manifest->snapshot = ep_snapinfo_dup(opt->snapshot)))
		rc = ep_oom(err);
	size_t *bare = calloc(nsources ? nsources : 1, sizeof *bare), nbare = 0; /* the disk: components */
	if (!rc && !bare)
		rc = ep_oom(err);
	const struct ep_source_sink sink = {
		.ctx = &pk,
		.manifest = pk.manifest,
		.whole_max = BUF_BASE - EP_CDC_MAX,
		.add_component = sink_add_component,
		.add_disk = sink_add_disk,
		.feed = sink_feed,
		.feed_from = sink_feed_from,
		.end = sink_end,
	};
	for (size_t i = 0; !rc && i < nsources; i++) {
		if (opt->source_component)
			opt->source_component[i] = SIZE_MAX;
		rc = sources[i].reuse ? reuse_disk(&pk, sources[i].reuse, sources[i].path, err)
				      : sources[i].ops->pack(&sources[i], opened[i], &sink, err);
		if (!rc && sources[i].ops->bare_disk) {
			bare[nbare++] = pk.component;
			if (opt->source_component)
				opt->source_component[i] = pk.component;
		}
	}
	if (!rc && opt->machine)
		rc = describe_machine(&pk, opt->machine, bare, nbare, err);
	free(bare);
	if (!rc)
		rc = finish(&pk, err);
	ep_pool_free(pk.pool); /* joins the workers before anything they read goes away */
	struct stat st;
	if (rc)
		pk.dest->abort(pk.dest->ctx);
	else if (!opt->dest && stat(opt->output, &st) == 0)
		stats->bundle_bytes = (uint64_t)st.st_size;
	for (size_t i = 0; opened && i < nsources; i++) {
		if (opened[i] && sources[i].ops->published)
			sources[i].ops->published(opened[i], rc == 0);
		sources[i].ops->close(opened[i]);
	}
	free(opened);
	if (!rc && opt->manifest_out) {
		*opt->manifest_out = pk.manifest;
		pk.manifest = NULL;
	}
	ep_manifest_free(pk.manifest);
	ep_digestmap_free(pk.written);
	free(pk.buf);
	pthread_mutex_destroy(&pk.lock);
	return rc;
}
