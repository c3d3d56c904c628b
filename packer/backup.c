#include "packer/backup.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/digestmap.h"
#include "cloud/remote.h"
#include "formats/store/catalog.h"
#include "packer/chunk_cache.h"
#include "packer/history.h"

#define FILES_CACHE_MAX ((size_t)64 << 20)
#define FILES_CACHE_VERSION 2 /* 2: each entry holds its record */

struct store_dest {
	struct ep_store *st;
	char id[EP_STORE_ID_HEX];
	/* Object Lock: NULL without */
	const struct ep_store_object_lock *lock;
	struct ep_digestmap *written; /* chunks this run put: retained past the floor already */
	struct ep_digestmap *covered; /* chunks of the environment's previous snapshot */
	/* or, on a host that cannot read the snapshots (an encrypted store's public key only), those
	 * the host's chunk cache says its last snapshot named */
	const struct ep_chunk_cache *cache;
	bool covered_long;            /* whose floor reaches past this one's: nothing to do for them */
	int64_t floor;                /* what the snapshot records, and its objects are retained until */
	uint64_t ncovered;
	struct ep_store_keep_stats keep;
};

static bool store_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN])
{
	return ep_store_has_chunk(((struct store_dest *)ctx)->st, digest, NULL);
}

static int store_add_chunk(void *ctx, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
			   struct ep_error *err)
{
	struct store_dest *d = ctx;
	int rc = ep_store_put_chunk(d->st, digest, zdata, zlen, err);
	if (!rc && d->written && !ep_digestmap_put(d->written, digest, 1)) /* called in order, by one thread */
		rc = ep_oom(err);
	return rc;
}

/* ---- Object Lock: every chunk the snapshot names retained until its floor ---- */

struct named {
	struct store_dest *d;
	struct ep_digestmap *seen;
	struct ep_store_keep_item *items;
	size_t n, cap;
};

/* A chunk the snapshot names: nothing to do when this run wrote it or the previous snapshot's
 * floor covers it; extended at once when that floor is known to be short; else looked at. */
static int named_chunk(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct named *nm = ctx;
	struct store_dest *d = nm->d;
	if (ep_digestmap_get(nm->seen, ref->digest, NULL) || (d->written && ep_digestmap_get(d->written, ref->digest, NULL)))
		return 0;
	if (!ep_digestmap_put(nm->seen, ref->digest, 1))
		return ep_oom(err);
	bool covered = d->covered && ep_digestmap_get(d->covered, ref->digest, NULL);
	if (!covered && d->cache) {
		uint8_t oid[EP_DIGEST_LEN];
		ep_store_chunk_oid(d->st, ref->digest, oid);
		covered = ep_chunk_cache_named(d->cache, oid);
	}
	if (covered && d->covered_long) {
		d->ncovered++;
		return 0;
	}
	if (!ep_grow((void **)&nm->items, &nm->cap, nm->n + 1, sizeof *nm->items))
		return ep_oom(err);
	struct ep_store_keep_item *it = &nm->items[nm->n++];
	ep_store_chunk_name(d->st, ref->digest, it->name, sizeof it->name);
	it->known_short = covered;
	return 0;
}

/* Every chunk m names retained until floor at least, each looked at (or extended at once when known
 * short); then config.json, so that the store's own description outlives no snapshot. */
static int keep_named(struct store_dest *d, const struct ep_manifest *m, int64_t floor, struct ep_error *err)
{
	struct named nm = { .d = d, .seen = ep_digestmap_new() };
	int rc = nm.seen ? ep_manifest_each_ref(m, named_chunk, &nm, err) : ep_oom(err);
	if (!rc)
		rc = ep_store_keep_until(d->st, nm.items, nm.n, floor, &d->keep, err);
	struct ep_store_keep_item config = { "config.json", false };
	struct ep_store_keep_stats cs;
	if (!rc && !(rc = ep_store_keep_until(d->st, &config, 1, floor, &cs, err))) {
		d->keep.checked += cs.checked;
		d->keep.extended += cs.extended;
	}
	free(nm.items);
	ep_digestmap_free(nm.seen);
	return rc;
}

/* Before the snapshot is signed: every chunk it names retained until its floor, and published only
 * once each of those requests was answered. A chunk looked at is left as it is when retained past
 * the floor, or at least half the slack past the policy's days (one another environment or a
 * concurrent backup wrote lately, say): the floor the snapshot records comes down to it, rather
 * than every such chunk be extended by the seconds since it was written. */
