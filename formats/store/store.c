#include "formats/store/store.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "base/digestmap.h"
#include "formats/bundle/manifest.h"
#include "formats/bundle/seal.h"

#define CONFIG_MAX ((size_t)64 << 10)
#define LOCK_MAX ((size_t)4 << 10)
#define SIGNATURE_MAX ((size_t)4 << 10)

struct chunk_entry {
	uint8_t oid[EP_DIGEST_LEN];
	uint64_t stored; /* 0: removed */
};

struct ep_store {
	struct ep_store_backend *be;
	const struct ep_seal *seal; /* encrypted stores: names, snapshots (borrowed); else NULL */
	char id[33];
	/* the chunk index: object id -> position in chunks; guarded by lock (pack workers read it) */
	pthread_rwlock_t lock;
	struct ep_digestmap *index;
	struct chunk_entry *chunks;
	size_t nchunks, cap, live;
	char lock_record[200]; /* our record under locks/, while locked */
	bool locked;
	struct lock_refresh *refresh; /* the thread that keeps the record fresh, while locked */
};

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
		st->live += st->chunks[at].stored == 0;
		st->chunks[at].stored = stored;
		return 0;
	}
	if (!ep_grow((void **)&st->chunks, &st->cap, st->nchunks + 1, sizeof *st->chunks) ||
	    !ep_digestmap_put(st->index, oid, st->nchunks))
		return ep_oom(err);
	memcpy(st->chunks[st->nchunks].oid, oid, EP_DIGEST_LEN);
	st->chunks[st->nchunks++].stored = stored;
	st->live++;
	return 0;
}

static int index_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)mtime;
	uint8_t digest[EP_DIGEST_LEN];
	/* anything else under chunks/ is no chunk: check reports it, nothing uses it */
	return chunk_digest(name, digest) && size > 0 ? index_add(ctx, digest, size, err) : 0;
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
	json_decref(o);
	return rc;
}

