/* The lock where the records are the lock (S3's case: a backend without a lock of its
 * own), over a store in memory shared by several stores at once, as several runs share a
 * bucket: runs racing for the lock still exclude each other although nothing is ever
 * removed; a conflict seen before writing writes nothing; a holder whose newest record is
 * removed or released by another run has lost the lock; a stale holder is released once;
 * and the exclusive lock fails, writing nothing, when the backend refuses deletes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/digestmap.h"
#include "formats/store/store_impl.h"
#include "tests/unit/unit.h"

#define OBJECTS_MAX 4096

struct mem {
	pthread_mutex_t mu;
	char *names[OBJECTS_MAX];
	char *data[OBJECTS_MAX];
	size_t len[OBJECTS_MAX];
	int n;
	int puts, removes;
	bool deny_remove; /* as an append-only credential */
};

struct mem_handle {
	struct ep_store_backend base;
	struct mem *m;
};

static struct mem *of(struct ep_store_backend *be)
{
	return ((struct mem_handle *)be)->m;
}

static int find(struct mem *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->names[i], name))
			return i;
	return -1;
}

static int mem_get(struct ep_store_backend *be, const char *name, size_t max, char **data, size_t *len,
		   struct ep_error *err)
{
	struct mem *m = of(be);
	pthread_mutex_lock(&m->mu);
	int i = find(m, name), rc = 1;
	if (i >= 0 && m->len[i] > max)
		rc = ep_fail(err, EP_EINTEGRITY, "%s: too large", name);
	else if (i >= 0) {
		*data = malloc(m->len[i] + 1);
		memcpy(*data, m->data[i], m->len[i]);
		(*data)[m->len[i]] = '\0';
		*len = m->len[i];
		rc = 0;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_read(struct ep_store_backend *be, const char *name, void *buf, size_t len, struct ep_error *err)
{
	char *data = NULL;
	size_t got = 0;
	int rc = mem_get(be, name, len, &data, &got, err);
	if (rc == 1 || (!rc && got != len))
		rc = ep_fail(err, EP_EINTEGRITY, "%s: missing or short", name);
	if (!rc)
		memcpy(buf, data, len);
	free(data);
	return rc;
}

static int mem_stat(struct ep_store_backend *be, const char *name, uint64_t *size, struct ep_error *err)
{
	(void)err;
	struct mem *m = of(be);
	pthread_mutex_lock(&m->mu);
	int i = find(m, name);
	if (i >= 0)
		*size = m->len[i];
	pthread_mutex_unlock(&m->mu);
	return i >= 0 ? 0 : 1;
}

static int mem_put(struct ep_store_backend *be, const char *name, const void *data, size_t len, bool if_absent,
		   struct ep_error *err)
{
	struct mem *m = of(be);
	pthread_mutex_lock(&m->mu);
	int i = find(m, name), rc = 0;
	if (i >= 0 && if_absent)
		rc = ep_fail(err, EP_EINPUT, "%s exists", name);
	else if (i < 0 && m->n == OBJECTS_MAX)
		rc = ep_fail(err, EP_ERUNTIME, "full");
	else {
		if (i < 0) {
			i = m->n++;
			m->names[i] = strdup(name);
		} else
			free(m->data[i]);
		m->data[i] = malloc(len ? len : 1);
		memcpy(m->data[i], data, len);
		m->len[i] = len;
		m->puts++;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static void drop(struct mem *m, int i)
{
	free(m->names[i]);
	free(m->data[i]);
	m->n--;
	m->names[i] = m->names[m->n];
	m->data[i] = m->data[m->n];
	m->len[i] = m->len[m->n];
}

static int mem_remove(struct ep_store_backend *be, const char *name, struct ep_error *err)
{
	struct mem *m = of(be);
	pthread_mutex_lock(&m->mu);
	int rc = m->deny_remove ? ep_fail(err, EP_ERUNTIME, "DELETE %s: 403 AccessDenied", name) : 0;
	int i = find(m, name);
	if (!rc && i >= 0)
		drop(m, i);
	m->removes++;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_list(struct ep_store_backend *be, const char *prefix,
		    int (*each)(void *ctx, const char *name, uint64_t size, int64_t mtime, struct ep_error *err),
		    void *ctx, struct ep_error *err)
{
	struct mem *m = of(be);
	char *names[OBJECTS_MAX];
	size_t lens[OBJECTS_MAX];
	int n = 0, rc = 0;
	pthread_mutex_lock(&m->mu); /* a listing is of one moment, as S3's is (strongly consistent) */
	for (int i = 0; i < m->n; i++)
		if (!strncmp(m->names[i], prefix, strlen(prefix))) {
			lens[n] = m->len[i];
			names[n++] = strdup(m->names[i]);
		}
	pthread_mutex_unlock(&m->mu);
	for (int i = 0; i < n; i++) {
		if (!rc)
			rc = each(ctx, names[i], lens[i], 0, err);
		free(names[i]);
	}
	return rc;
}

static int mem_sweep(struct ep_store_backend *be, uint64_t *removed, struct ep_error *err)
{
	(void)be, (void)err;
	*removed = 0;
	return 0;
}

static int mem_sync(struct ep_store_backend *be, struct ep_error *err)
{
	(void)be, (void)err;
	return 0;
}

static void mem_close(struct ep_store_backend *be)
{
	free(be);
}

static const char *mem_where(const struct ep_store_backend *be)
{
	(void)be;
	return "mem:";
}

static int mem_may_remove(struct ep_store_backend *be, struct ep_error *err)
{
	return of(be)->deny_remove ? (ep_fail(err, EP_ERUNTIME, "DELETE mem:/probe: 403 AccessDenied"), 1) : 0;
}

static const struct ep_store_backend_ops mem_ops = { mem_get,  mem_read, mem_put, mem_remove, mem_list,      mem_sweep,
						     mem_sync, NULL,     NULL,    mem_close,  mem_where,     mem_may_remove,
						     mem_stat, NULL };

/* A store over m, as ep_store_open makes one, with no backend lock: the records are the lock. */
static struct ep_store *mem_store(struct mem *m)
{
	struct ep_store *st = calloc(1, sizeof *st);
	struct mem_handle *h = calloc(1, sizeof *h);
	h->base.ops = &mem_ops;
	h->m = m;
	st->be = &h->base;
	pthread_rwlock_init(&st->lock, NULL);
	st->index = ep_digestmap_new();
	return st;
}

static void mem_init(struct mem *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
}

static void mem_release(struct mem *m)
{
	while (m->n)
		drop(m, 0);
	pthread_mutex_destroy(&m->mu);
}

/* How many objects' names start with prefix; the last of them into last. */
static int count(struct mem *m, const char *prefix, char *last, size_t cap)
{
	int n = 0;
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->n; i++)
		if (!strncmp(m->names[i], prefix, strlen(prefix))) {
			n++;
			if (last)
				snprintf(last, cap, "%s", m->names[i]);
		}
	pthread_mutex_unlock(&m->mu);
	return n;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

struct race {
	struct mem *m;
	pthread_mutex_t mu;
	int inside_shared, inside_exclusive, violations, failures, rounds;
};

struct racer {
	struct race *r;
	bool exclusive;
	pthread_t thread;
};

static void *run_racer(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	struct ep_store *st = mem_store(r->m);
	for (int i = 0; i < r->rounds; i++) {
		struct ep_error err = { 0 };
		if (ep_store_lock(st, me->exclusive, me->exclusive ? "prune" : "backup", 120, NULL, NULL, &err)) {
			pthread_mutex_lock(&r->mu);
			r->failures++;
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		pthread_mutex_lock(&r->mu);
		me->exclusive ? r->inside_exclusive++ : r->inside_shared++;
		r->violations += r->inside_exclusive > 1 || (r->inside_exclusive && r->inside_shared);
		pthread_mutex_unlock(&r->mu);
		sleep_ms(20);
		pthread_mutex_lock(&r->mu);
		me->exclusive ? r->inside_exclusive-- : r->inside_shared--;
		pthread_mutex_unlock(&r->mu);
		ep_store_unlock(st);
	}
	ep_store_close(st);
	return NULL;
}

TEST(store_records_exclude_racing_runs)
{
	struct mem m;
	mem_init(&m);
	struct race r = { .m = &m, .rounds = 4 };
	pthread_mutex_init(&r.mu, NULL);
	struct racer racers[5];
	for (int i = 0; i < 5; i++) {
		racers[i] = (struct racer){ .r = &r, .exclusive = i < 2 };
		EXPECT(pthread_create(&racers[i].thread, NULL, run_racer, &racers[i]) == 0);
	}
	for (int i = 0; i < 5; i++)
		pthread_join(racers[i].thread, NULL);
	EXPECT(r.violations == 0);
	EXPECT(r.failures == 0);
	EXPECT(m.removes == 0); /* taking, holding and releasing the lock removed nothing */
	int before = count(&m, "locks/", NULL, 0);
	EXPECT(before >= 2 * 5 * 4); /* each lock taken: its record and its release */
	/* every holder released: prune (exclusive) removes all of it but its own record */
	struct ep_store *st = mem_store(&m);
	struct ep_error err = { 0 };
	uint64_t removed = 0;
	EXPECT(ep_store_lock(st, true, "prune", 0, NULL, NULL, &err) == 0);
	EXPECT(ep_store_prune_locks(st, &removed, &err) == 0);
	EXPECT((int)removed == before && count(&m, "locks/", NULL, 0) == 1);
	ep_store_close(st);
	EXPECT(count(&m, "locks/", NULL, 0) == 2); /* and its release */
	pthread_mutex_destroy(&r.mu);
	mem_release(&m);
}

TEST(store_records_conflict_seen_first_writes_nothing)
{
	struct mem m;
	mem_init(&m);
	struct ep_store *a = mem_store(&m), *b = mem_store(&m);
	struct ep_error err = { 0 };
	EXPECT(ep_store_lock(a, true, "prune", 0, NULL, NULL, &err) == 0);
	int puts = m.puts;
	EXPECT(ep_store_lock(b, false, "backup", 1, NULL, NULL, &err) == EP_ERUNTIME);
	EXPECT(strstr(err.msg, "is locked by prune (pid ") != NULL);
	EXPECT(m.puts == puts); /* it saw the holder before writing, every try */
	ep_store_unlock(a);
	EXPECT(ep_store_lock(b, false, "backup", 0, NULL, NULL, &err) == 0); /* released: passed over */
	EXPECT(m.removes == 0);
	ep_store_close(a);
	ep_store_close(b);
	mem_release(&m);
}

/* Our newest record's name, after the holder has written n of them. */
static void newest_of(struct mem *m, const char *holder_prefix, char *name, size_t cap)
{
	EXPECT(count(m, holder_prefix, name, cap) >= 1);
}

TEST(store_records_lost_when_removed_or_released)
{
	setenv("ENVPACK_LOCK_REFRESH_SECONDS", "1", 1);
	setenv("ENVPACK_LOCK_STALE_SECONDS", "8", 1);
	for (int released = 0; released < 2; released++) {
		struct mem m;
		mem_init(&m);
		struct ep_store *st = mem_store(&m);
		struct ep_error err = { 0 };
		char name[256];
		EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
		newest_of(&m, "locks/", name, sizeof name);
		EXPECT(count(&m, "locks/", NULL, 0) == 1);
		if (released) { /* another run took it as stale and wrote its release */
			char rel[300];
			snprintf(rel, sizeof rel, "%.*s-released.json", (int)(strlen(name) - 5), name);
			EXPECT(mem_put(st->be, rel, "{}", 2, true, &err) == 0);
		} else {
			m.deny_remove = false;
			EXPECT(mem_remove(st->be, name, &err) == 0);
		}
		sleep_ms(1600); /* a refresh */
		err = (struct ep_error){ 0 };
		EXPECT(ep_store_lock_held(st, &err) == EP_ERUNTIME);
		EXPECT(strstr(err.msg, "lost its lock") != NULL);
		EXPECT(strstr(err.msg, released ? "as stale and released it" : "was removed") != NULL);
		ep_store_close(st);
		mem_release(&m);
	}
	unsetenv("ENVPACK_LOCK_REFRESH_SECONDS");
	unsetenv("ENVPACK_LOCK_STALE_SECONDS");
}

TEST(store_records_stale_holder_released_once)
{
	struct mem m;
	mem_init(&m);
	struct ep_store *st = mem_store(&m);
	struct ep_error err = { 0 };
	char text[300];
	snprintf(text, sizeof text,
		 "{\"host\":\"gone-host\",\"pid\":7,\"command\":\"prune\",\"exclusive\":true,\"time\":%lld,\"stale\":60}",
		 (long long)time(NULL) - 600);
	EXPECT(mem_put(st->be, "locks/gone-host-7-0123456789abcdef-000004.json", text, strlen(text), true, &err) == 0);
	struct unit_warnings w = { 0 };
	EXPECT(ep_store_lock(st, false, "backup", 0, unit_collect_warning, &w, &err) == 0);
	EXPECT(w.n == 1 && strstr(w.last, "released a stale lock of prune (pid 7 on gone-host") != NULL);
	EXPECT(count(&m, "locks/gone-host-7-0123456789abcdef-000004-released.json", NULL, 0) == 1);
	ep_store_unlock(st);
	w = (struct unit_warnings){ 0 };
	EXPECT(ep_store_lock(st, false, "backup", 0, unit_collect_warning, &w, &err) == 0);
	EXPECT(w.n == 0);
	EXPECT(m.removes == 0);
	ep_store_close(st);
	mem_release(&m);
}

TEST(store_records_exclusive_refused_without_delete)
{
	struct mem m;
	mem_init(&m);
	m.deny_remove = true;
	struct ep_store *st = mem_store(&m);
	struct ep_error err = { 0 };
	EXPECT(ep_store_lock(st, true, "prune", 30, NULL, NULL, &err) == EP_ERUNTIME);
	EXPECT(strstr(err.msg, "store 'mem:': this credential cannot delete objects (DELETE mem:/probe: 403 AccessDenied)") !=
	       NULL);
	EXPECT(strstr(err.msg, "prune removes them") != NULL && strstr(err.msg, "Nothing was changed") != NULL);
	EXPECT(m.puts == 0 && m.n == 0); /* no lock record either */
	/* the shared lock (backup) works with it, and lets go without a delete */
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	ep_store_unlock(st);
	EXPECT(m.n == 2 && m.removes == 0);
	ep_store_close(st);
	mem_release(&m);
}

TEST(store_records_dry_run_warns_without_delete)
{
	struct mem m;
	mem_init(&m);
	m.deny_remove = true;
	struct ep_store *st = mem_store(&m);
	struct ep_error err = { 0 };
	struct unit_warnings w = { 0 };
	/* a dry run removes nothing: it takes the exclusive lock, and is told once */
	EXPECT(ep_store_lock_dry_run(st, "prune", 0, unit_collect_warning, &w, &err) == 0);
	EXPECT(w.n == 1);
	EXPECT(strstr(w.last, "store 'mem:': this credential cannot delete objects (DELETE mem:/probe: 403 AccessDenied): "
			      "prune without --dry-run would fail with it") != NULL);
	EXPECT(ep_store_lock_held(st, &err) == 0);
	ep_store_unlock(st);
	EXPECT(m.n == 2 && m.removes == 0);
	/* a credential that may delete: no word */
	m.deny_remove = false;
	w = (struct unit_warnings){ 0 };
	EXPECT(ep_store_lock_dry_run(st, "forget", 0, unit_collect_warning, &w, &err) == 0);
	EXPECT(w.n == 0);
	ep_store_unlock(st);
	ep_store_close(st);
	mem_release(&m);
}