static int store_prepare(void *ctx, struct ep_manifest *m, struct ep_error *err)
{
	struct store_dest *d = ctx;
	if (!d->lock)
		return 0;
	int64_t half = time(NULL) + (int64_t)d->lock->days * ep_store_lock_day() + ep_store_lock_slack(d->lock) / 2;
	int rc = keep_named(d, m, d->floor < half ? d->floor : half, err);
	if (!rc && d->keep.least < d->floor)
		d->floor = d->keep.least;
	if (!rc && m->snapshot)
		m->snapshot->retain_until = d->floor;
	return rc;
}

int ep_backup_keep_named(struct ep_store *st, const struct ep_manifest *m, int64_t floor,
			 struct ep_store_keep_stats *stats, struct ep_error *err)
{
	struct store_dest d = { .st = st, .lock = ep_store_object_lock(st), .floor = floor };
	int rc = d.lock ? keep_named(&d, m, floor, err) : 0;
	*stats = d.keep;
	return rc;
}

static int store_commit(void *ctx, const char *manifest, size_t len, const char *sig, size_t siglen,
			struct ep_error *err)
{
	struct store_dest *d = ctx;
	return ep_store_put_snapshot_until(d->st, manifest, len, sig, siglen, d->lock ? d->floor : 0, d->id, err);
}

static int cover(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	return ep_digestmap_put(ctx, ref->digest, 1) ? 0 : ep_oom(err);
}

/* The last snapshot of the same environment (name and host: the sources it backs up), or NULL. */
static const struct ep_manifest *previous(const struct ep_catalog *cat, const char *name, const char *host)
{
	for (size_t i = cat ? cat->n : 0; i-- > 0;) {
		const struct ep_manifest *m = cat->entries[i].manifest;
		if (m->snapshot && !strcmp(m->snapshot->host, host) && !strcmp(m->name, name))
			return m;
	}
	return NULL;
}

struct knowing {
	struct ep_store *st;
	uint64_t refs;
};

static int know(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err)
{
	struct knowing *k = ctx;
	k->refs++;
	return ep_store_know_chunk(k->st, ref->digest, err);
}

/* The floor of the snapshot about to be made (into info) and what prev, the last snapshot of the
 * same environment, covers. What this run writes or extends is retained until now + days + slack;
 * chunks prev named are retained until its floor, so while that floor is days or more away they
 * need nothing and the new floor is that one (at most the other): an unchanged backup sends
 * nothing more, and extends them once its slack is spent. A host that cannot read the snapshots
 * (cache: not NULL) has its chunk cache's instead: the snapshot it published last, which is still
 * there and names those chunks (ep_chunk_cache_open), and the floor it recorded. */
static int plan_lock(struct store_dest *d, const struct ep_manifest *prev, const struct ep_chunk_cache *cache,
		     struct ep_snapinfo *info, struct ep_error *err)
{
	int64_t now = time(NULL), day = ep_store_lock_day();
	d->floor = ep_store_lock_target(d->lock, now);
	if (!(d->written = ep_digestmap_new()))
		return ep_oom(err);
	const struct ep_snapinfo *ps = prev ? prev->snapshot : NULL;
	int rc = 0;
	if (ps && !strcmp(ps->lock_mode, ep_lock_mode_name(d->lock->mode)) && ps->retain_until > 0) {
		if (!(d->covered = ep_digestmap_new()))
			return ep_oom(err);
		rc = ep_manifest_each_ref(prev, cover, d->covered, err);
		d->covered_long = ps->retain_until >= now + (int64_t)d->lock->days * day;
		if (d->covered_long && ps->retain_until < d->floor)
			d->floor = ps->retain_until;
	} else if (cache && cache->retain_until > 0 && !strcmp(cache->lock_mode, ep_lock_mode_name(d->lock->mode))) {
		d->cache = cache;
		d->covered_long = cache->retain_until >= now + (int64_t)d->lock->days * day;
		if (d->covered_long && cache->retain_until < d->floor)
			d->floor = cache->retain_until;
	}
	snprintf(info->lock_mode, sizeof info->lock_mode, "%s", ep_lock_mode_name(d->lock->mode));
	info->retain_until = d->floor;
	return rc;
}

static void store_abort(void *ctx)
{
	(void)ctx; /* chunks already written stay: the next backup reuses them, prune collects the rest */
}

/* ---- the files cache ---- */

struct identity {
	char path[PATH_MAX];
	json_int_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns;
};