static int open_backend(struct ep_store *st, const char *location, bool create, const struct ep_s3_options *s3,
			struct ep_error *err)
{
	if (!strncmp(location, "s3://", 5))
		return ep_store_s3_backend(&st->be, location, s3, create, err);
	const char *path = !strncmp(location, "dir:", 4) ? location + 4 : location;
	if (!*path)
		return ep_fail(err, EP_EINPUT, "store '%s' names no place", location);
	if (strstr(location, "://"))
		return ep_fail(err, EP_EINPUT, "store '%s': stores are dir:PATH or s3://BUCKET/PREFIX", location);
	return ep_store_dir_backend(&st->be, path, create, err);
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
	if (!*found) {
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
	int rc = (st->index = ep_digestmap_new()) ? 0 : ep_oom(err);
	if (!rc && o->init && !(rc = find_store(st, location, o->s3, &found, err)))
		create = !found;
	if (!rc && !st->be)
		rc = open_backend(st, location, create, o->s3, err);
	if (!rc)
		rc = create ? write_config(st, err) : read_config(st, err);
	if (!rc && !create)
		rc = st->be->ops->list(st->be, "chunks/", index_each, st, err);
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

/* ---- locks ----
 * Every holder writes a record under locks/ and then lists them: a record that
 * conflicts (either side exclusive) makes it take its own back and retry, so of
 * two runs that start together at least one sees the other. A backend with a
 * lock of its own (flock on dir:) is asked first; records then only name the
 * holders.
 *
 * While the store is locked a thread refreshes the record every refresh_s
 * seconds (a new record with the new time, then the old one removed), so a
 * record that has not been refreshed for its "stale" seconds belongs to a
 * holder that is gone (or stopped), whatever host it ran on: the next run
 * removes it. Where the records are the lock (S3), a holder that could not
 * refresh in time, or whose record someone removed, must assume another run
 * took the store: lock_held() then fails, so nothing is published or removed. */

#define LOCK_REFRESH_SECONDS 300  /* how often a held lock's record is rewritten */
#define LOCK_STALE_SECONDS 1800   /* a record not rewritten for this long is stale */
#define LOCK_STALE_LEGACY (24 * 3600) /* records without "stale" come from runs that never refreshed */
#define LOCK_STALE_MAX ((json_int_t)10 * 366 * 24 * 3600) /* no holder waits longer; keeps sums in range */

struct lock_refresh {
	pthread_t thread;
	pthread_mutex_t mu; /* guards what follows and st->lock_record */
	pthread_cond_t wake;
	bool stop, lost;
	bool records_lock; /* the records are the lock (no backend lock): losing ours loses the lock */
	long long refresh_s, stale_s;
	time_t since, last; /* when the lock was taken; the "time" of our newest record */
	char host[256], command[32];
	bool exclusive;
	char superseded[200]; /* an old record of ours whose removal failed: tried again */
	char why[700];        /* why the lock was lost, or the last refresh's failure */
};

struct holders {
	struct ep_store *st;
	bool exclusive; /* what we want */
	bool conflict;  /* a live record that conflicts with it */
	long long refresh_s, stale_s;
	time_t taken; /* the time our record says */
	char host[256];
	char text[600]; /* who holds it, for the refusal */
	ep_store_warn_fn warn;
	void *warn_ctx;
};

static void utc_text(json_int_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	snprintf(out, cap, "?");
	if (gmtime_r(&tt, &tm)) /* NULL for a time no calendar holds: the record is anyone's to write */
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int lock_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime, (void)err;
	struct holders *h = ctx;
	struct ep_error ignored = { 0 };
	char *data = NULL;
	size_t len;
	if ((h->st->locked && !strcmp(name + 6, h->st->lock_record)) ||
	    h->st->be->ops->get(h->st->be, name, LOCK_MAX, &data, &len, &ignored))
		return 0;
	json_t *o = json_loadb(data, len, 0, NULL);
	free(data);
	const char *host = json_string_value(json_object_get(o, "host"));
	const char *cmd = json_string_value(json_object_get(o, "command"));
	json_int_t pid = json_integer_value(json_object_get(o, "pid")), time_ = json_integer_value(json_object_get(o, "time"));
	json_int_t since = json_is_integer(json_object_get(o, "since")) ? json_integer_value(json_object_get(o, "since")) : time_;
	/* the holder's own promise: it rewrites the record well within "stale" seconds, or stops */
	json_int_t stale_s = json_integer_value(json_object_get(o, "stale"));
	if (stale_s <= 0)
		stale_s = LOCK_STALE_LEGACY;
	if (stale_s > LOCK_STALE_MAX)
		stale_s = LOCK_STALE_MAX;
	bool exclusive = json_is_true(json_object_get(o, "exclusive"));
	bool dead = host && !strcmp(host, h->host) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
	bool stale = time_ < (json_int_t)time(NULL) - stale_s; /* time_ + stale_s could overflow */
	char msg[900], when[32];
	utc_text(time_, when, sizeof when);
	if (dead || stale) {
		/* its holder is gone, or stopped past its promise and will not act on the store again */
		h->st->be->ops->remove(h->st->be, name, &ignored);
		if (dead)
			snprintf(msg, sizeof msg, "store '%s': removed a stale lock of %s (pid %lld, no longer running)",
				 ep_store_where(h->st), cmd ? cmd : "?", (long long)pid);
		else
			snprintf(msg, sizeof msg, "store '%s': removed a stale lock of %s (pid %lld on %s, not refreshed since %s)",
				 ep_store_where(h->st), cmd ? cmd : "?", (long long)pid, host ? host : "?", when);
		if (h->warn)
			h->warn(h->warn_ctx, msg);
	} else {
		h->conflict |= exclusive || h->exclusive;
		if (strlen(h->text) < 300) {
			utc_text(since, when, sizeof when);
			snprintf(h->text + strlen(h->text), sizeof h->text - strlen(h->text), "%s%s (pid %lld on %s, since %s)",
				 *h->text ? ", " : "", cmd ? cmd : "?", (long long)pid, host ? host : "?", when);
		}
	}
	json_decref(o);
	return 0;
}

static int sweep_locks(struct ep_store *st, struct holders *h, struct ep_error *err)
{
	h->conflict = false;
	h->text[0] = '\0';
	return st->be->ops->list(st->be, "locks/", lock_each, h, err);
}

/* A new record "<host>-<pid>-<random>.json" (its name into name), never over another. */
static int write_record(struct ep_store *st, const char *host, const char *command, bool exclusive, time_t since,
			time_t now, long long stale_s, char *name, size_t cap, struct ep_error *err)
{
	uint8_t raw[6];
	char rnd[13], key[220];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return ep_fail(err, EP_ERUNTIME, "store: no randomness for a lock record's name");
	ep_hex(raw, sizeof raw, rnd);
	snprintf(name, cap, "%.64s-%ld-%s.json", host, (long)getpid(), rnd);
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '_';
	json_t *o = json_pack("{s:s,s:I,s:s,s:b,s:I,s:I,s:I}", "host", host, "pid", (json_int_t)getpid(), "command",
			      command, "exclusive", exclusive, "time", (json_int_t)now, "since", (json_int_t)since,
			      "stale", (json_int_t)stale_s);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	snprintf(key, sizeof key, "locks/%s", name);
	int rc = s ? st->be->ops->put(st->be, key, s, strlen(s), true, err) : ep_oom(err);
	free(s);
	return rc;
}

static int put_record(struct ep_store *st, struct holders *h, const char *command, struct ep_error *err)
{
	h->taken = time(NULL);
	int rc = write_record(st, h->host, command, h->exclusive, h->taken, h->taken, h->stale_s, st->lock_record,
			      sizeof st->lock_record, err);
	if (!rc)
		st->locked = true;
	return rc;
}

static void remove_record(struct ep_store *st, const char *record, struct ep_error *err)
{
	char key[220];
	snprintf(key, sizeof key, "locks/%s", record);
	st->be->ops->remove(st->be, key, err);
}

/* Past it, a holder whose records are the lock must assume others took its record as
 * stale: the newest record's time plus its promise, less one and a half refreshes for
 * the clocks of other hosts and the time an action under the lock takes. */
static bool refresh_expired(const struct lock_refresh *r, time_t now)
{
	return (long long)now >= (long long)r->last + r->stale_s - (3 * r->refresh_s + 1) / 2;
}

/* Called with r->mu held. */
static void lose(struct lock_refresh *r, time_t now)
{
	if (r->lost || !r->records_lock || !refresh_expired(r, now))
		return;
	char when[32], failure[sizeof r->why];
	utc_text(r->last, when, sizeof when);
	snprintf(failure, sizeof failure, "%s", r->why);
	snprintf(r->why, sizeof r->why, "its record was not refreshed since %s%s%.600s", when, *failure ? ": " : "",
		 failure);
	r->lost = true;
}

static void refresh_once(struct ep_store *st, struct lock_refresh *r)
{
	struct ep_error err = { 0 };
	char old[sizeof st->lock_record], fresh[sizeof st->lock_record], key[220], *data = NULL;
	size_t len;
	time_t now = time(NULL);
	pthread_mutex_lock(&r->mu);
	lose(r, now);
	bool lost = r->lost;
	snprintf(old, sizeof old, "%s", st->lock_record);
	pthread_mutex_unlock(&r->mu);
	if (lost)
		return;
	int rc = 0;
	if (r->records_lock) { /* only the records lock S3: ours gone, another run may have taken the store */
		snprintf(key, sizeof key, "locks/%s", old);
		rc = st->be->ops->get(st->be, key, LOCK_MAX, &data, &len, &err);
		free(data);
		if (rc == 1) {
			pthread_mutex_lock(&r->mu);
			snprintf(r->why, sizeof r->why, "its record %s was removed, as stale or by hand", old);
			r->lost = true;
			pthread_mutex_unlock(&r->mu);
			return;
		}
	}
	if (!rc)
		rc = write_record(st, r->host, r->command, r->exclusive, r->since, now, r->stale_s, fresh, sizeof fresh, &err);
	pthread_mutex_lock(&r->mu);
	if (rc) {
		snprintf(r->why, sizeof r->why, "%.600s", err.msg); /* tried again at the next tick */
	} else {
		snprintf(st->lock_record, sizeof st->lock_record, "%s", fresh);
		r->last = now;
		r->why[0] = '\0';
	}
	char superseded[sizeof r->superseded];
	snprintf(superseded, sizeof superseded, "%s", r->superseded);
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return;
	/* the old record goes after the new one is there: the store is never without ours */
	struct ep_error e1 = { 0 }, e2 = { 0 };
	if (*superseded)
		remove_record(st, superseded, &e1);
	remove_record(st, old, &e2);
	pthread_mutex_lock(&r->mu);
	if (*superseded && !e1.code)
		r->superseded[0] = '\0';
	if (e2.code && !*r->superseded) /* one kept to try again; another would go once stale */
		snprintf(r->superseded, sizeof r->superseded, "%s", old);
	pthread_mutex_unlock(&r->mu);
}

static void *refresher(void *arg)
{
	struct ep_store *st = arg;
	struct lock_refresh *r = st->refresh;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next); /* ticks by the monotonic clock, unmoved by changes of the date */
	pthread_mutex_lock(&r->mu);
	while (!r->stop && !r->lost) {
		next.tv_sec += (time_t)r->refresh_s;
		while (!r->stop && pthread_cond_timedwait(&r->wake, &r->mu, &next) != ETIMEDOUT)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->mu);
		refresh_once(st, r);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int start_refresh(struct ep_store *st, const struct holders *h, const char *command, struct ep_error *err)
{
	struct lock_refresh *r = calloc(1, sizeof *r);
	if (!r)
		return ep_oom(err);
	r->records_lock = st->be->ops->lock == NULL;
	r->refresh_s = h->refresh_s;
	r->stale_s = h->stale_s;
	r->since = r->last = h->taken;
	r->exclusive = h->exclusive;
	snprintf(r->host, sizeof r->host, "%s", h->host);
	snprintf(r->command, sizeof r->command, "%s", command);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	st->refresh = r;
	if (pthread_create(&r->thread, NULL, refresher, st) != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->mu);
		free(r);
		st->refresh = NULL;
		/* unrefreshed, the record would look stale to others within stale_s: no lock */
		return ep_fail(err, EP_ERUNTIME, "store '%s': no thread to keep its lock with", ep_store_where(st));
	}
	return 0;
}

static void stop_refresh(struct ep_store *st)
{
	struct lock_refresh *r = st->refresh;
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	if (*r->superseded) {
		struct ep_error ignored = { 0 };
		remove_record(st, r->superseded, &ignored);
	}
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->mu);
	free(r);
	st->refresh = NULL;
}

