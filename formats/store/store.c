#include "formats/store/store.h"
#include "formats/store/store_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "base/digestmap.h"
#include "base/fanout.h"
#include "formats/bundle/manifest.h"
#include "formats/bundle/seal.h"

#define CONFIG_MAX ((size_t)64 << 10)

void ep_store_chunk_oid(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], uint8_t oid[EP_DIGEST_LEN])
{
	if (st->seal)
		ep_seal_object_id(st->seal, digest, oid);
	else
		memcpy(oid, digest, EP_DIGEST_LEN);
}

static void chunk_name(const uint8_t oid[EP_DIGEST_LEN], char *name, size_t cap)
{
	char hex[EP_DIGEST_HEX];
	ep_hex(oid, EP_DIGEST_LEN, hex);
	snprintf(name, cap, "chunks/%.2s/%s.zst", hex, hex);
}

void ep_store_oid_name(const uint8_t oid[EP_DIGEST_LEN], char *name, size_t cap)
{
	chunk_name(oid, name, cap);
}

void ep_store_chunk_name(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], char *name, size_t cap)
{
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(st, digest, oid);
	chunk_name(oid, name, cap);
}

/* "chunks/ab/<64 hex>.zst" -> object id; false for any other name. */
static bool chunk_digest(const char *name, uint8_t digest[EP_DIGEST_LEN])
{
	char hex[EP_DIGEST_HEX];
	if (strlen(name) != 7 + 3 + 64 + 4 || strncmp(name, "chunks/", 7) || name[9] != '/' ||
	    strncmp(name + 7, name + 10, 2) || strcmp(name + 74, ".zst"))
		return false;
	memcpy(hex, name + 10, 64);
	hex[64] = '\0';
	return ep_unhex(hex, digest, EP_DIGEST_LEN);
}

static int index_add(struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err)
{
	uint64_t at;
	if (ep_digestmap_get(st->index, oid, &at)) {
		st->chunks[at].stored = stored;
		return 0;
	}
	if (!ep_grow((void **)&st->chunks, &st->cap, st->nchunks + 1, sizeof *st->chunks) ||
	    !ep_digestmap_put(st->index, oid, st->nchunks))
		return ep_oom(err);
	memcpy(st->chunks[st->nchunks].oid, oid, EP_DIGEST_LEN);
	st->chunks[st->nchunks++].stored = stored;
	return 0;
}

static int index_each(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err)
{
	uint64_t size;
	int rc = ep_store_chunk_stored(ctx, oid, stored, &size, err);
	return rc || !size ? rc : index_add(ctx, oid, size, err);
}

