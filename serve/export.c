#include "serve/export.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "formats/bundle/chunk_map.h"
#include "formats/bundle/codec.h"

/* Chunks fetched ahead of a reader that reads on from where it stopped (~4 MiB). */
#define READ_AHEAD 4
#define NONE SIZE_MAX

/* A chunk's place in the cache: its bytes when loaded, its neighbours in the LRU list. */
struct slot {
	char *data;
	size_t newer, older;
	bool loading;
};

struct ep_export {
	const struct ep_bundle *b;
	const struct ep_component *disk;
	struct ep_chunk_map map;
	struct slot *slots;
	size_t newest, oldest; /* the LRU list of loaded chunks */
	size_t cached, cap;    /* bytes */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a chunk was loaded, or failed to */
	_Atomic uint64_t fetched, fetched_bytes; /* chunks, and their stored bytes */
	uint64_t last_end; /* where the last read ended */
	/* the read-ahead thread fetches chunks [ahead_from, ahead_to) */
	pthread_t ahead;
	bool ahead_started, stopping;
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

/* Drops the least recently used chunks but `keep` until the cache fits. Lock held. */
static void evict(struct ep_export *x, size_t keep)
{
	while (x->cached > x->cap && x->oldest != NONE && x->oldest != keep) {
		size_t i = x->oldest;
		unlink_slot(x, i);
		free(x->slots[i].data);
		x->slots[i].data = NULL;
		x->cached -= x->map.refs[i]->size;
	}
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
	pthread_mutex_unlock(&x->lock);
	char *data = NULL;
	size_t len;
	int rc = ep_bundle_load_chunk((void *)x->b, x->map.refs[i], &data, &len, err);
	uint64_t stored = 0;
	x->fetched++;
	if (ep_bundle_chunk_size(x->b, x->map.refs[i]->digest, &stored))
		x->fetched_bytes += stored;
	pthread_mutex_lock(&x->lock);
	s->loading = false;
	if (!rc) {
		s->data = data;
		x->cached += len;
		push_newest(x, i);
		evict(x, i);
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

/* A read of [off, end) that began where the last one ended asks for the chunks after it. */
static void schedule_ahead(struct ep_export *x, uint64_t off, uint64_t end)
{
	pthread_mutex_lock(&x->lock);
	bool sequential = off == x->last_end;
	x->last_end = end;
	long long at = ep_chunk_map_find(&x->map, end ? end - 1 : 0);
	size_t next = at >= 0 ? (size_t)at + 1 : (size_t)(-at - 1);
	if (sequential && x->ahead_started) {
		size_t to = next + READ_AHEAD < x->map.n ? next + READ_AHEAD : x->map.n;
		/* on from the chunks fetched ahead already, unless reading on from an earlier place */
		if (next > x->ahead_from || x->ahead_from > to)
			x->ahead_from = next;
		x->ahead_to = to;
		pthread_cond_signal(&x->wake);
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
	if (!rc && pthread_create(&x->ahead, NULL, read_ahead, x) != 0)
		rc = ep_fail(err, EP_ERUNTIME, "disk '%s': cannot start the read-ahead thread", disk->name);
	x->ahead_started = !rc;
	return rc;
}

void ep_export_close(struct ep_export *x)
{
	if (!x)
		return;
	if (x->ahead_started) {
		pthread_mutex_lock(&x->lock);
		x->stopping = true;
		pthread_cond_signal(&x->wake);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->ahead, NULL);
	}
	for (size_t i = 0; x->slots && i < x->map.n; i++)
		free(x->slots[i].data);
	free(x->slots);
	ep_chunk_map_free(&x->map);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->changed);
	pthread_cond_destroy(&x->wake);
	free(x);
}