/* 0 while this run holds its lock, or holds none; else the failure that says why it no longer does. */
static int lock_held(struct ep_store *st, struct ep_error *err)
{
	struct lock_refresh *r = st->refresh;
	if (!r)
		return 0;
	pthread_mutex_lock(&r->mu);
	lose(r, time(NULL)); /* the thread may be stuck in a request: the clock decides */
	int rc = r->lost ? ep_fail(err, EP_ERUNTIME,
				   "store '%s': lost its lock (%s); another run may have taken the store meanwhile, "
				   "so this run publishes and removes nothing more: run it again",
				   ep_store_where(st), r->why)
			 : 0;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* ENVPACK_LOCK_REFRESH_SECONDS and ENVPACK_LOCK_STALE_SECONDS, or the defaults (tests use small ones). */
static int lock_timing(struct holders *h, struct ep_error *err)
{
	static const char *const names[] = { "ENVPACK_LOCK_REFRESH_SECONDS", "ENVPACK_LOCK_STALE_SECONDS" };
	long long v[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		const char *s = getenv(names[i]);
		char *end;
		if (!s || !*s)
			continue;
		errno = 0;
		v[i] = strtoll(s, &end, 10);
		if (errno || *end || v[i] < 1 || v[i] > LOCK_STALE_MAX)
			return ep_fail(err, EP_EINPUT, "%s='%s': a number of seconds, at least 1", names[i], s);
	}
	h->stale_s = v[1] ? v[1] : LOCK_STALE_SECONDS;
	/* a stale timeout alone brings the refresh with it, so that it stays well inside */
	h->refresh_s = v[0] ? v[0] : h->stale_s / 6 < 1 ? 1 : h->stale_s / 6 < LOCK_REFRESH_SECONDS ? h->stale_s / 6 : LOCK_REFRESH_SECONDS;
	if (h->stale_s < 4 * h->refresh_s)
		return ep_fail(err, EP_EINPUT,
			       "ENVPACK_LOCK_STALE_SECONDS (%lld) must be at least 4 times ENVPACK_LOCK_REFRESH_SECONDS (%lld): "
			       "a holder has to refresh its record well before others take it as stale",
			       h->stale_s, h->refresh_s);
	return 0;
}

/* One try: 0 locked, 1 held elsewhere (h says by whom), or a failure. */
static int try_lock(struct ep_store *st, struct holders *h, const char *command, struct ep_error *err)
{
	bool own = st->be->ops->lock != NULL;
	int rc = own ? st->be->ops->lock(st->be, h->exclusive, 0, err) : 0;
	if (rc == 1)
		return sweep_locks(st, h, err) ? err->code : 1;
	if (!rc)
		rc = put_record(st, h, command, err);
	if (!rc)
		rc = sweep_locks(st, h, err);
	if (!rc && (own || !h->conflict))
		return 0; /* a kernel lock is the word; records then only name who holds it */
	ep_store_unlock(st);
	return rc ? rc : 1;
}

int ep_store_lock(struct ep_store *st, bool exclusive, const char *command, unsigned wait_s, ep_store_warn_fn warn,
		  void *warn_ctx, struct ep_error *err)
{
	struct holders h = { .st = st, .exclusive = exclusive, .warn = warn, .warn_ctx = warn_ctx };
	gethostname(h.host, sizeof h.host - 1);
	int rc = lock_timing(&h, err);
	if (rc)
		return rc;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned attempt = 0;; attempt++) {
		rc = try_lock(st, &h, command, err);
		if (rc == 0 && (rc = start_refresh(st, &h, command, err)))
			ep_store_unlock(st);
		if (rc != 1)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)wait_s)
			return ep_fail(err, EP_ERUNTIME, "store '%s' is locked%s%s; try again later, or wait with --lock-wait",
				       ep_store_where(st), *h.text ? " by " : "", h.text);
		uint32_t jitter;
		RAND_bytes((unsigned char *)&jitter, sizeof jitter);
		long ms = 200 + (attempt < 8 ? 100L << attempt : 25600) / 4 + (long)(jitter % 200); /* two runs that met part */
		nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
	}
}

