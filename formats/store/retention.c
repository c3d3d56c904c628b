/*
 * Object Lock (formats/STORE.md, section 10): a store whose objects S3 keeps
 * from removal until a date. The backend retains each object as it is written
 * (store_s3.c); what is here keeps objects written earlier retained for as long
 * as a new snapshot promises: each is looked at (HEAD) or extended at once
 * (PutObjectRetention) when known to be short, many at a time over the
 * backend's pool of connections, and the caller publishes only once every one
 * was answered.
 */
#include "formats/store/store_impl.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fanout.h"

const char *ep_lock_mode_name(enum ep_lock_mode m)
{
	return m == EP_LOCK_COMPLIANCE ? "compliance" : m == EP_LOCK_GOVERNANCE ? "governance" : "none";
}

bool ep_lock_mode_parse(const char *s, enum ep_lock_mode *m)
{
	if (s && !strcmp(s, "governance"))
		*m = EP_LOCK_GOVERNANCE;
	else if (s && !strcmp(s, "compliance"))
		*m = EP_LOCK_COMPLIANCE;
	else
		return false;
	return true;
}

int64_t ep_store_lock_day(void)
{
	const char *s = getenv("ENVPACK_OBJECT_LOCK_DAY_SECONDS"); /* tests: a day of a few seconds */
	char *end;
	long v = s && *s ? strtol(s, &end, 10) : 0;
	return s && *s && !*end && v >= 1 && v <= 86400 ? (int64_t)v : 86400;
}

int64_t ep_store_lock_slack(const struct ep_store_object_lock *p)
{
	int64_t day = ep_store_lock_day(), quarter = (int64_t)p->days * day / 4;
	return quarter > day ? quarter : day;
}

int64_t ep_store_lock_target(const struct ep_store_object_lock *p, int64_t now)
{
	return now + (int64_t)p->days * ep_store_lock_day() + ep_store_lock_slack(p);
}

int ep_store_get_retention(struct ep_store *st, const char *name, struct ep_store_retention *r, struct ep_error *err)
{
	if (!ep_store_object_lock(st))
		return ep_fail(err, EP_EINPUT, "store '%s' has no Object Lock", ep_store_where(st));
	return st->be->lock->get(st->be, name, r, err);
}

int ep_store_retained(struct ep_store *st, const char *name, int64_t now, bool *retained, struct ep_prune_stats *stats,
		      struct ep_error *err)
{
	struct ep_store_retention r = { 0 };
	int rc = ep_store_object_lock(st) ? st->be->lock->get(st->be, name, &r, err) : 0;
	if (rc == 1)
		rc = 0; /* gone already */
	*retained = !rc && r.until > now;
	if (*retained && r.until > stats->locked_until)
		stats->locked_until = r.until;
	return rc;
}

/* Whether r keeps an object until floor, in a mode at least the policy's. */
static bool long_enough(const struct ep_store *st, const struct ep_store_retention *r, int64_t floor)
{
	return r->until >= floor && (st->object_lock.mode != EP_LOCK_COMPLIANCE || r->mode == EP_LOCK_COMPLIANCE);
}

/* ---- many objects at once ---- */

struct batch {
	struct ep_store *st;
	size_t n;
	const struct ep_store_keep_item *items; /* keep_until */
	int64_t floor, target;
	const char (*names)[100]; /* retentions */
	struct ep_store_retention *out;
	pthread_mutex_t lock; /* over stats */
	struct ep_store_keep_stats stats;
};

/* One object kept until the floor: extended at once when known short, else only when HEAD says so.
 * A refusal (a longer retention there already, say) is judged by what HEAD says after it. */
static int keep_one(struct batch *b, const struct ep_store_keep_item *it, struct ep_error *err)
{
	struct ep_store_backend *be = b->st->be;
	struct ep_store_retention r;
	int rc = 0;
	unsigned checked = 0, extended = 0;
	int64_t kept = INT64_MAX; /* the retention of an object left as it was */
	if (!it->known_short) {
		rc = be->lock->get(be, it->name, &r, err);
		checked++;
		if (rc == 1)
			rc = ep_fail(err, EP_EINTEGRITY, "store '%s': %s is missing", ep_store_where(b->st), it->name);
		if (!rc && long_enough(b->st, &r, b->floor)) {
			kept = r.until;
			goto done;
		}
	}
	if (!rc && (rc = be->lock->extend(be, it->name, b->target, err)) == 0)
		extended++;
	if (rc == 1) {
		struct ep_error refusal = *err;
		checked++;
		rc = be->lock->get(be, it->name, &r, err);
		if (!rc && !long_enough(b->st, &r, b->floor))
			*err = refusal, rc = EP_ERUNTIME;
		else if (!rc)
			kept = r.until;
		else if (rc == 1)
			rc = ep_fail(err, EP_EINTEGRITY, "store '%s': %s is missing", ep_store_where(b->st), it->name);
	}
done:
	pthread_mutex_lock(&b->lock);
	b->stats.checked += checked;
	b->stats.extended += extended;
	if (kept < b->stats.least)
		b->stats.least = kept;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int look_one(struct batch *b, size_t i, struct ep_error *err)
{
	int rc = b->st->be->lock->get(b->st->be, b->names[i], &b->out[i], err);
	if (rc == 1) {
		b->out[i] = (struct ep_store_retention){ 0 };
		rc = 0;
	}
	return rc;
}

static int batch_one(void *ctx, size_t i, struct ep_error *err)
{
	struct batch *b = ctx;
	return b->items ? keep_one(b, &b->items[i], err) : look_one(b, i, err);
}

/* Runs the batch EP_STORE_AT_ONCE requests at a time; every request sent is answered before
 * it returns. */
static int run(struct batch *b, struct ep_error *err)
{
	pthread_mutex_init(&b->lock, NULL);
	int rc = ep_fanout(b->n, EP_STORE_AT_ONCE, batch_one, b, err);
	pthread_mutex_destroy(&b->lock);
	return rc;
}

int ep_store_keep_until(struct ep_store *st, const struct ep_store_keep_item *items, size_t n, int64_t floor,
			struct ep_store_keep_stats *stats, struct ep_error *err)
{
	*stats = (struct ep_store_keep_stats){ .objects = n, .least = INT64_MAX };
	if (!ep_store_object_lock(st) || !n)
		return 0;
	struct batch b = { .st = st, .n = n, .items = items, .floor = floor,
			   .target = ep_store_lock_target(&st->object_lock, time(NULL)), .stats = *stats };
	int rc = run(&b, err);
	*stats = b.stats;
	return rc;
}

int ep_store_retentions(struct ep_store *st, const char (*names)[100], size_t n, struct ep_store_retention *out,
			struct ep_error *err)
{
	if (!ep_store_object_lock(st))
		return ep_fail(err, EP_EINPUT, "store '%s' has no Object Lock", ep_store_where(st));
	struct batch b = { .st = st, .n = n, .names = names, .out = out };
	return run(&b, err);
}