int ep_store_load_index(struct ep_store *st, struct ep_error *err)
{
	if (st->lazy)
		return 0;
	struct ep_digestmap *fresh = ep_digestmap_new();
	if (!fresh)
		return ep_oom(err);
	pthread_rwlock_wrlock(&st->lock);
	ep_digestmap_free(st->index);
	st->index = fresh;
	st->nchunks = 0;
	int rc = ep_store_list_chunks(st, index_each, st, err);
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

static int write_config(struct ep_store *st, struct ep_error *err)
{
	uint8_t raw[16];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return ep_fail(err, EP_ERUNTIME, "store: no randomness for its id");
	ep_hex(raw, sizeof raw, st->id);
	json_t *o = json_pack("{s:s,s:i,s:s,s:{s:s,s:I,s:I,s:I},s:s}", "format", "envpack-store", "version", 1, "id",
			      st->id, "chunking", "algorithm", "fastcdc-gear-v1", "min", (json_int_t)(256 << 10), "avg",
			      (json_int_t)(1 << 20), "max", (json_int_t)EP_BUNDLE_CHUNK_MAX, "compression", "zstd");
	if (o && st->seal)
		json_object_set_new(o, "encryption", json_pack("{s:s,s:s}", "scheme", EP_STORE_SEAL_SCHEME, "recipient",
							      ep_seal_key_id(st->seal)));
	if (o && st->object_lock.mode != EP_LOCK_NONE)
		json_object_set_new(o, "object_lock", json_pack("{s:I,s:s}", "days", (json_int_t)st->object_lock.days,
							       "mode", ep_lock_mode_name(st->object_lock.mode)));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return ep_oom(err);
	int rc = st->be->ops->put(st->be, "config.json", s, strlen(s), true, err);
	free(s);
	return rc;
}

/* The key given and the store's encryption agree: both absent, or the same recipient. A
 * private key given to a plain store is not needed, and not used; a public key is a wish
 * to encrypt that the store cannot keep. */
static int check_encryption(struct ep_store *st, json_t *enc, const char *where, struct ep_error *err)
{
	const char *scheme = json_string_value(json_object_get(enc, "scheme"));
	const char *recipient = json_string_value(json_object_get(enc, "recipient"));
	if (enc && (!scheme || strcmp(scheme, EP_STORE_SEAL_SCHEME) || !recipient))
		return ep_fail(err, EP_EINPUT, "'%s': config.json names an encryption this envpack does not know", where);
	if (!enc && st->seal && ep_seal_can_open(st->seal))
		st->seal = NULL;
	if (!enc && st->seal)
		return ep_fail(err, EP_EINPUT, "store '%s' is not encrypted (an encrypted store is made so by "
					      "'backup --init --encrypt-to'); give no key", where);
	if (enc && !st->seal)
		return ep_fail(err, EP_EINPUT, "store '%s' is encrypted to key %s: give --encrypt-to with its public key "
					      "(backup, import) or --decrypt-key with its private key", where, recipient);
	if (enc && strcmp(recipient, ep_seal_key_id(st->seal)))
		return ep_fail(err, EP_EINPUT, "store '%s' is encrypted to key %s, not to key %s", where, recipient,
			       ep_seal_key_id(st->seal));
	return 0;
}

/* config.json's "object_lock", when there is one, into st. */
static int read_object_lock(struct ep_store *st, json_t *ol, const char *where, struct ep_error *err)
{
	json_t *days = json_object_get(ol, "days");
	struct ep_store_object_lock p = { 0 };
	if (!ol)
		return 0;
	if (!json_is_integer(days) || json_integer_value(days) < 1 || json_integer_value(days) > EP_STORE_LOCK_DAYS_MAX ||
	    !ep_lock_mode_parse(json_string_value(json_object_get(ol, "mode")), &p.mode))
		return ep_fail(err, EP_EINPUT, "'%s': config.json's object_lock is not 1 to %d days in governance or "
					      "compliance mode", where, EP_STORE_LOCK_DAYS_MAX);
	p.days = (unsigned)json_integer_value(days);
	st->object_lock = p;
	return 0;
}

static int read_config(struct ep_store *st, struct ep_error *err)
{
	const char *where = st->be->ops->where(st->be);
	char *data = NULL;
	size_t len = 0;
	int rc = st->be->ops->get(st->be, "config.json", CONFIG_MAX, &data, &len, err);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "'%s' is not an envpack store (no config.json; 'envpack backup --init' makes one)", where);
	if (rc)
		return rc;
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	free(data);
	const char *format = json_string_value(json_object_get(o, "format"));
	const char *id = json_string_value(json_object_get(o, "id"));
	json_t *version = json_object_get(o, "version");
	if (!format || strcmp(format, "envpack-store") || !id || strlen(id) != 32 || !json_is_integer(version))
		rc = ep_fail(err, EP_EINPUT, "'%s': config.json is not an envpack store's", where);
	else if (json_integer_value(version) != 1)
		rc = ep_fail(err, EP_EINPUT, "'%s': store version %lld (this envpack reads version 1)", where,
			     (long long)json_integer_value(version));
	else
		snprintf(st->id, sizeof st->id, "%s", id);
	if (!rc)
		rc = check_encryption(st, json_object_get(o, "encryption"), where, err);
	if (!rc)
		rc = read_object_lock(st, json_object_get(o, "object_lock"), where, err);
	json_decref(o);
	return rc;
}

