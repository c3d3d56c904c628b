#include "packer/backup.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/store/catalog.h"
#include "packer/history.h"

#define FILES_CACHE_MAX ((size_t)64 << 20)
#define FILES_CACHE_VERSION 2 /* 2: each entry holds its record */

struct store_dest {
	struct ep_store *st;
	char id[EP_STORE_ID_HEX];
};

static bool store_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN])
{
	return ep_store_has_chunk(((struct store_dest *)ctx)->st, digest, NULL);
}

static int store_add_chunk(void *ctx, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
			   struct ep_error *err)
{
	return ep_store_put_chunk(((struct store_dest *)ctx)->st, digest, zdata, zlen, err);
}

static int store_commit(void *ctx, const char *manifest, size_t len, const char *sig, size_t siglen,
			struct ep_error *err)
{
	struct store_dest *d = ctx;
	return ep_store_put_snapshot(d->st, manifest, len, sig, siglen, d->id, err);
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
	if (!src->ops->bare_disk || (src->format && strcmp(src->format, "raw")) || !realpath(src->path, path) ||
	    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
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

/* The sequence after the store's snapshots. A host holding only an encrypted store's
 * public key cannot read them: it counts them instead. */
static int next_sequence(struct ep_store *st, uint64_t *next, struct ep_error *err)
{
	const struct ep_seal *seal = ep_store_seal(st);
	if (!seal || ep_seal_can_open(seal)) {
		struct ep_catalog cat;
		int rc = ep_catalog_load(st, &cat, err);
		*next = rc ? 0 : ep_catalog_max_sequence(&cat) + 1;
		ep_catalog_release(&cat);
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
	      size_t nsources, struct ep_snapinfo *info, const char *files_cache, bool reread,
	      struct ep_pack_stats *stats, struct ep_backup_result *res, struct ep_error *err)
{
	uint64_t next;
	int rc = next_sequence(st, &next, err);
	/* the caller may know of a higher one, in a store since rolled back */
	if (!rc)
		rc = ep_store_claim_sequence(st, info->sequence > next ? info->sequence : next, &info->sequence, err);
	if (rc)
		return rc;
	struct ep_source *srcs = calloc(nsources ? nsources : 1, sizeof *srcs);
	struct identity *ids = calloc(nsources ? nsources : 1, sizeof *ids);
	bool *known = calloc(nsources ? nsources : 1, sizeof *known);
	size_t *component = calloc(nsources ? nsources : 1, sizeof *component);
	struct ep_manifest **records = calloc(nsources ? nsources : 1, sizeof *records); /* what reuse points into */
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
		if (!reread && e && same_identity(e, &ids[i]))
			srcs[i].reuse = cached(st, e, &records[i]);
	}
	struct store_dest d = { .st = st };
	const struct ep_pack_dest dest = { &d, store_has, store_add_chunk, store_commit, store_abort };
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
		if (cache) {
			ep_history_published(history, published, d.id);
			save_cache(files_cache, cache, ids, known, component, nsources, &d, published);
		}
	}
	ep_history_free(history);
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
