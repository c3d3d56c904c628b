/* Store locks on a dir: store: the record is refreshed while the lock is held
 * (a new record, a newer time, the same "since", the old one left), released by a
 * record of its own, stale holders of other hosts released for them with a warning
 * (once), prune removing what the holders left, and the timing variables checked. The
 * records-as-the-lock side (S3) is judged by test_store_records.c and tests/cases/t101. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/store/store.h"
#include "tests/unit/unit.h"

struct record {
	char name[256];
	long long time, since, stale;
	char host[64], holder[32];
	bool released;
};

/* The records under DIR/locks (at most cap): how many. */
static int records(const char *dir, struct record *out, int cap)
{
	char path[512];
	snprintf(path, sizeof path, "%s/locks", dir);
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		char file[1024];
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		json_t *o = json_load_file(file, 0, NULL);
		if (!o)
			continue; /* removed between readdir and the read */
		struct record *r = &out[n++];
		snprintf(r->name, sizeof r->name, "%s", e->d_name);
		r->time = json_integer_value(json_object_get(o, "time"));
		r->since = json_integer_value(json_object_get(o, "since"));
		r->stale = json_integer_value(json_object_get(o, "stale"));
		const char *host = json_string_value(json_object_get(o, "host"));
		const char *holder = json_string_value(json_object_get(o, "holder"));
		snprintf(r->host, sizeof r->host, "%s", host ? host : "");
		snprintf(r->holder, sizeof r->holder, "%s", holder ? holder : "");
		r->released = json_is_true(json_object_get(o, "released"));
		json_decref(o);
	}
	if (d)
		closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct warnings {
	int n;
	char last[1024];
};

static void collect(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	w->n++;
	snprintf(w->last, sizeof w->last, "%s", msg);
}

/* How many of n records are releases; *holders: how many holders there are. */
static int releases(const struct record *r, int n, int *holders)
{
	int rel = 0;
	*holders = 0;
	for (int i = 0; i < n; i++) {
		rel += r[i].released;
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= !strcmp(r[j].holder, r[i].holder);
		*holders += !seen;
	}
	return rel;
}

/* The record of a holder that has not released (the newest of it): how many there are. */
static int live(const char *dir, struct record *out)
{
	struct record r[32];
	int n = records(dir, r, 32), found = 0;
	for (int i = 0; i < n; i++) {
		bool released = false, newest = true;
		for (int j = 0; j < n; j++)
			if (!strcmp(r[j].holder, r[i].holder)) {
				released |= r[j].released;
				newest &= r[j].time <= r[i].time;
			}
		if (!released && newest && found++ == 0)
			*out = r[i];
	}
	return found;
}

TEST(store_lock_refreshes_its_record)
{
	struct ep_error err = { 0 };
	struct ep_store *st = NULL;
	setenv("ENVPACK_LOCK_REFRESH_SECONDS", "1", 1);
	setenv("ENVPACK_LOCK_STALE_SECONDS", "8", 1);
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	struct record first[16], later[16];
	int holders;
	EXPECT(records("st", first, 16) == 1);
	EXPECT(first[0].stale == 8 && first[0].since == first[0].time && !first[0].released && strlen(first[0].holder) == 16);
	sleep_ms(3300); /* three refreshes: each adds a record, none is removed */
	int n = records("st", later, 16);
	EXPECT(n >= 3);
	long long newest = 0;
	for (int i = 0; i < n; i++) {
		EXPECT(!strcmp(later[i].holder, first[0].holder) && later[i].since == first[0].since && !later[i].released);
		newest = later[i].time > newest ? later[i].time : newest;
	}
	EXPECT(newest >= first[0].time + 2);
	double t0 = now_s();
	ep_store_unlock(st);
	EXPECT(now_s() - t0 < 0.5); /* the thread is woken, not waited for */
	n = records("st", later, 16);
	EXPECT(releases(later, n, &holders) == 1 && holders == 1); /* released by a record, none removed */
	EXPECT(live("st", later) == 0);
	/* locked again, the same store takes it as a new holder */
	EXPECT(ep_store_lock(st, true, "prune", 0, NULL, NULL, &err) == 0);
	EXPECT(live("st", later) == 1 && strcmp(later[0].holder, first[0].holder) != 0);
	ep_store_close(st); /* unlocks */
	n = records("st", later, 16);
	EXPECT(releases(later, n, &holders) == 2 && holders == 2);
	EXPECT(live("st", later) == 0);
	unsetenv("ENVPACK_LOCK_REFRESH_SECONDS");
	unsetenv("ENVPACK_LOCK_STALE_SECONDS");
}

#define H1 "0123456789abcdef"
#define H2 "fedcba9876543210"