/* The backends, by the prefix of a store's location; adding one is one line here. */
static const struct {
	const char *prefix;
	ep_store_backend_open_fn *open;
	bool object_lock; /* can keep objects retained */
} backends[] = {
	{ "s3://", ep_store_s3_backend, true },
	{ "dir:", ep_store_dir_backend, false },
};

/* A new store with Object Lock needs a backend that keeps it: said before anything is made there. */
static int object_lock_possible(const char *location, struct ep_error *err)
{
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (!strncmp(location, backends[i].prefix, strlen(backends[i].prefix)) && backends[i].object_lock)
			return 0;
	return ep_fail(err, EP_EINPUT, "store '%s': Object Lock needs an s3:// store in a bucket made with it; a "
				      "directory cannot keep objects from being removed", location);
}

/* The policy asked for (init) against the place: a new store's bucket must have Object Lock on;
 * an existing store must have that same policy. Nothing is written before. */
static int object_lock_agrees(struct ep_store *st, const struct ep_store_object_lock *want, bool create,
			      struct ep_error *err)
{
	const char *where = st->be->ops->where(st->be);
	if (!want)
		return 0;
	if (!create && st->object_lock.mode == want->mode && st->object_lock.days == want->days)
		return 0;
	if (!create && st->object_lock.mode == EP_LOCK_NONE)
		return ep_fail(err, EP_EINPUT, "store '%s' exists without Object Lock: a store's Object Lock is set when "
					      "it is made (--init into a new place)", where);
	if (!create)
		return ep_fail(err, EP_EINPUT, "store '%s' exists with Object Lock for %u days in %s mode: a store's "
					      "Object Lock is set when it is made", where, st->object_lock.days,
			       ep_lock_mode_name(st->object_lock.mode));
	int rc = st->be->lock ? st->be->lock->available(st->be, err) : object_lock_possible(where, err);
	if (rc == 1)
		rc = (ep_error_prefix(err, "store '%s': ", where), EP_EINPUT);
	return rc;
}

/* The policy read (or made), handed to a backend that keeps it; one that cannot is read and
 * written as a plain store. */
static void apply_object_lock(struct ep_store *st)
{
	if (!st->be->lock)
		st->object_lock = (struct ep_store_object_lock){ 0 };
	else if (st->object_lock.mode != EP_LOCK_NONE)
		st->be->lock->set_policy(st->be, &st->object_lock,
					 ep_store_lock_target(&st->object_lock, 0)); /* target from 0: how long */
}

static int open_backend(struct ep_store *st, const char *location, bool create, const struct ep_s3_options *s3,
			struct ep_error *err)
{
	for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
		if (!strncmp(location, backends[i].prefix, strlen(backends[i].prefix)))
			return backends[i].open(&st->be, location, s3, create, err);
	return ep_store_dir_backend(&st->be, location, s3, create, err); /* a plain path */
}

/* init: whether a store is there already (its config.json); the backend stays open when so. */
static int find_store(struct ep_store *st, const char *location, const struct ep_s3_options *s3, bool *found,
		      struct ep_error *err)
{
	struct ep_error ignored = { 0 };
	char *data = NULL;
	size_t len;
	*found = false;
	if (open_backend(st, location, false, s3, &ignored))
		return 0; /* nothing there (a directory to make) */
	int rc = st->be->ops->get(st->be, "config.json", CONFIG_MAX, &data, &len, err);
	free(data);
	*found = rc == 0;
	if (rc == 1)
		rc = 0;
	if (!*found) { /* its requests still count, as the store's */
		if (st->be->lock)
			st->be->lock->requests(st->be, &st->probe_requests);
		st->be->ops->close(st->be);
		st->be = NULL;
	}
	return rc;
}

