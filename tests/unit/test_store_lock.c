/* Store locks on a dir: store: the record is refreshed while the lock is held
 * (a new name, a newer time, the same "since"), stale records of other hosts
 * are removed with a warning, and the timing variables are checked. The S3
 * side, where the records are the lock, is judged by tests/cases/t101. */
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
	char host[64];
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
		snprintf(r->host, sizeof r->host, "%s", host ? host : "");
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

TEST(store_lock_refreshes_its_record)
{
	struct ep_error err = { 0 };
	struct ep_store *st = NULL;
	setenv("ENVPACK_LOCK_REFRESH_SECONDS", "1", 1);
	setenv("ENVPACK_LOCK_STALE_SECONDS", "8", 1);
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	struct record first[4], later[4];
	EXPECT(records("st", first, 4) == 1);
	EXPECT(first[0].stale == 8 && first[0].since == first[0].time);
	sleep_ms(3300); /* three refreshes */
	int n = records("st", later, 4);
	if (n != 1) { /* caught between the new record and the old one's removal */
		sleep_ms(300);
		n = records("st", later, 4);
	}
	EXPECT(n == 1);
	EXPECT(strcmp(first[0].name, later[0].name) != 0);
	EXPECT(later[0].time >= first[0].time + 2);
	EXPECT(later[0].since == first[0].since);
	double t0 = now_s();
	ep_store_unlock(st);
	EXPECT(now_s() - t0 < 0.5); /* the thread is woken, not waited for */
	EXPECT(records("st", later, 4) == 0);
	/* locked again, the same store refreshes again */
	EXPECT(ep_store_lock(st, true, "prune", 0, NULL, NULL, &err) == 0);
	EXPECT(records("st", first, 4) == 1);
	ep_store_close(st); /* unlocks */
	EXPECT(records("st", later, 4) == 0);
	unsetenv("ENVPACK_LOCK_REFRESH_SECONDS");
	unsetenv("ENVPACK_LOCK_STALE_SECONDS");
}

TEST(store_lock_removes_stale_records)
{
	struct ep_error err = { 0 };
	struct ep_store *st = NULL;
	EXPECT(ep_store_open(&st, "dir:st", true, &err) == 0);
	EXPECT(system("mkdir -p st/locks") == 0);
	long long now = (long long)time(NULL);
	char text[512];
	/* not refreshed for longer than it promised: gone */
	snprintf(text, sizeof text, "{\"host\":\"gone-host\",\"pid\":4242,\"command\":\"prune\",\"exclusive\":true,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 120, now - 7200);
	write_file("st/locks/gone-host-4242-a.json", text);
	/* refreshed a moment ago: kept */
	snprintf(text, sizeof text, "{\"host\":\"live-host\",\"pid\":4343,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld,\"since\":%lld,\"stale\":60}",
		 now - 5, now - 7200);
	write_file("st/locks/live-host-4343-b.json", text);
	/* no "stale": a run that never refreshed, stale only after a day */
	snprintf(text, sizeof text, "{\"host\":\"old-host\",\"pid\":1,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld}", now - 7200);
	write_file("st/locks/old-host-1-c.json", text);
	snprintf(text, sizeof text, "{\"host\":\"old-host\",\"pid\":2,\"command\":\"backup\",\"exclusive\":false,\"time\":%lld}", now - 2 * 86400);
	write_file("st/locks/old-host-2-d.json", text);
	struct warnings w = { 0 };
	EXPECT(ep_store_lock(st, false, "backup", 0, collect, &w, &err) == 0);
	EXPECT(w.n == 2);
	EXPECT(access("st/locks/gone-host-4242-a.json", F_OK) != 0);
	EXPECT(access("st/locks/old-host-2-d.json", F_OK) != 0);
	EXPECT(access("st/locks/live-host-4343-b.json", F_OK) == 0);
	EXPECT(access("st/locks/old-host-1-c.json", F_OK) == 0);
	EXPECT(strstr(w.last, "removed a stale lock of backup (pid 2 on old-host, not refreshed since ") != NULL ||
	       strstr(w.last, "removed a stale lock of prune (pid 4242 on gone-host, not refreshed since ") != NULL);
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
	EXPECT(records("st", r, 2) == 1 && r[0].stale == 60);
	ep_store_unlock(st);
	unsetenv("ENVPACK_LOCK_STALE_SECONDS");
	EXPECT(ep_store_lock(st, false, "backup", 0, NULL, NULL, &err) == 0);
	EXPECT(records("st", r, 2) == 1 && r[0].stale == 1800);
	ep_store_close(st);
}