/* A raw disk image file's identity, taken before it is read; false for anything else. */
static bool identify(const struct ep_source *src, struct identity *id)
{
	struct stat st;
	char path[PATH_MAX];
	/* disk: alone names a local file (a cloud capture's CONTAINER/BLOB is no path, nor is disk:s3://) */
	if (strcmp(src->ops->prefix, "disk:") || ep_remote_is_url(src->path) || (src->format && strcmp(src->format, "raw")) ||
	    !realpath(src->path, path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	*id = (struct identity){ .dev = (json_int_t)st.st_dev, .ino = (json_int_t)st.st_ino, .size = (json_int_t)st.st_size,
				 .mtime_s = (json_int_t)st.st_mtim.tv_sec, .mtime_ns = st.st_mtim.tv_nsec,
				 .ctime_s = (json_int_t)st.st_ctim.tv_sec, .ctime_ns = st.st_ctim.tv_nsec };
	memcpy(id->path, path, sizeof path);
	return true;
}

/* record: the disk's component as a manifest of its own, so that a host that cannot read
 * the store's snapshots (an encrypted store's public key only) reuses it all the same */
static json_t *identity_json(const struct identity *id, const char *snapshot, const char *component,
			     const char *record)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s}", "dev", id->dev, "ino", id->ino, "size", id->size,
			 "mtime_s", id->mtime_s, "mtime_ns", id->mtime_ns, "ctime_s", id->ctime_s, "ctime_ns", id->ctime_ns,
			 "snapshot", snapshot, "component", component, "record", record);
}

static bool same_identity(json_t *e, const struct identity *id)
{
	const char *keys[] = { "dev", "ino", "size", "mtime_s", "mtime_ns", "ctime_s", "ctime_ns" };
	const json_int_t vals[] = { id->dev, id->ino, id->size, id->mtime_s, id->mtime_ns, id->ctime_s, id->ctime_ns };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		json_t *v = json_object_get(e, keys[i]);
		if (!json_is_integer(v) || json_integer_value(v) != vals[i])
			return false;
	}
	return true;
}

/* The record of an unchanged raw disk, if the store still holds every chunk it names;
 * *owner gets the manifest it lives in (free it after pack). */
static const struct ep_component *cached(struct ep_store *st, json_t *e, struct ep_manifest **owner)
{
	const char *record = json_string_value(json_object_get(e, "record"));
	struct ep_error ignored = { 0 };
	*owner = NULL;
	if (!record || ep_manifest_parse(record, strlen(record), "the files cache", owner, &ignored))
		return NULL;
	const struct ep_component *c = (*owner)->ncomponents == 1 ? &(*owner)->components[0] : NULL;
	bool whole = c && c->type == EP_COMP_DISK && c->format && !strcmp(c->format, "raw");
	for (size_t j = 0; whole && j < c->nchunks; j++)
		whole = ep_store_has_chunk(st, c->chunks[j].digest, NULL);
	if (whole)
		return c;
	ep_manifest_free(*owner);
	*owner = NULL;
	return NULL;
}

static json_t *load_cache(const char *path)
{
	char *text = NULL;
	size_t len;
	struct ep_error ignored = { 0 };
	json_t *o = path && !ep_read_file(path, FILES_CACHE_MAX, &text, &len, &ignored) ? json_loadb(text, len, 0, NULL) : NULL;
	free(text);
	if (json_integer_value(json_object_get(o, "version")) != FILES_CACHE_VERSION ||
	    !json_is_object(json_object_get(o, "files"))) { /* none, or not ours: start afresh */
		json_decref(o);
		o = json_pack("{s:i,s:{}}", "version", FILES_CACHE_VERSION, "files");
	}
	return o;
}

/* Records where each raw disk now is (m: the snapshot published); a failure only loses
 * the shortcut for next time. */
