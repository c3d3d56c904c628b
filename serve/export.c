#include "serve/export.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/bundle/chunk_map.h"
#include "formats/bundle/codec.h"

/* Chunks are fetched ahead of a reader that reads on from where it stopped
 * (EP_EXPORT_READ_AHEAD of them, at most half the cache's bound) by up to AHEAD_THREADS
 * threads (one per core): a reader served one request at a time (serve/nbdkit_plugin.c)
 * would wait on each chunk a single thread fetches, one after another. */
#define AHEAD_THREADS 4
#define NONE SIZE_MAX

/* A chunk's place in the cache: its bytes when loaded (in a buffer of cap bytes), its
 * neighbours in the LRU list. */
struct slot {
	char *data;
	size_t cap;
	size_t newer, older;
	bool loading;
};

/* What a fetch needs besides the chunk's buffer: a decoder and room for a largest chunk's
 * stored bytes, lent to one load at a time (so each thread loading has its own) and kept
 * for the next: made per chunk, their fresh pages cost a page fault every 4 KiB. */
struct decoder {
	ZSTD_DCtx *dec;
	uint8_t *in;
	struct decoder *next;
};

/* An evicted chunk's buffer, kept to hold a later chunk of its size or less. */
struct spare {
	char *data;
	size_t cap;
};
#define SPARES_MAX 16

struct ep_export {
	const struct ep_bundle *b;
	const struct ep_component *disk;
	struct ep_chunk_map map;
	struct slot *slots;
	size_t newest, oldest; /* the LRU list of loaded chunks */
	size_t cached, cap;    /* bytes: the buffers of the chunks kept, and their bound */
	struct decoder *idle;  /* decoders no load is using */
	struct spare spares[SPARES_MAX];
	size_t nspares, spared; /* spares, and their bytes */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a chunk was loaded, or failed to */
	_Atomic uint64_t fetched, fetched_bytes; /* chunks, and their stored bytes */
	_Atomic uint64_t buffers, decoders;      /* made (the other loads reused one) */
	uint64_t last_end; /* where the last read ended */
	/* the read-ahead threads fetch chunks [ahead_from, ahead_to) */
	pthread_t ahead[AHEAD_THREADS];
	size_t nahead; /* started */
	bool stopping;
	size_t ahead_from, ahead_to;
	pthread_cond_t wake;
};

static void unlink_slot(struct ep_export *x, size_t i)
{
	struct slot *s = &x->slots[i];
	if (s->newer != NONE)
		x->slots[s->newer].older = s->older;
	else
		x->newest = s->older;
	if (s->older != NONE)
		x->slots[s->older].newer = s->newer;
	else
		x->oldest = s->newer;
	s->newer = s->older = NONE;
}

static void push_newest(struct ep_export *x, size_t i)
{
	struct slot *s = &x->slots[i];
	s->newer = NONE;
	s->older = x->newest;
	if (x->newest != NONE)
		x->slots[x->newest].newer = i;
	x->newest = i;
	if (x->oldest == NONE)
		x->oldest = i;
}

/* Keeps an evicted chunk's buffer for a later chunk while the spares have room (one always,
 * else up to a quarter of the cache's bound); else frees it. Lock held. */
static void put_spare(struct ep_export *x, char *data, size_t cap)
{
	if (!x->nspares || (x->nspares < SPARES_MAX && x->spared + cap <= x->cap / 4)) {
		x->spares[x->nspares++] = (struct spare){ data, cap };
		x->spared += cap;
	} else {
		free(data);
	}
}

/* The smallest spare that holds n bytes (its size into *cap), or NULL. Lock held. */
static char *take_spare(struct ep_export *x, size_t n, size_t *cap)
{
	size_t best = NONE;
	for (size_t i = 0; i < x->nspares; i++)
		if (x->spares[i].cap >= n && (best == NONE || x->spares[i].cap < x->spares[best].cap))
			best = i;
	if (best == NONE)
		return NULL;
	char *data = x->spares[best].data;
	*cap = x->spares[best].cap;
	x->spared -= *cap;
	x->spares[best] = x->spares[--x->nspares];
	return data;
}

/* A new buffer of n bytes, its pages mapped in one call rather than a fault each. */
static char *new_buffer(size_t n)
{
	char *data = malloc(n);
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), from = ((uintptr_t)data + page - 1) & ~(page - 1);
	uintptr_t to = ((uintptr_t)data + n) & ~(page - 1);
	if (data && to > from)
		madvise((void *)from, to - from, MADV_POPULATE_WRITE); /* an older kernel refuses: faults as before */
#endif
	return data;
}

static void decoder_free(struct decoder *d)
{
	if (!d)
		return;
	ep_codec_decoder_free(d->dec);
	free(d->in);
	free(d);
}

