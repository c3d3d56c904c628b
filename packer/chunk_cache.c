#include "packer/chunk_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

#define MAGIC "envpack-chunk-cache 2 "
#define BITS(n) (((n) + 7) / 8) /* the bytes of a bit a chunk */
#define HEADER_MAX 256

/* "MAGIC STORE-ID TOKEN SNAPSHOT COUNT LOCK-MODE RETAIN-UNTIL\n", then COUNT object ids of 32
 * bytes, sorted, then a bit each (LSB first), set for those SNAPSHOT names: the ids (pointing into
 * text) when the header is this store's at this generation; snapshot gets its id, c its floor
 * (mode "none": no Object Lock). */
static const uint8_t *parse(struct ep_chunk_cache *c, struct ep_store *st, const char *text, size_t len,
			    char snapshot[EP_STORE_ID_HEX], size_t *n)
{
	const char *nl = memchr(text, '\n', len < HEADER_MAX ? len : HEADER_MAX);
	char head[HEADER_MAX + 1], store[40], token[40], mode[12];
	uint8_t raw[EP_DIGEST_LEN];
	unsigned long long count;
	long long until;
	int used = 0;
	if (!nl || strncmp(text, MAGIC, strlen(MAGIC)))
		return NULL;
	snprintf(head, sizeof head, "%.*s", (int)(nl - text - strlen(MAGIC)), text + strlen(MAGIC));
	if (sscanf(head, "%39s %39s %64s %llu %11s %lld%n", store, token, snapshot, &count, mode, &until, &used) != 6 ||
	    head[used] || strcmp(store, ep_store_id(st)) || strcmp(token, c->token) ||
	    strlen(snapshot) != EP_STORE_ID_HEX - 1 || !ep_unhex(snapshot, raw, sizeof raw) || count > EP_CHUNK_CACHE_MAX ||
	    (size_t)(text + len - nl - 1) != count * EP_DIGEST_LEN + BITS(count) || until < 0)
		return NULL;
	enum ep_lock_mode m;
	if (ep_lock_mode_parse(mode, &m) && until > 0) {
		snprintf(c->lock_mode, sizeof c->lock_mode, "%s", mode);
		c->retain_until = until;
	}
	*n = (size_t)count;
	return (const uint8_t *)nl + 1;
}

/* Whether snapshot id is in the store: from the snapshots listed under the lock when cat holds
 * them (the bad ones' objects are there too), else asked (HEAD, stat). */
static int snapshot_there(struct ep_store *st, const struct ep_catalog *cat, const char *id, bool *present,
			  struct ep_error *err)
{
	struct ep_error ignored = { 0 };
	if (!cat)
		return ep_store_has_snapshot(st, id, present, err);
	*present = ep_catalog_find(cat, id, ep_store_where(st), &ignored) || ep_catalog_find_bad(cat, id);
	return 0;
}

int ep_chunk_cache_open(struct ep_chunk_cache *c, struct ep_store *st, const char *path, bool ignore,
			const struct ep_catalog *cat, struct ep_error *err)
{
	*c = (struct ep_chunk_cache){ .state = ignore ? "ignored" : "none" };
	int rc = ep_store_generation(st, c->token, err);
	if (rc == EP_EINTEGRITY) { /* a token not ours to read: no cache this time, and the backup goes on */
		*err = (struct ep_error){ 0 };
		c->token[0] = '\0';
		return 0;
	}
	char *text = NULL, snapshot[EP_STORE_ID_HEX];
	size_t len = 0, n = 0;
	struct ep_error ignored = { 0 };
	if (rc || !path || ignore || ep_read_file(path, HEADER_MAX + EP_CHUNK_CACHE_MAX * EP_DIGEST_LEN, &text, &len, &ignored))
		return rc;
	c->state = "stale";
	const uint8_t *ids = parse(c, st, text, len, snapshot, &n);
	bool present = false;
	if (ids && n && !(rc = snapshot_there(st, cat, snapshot, &present, err)) && present &&
	    (c->oids = malloc(n * EP_DIGEST_LEN)) && (c->named = malloc(BITS(n)))) {
		memcpy(c->oids, ids, n * EP_DIGEST_LEN);
		memcpy(c->named, ids + n * EP_DIGEST_LEN, BITS(n));
		c->n = n;
		c->state = "used";
		ep_store_know_sorted(st, (const uint8_t(*)[EP_DIGEST_LEN])c->oids, c->n);
	}
	if (!c->n) { /* no floor without the chunks it is for */
		free(c->oids);
		c->oids = NULL;
		c->lock_mode[0] = '\0';
		c->retain_until = 0;
	}
	free(text);
	return rc;
}

