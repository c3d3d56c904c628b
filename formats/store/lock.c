/* The store's lock protocol (formats/STORE.md, section 5). */
#include "formats/store/store_impl.h"

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

#define LOCK_MAX ((size_t)4 << 10)

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
 * took the store: ep_store_lock_held() then fails, so nothing is published or removed. */

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
		if (rc == 0 && ((rc = start_refresh(st, &h, command, err)) || (rc = ep_store_load_index(st, err))))
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