void ep_store_unlock(struct ep_store *st)
{
	stop_refresh(st); /* first: it rewrites lock_record */
	struct ep_error ignored = { 0 };
	if (st->locked) {
		remove_record(st, st->lock_record, &ignored);
		st->locked = false;
	}
	if (st->be && st->be->ops->unlock)
		st->be->ops->unlock(st->be);
}

/* ---- chunks ---- */

bool ep_store_has_chunk(const struct ep_store *st, const uint8_t digest[EP_DIGEST_LEN], uint64_t *stored)
{
	struct ep_store *w = (struct ep_store *)st; /* the rwlock, not the index, changes */
	uint64_t at, size = 0;
	uint8_t oid[EP_DIGEST_LEN];
	ep_store_chunk_oid(st, digest, oid);
	pthread_rwlock_rdlock(&w->lock);
	if (ep_digestmap_get(st->index, oid, &at))
		size = st->chunks[at].stored;
	pthread_rwlock_unlock(&w->lock);
	if (stored)
		*stored = size;
	return size != 0;
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
	int rc = lock_held(st, err) ? err->code : st->be->ops->remove(st->be, name, err);
	uint64_t at;
	pthread_rwlock_wrlock(&st->lock);
	if (!rc && ep_digestmap_get(st->index, oid, &at) && st->chunks[at].stored) {
		st->chunks[at].stored = 0;
		st->live--;
	}
	pthread_rwlock_unlock(&st->lock);
	return rc;
}