int ep_store_open_with(struct ep_store **out, const char *location, const struct ep_store_open_options *o,
		       struct ep_error *err)
{
	struct ep_store *st = calloc(1, sizeof *st);
	if (!st)
		return ep_oom(err);
	pthread_rwlock_init(&st->lock, NULL);
	st->seal = o->seal;
	bool create = o->create, found = false;
	st->lazy = o->lazy_index || o->stream_chunks;
	st->stream = o->stream_chunks;
	int rc = (st->index = ep_digestmap_new()) && (st->known = ep_digestmap_new()) ? 0 : ep_oom(err);
	if (!rc && o->init && !(rc = find_store(st, location, o->s3, &found, err)))
		create = !found;
	if (!rc && create && o->object_lock)
		rc = object_lock_possible(location, err);
	if (!rc && !st->be)
		rc = open_backend(st, location, create, o->s3, err);
	if (!rc && o->as_of)
		rc = ep_store_as_of(st, o->as_of, err); /* config.json too, as it was then */
	if (!rc && !create)
		rc = read_config(st, err);
	if (!rc)
		rc = object_lock_agrees(st, o->object_lock, create, err);
	if (!rc && create && o->object_lock)
		st->object_lock = *o->object_lock;
	if (!rc)
		apply_object_lock(st); /* config.json itself is retained */
	if (!rc && create)
		rc = write_config(st, err);
	st->created = create;
	if (!rc && !create)
		rc = ep_store_load_index(st, err);
	if (rc) {
		ep_store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

int ep_store_open(struct ep_store **out, const char *location, bool create, struct ep_error *err)
{
	return ep_store_open_with(out, location, &(struct ep_store_open_options){ .create = create }, err);
}

void ep_store_close(struct ep_store *st)
{
	if (!st)
		return;
	ep_store_unlock(st);
	if (st->be)
		st->be->ops->close(st->be);
	ep_digestmap_free(st->index);
	ep_digestmap_free(st->known);
	free(st->chunks);
	pthread_rwlock_destroy(&st->lock);
	free(st);
}

const char *ep_store_where(const struct ep_store *st)
{
	return st->be->ops->where(st->be);
}

const char *ep_store_id(const struct ep_store *st)
{
	return st->id;
}

const struct ep_seal *ep_store_seal(const struct ep_store *st)
{
	return st->seal;
}

const struct ep_store_object_lock *ep_store_object_lock(const struct ep_store *st)
{
	return st->object_lock.mode != EP_LOCK_NONE ? &st->object_lock : NULL;
}

int ep_store_as_of(struct ep_store *st, int64_t t, struct ep_error *err)
{
	if (!st->be->lock || !st->be->lock->as_of)
		return ep_fail(err, EP_EINPUT, "store '%s': only an s3:// store in a versioned bucket keeps what it held "
					      "before (a directory keeps no earlier versions)", st->be->ops->where(st->be));
	return st->be->lock->as_of(st->be, t, err);
}

bool ep_store_counts_requests(const struct ep_store *st)
{
	return st->be->lock != NULL;
}

void ep_store_requests(const struct ep_store *st, struct ep_store_requests *out)
{
	*out = (struct ep_store_requests){ 0 };
	if (st->be->lock)
		st->be->lock->requests(st->be, out);
	const struct ep_store_requests *p = &st->probe_requests;
	out->put += p->put;
	out->get += p->get;
	out->head += p->head;
	out->list += p->list;
	out->retention += p->retention;
	out->delete_ += p->delete_;
	out->other += p->other;
}

uint64_t ep_store_chunks_asked(const struct ep_store *st)
{
	return __atomic_load_n(&st->asked, __ATOMIC_RELAXED);
}

/* ---- chunks ---- */

/* A lazy store's chunk that neither index nor known holds: asked of the backend, and what it
 * says kept. A failure to ask is taken for absence: the chunk is written again, which is harmless. */
static uint64_t look_up(struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN])
{
	char name[100];
	uint64_t size = 0;
	struct ep_error ignored = { 0 };
	if (st->created) /* a store this run made holds nothing another run need have written */
		return 0;
	chunk_name(oid, name, sizeof name);
	__atomic_add_fetch(&st->asked, 1, __ATOMIC_RELAXED);
	if (st->be->ops->stat(st->be, name, &size, &ignored) || size == 0)
		return 0;
	if (st->stream) /* a reader's: every chunk it reads would be kept */
		return size;
	pthread_rwlock_wrlock(&st->lock);
	if (index_add(st, oid, size, &ignored))
		size = 0;
	pthread_rwlock_unlock(&st->lock);
	return size;
}

bool ep_store_has_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], uint64_t *stored)
{
	struct ep_store *w = (struct ep_store *)st; /* the rwlock, not the index, changes */
	uint64_t at, size = 0;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(st, digest, oid);
	pthread_rwlock_rdlock(&w->lock);
	if (ep_digestmap_get(st->index, oid, &at))
		size = st->chunks[at].stored;
	bool known = !size && st->lazy && !stored &&
		     (ep_digestmap_get(st->known, oid, NULL) ||
		      (st->ncached && bsearch(oid, st->cached, st->ncached, EP_DIGEST_LEN, ep_digest_cmp)));
	pthread_rwlock_unlock(&w->lock);
	if (known)
		return true;
	if (!size && st->lazy)
		size = look_up(w, oid);
	if (stored)
		*stored = size;
	return size != 0;
}