TEST(store_lock_releases_stale_holders)
{
	struct ep_error err = { 0 };
	struct ep_store *st = NULL;
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	EXPECT(system("mkdir -p st/locks") == 0);
	long long now = (long long)time(NULL);
	char text[512];
	/* a holder not refreshed for longer than it promised: its newest record judges it */
	snprintf(text, sizeof text, "{\"host\":\"gone-host\",\"pid\":4242,\"command\":\"prune\",\"exclusive\":true,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 180, now - 7200);
	write_file("st/locks/gone-host-4242-" H1 "-000002.json", text);
	snprintf(text, sizeof text, "{\"host\":\"gone-host\",\"pid\":4242,\"command\":\"prune\",\"exclusive\":true,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 120, now - 7200);
	write_file("st/locks/gone-host-4242-" H1 "-000003.json", text);
	/* refreshed a moment ago: kept */
	snprintf(text, sizeof text, "{\"host\":\"live-host\",\"pid\":4343,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 5, now - 7200);
	write_file("st/locks/live-host-4343-" H2 "-000000.json", text);
	/* released: passed over unread, in silence (its record would say it holds the store) */
	snprintf(text, sizeof text, "{\"host\":\"rel-host\",\"pid\":5,\"command\":\"prune\",\"exclusive\":true,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 5, now - 5);
	write_file("st/locks/rel-host-5-" H1 "-000001.json", text);
	write_file("st/locks/rel-host-5-" H1 "-000001-released.json", "not even JSON");
	/* an older envpack's names: no "stale", stale after a day; such a record cannot be released */
	snprintf(text, sizeof text, "{\"host\":\"old-host\",\"pid\":1,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld}", now - 7200);
	write_file("st/locks/old-host-1-c.json", text);
	snprintf(text, sizeof text, "{\"host\":\"old-host\",\"pid\":2,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld}", now - 2 * 86400);
	write_file("st/locks/old-host-2-d.json", text);
	struct warnings w = { 0 };
	EXPECT(ep_store_lock(st, false, "backup", 0, collect, &w, &err) == 0);
	EXPECT(w.n == 2);
	EXPECT(strstr(w.last, "passed over a stale lock of backup (pid 2 on old-host, not refreshed since ") != NULL ||
	       strstr(w.last, "released a stale lock of prune (pid 4242 on gone-host, not refreshed since ") != NULL);
	json_t *rel = json_load_file("st/locks/gone-host-4242-" H1 "-000003-released.json", 0, NULL);
	EXPECT(json_is_true(json_object_get(rel, "released")) && json_object_get(rel, "released_by") &&
	       json_integer_value(json_object_get(rel, "pid")) == 4242);
	json_decref(rel);
	/* nothing removed: a lock needs no delete */
	EXPECT(access("st/locks/gone-host-4242-" H1 "-000002.json", F_OK) == 0);
	EXPECT(access("st/locks/gone-host-4242-" H1 "-000003.json", F_OK) == 0);
	EXPECT(access("st/locks/old-host-2-d.json", F_OK) == 0);
	ep_store_unlock(st);
	/* the next run passes over the released holder in silence; the old name it cannot release */
	w = (struct warnings){ 0 };
	EXPECT(ep_store_lock(st, false, "backup", 0, collect, &w, &err) == 0);
	EXPECT(w.n == 1 && strstr(w.last, "passed over a stale lock of backup (pid 2 on old-host") != NULL);
	ep_store_unlock(st);
	/* prune removes the records of holders released or gone, its own but the newest, and keeps the live */
	struct ep_prune_stats ps;
	EXPECT(ep_store_lock(st, true, "prune", 0, NULL, NULL, &err) == 0);
	EXPECT(ep_store_prune(st, false, &ps, &err) == 0);
	EXPECT(ps.locks_removed == 10); /* gone 3, rel 2, old-host-2 1, the two backups 2 each; ours is one */
	EXPECT(access("st/locks/gone-host-4242-" H1 "-000002.json", F_OK) != 0);
	EXPECT(access("st/locks/gone-host-4242-" H1 "-000003-released.json", F_OK) != 0);
	EXPECT(access("st/locks/rel-host-5-" H1 "-000001-released.json", F_OK) != 0);
	EXPECT(access("st/locks/old-host-2-d.json", F_OK) != 0);
	EXPECT(access("st/locks/live-host-4343-" H2 "-000000.json", F_OK) == 0);
	EXPECT(access("st/locks/old-host-1-c.json", F_OK) == 0);
	struct record r[8];
	int holders;
	EXPECT(records("st", r, 8) == 3 && releases(r, 3, &holders) == 0);
	ep_store_close(st);
}

TEST(store_lock_timing_variables)
{
	struct ep_error err = { 0 };
	struct ep_store *st = NULL;
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	static const char *const bad[][2] = { { "0", NULL }, { "x", NULL }, { "5s", NULL }, { NULL, "-1" },
					      { "10", "30" }, { NULL, "3" } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bad[i][0] ? setenv("ENVPACK_LOCK_REFRESH_SECONDS", bad[i][0], 1) : unsetenv("ENVPACK_LOCK_REFRESH_SECONDS");
		bad[i][1] ? setenv("ENVPACK_LOCK_STALE_SECONDS", bad[i][1], 1) : unsetenv("ENVPACK_LOCK_STALE_SECONDS");
		err = (struct ep_error){ 0 };
		EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == EP_EINPUT);
		EXPECT(strstr(err.msg, "ENVPACK_LOCK_") != NULL);
	}
	struct record r[2];
	EXPECT(records("st", r, 2) == 0); /* refused before any record */
	unsetenv("ENVPACK_LOCK_REFRESH_SECONDS");
	setenv("ENVPACK_LOCK_STALE_SECONDS", "60", 1); /* alone: the refresh follows it down */
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	EXPECT(live("st", r) == 1 && r[0].stale == 60);
	ep_store_unlock(st);
	unsetenv("ENVPACK_LOCK_STALE_SECONDS");
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	EXPECT(live("st", r) == 1 && r[0].stale == 1800);
	ep_store_close(st);
}