int ep_store_each_chunk(const struct ep_store *st,
			int (*each)(void *ctx, const uint8_t oid[EP_DIGEST_LEN], uint64_t stored, struct ep_error *err),
			void *ctx, struct ep_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < st->nchunks; i++)
		if (st->chunks[i].stored)
			rc = each(ctx, st->chunks[i].oid, st->chunks[i].stored, err);
	return rc;
}

uint64_t ep_store_chunk_count(const struct ep_store *st)
{
	return st->live;
}

int ep_store_sweep(struct ep_store *st, uint64_t *removed, struct ep_error *err)
{
	return st->be->ops->sweep(st->be, removed, err);
}

/* ---- snapshots ---- */

static bool id_ok(const char *id)
{
	uint8_t raw[EP_DIGEST_LEN];
	return strlen(id) == 64 && ep_unhex(id, raw, sizeof raw);
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
};

static int id_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime;
	struct id_list *l = ctx;
	const char *base = name + strlen("snapshots/");
	if (strlen(base) != 64 + 5 || strcmp(base + 64, ".json"))
		return 0;
	char id[EP_STORE_ID_HEX];
	snprintf(id, sizeof id, "%.64s", base);
	if (!id_ok(id))
		return 0;
	if (!ep_grow((void **)&l->ids, &l->cap, l->n + 1, sizeof *l->ids))
		return ep_oom(err);
	memcpy(l->ids[l->n++], id, EP_STORE_ID_HEX);
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int ep_store_snapshot_ids(struct ep_store *st, char (**ids)[EP_STORE_ID_HEX], size_t *n, struct ep_error *err)
{
	struct id_list l = { 0 };
	int rc = st->be->ops->list(st->be, "snapshots/", id_each, &l, err);
	if (rc) {
		free(l.ids);
		return rc;
	}
	if (l.n)
		qsort(l.ids, l.n, sizeof *l.ids, cmp_id);
	*ids = l.ids;
	*n = l.n;
	return 0;
}