struct many_chunks {
	const struct ep_store *st;
	const uint8_t (*digests)[EP_DIGEST_LEN];
	bool *have;
	uint64_t *sizes;
};

static int has_one(void *ctx, size_t i, struct ep_error *err)
{
	(void)err; /* a failure to ask is absence, as in has_chunk */
	struct many_chunks *m = ctx;
	m->have[i] = ep_store_has_chunk(m->st, m->digests[i], m->sizes ? &m->sizes[i] : NULL);
	return 0;
}

int ep_store_has_chunks(const struct ep_store *st, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, bool *have,
			uint64_t *sizes, struct ep_error *err)
{
	struct many_chunks m = { st, digests, have, sizes };
	return ep_fanout(n, EP_STORE_AT_ONCE, has_one, &m, err);
}

void ep_store_know_sorted(struct ep_store *st, const uint8_t (*oids)[EP_DIGEST_LEN], size_t n)
{
	pthread_rwlock_wrlock(&st->lock);
	st->cached = st->lazy ? oids : NULL;
	st->ncached = st->lazy ? n : 0;
	pthread_rwlock_unlock(&st->lock);
}

int ep_store_know_chunk(struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], struct ep_error *err)
{
	uint8_t oid[EP_DIGEST_LEN];
	if (!st->lazy)
		return 0;
	ep_store_chunk_oid(st, digest, oid);
	pthread_rwlock_wrlock(&st->lock);
	bool ok = ep_digestmap_put(st->known, oid, 1);
	pthread_rwlock_unlock(&st->lock);
	return ok ? 0 : ep_oom(err);
}

/* ---- the generation (formats/STORE.md, section 12): what a host's chunk cache is valid for ---- */

#define GENERATION_NAME "generation"

int ep_store_generation(struct ep_store *st, char token[EP_STORE_TOKEN_HEX], struct ep_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = st->be->ops->get(st->be, GENERATION_NAME, 64, &data, &len, err);
	if (rc == 1) { /* never pruned */
		snprintf(token, EP_STORE_TOKEN_HEX, "%s", "none");
		return 0;
	}
	if (!rc && (len != EP_STORE_TOKEN_HEX - 1 || memchr(data, '\0', len)))
		rc = ep_fail(err, EP_EINTEGRITY, "'%s/%s' is not a generation token", ep_store_where(st), GENERATION_NAME);
	if (!rc)
		snprintf(token, EP_STORE_TOKEN_HEX, "%.*s", (int)len, data);
	free(data);
	return rc;
}

/* Before the first chunk this run removes: a new token, durable, so that every chunk cache made
 * before is known stale. */
static int move_generation(struct ep_store *st, struct ep_error *err)
{
	uint8_t raw[(EP_STORE_TOKEN_HEX - 1) / 2];
	char token[EP_STORE_TOKEN_HEX];
	if (st->generation_moved)
		return 0;
	if (RAND_bytes(raw, sizeof raw) != 1)
		return ep_fail(err, EP_ERUNTIME, "store: no randomness for its generation");
	ep_hex(raw, sizeof raw, token);
	int rc = st->be->ops->put(st->be, GENERATION_NAME, token, strlen(token), false, err);
	if (!rc)
		rc = st->be->ops->sync(st->be, err);
	st->generation_moved = rc == 0;
	return rc;
}