static struct decoder *decoder_new(void)
{
	struct decoder *d = calloc(1, sizeof *d);
	if (d && (!(d->dec = ep_codec_decoder_new()) || !(d->in = malloc(EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX))))) {
		decoder_free(d);
		d = NULL;
	}
	return d;
}

/* Drops the least recently used chunks but `keep` until the cache fits. Lock held. */
static void evict(struct ep_export *x, size_t keep)
{
	while (x->cached > x->cap && x->oldest != NONE && x->oldest != keep) {
		struct slot *s = &x->slots[x->oldest];
		unlink_slot(x, x->oldest);
		x->cached -= s->cap;
		put_spare(x, s->data, s->cap);
		s->data = NULL;
	}
}

/* Chunk ref (n bytes) fetched and checked into *data with *d's decoder, making either
 * when none was kept. Lock not held. */
static int fetch(struct ep_export *x, const struct ep_chunk_ref *ref, size_t n, struct decoder **d, char **data,
		 struct ep_error *err)
{
	if (!*d && (*d = decoder_new()))
		x->decoders++;
	if (!*data && (*data = new_buffer(n)))
		x->buffers++;
	size_t stored = 0;
	int rc = *d && *data ? ep_bundle_fetch_chunk(x->b, (*d)->dec, ref->digest, ref->size, (*d)->in,
						     (uint8_t *)*data, &stored, err)
			     : ep_oom(err);
	x->fetched++;
	x->fetched_bytes += stored;
	return rc;
}

/* Chunk i into the cache, fetched and checked unless another thread is at it or has done
 * it. Lock held on entry and return. */
static int load(struct ep_export *x, size_t i, struct ep_error *err)
{
	struct slot *s = &x->slots[i];
	while (s->loading)
		pthread_cond_wait(&x->changed, &x->lock);
	if (s->data)
		return 0;
	s->loading = true;
	size_t n = x->map.refs[i]->size ? (size_t)x->map.refs[i]->size : 1, cap = n;
	struct decoder *d = x->idle;
	if (d)
		x->idle = d->next;
	char *data = take_spare(x, n, &cap);
	pthread_mutex_unlock(&x->lock);
	int rc = fetch(x, x->map.refs[i], n, &d, &data, err);
	pthread_mutex_lock(&x->lock);
	if (d) {
		d->next = x->idle;
		x->idle = d;
	}
	s->loading = false;
	if (!rc) {
		s->data = data;
		s->cap = cap;
		x->cached += cap;
		push_newest(x, i);
		evict(x, i);
	} else if (data) {
		put_spare(x, data, cap); /* what a failed check left there is never handed out */
	}
	pthread_cond_broadcast(&x->changed);
	return rc;
}

/* n bytes of chunk i from byte `from` of it. */
static int copy_chunk(struct ep_export *x, size_t i, uint8_t *p, uint64_t from, uint64_t n, struct ep_error *err)
{
	pthread_mutex_lock(&x->lock);
	int rc = load(x, i, err);
	if (!rc) {
		memcpy(p, x->slots[i].data + from, n);
		unlink_slot(x, i);
		push_newest(x, i);
	}
	pthread_mutex_unlock(&x->lock);
	return rc;
}