/* An encrypted store's object opened where it lies, NUL-terminated as get's are. */
/* A snapshot's object (its manifest or signature): 0, 1 when absent, or a failure. */
static int get_sealed(struct ep_store *st, const char *name, size_t max, char **data, size_t *len,
		      struct ep_error *err)
{
	int rc = st->be->ops->get(st->be, name, max + (st->seal ? EP_SEAL_OVERHEAD : 0), data, len, err);
	if (rc || !st->seal)
		return rc;
	char where[4200];
	snprintf(where, sizeof where, "store '%s'", ep_store_where(st));
	if ((rc = ep_seal_open_named(st->seal, name, *data, len, where, err))) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* A snapshot's id: the manifest's digest, keyed in an encrypted store as its chunks' are. */
static void snapshot_id(const struct ep_store *st, const char *manifest, size_t len, char id[EP_STORE_ID_HEX])
{
	uint8_t d[EP_DIGEST_LEN], oid[EP_DIGEST_LEN];
	ep_sha256(manifest, len, d);
	ep_store_chunk_oid(st, d, oid);
	ep_hex(oid, sizeof oid, id);
}

int ep_store_get_snapshot(struct ep_store *st, const char *id, struct ep_store_snapshot *out, struct ep_error *err)
{
	*out = (struct ep_store_snapshot){ 0 };
	if (!id_ok(id))
		return ep_fail(err, EP_EINPUT, "store '%s': '%s' is not a snapshot id", ep_store_where(st), id);
	char name[100], got[EP_STORE_ID_HEX];
	snprintf(name, sizeof name, "snapshots/%s.json", id);
	int rc = get_sealed(st, name, EP_BUNDLE_MANIFEST_MAX, &out->manifest, &out->manifest_len, err);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "store '%s' has no snapshot %s", ep_store_where(st), id);
	if (!rc) {
		/* the id is the manifest's digest: a manifest changed in place no longer answers to it */
		snapshot_id(st, out->manifest, out->manifest_len, got);
		if (strcmp(got, id))
			rc = ep_fail(err, EP_EINTEGRITY, "store '%s': snapshot %s does not match its id", ep_store_where(st), id);
	}
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc && (rc = get_sealed(st, name, SIGNATURE_MAX, &out->signature, &out->signature_len, err)) == 1)
		rc = 0; /* unsigned */
	memcpy(out->id, id, EP_STORE_ID_HEX);
	if (rc)
		ep_store_snapshot_release(out);
	return rc;
}

static int put_sealed(struct ep_store *st, const char *name, const char *data, size_t len, bool if_absent,
		      struct ep_error *err)
{
	if (!st->seal)
		return st->be->ops->put(st->be, name, data, len, if_absent, err);
	char *sealed;
	size_t n;
	int rc = ep_seal_wrap_copy(st->seal, name, strlen(name), data, len, &sealed, &n, err);
	if (!rc)
		rc = st->be->ops->put(st->be, name, sealed, n, if_absent, err);
	free(sealed);
	return rc;
}

int ep_store_put_snapshot(struct ep_store *st, const char *manifest, size_t len, const char *sig, size_t siglen,
			  char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	char name[100];
	snapshot_id(st, manifest, len, id);
	int rc = st->be->ops->sync(st->be, err); /* every chunk durable before anything names it */
	if (!rc)
		rc = lock_held(st, err); /* after the wait for the chunks, just before the publication */
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc && sig)
		rc = put_sealed(st, name, sig, siglen, false, err);
	snprintf(name, sizeof name, "snapshots/%s.json", id);
	if (!rc && (rc = put_sealed(st, name, manifest, len, true, err)) == EP_EINPUT) {
		*err = (struct ep_error){ 0 }; /* the same bytes, published before: the same snapshot */
		rc = 0;
	}
	if (!rc)
		rc = st->be->ops->sync(st->be, err);
	return rc;
}

int ep_store_remove_snapshot(struct ep_store *st, const char *id, struct ep_error *err)
{
	if (!id_ok(id))
		return ep_fail(err, EP_EINPUT, "'%s' is not a snapshot id", id);
	char name[100];
	snprintf(name, sizeof name, "snapshots/%s.json", id); /* the manifest first: without it the snapshot is gone */
	int rc = lock_held(st, err) ? err->code : st->be->ops->remove(st->be, name, err);
	snprintf(name, sizeof name, "snapshots/%s.sig", id);
	if (!rc)
		rc = st->be->ops->remove(st->be, name, err);
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