int ep_store_read_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t len,
			struct ep_error *err)
{
	char name[100];
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(st, digest, oid);
	chunk_name(oid, name, sizeof name);
	return st->be->ops->read(st->be, name, buf, len, err);
}

int ep_store_fetch_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap,
			 size_t *len, struct ep_error *err)
{
	char name[100], *data = NULL;
	ep_store_chunk_name(st, digest, name, sizeof name);
	*len = 0;
	int rc = st->be->ops->get(st->be, name, cap, &data, len, err);
	if (rc == EP_EINPUT) /* dir: an object larger than any chunk (S3 says EP_EINTEGRITY): damage either way */
		err->code = rc = EP_EINTEGRITY;
	if (!rc && *len == 0) /* an empty object is no chunk, as a listing takes it */
		rc = 1;
	if (!rc)
		memcpy(buf, data, *len);
	else
		*len = 0;
	free(data);
	return rc;
}

int ep_store_put_chunk(struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
		       struct ep_error *err)
{
	char name[100];
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(st, digest, oid);
	chunk_name(oid, name, sizeof name);
	/* content-addressed: a chunk already there by that name is this chunk, so rewriting it is harmless */
	int rc = st->be->ops->put(st->be, name, zdata, zlen, false, err);
	if (!rc) {
		pthread_rwlock_wrlock(&st->lock);
		rc = index_add(st, oid, zlen, err);
		pthread_rwlock_unlock(&st->lock);
	}
	return rc;
}

int ep_store_remove_chunk(struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN], struct ep_error *err)
{
	char name[100];
	chunk_name(oid, name, sizeof name);
	int rc = ep_store_lock_held(st, err) ? err->code : move_generation(st, err);
	if (!rc)
		rc = st->be->ops->remove(st->be, name, err);
	uint64_t at;
	pthread_rwlock_wrlock(&st->lock);
	if (!rc && ep_digestmap_get(st->index, oid, &at))
		st->chunks[at].stored = 0;
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

struct chunk_lister {
	int (*each)(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err);
	void *ctx;
};

static int list_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)mtime;
	struct chunk_lister *l = ctx;
	uint8_t oid[EP_DIGEST_LEN];
	/* anything else under chunks/ is no chunk: check reports it, nothing uses it */
	return chunk_digest(name, oid) && size > 0 ? l->each(l->ctx, oid, size, err) : 0;
}

int ep_store_list_chunks(struct ep_store *st,
			 int (*each)(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err),
			 void *ctx, struct ep_error *err)
{
	struct chunk_lister l = { each, ctx };
	return (st->be->ops->list_names ? st->be->ops->list_names : st->be->ops->list)(st->be, "chunks/", list_each, &l,
										       err);
}

int ep_store_chunk_stored(const struct ep_store *st, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored,
			  uint64_t *size, struct ep_error *err)
{
	*size = stored;
	if (stored != EP_STORE_SIZE_UNKNOWN)
		return 0;
	char name[100];
	chunk_name(oid, name, sizeof name);
	int rc = st->be->ops->stat(st->be, name, size, err);
	if (rc == 1)
		*size = 0;
	return rc == 1 ? 0 : rc;
}

int ep_store_sweep(struct ep_store *st, uint64_t *removed, struct ep_error *err)
{
	return st->be->ops->sweep(st->be, removed, err);
}

/* ---- snapshots (and what drill records, in drill.c, share with them) ---- */

bool ep_store_id_ok(const char *id)
{
	uint8_t raw[EP_DIGEST_LEN];
	return strlen(id) == 64 && ep_unhex(id, raw, sizeof raw);
}

bool ep_store_id_prefix_ok(const char *ref)
{
	size_t len = strlen(ref);
	return len >= 4 && len <= 64 && strspn(ref, "0123456789abcdef") == len;
}

void ep_store_snapshot_release(struct ep_store_snapshot *s)
{
	free(s->manifest);
	free(s->signature);
	*s = (struct ep_store_snapshot){ 0 };
}

