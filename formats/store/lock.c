/* The store's lock protocol (formats/STORE.md, section 5). */
#include "formats/store/lock_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#define LOCK_MAX ((size_t)4 << 10)

/* ---- locks ----
 * Lock records are only ever added, never removed by those who lock, so that a
 * credential that may not delete (an append-only one) can take the lock. Each lock
 * taken is a holder, with a random id: its records are locks/<host>-<pid>-<holder>-<n>.json,
 * n counting them. A refresh writes record n + 1 and leaves n; the release writes
 * <...>-<n>-released.json. Readers judge a holder by its newest record (the highest n,
 * a release first among equals): a released one is passed over without being read.
 * Old records are removed by prune alone (ep_store_prune_locks, lock_prune.c).
 *
 * A run lists locks/ before it writes: a live holder that conflicts (either side
 * exclusive) makes it wait without writing anything. Else it writes its record and
 * lists again; a conflict then makes it release and retry, so of two runs that start
 * together at least one sees the other. A backend with a lock of its own (flock on
 * dir:) is asked first; records then only name the holders.
 *
 * While the store is locked a thread writes a new record every refresh_s seconds, so
 * a holder whose newest record has not been refreshed for its "stale" seconds is gone
 * (or stopped), whatever host it ran on: the next run writes its release for it, with
 * a warning, once. Where the records are the lock (S3), a holder that could not refresh
 * in time, or whose newest record someone removed or released, must assume another run
 * took the store: ep_store_lock_held() then fails, so nothing is published or removed. */

#define LOCK_REFRESH_SECONDS 300  /* how often a held lock's record is rewritten */
#define LOCK_STALE_SECONDS 1800   /* a record not rewritten for this long is stale */
#define LOCK_STALE_LEGACY (24 * 3600) /* records without "stale" come from runs that never refreshed */
#define LOCK_STALE_MAX ((json_int_t)10 * 366 * 24 * 3600) /* no holder waits longer; keeps sums in range */
#define HOLDER_BYTES 8
#define HOLDER_HEX (2 * HOLDER_BYTES)

/* Our hold on the store, from our first record to our release. */
struct lock_refresh {
	pthread_t thread;
	bool running; /* the thread was started */
	pthread_mutex_t mu; /* guards what follows and st->lock_record */
	pthread_cond_t wake;
	bool stop, lost;
	bool records_lock; /* the records are the lock (no backend lock): losing ours loses the lock */
	long long refresh_s, stale_s;
	time_t since, last; /* when the lock was taken; the "time" of our newest record */
	char host[256], command[32];
	char holder[HOLDER_HEX + 1];
	char key[128]; /* "<host>-<pid>-<holder>": every record of ours starts with it */
	uint64_t n;    /* our newest record's number */
	bool exclusive;
	char why[700]; /* why the lock was lost, or the last refresh's failure */
};