static void save_cache(const char *path, json_t *cache, const struct identity *ids, const bool *known,
		       const size_t *component, size_t n, const struct store_dest *d, const struct ep_manifest *m)
{
	json_t *files = json_object_get(cache, "files");
	for (size_t i = 0; m && i < n; i++) {
		char *record = known[i] && component[i] < m->ncomponents ? ep_history_record(m, component[i]) : NULL;
		if (record)
			json_object_set_new(files, ids[i].path,
					    identity_json(&ids[i], d->id, m->components[component[i]].name, record));
		free(record);
	}
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
	if (json_dump_file(cache, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

/* The sequence after the store's snapshots, and the catalog read for it (*have: whether there
 * is one to release). A host holding only an encrypted store's public key cannot read them: it
 * counts them instead. */
static int next_sequence(struct ep_store *st, struct ep_catalog *cat, bool *have, uint64_t *next,
			 struct ep_error *err)
{
	const struct ep_seal *seal = ep_store_seal(st);
	*have = false;
	if (!seal || ep_seal_can_open(seal)) {
		int rc = ep_catalog_load(st, cat, err);
		*next = rc ? 0 : ep_catalog_max_sequence(cat) + 1;
		*have = rc == 0;
		return rc;
	}
	char(*ids)[EP_STORE_ID_HEX] = NULL;
	size_t n = 0;
	int rc = ep_store_snapshot_ids(st, &ids, &n, err);
	free(rc ? NULL : ids);
	*next = n + 1;
	return rc;
}

int ep_backup(struct ep_store *st, const struct ep_pack_options *pack, const struct ep_source *sources,
	      size_t nsources, struct ep_snapinfo *info, const struct ep_backup_cache *caches,
	      struct ep_pack_stats *stats, struct ep_backup_result *res, struct ep_error *err)
{
	uint64_t next;
	struct ep_catalog cat;
	bool have_cat = false;
	struct store_dest d = { .st = st, .lock = ep_store_object_lock(st) };
	struct ep_chunk_cache chunk_cache = { 0 };
	/* the lock is held: what the generation and the snapshots read now say stays so until the publication */
	int rc = next_sequence(st, &cat, &have_cat, &next, err);
	if (!rc)
		rc = ep_chunk_cache_open(&chunk_cache, st, caches->chunks, caches->check_chunks, have_cat ? &cat : NULL, err);
	const struct ep_manifest *prev = !rc && have_cat ? previous(&cat, pack->name, info->host) : NULL;
	/* the caller may know of a higher one, in a store since rolled back */
	if (!rc)
		rc = ep_store_claim_sequence(st, info->sequence > next ? info->sequence : next, &info->sequence, err);
	struct knowing k = { st, 0 };
	if (!rc && prev && !caches->check_chunks)
		rc = ep_manifest_each_ref(prev, know, &k, err);
	res->known_previous = k.refs;
	if (!rc && d.lock)
		rc = plan_lock(&d, prev, have_cat ? NULL : &chunk_cache, info, err);
	if (have_cat)
		ep_catalog_release(&cat);
	if (rc) {
		ep_chunk_cache_release(&chunk_cache);
		ep_digestmap_free(d.written);
		ep_digestmap_free(d.covered);
		return rc;
	}
	struct ep_source *srcs = calloc(nsources ? nsources : 1, sizeof *srcs);
	struct identity *ids = calloc(nsources ? nsources : 1, sizeof *ids);
	bool *known = calloc(nsources ? nsources : 1, sizeof *known);
	size_t *component = calloc(nsources ? nsources : 1, sizeof *component);
	struct ep_manifest **records = calloc(nsources ? nsources : 1, sizeof *records); /* what reuse points into */
	const char *files_cache = caches->files;
	json_t *cache = files_cache ? load_cache(files_cache) : NULL;
	struct ep_history *history = NULL;
	const struct ep_source_history *remembered = NULL;
	if (!srcs || !ids || !known || !component || !records || (files_cache && !cache))
		rc = ep_oom(err);
	if (!rc && cache)
		rc = ep_history_new(&history, st, cache, &remembered, err);
	for (size_t i = 0; !rc && i < nsources; i++) {
		srcs[i] = sources[i];
		if (!cache || !(known[i] = identify(&sources[i], &ids[i])))
			continue;
		json_t *e = json_object_get(json_object_get(cache, "files"), ids[i].path);
		if (!caches->reread && e && same_identity(e, &ids[i]))
			srcs[i].reuse = cached(st, e, &records[i]);
	}
	const struct ep_pack_dest dest = { &d, store_has, store_add_chunk, store_commit, store_abort, store_prepare };
	struct ep_pack_options opt = *pack;
	opt.dest = &dest;
	opt.snapshot = info;
	opt.source_component = component;
	struct ep_manifest *published = NULL;
	opt.manifest_out = &published;
	opt.history = remembered;
	if (!rc)
		rc = ep_pack(&opt, srcs, nsources, stats, err);
	if (!rc) {
		memcpy(res->id, d.id, EP_STORE_ID_HEX);
		res->sequence = info->sequence;
		res->retain_until = d.lock ? d.floor : 0;
		res->lock_covered = d.ncovered;
		res->lock_keep = d.keep;
		res->known_cached = chunk_cache.n;
		res->chunk_cache = chunk_cache.state;
		res->chunks_asked = ep_store_chunks_asked(st);
		if (cache) {
			ep_history_published(history, published, d.id);
			save_cache(files_cache, cache, ids, known, component, nsources, &d, published);
		}
		ep_chunk_cache_save(&chunk_cache, st, caches->chunks, d.id, published);
	}
	ep_chunk_cache_release(&chunk_cache);
	ep_history_free(history);
	ep_digestmap_free(d.written);
	ep_digestmap_free(d.covered);
	json_decref(cache);
	ep_manifest_free(published);
	for (size_t i = 0; records && i < nsources; i++)
		ep_manifest_free(records[i]);
	free(records);
	free(component);
	free(known);
	free(ids);
	free(srcs);
	return rc;
}