struct id_list {
	char (*ids)[EP_STORE_ID_HEX];
	size_t n, cap;
	size_t skip;     /* the length of "DIR/" */
	const char *ext; /* ".json", ".sig" */
};

static int id_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime;
	struct id_list *l = ctx;
	const char *base = name + l->skip;
	if (strlen(base) != 64 + strlen(l->ext) || strcmp(base + 64, l->ext))
		return 0;
	char id[EP_STORE_ID_HEX];
	snprintf(id, sizeof id, "%.64s", base);
	if (!ep_store_id_ok(id))
		return 0;
	if (!ep_grow((void **)&l->ids, &l->cap, l->n + 1, sizeof *l->ids))
		return ep_oom(err);
	memcpy(l->ids[l->n++], id, EP_STORE_ID_HEX);
	return 0;
}

int ep_store_id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int ep_store_list_ids(struct ep_store *st, const char *dir, const char *ext, char (**ids)[EP_STORE_ID_HEX], size_t *n,
		      struct ep_error *err)
{
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%s/", dir);
	struct id_list l = { .skip = strlen(prefix), .ext = ext };
	int rc = st->be->ops->list(st->be, prefix, id_each, &l, err);
	if (rc) {
		free(l.ids);
		return rc;
	}
	if (l.n)
		qsort(l.ids, l.n, sizeof *l.ids, ep_store_id_cmp);
	*ids = l.ids;
	*n = l.n;
	return 0;
}

int ep_store_snapshot_ids(struct ep_store *st, char (**ids)[EP_STORE_ID_HEX], size_t *n, struct ep_error *err)
{
	return ep_store_list_ids(st, "snapshots", ".json", ids, n, err);
}

int ep_store_get_sealed(struct ep_store *st, const char *name, size_t max, char **data, size_t *len,
			struct ep_error *err)
{
	int rc = st->be->ops->get(st->be, name, max + (st->seal ? EP_SEAL_OVERHEAD : 0), data, len, err);
	if (rc || !st->seal)
		return rc;
	char *where; /* for messages */
	if (asprintf(&where, "store '%s'", ep_store_where(st)) < 0) {
		rc = ep_oom(err);
	} else {
		rc = ep_seal_open_named(st->seal, name, *data, len, where, err);
		free(where);
	}
	if (rc) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

void ep_store_object_id(const struct ep_store *st, const char *data, size_t len, char id[EP_STORE_ID_HEX])
{
	uint8_t d[EP_DIGEST_LEN], oid[EP_DIGEST_LEN];
	ep_sha256(data, len, d);
	ep_store_chunk_oid(st, d, oid);
	ep_hex(oid, sizeof oid, id);
}

int ep_store_get_snapshot(struct ep_store *st, const char *id, struct ep_store_snapshot *out, struct ep_error *err)
{
	*out = (struct ep_store_snapshot){ 0 };
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "store '%s': '%s' is not a snapshot id", ep_store_where(st), id);
	char name[100], got[EP_STORE_ID_HEX];
	snprintf(name, sizeof name, "snapshots/%s.json", id);
	int rc = ep_store_get_sealed(st, name, EP_BUNDLE_MANIFEST_MAX, &out->manifest, &out->manifest_len, err);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "store '%s' has no snapshot %s", ep_store_where(st), id);
	if (!rc) {
		/* the id is the manifest's digest: a manifest changed in place no longer answers to it */
		ep_store_object_id(st, out->manifest, out->manifest_len, got);
		if (strcmp(got, id))
			rc = ep_fail(err, EP_EINTEGRITY, "store '%s': snapshot %s does not match its id", ep_store_where(st), id);
	}
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc && (rc = ep_store_get_sealed(st, name, EP_STORE_SIGNATURE_MAX, &out->signature, &out->signature_len,
					     err)) == 1)
		rc = 0; /* unsigned */
	memcpy(out->id, id, EP_STORE_ID_HEX);
	if (rc)
		ep_store_snapshot_release(out);
	return rc;
}