struct holders {
	struct ep_store *st;
	bool exclusive; /* what we want */
	bool conflict;  /* a live record that conflicts with it */
	long long refresh_s, stale_s;
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

/* ---- names ---- */

/* Our keys are at most 102 bytes: every name of ours fits in LOCK_NAME_MAX. */
static void record_name(const char *key, uint64_t n, bool released, char *name, size_t cap)
{
	if ((size_t)snprintf(name, cap, "%s-%06" PRIu64 "%s.json", key, n, released ? "-released" : "") >= cap)
		name[0] = '\0'; /* no such name: its put fails */
}

/* "<host>-<pid>-<holder>-<n>[-released].json" into its parts; false for any other name. */
static bool parse_name(const char *name, size_t *key_len, uint64_t *n, bool *released)
{
	size_t end = strlen(name), digits = 0;
	if (end < 5 || strcmp(name + end - 5, ".json"))
		return false;
	end -= 5;
	*released = end >= 9 && !strncmp(name + end - 9, "-released", 9);
	if (*released)
		end -= 9;
	while (digits < end && digits < 20 && name[end - digits - 1] >= '0' && name[end - digits - 1] <= '9')
		digits++;
	if (!digits || digits == 20 || end < digits + HOLDER_HEX + 3)
		return false; /* 20 digits could overflow: no name of ours */
	size_t dash = end - digits - 1;
	if (name[dash] != '-' || name[dash - HOLDER_HEX - 1] != '-' ||
	    strspn(name + dash - HOLDER_HEX, "0123456789abcdef") < HOLDER_HEX)
		return false;
	*n = strtoull(name + dash + 1, NULL, 10);
	*key_len = dash;
	return true;
}

static int name_each(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err)
{
	(void)size, (void)mtime;
	struct lock_names *l = ctx;
	const char *base = name + strlen("locks/");
	if (*base == '.' || strchr(base, '/') || strlen(base) >= LOCK_NAME_MAX)
		return 0; /* no record: nothing writes such a name */
	if (!ep_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
		return ep_oom(err);
	struct lock_name *r = &l->v[l->n++];
	snprintf(r->name, sizeof r->name, "%s", base);
	r->has_holder = parse_name(base, &r->key_len, &r->n, &r->released);
	if (!r->has_holder) {
		r->key_len = strlen(base);
		r->n = 0;
		r->released = false;
	}
	return 0;
}

/* By holder, then oldest first, a release after the record it releases. */
static int name_cmp(const void *a, const void *b)
{
	const struct lock_name *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->key_len < y->key_len ? x->key_len : y->key_len);
	if (c || x->key_len != y->key_len)
		return c ? c : x->key_len < y->key_len ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return (int)x->released - (int)y->released;
}

int ep_lock_list_names(struct ep_store *st, struct lock_names *l, struct ep_error *err)
{
	*l = (struct lock_names){ 0 };
	int rc = st->be->ops->list(st->be, "locks/", name_each, l, err);
	if (!rc && l->n)
		qsort(l->v, l->n, sizeof *l->v, name_cmp);
	return rc;
}

size_t ep_lock_holder_end(const struct lock_names *l, size_t i)
{
	size_t j = i + 1;
	while (j < l->n && l->v[j].key_len == l->v[i].key_len && !memcmp(l->v[j].name, l->v[i].name, l->v[i].key_len))
		j++;
	return j;
}

bool ep_lock_is_ours(const struct ep_store *st, const struct lock_name *r)
{
	const struct lock_refresh *me = st->refresh; /* its key is fixed while it lives */
	return me && r->has_holder && r->key_len == strlen(me->key) && !memcmp(r->name, me->key, r->key_len);
}

/* ---- records ---- */

int ep_lock_read_record(struct ep_store *st, const char *name, json_t **o, struct ep_error *err)
{
	char key[220], *data = NULL;
	size_t len = 0;
	struct ep_error why = { 0 };
	snprintf(key, sizeof key, "locks/%s", name);
	*o = NULL;
	int rc = st->be->ops->get(st->be, key, LOCK_MAX, &data, &len, &why);
	if (rc == EP_ERUNTIME)
		*err = why;
	if (!rc)
		*o = json_loadb(data, len, 0, NULL);
	free(data);
	return rc == EP_ERUNTIME || rc == 1 ? rc : 0;
}

enum lock_state ep_lock_record_state(json_t *o, const char *this_host)
{
	const char *host = json_string_value(json_object_get(o, "host"));
	json_int_t pid = json_integer_value(json_object_get(o, "pid")), t = json_integer_value(json_object_get(o, "time"));
	json_int_t stale_s = json_integer_value(json_object_get(o, "stale"));
	if (stale_s <= 0)
		stale_s = LOCK_STALE_LEGACY;
	if (stale_s > LOCK_STALE_MAX)
		stale_s = LOCK_STALE_MAX;
	if (host && !strcmp(host, this_host) && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return LOCK_DEAD;
	return t < (json_int_t)time(NULL) - stale_s ? LOCK_STALE : LOCK_LIVE; /* t + stale_s could overflow */
}

/* Record n (or its release) of our holder, never over another. */
static int write_record(struct ep_store *st, const struct lock_refresh *r, uint64_t n, bool released, time_t now,
			char *name, size_t cap, struct ep_error *err)
{
	char key[LOCK_NAME_MAX + 8];
	record_name(r->key, n, released, name, cap);
	/* a release says "stale" 1 too: an older envpack, which knows no release, takes it as gone */
	json_t *o = json_pack("{s:s,s:I,s:s,s:b,s:I,s:I,s:I,s:s}", "host", r->host, "pid", (json_int_t)getpid(), "command",
			      r->command, "exclusive", r->exclusive, "time", (json_int_t)now, "since",
			      (json_int_t)r->since, "stale", (json_int_t)(released ? 1 : r->stale_s), "holder", r->holder);
	if (o && released)
		json_object_set_new(o, "released", json_true());
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	snprintf(key, sizeof key, "locks/%s", name);
	int rc = s ? st->be->ops->put(st->be, key, s, strlen(s), true, err) : ep_oom(err);
	free(s);
	return rc;
}

/* The release of a gone holder, written for it (its record o, marked), so that the runs
 * after this one pass over it in silence. 0, or a failure (then they judge it again). */
static int release_for(struct holders *h, const struct lock_name *newest, json_t *o)
{
	char name[LOCK_NAME_MAX + 16], key[LOCK_NAME_MAX + 24];
	snprintf(name, sizeof name, "%.*s", (int)newest->key_len, newest->name);
	record_name(name, newest->n, true, key + 6, sizeof key - 6);
	memcpy(key, "locks/", 6);
	json_t *m = json_is_object(o) ? json_deep_copy(o) : json_object();
	json_object_set_new(m, "released", json_true());
	json_object_set_new(m, "stale", json_integer(1));
	json_object_set_new(m, "released_by", json_pack("{s:s,s:I,s:I}", "host", h->host, "pid", (json_int_t)getpid(),
							 "time", (json_int_t)time(NULL)));
	char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	struct ep_error err = { 0 };
	int rc = s ? h->st->be->ops->put(h->st->be, key, s, strlen(s), true, &err) : EP_ERUNTIME;
	free(s);
	return rc == EP_EINPUT ? 0 : rc; /* there already: another run released it first */
}

/* A holder not released, judged by its newest record: gone, it is released with a
 * warning; live, it counts against us when either side is exclusive. */
static int judge_holder(struct holders *h, const struct lock_name *newest, struct ep_error *err)
{
	json_t *o = NULL;
	int rc = ep_lock_read_record(h->st, newest->name, &o, err);
	if (rc)
		return rc == 1 ? 0 : rc; /* gone: removed since the listing (by prune), no holder */
	const char *host = json_string_value(json_object_get(o, "host"));
	const char *cmd = json_string_value(json_object_get(o, "command"));
	json_int_t pid = json_integer_value(json_object_get(o, "pid")), t = json_integer_value(json_object_get(o, "time"));
	json_int_t since = json_is_integer(json_object_get(o, "since")) ? json_integer_value(json_object_get(o, "since")) : t;
	enum lock_state state = ep_lock_record_state(o, h->host);
	char msg[900], when[32];
	if (state != LOCK_LIVE) {
		/* its holder is gone, or stopped past its promise and will not act on the store again */
		const char *done = newest->has_holder && !release_for(h, newest, o) ? "released" : "passed over";
		utc_text(t, when, sizeof when);
		if (state == LOCK_DEAD)
			snprintf(msg, sizeof msg, "store '%s': %s a stale lock of %s (pid %lld, no longer running)",
				 ep_store_where(h->st), done, cmd ? cmd : "?", (long long)pid);
		else
			snprintf(msg, sizeof msg, "store '%s': %s a stale lock of %s (pid %lld on %s, not refreshed since %s)",
				 ep_store_where(h->st), done, cmd ? cmd : "?", (long long)pid, host ? host : "?", when);
		if (h->warn)
			h->warn(h->warn_ctx, msg);
	} else {
		h->conflict |= json_is_true(json_object_get(o, "exclusive")) || h->exclusive;
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
	struct lock_names l;
	h->conflict = false;
	h->text[0] = '\0';
	int rc = ep_lock_list_names(st, &l, err);
	for (size_t i = 0, end; !rc && i < l.n; i = end) {
		end = ep_lock_holder_end(&l, i);
		if (!l.v[end - 1].released && !ep_lock_is_ours(st, &l.v[i]))
			rc = judge_holder(h, &l.v[end - 1], err);
	}
	free(l.v);
	return rc;
}

/* ---- holding the lock ---- */

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

/* Where the records are the lock: 0 while our newest record stands, 1 when another run
 * removed or released it (why says which), or a failure to read. */
static int still_ours(struct ep_store *st, const struct lock_refresh *r, uint64_t n, char *why, size_t cap,
		      struct ep_error *err)
{
	char name[LOCK_NAME_MAX], key[LOCK_NAME_MAX + 8], *data = NULL;
	size_t len;
	for (int released = 0; released < 2; released++) {
		record_name(r->key, n, released, name, sizeof name);
		snprintf(key, sizeof key, "locks/%s", name);
		int rc = st->be->ops->get(st->be, key, LOCK_MAX, &data, &len, err);
		free(data);
		data = NULL;
		if (rc < 0)
			return rc;
		if (rc == !released) { /* the record gone, or its release there */
			snprintf(why, cap, released ? "another run took its record %s as stale and released it"
						    : "its record %s was removed, as stale or by hand",
				 name);
			return 1;
		}
	}
	return 0;
}

static void refresh_once(struct ep_store *st, struct lock_refresh *r)
{
	struct ep_error err = { 0 };
	char fresh[sizeof st->lock_record], why[sizeof r->why];
	time_t now = time(NULL);
	pthread_mutex_lock(&r->mu);
	lose(r, now);
	bool lost = r->lost;
	uint64_t n = r->n;
	pthread_mutex_unlock(&r->mu);
	if (lost)
		return;
	/* only the records lock S3: ours gone or released, another run may have taken the store */
	int rc = r->records_lock ? still_ours(st, r, n, why, sizeof why, &err) : 0;
	if (rc == 1) {
		pthread_mutex_lock(&r->mu);
		snprintf(r->why, sizeof r->why, "%s", why);
		r->lost = true;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	/* the old record stays: the newest is the one that counts, and prune removes the rest */
	if (!rc)
		rc = write_record(st, r, n + 1, false, now, fresh, sizeof fresh, &err);
	pthread_mutex_lock(&r->mu);
	if (rc) {
		snprintf(r->why, sizeof r->why, "%.600s", err.msg); /* tried again at the next tick */
	} else {
		snprintf(st->lock_record, sizeof st->lock_record, "%s", fresh);
		r->n = n + 1;
		r->last = now;
		r->why[0] = '\0';
	}
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

static void free_hold(struct lock_refresh *r)
{
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Our first record, under a new holder id: the store is ours once no conflict is seen after it. */
static int put_record(struct ep_store *st, const struct holders *h, const char *command, struct ep_error *err)
{
	struct lock_refresh *r = calloc(1, sizeof *r);
	uint8_t raw[HOLDER_BYTES];
	if (!r)
		return ep_oom(err);
	if (RAND_bytes(raw, sizeof raw) != 1) {
		free(r);
		return ep_fail(err, EP_ERUNTIME, "store: no randomness for a lock record's name");
	}
	ep_hex(raw, sizeof raw, r->holder);
	snprintf(r->key, sizeof r->key, "%.64s-%ld-%s", h->host, (long)getpid(), r->holder);
	for (char *p = r->key; *p; p++)
		if (*p == '/')
			*p = '_';
	r->records_lock = st->be->ops->lock == NULL;
	r->refresh_s = h->refresh_s;
	r->stale_s = h->stale_s;
	r->since = r->last = time(NULL);
	r->exclusive = h->exclusive;
	snprintf(r->host, sizeof r->host, "%s", h->host);
	snprintf(r->command, sizeof r->command, "%s", command);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	int rc = write_record(st, r, 0, false, r->since, st->lock_record, sizeof st->lock_record, err);
	if (rc) {
		free_hold(r);
		return rc;
	}
	st->refresh = r;
	st->locked = true;
	return 0;
}

static int start_refresh(struct ep_store *st, struct ep_error *err)
{
	struct lock_refresh *r = st->refresh;
	if (pthread_create(&r->thread, NULL, refresher, st) != 0)
		/* unrefreshed, the record would look stale to others within stale_s: no lock */
		return ep_fail(err, EP_ERUNTIME, "store '%s': no thread to keep its lock with", ep_store_where(st));
	r->running = true;
	return 0;
}

static void stop_refresh(struct lock_refresh *r)
{
	if (!r || !r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	r->running = false;
}

/* 0 while this run holds its lock; else the failure that says why it does not (or no longer does). */
int ep_store_lock_held(struct ep_store *st, struct ep_error *err)
{
	struct lock_refresh *r = st->refresh;
	if (!st->locked)
		return ep_fail(err, EP_ERUNTIME, "store '%s': nothing is published or removed without the store's lock",
			       ep_store_where(st));
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

/* The exclusive lock is for removing (forget, prune): with a credential that may not delete
 * (an append-only one) they fail before anything is written, a lock record included. A dry
 * run removes nothing: it is only told, once, through warn. */
static int check_may_remove(struct ep_store *st, const char *command, bool dry_run, const struct holders *h,
			    struct ep_error *err)
{
	struct ep_error why = { 0 };
	char msg[900];
	int rc = st->be->ops->may_remove ? st->be->ops->may_remove(st->be, &why) : 0;
	if (rc == 1 && dry_run) {
		snprintf(msg, sizeof msg,
			 "store '%s': this credential cannot delete objects (%.400s): %s without --dry-run would fail "
			 "with it; run that with a credential that can",
			 ep_store_where(st), why.msg, command);
		if (h->warn)
			h->warn(h->warn_ctx, msg);
		return 0;
	}
	if (rc == 1)
		return ep_fail(err, EP_ERUNTIME,
			       "store '%s': this credential cannot delete objects (%.400s), and %s removes them: run it with "
			       "a credential that can; an append-only one serves backup, restore, check and the other "
			       "commands, not forget or prune. Nothing was changed",
			       ep_store_where(st), why.msg, command);
	if (rc)
		*err = why;
	return rc;
}

/* One try: 0 locked, 1 held elsewhere (h says by whom), or a failure. */
static int try_lock(struct ep_store *st, struct holders *h, const char *command, struct ep_error *err)
{
	bool own = st->be->ops->lock != NULL;
	int rc = own ? st->be->ops->lock(st->be, h->exclusive, 0, err) : sweep_locks(st, h, err);
	if (own && rc == 1)
		return sweep_locks(st, h, err) ? err->code : 1;
	if (!own && !rc && h->conflict)
		return 1; /* seen before writing: nothing of ours to release */
	if (!rc)
		rc = put_record(st, h, command, err);
	if (!rc)
		rc = sweep_locks(st, h, err);
	if (!rc && (own || !h->conflict))
		return 0; /* a kernel lock is the word; records then only name who holds it */
	ep_store_unlock(st);
	return rc ? rc : 1;
}

static int lock_store(struct ep_store *st, bool exclusive, bool dry_run, const char *command, unsigned wait_s,
		      ep_store_warn_fn warn, void *warn_ctx, struct ep_error *err)
{
	struct holders h = { .st = st, .exclusive = exclusive, .warn = warn, .warn_ctx = warn_ctx };
	gethostname(h.host, sizeof h.host - 1);
	int rc = lock_timing(&h, err);
	if (!rc && exclusive)
		rc = check_may_remove(st, command, dry_run, &h, err);
	if (rc)
		return rc;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned attempt = 0;; attempt++) {
		rc = try_lock(st, &h, command, err);
		if (rc == 0 && ((rc = start_refresh(st, err)) || (rc = ep_store_load_index(st, err))))
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

int ep_store_lock(struct ep_store *st, bool exclusive, const char *command, unsigned wait_s, ep_store_warn_fn warn,
		  void *warn_ctx, struct ep_error *err)
{
	return lock_store(st, exclusive, false, command, wait_s, warn, warn_ctx, err);
}

int ep_store_lock_dry_run(struct ep_store *st, const char *command, unsigned wait_s, ep_store_warn_fn warn,
			  void *warn_ctx, struct ep_error *err)
{
	return lock_store(st, true, true, command, wait_s, warn, warn_ctx, err);
}

void ep_store_unlock(struct ep_store *st)
{
	struct lock_refresh *r = st->refresh;
	stop_refresh(r); /* first: it writes our records */
	if (st->locked && r) {
		/* released, not removed: a credential that may not delete can let go of the store */
		char name[LOCK_NAME_MAX];
		struct ep_error ignored = { 0 };
		write_record(st, r, r->n, true, time(NULL), name, sizeof name, &ignored);
	}
	if (r)
		free_hold(r);
	st->refresh = NULL;
	st->locked = false;
	if (st->be && st->be->ops->unlock)
		st->be->ops->unlock(st->be);
}