bool ep_chunk_cache_named(const struct ep_chunk_cache *c, const uint8_t oid[EP_DIGEST_LEN])
{
	const uint8_t(*at)[EP_DIGEST_LEN] = c->n ? bsearch(oid, c->oids, c->n, EP_DIGEST_LEN, ep_digest_cmp) : NULL;
	size_t i = at ? (size_t)(at - (const uint8_t(*)[EP_DIGEST_LEN])c->oids) : 0;
	return at && (c->named[i / 8] >> (i % 8) & 1);
}

struct collect {
	struct ep_store *st;
	uint8_t (*oids)[EP_DIGEST_LEN];
	size_t n, cap;
};

static int collect_ref(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct collect *k = ctx;
	if (!ep_grow((void **)&k->oids, &k->cap, k->n + 1, sizeof *k->oids))
		return ep_oom(err);
	ep_store_chunk_oid(k->st, ref->digest, k->oids[k->n++]);
	return 0;
}

/* a and b, each sorted without repeats, merged into out (room for na + nb) the same way; the bit
 * in named (zeroed, a bit an entry of out) set for each of b's */
static size_t merge(const uint8_t (*a)[EP_DIGEST_LEN], size_t na, const uint8_t (*b)[EP_DIGEST_LEN], size_t nb,
		    uint8_t (*out)[EP_DIGEST_LEN], uint8_t *named)
{
	size_t i = 0, j = 0, n = 0;
	while (i < na || j < nb) {
		int d = i == na ? 1 : j == nb ? -1 : memcmp(a[i], b[j], EP_DIGEST_LEN);
		if (d >= 0)
			named[n / 8] |= (uint8_t)(1u << (n % 8));
		memcpy(out[n++], d <= 0 ? a[i] : b[j], EP_DIGEST_LEN);
		i += d <= 0;
		j += d >= 0;
	}
	return n;
}

static void write_cache(const char *path, struct ep_store *st, const char *token, const char *snapshot,
			const struct ep_snapinfo *info, const uint8_t (*oids)[EP_DIGEST_LEN], const uint8_t *named, size_t n)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= sizeof tmp)
		return;
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return;
	bool lock = info && info->lock_mode[0] && info->retain_until > 0;
	bool ok = fprintf(f, MAGIC "%s %s %s %zu %s %lld\n", ep_store_id(st), token, snapshot, n,
			  lock ? info->lock_mode : "none", lock ? (long long)info->retain_until : 0LL) > 0 &&
		  (n == 0 || (fwrite(oids, EP_DIGEST_LEN, n, f) == n && fwrite(named, 1, BITS(n), f) == BITS(n)));
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
		unlink(tmp);
}

void ep_chunk_cache_save(const struct ep_chunk_cache *c, struct ep_store *st, const char *path, const char *snapshot,
			 const struct ep_manifest *m)
{
	struct collect k = { .st = st };
	struct ep_error ignored = { 0 };
	if (!path || !c->token[0] || !m || ep_manifest_each_ref(m, collect_ref, &k, &ignored)) {
		free(k.oids);
		return;
	}
	if (k.n)
		qsort(k.oids, k.n, sizeof *k.oids, ep_digest_cmp);
	size_t n = 0;
	for (size_t i = 0; i < k.n; i++) /* without repeats */
		if (!n || memcmp(k.oids[n - 1], k.oids[i], EP_DIGEST_LEN))
			memcpy(k.oids[n++], k.oids[i], EP_DIGEST_LEN);
	n = n < EP_CHUNK_CACHE_MAX ? n : EP_CHUNK_CACHE_MAX;
	/* what the cache held goes once both do not fit: the newest snapshot's chunks are likelier reused */
	uint8_t(*all)[EP_DIGEST_LEN] = c->n && n + c->n <= EP_CHUNK_CACHE_MAX ? malloc((n + c->n) * EP_DIGEST_LEN) : NULL;
	uint8_t *named = calloc(BITS(all ? n + c->n : n) + 1, 1);
	if (named && all) {
		size_t total = merge((const uint8_t(*)[EP_DIGEST_LEN])c->oids, c->n, (const uint8_t(*)[EP_DIGEST_LEN])k.oids, n,
				     all, named);
		write_cache(path, st, c->token, snapshot, m->snapshot, (const uint8_t(*)[EP_DIGEST_LEN])all, named, total);
	} else if (named) {
		memset(named, 0xff, BITS(n)); /* every one the snapshot's */
		write_cache(path, st, c->token, snapshot, m->snapshot, (const uint8_t(*)[EP_DIGEST_LEN])k.oids, named, n);
	}
	free(named);
	free(all);
	free(k.oids);
}

void ep_chunk_cache_release(struct ep_chunk_cache *c)
{
	free(c->oids);
	free(c->named);
	*c = (struct ep_chunk_cache){ 0 };
}