/* A put, retained until `until` where the store has Object Lock and until is set. */
static int put_until(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
		     int64_t until, struct ep_error *err)
{
	if (until && ep_store_object_lock(st))
		return st->be->lock->put_until(st->be, name, data, len, if_absent, until, err);
	return st->be->ops->put(st->be, name, data, len, if_absent, err);
}

int ep_store_put_sealed_until(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
			      int64_t until, struct ep_error *err)
{
	if (!st->seal)
		return put_until(st, name, data, len, if_absent, until, err);
	char *sealed;
	size_t n;
	int rc = ep_seal_wrap_copy(st->seal, name, strlen(name), data, len, &sealed, &n, err);
	if (!rc)
		rc = put_until(st, name, sealed, n, if_absent, until, err);
	free(sealed);
	return rc;
}

int ep_store_put_sealed(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
			struct ep_error *err)
{
	return ep_store_put_sealed_until(st, name, data, len, if_absent, 0, err);
}

int ep_store_put_snapshot(struct ep_store *st, const char *manifest, size_t len, const char *sig, size_t siglen,
			  char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	return ep_store_put_snapshot_until(st, manifest, len, sig, siglen, 0, id, err);
}

int ep_store_put_snapshot_until(struct ep_store *st, const char *manifest, size_t len, const char *sig,
				size_t siglen, int64_t until, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	char name[100];
	ep_store_object_id(st, manifest, len, id);
	int rc = st->be->ops->sync(st->be, err); /* every chunk durable before anything names it */
	if (!rc)
		rc = ep_store_lock_held(st, err); /* after the wait for the chunks, just before the publication */
	/* and what the snapshot names was known under that lock (asked, listed, named), or written since */
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc && sig)
		rc = ep_store_put_sealed_until(st, name, sig, siglen, false, until, err);
	snprintf(name, sizeof name, "snapshots/%s.json", id);
	if (!rc && (rc = ep_store_put_sealed_until(st, name, manifest, len, true, until, err)) == EP_EINPUT) {
		*err = (struct ep_error){ 0 }; /* the same bytes, published before: the same snapshot */
		rc = 0;
	}
	if (!rc)
		rc = st->be->ops->sync(st->be, err);
	return rc;
}

int ep_store_has_snapshot(struct ep_store *st, const char *id, bool *present, struct ep_error *err)
{
	char name[100];
	uint64_t size = 0;
	*present = false;
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "'%s' is not a snapshot id", id);
	snprintf(name, sizeof name, "snapshots/%s.json", id);
	int rc = st->be->ops->stat(st->be, name, &size, err);
	*present = rc == 0;
	return rc == 1 ? 0 : rc;
}

int ep_store_remove_snapshot(struct ep_store *st, const char *id, struct ep_error *err)
{
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "'%s' is not a snapshot id", id);
	char name[100];
	snprintf(name, sizeof name, "snapshots/%s.json", id); /* the manifest first: without it the snapshot is gone */
	int rc = ep_store_lock_held(st, err) ? err->code : st->be->ops->remove(st->be, name, err);
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc)
		rc = st->be->ops->remove(st->be, name, err);
	return rc;
}

int ep_store_remove_snapshot_bypass(struct ep_store *st, const char *id, struct ep_error *err)
{
	if (!ep_store_id_ok(id))
		return ep_fail(err, EP_EINPUT, "'%s' is not a snapshot id", id);
	if (!ep_store_object_lock(st))
		return ep_store_remove_snapshot(st, id, err);
	char name[100];
	snprintf(name, sizeof name, "snapshots/%s.json", id); /* the manifest first, as ep_store_remove_snapshot */
	int rc = ep_store_lock_held(st, err) ? err->code : st->be->lock->remove_versions(st->be, name, err);
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc)
		rc = st->be->lock->remove_versions(st->be, name, err);
	return rc;
}

bool ep_store_ref_split(const char *ref, char *store, size_t cap, const char **snapshot)
{
	const char *at = strrchr(ref, '@');
	if (!at || at == ref || !at[1] || (size_t)(at - ref) >= cap)
		return false;
	snprintf(store, cap, "%.*s", (int)(at - ref), ref);
	*snapshot = at + 1;
	return true;
}