static void *read_ahead(void *arg)
{
	struct ep_export *x = arg;
	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		if (x->ahead_from >= x->ahead_to) {
			pthread_cond_wait(&x->wake, &x->lock);
			continue;
		}
		size_t i = x->ahead_from++;
		struct ep_error ignored = { 0 }; /* a reader asking for it will say what is wrong */
		if (!x->slots[i].data && !x->slots[i].loading)
			load(x, i, &ignored);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* Where reading ahead from chunk `next` stops: EP_EXPORT_READ_AHEAD chunks on, or as many
 * as fill half the cache (one at least), or the last. */
static size_t ahead_end(const struct ep_export *x, size_t next)
{
	size_t to = next;
	uint64_t bytes = 0;
	while (to < x->map.n && to - next < EP_EXPORT_READ_AHEAD &&
	       (to == next || bytes + x->map.refs[to]->size <= x->cap / 2))
		bytes += x->map.refs[to++]->size;
	return to;
}

/* A read of [off, end) that began where the last one ended asks for the chunks after it. */
static void schedule_ahead(struct ep_export *x, uint64_t off, uint64_t end)
{
	pthread_mutex_lock(&x->lock);
	bool sequential = off == x->last_end;
	x->last_end = end;
	long long at = ep_chunk_map_find(&x->map, end ? end - 1 : 0);
	size_t next = at >= 0 ? (size_t)at + 1 : (size_t)(-at - 1);
	if (sequential && x->nahead) {
		size_t to = ahead_end(x, next);
		/* on from the chunks fetched ahead already, unless reading on from an earlier place */
		if (next > x->ahead_from || x->ahead_from > to)
			x->ahead_from = next;
		x->ahead_to = to;
		pthread_cond_broadcast(&x->wake);
	}
	pthread_mutex_unlock(&x->lock);
}

int ep_export_read(struct ep_export *x, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	uint64_t size = x->disk->virtual_size;
	if (off > size || len > size - off)
		return ep_fail(err, EP_EINPUT, "disk '%s': a read past its end (%llu bytes at %llu)", x->disk->name,
			       (unsigned long long)len, (unsigned long long)off);
	uint8_t *p = buf;
	uint64_t at = off, end = off + len;
	int rc = 0;
	while (!rc && at < end) {
		long long ci = ep_chunk_map_find(&x->map, at);
		uint64_t stop;
		if (ci < 0) { /* a hole: zeros, up to the next chunk */
			size_t next = (size_t)(-ci - 1);
			stop = next < x->map.n && x->map.start[next] < end ? x->map.start[next] : end;
			memset(p, 0, stop - at);
		} else {
			uint64_t chunk_end = x->map.start[ci] + x->map.refs[ci]->size;
			stop = chunk_end < end ? chunk_end : end;
			rc = copy_chunk(x, (size_t)ci, p, at - x->map.start[ci], stop - at, err);
		}
		p += stop - at;
		at = stop;
	}
	if (!rc)
		schedule_ahead(x, off, end);
	return rc;
}

void ep_export_run(const struct ep_export *x, uint64_t off, uint64_t max, bool *data, uint64_t *len)
{
	long long ci = ep_chunk_map_find(&x->map, off);
	uint64_t size = x->disk->virtual_size, end;
	if (ci >= 0) { /* data up to the end of this run of touching chunks */
		size_t i = (size_t)ci;
		while (i + 1 < x->map.n && x->map.start[i + 1] == x->map.start[i] + x->map.refs[i]->size)
			i++;
		end = x->map.start[i] + x->map.refs[i]->size;
	} else {
		size_t next = (size_t)(-ci - 1);
		end = next < x->map.n ? x->map.start[next] : size;
	}
	*data = ci >= 0;
	*len = end - off < max ? end - off : max;
}

uint64_t ep_export_size(const struct ep_export *x)
{
	return x->disk->virtual_size;
}

uint64_t ep_export_fetched(const struct ep_export *x, uint64_t *stored_bytes)
{
	if (stored_bytes)
		*stored_bytes = x->fetched_bytes;
	return x->fetched;
}

void ep_export_allocated(const struct ep_export *x, uint64_t *buffers, uint64_t *decoders)
{
	*buffers = x->buffers;
	*decoders = x->decoders;
}

int ep_export_open(struct ep_export **out, const struct ep_bundle *b, const struct ep_component *disk,
		   size_t cache_bytes, struct ep_error *err)
{
	struct ep_export *x = *out = calloc(1, sizeof *x);
	if (!x)
		return ep_oom(err);
	*x = (struct ep_export){ .b = b, .disk = disk, .newest = NONE, .oldest = NONE, .cap = cache_bytes,
				 .last_end = UINT64_MAX };
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->changed, NULL);
	pthread_cond_init(&x->wake, NULL);
	int rc = ep_chunk_map_build(&x->map, disk, err);
	if (!rc && !(x->slots = calloc(x->map.n ? x->map.n : 1, sizeof *x->slots)))
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < x->map.n; i++)
		x->slots[i].newer = x->slots[i].older = NONE;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = cores < 1 ? 1 : cores > AHEAD_THREADS ? AHEAD_THREADS : (size_t)cores;
	while (!rc && x->nahead < want && pthread_create(&x->ahead[x->nahead], NULL, read_ahead, x) == 0)
		x->nahead++;
	if (!rc && !x->nahead)
		rc = ep_fail(err, EP_ERUNTIME, "disk '%s': cannot start the read-ahead thread", disk->name);
	return rc;
}

void ep_export_close(struct ep_export *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_broadcast(&x->wake);
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < x->nahead; i++)
		pthread_join(x->ahead[i], NULL);
	for (size_t i = 0; x->slots && i < x->map.n; i++)
		free(x->slots[i].data);
	free(x->slots);
	for (size_t i = 0; i < x->nspares; i++)
		free(x->spares[i].data);
	while (x->idle) {
		struct decoder *d = x->idle;
		x->idle = d->next;
		decoder_free(d);
	}
	ep_chunk_map_free(&x->map);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->changed);
	pthread_cond_destroy(&x->wake);
	free(x);
}
