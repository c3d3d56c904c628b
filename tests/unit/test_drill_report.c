/* The drill report page: its structure, its charts at the edges, and hostile records.
 * With EP_DRILL_SAMPLES=DIR, drill_report_samples also writes its pages there for
 * tests/cases/t98-drill-report.sh to have Chromium judge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/util.h"
#include "tests/unit/unit.h"
#include "verify/drill_report.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* 2026-12-01T00:00:00Z plus hours, as a record writes it. */
static void time_at(unsigned hours, char out[32])
{
	time_t t = 1796083200 + (time_t)hours * 3600;
	struct tm tm;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static void snapshot_id(unsigned n, char hex[EP_DIGEST_HEX])
{
	uint8_t d[EP_DIGEST_LEN];
	ep_sha256(&n, sizeof n, d);
	ep_hex(d, EP_DIGEST_LEN, hex);
}

static json_t *check(const char *kind, const char *target, int passed, const char *detail)
{
	return json_pack("{s:s, s:s, s:b, s:f, s:s}", "kind", kind, "target", target, "passed", passed, "seconds",
			 1.5, "detail", detail);
}

/* A machine; rto < 0 leaves it out, tail NULL too. */
static json_t *machine(const char *name, int passed, double rto, const char *tail)
{
	json_t *m = json_pack("{s:s, s:b, s:I, s:[o, o]}", "name", name, "passed", passed, "bytes_read",
			      (json_int_t)123456, "checks", check("serial", "ENVPACK-BOOT-OK .*", passed, ""),
			      check("tcp", "22", passed, passed ? "" : "connection refused"));
	if (rto >= 0)
		json_object_set_new(m, "rto_seconds", json_real(rto));
	if (tail)
		json_object_set_new(m, "console_tail", json_string(tail));
	return m;
}

/* A drill record at hours past the first, of the snapshot of hour snap, over machines (taken). */
static json_t *drill(unsigned hours, unsigned snap, json_t *machines)
{
	char started[32], snap_time[32], id[EP_DIGEST_HEX];
	time_at(hours, started);
	time_at(snap, snap_time);
	snapshot_id(snap, id);
	int passed = 1;
	size_t i;
	json_t *m;
	json_array_foreach(machines, i, m)
		passed &= json_is_true(json_object_get(m, "passed"));
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "kind", "envpack-drill", "version", 1,
			 "snapshot", id, "snapshot_time", snap_time, "snapshot_name", "web-env", "started", started,
			 "host", "dr1", "passed", passed, "machines", machines);
}

/* n snapshots, one every so many hours; each known by its hour (drill's snap). */
static json_t *snapshots(unsigned n, unsigned every)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < n; i++) {
		char t[32], id[EP_DIGEST_HEX];
		time_at(i * every, t);
		snapshot_id(i * every, id);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", id, "time", t, "name", "web-env"));
	}
	return a;
}

/* Renders, expecting success; the page, or NULL. */
static char *render(const json_t *snaps, const json_t *drills, const char *title, size_t *len)
{
	char *html = NULL;
	size_t n = 0;
	struct ep_error err = { 0 };
	int rc = ep_drill_report_html(snaps, drills, title, &html, &n, &err);
	EXPECT(rc == 0);
	EXPECT(!html || strlen(html) == n); /* no NUL inside */
	EXPECT(!html || ep_utf8_ok(html));
	if (len)
		*len = n;
	return html;
}

/* Drills whose hours and machines' results are given: "PF" is a drill of web passed, db failed. */
static json_t *drills_of(const char *const *results, const unsigned *hours, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *ms = json_array();
		for (size_t k = 0; results[i][k]; k++) {
			int ok = results[i][k] == 'P';
			json_array_append_new(ms, machine(k ? "db" : "web", ok, ok ? 5.0 + (double)i : -1,
							  ok ? NULL : "kernel panic"));
		}
		json_array_append_new(a, drill(hours[i], hours[i], ms));
	}
	return a;
}

TEST(drill_report_rows_and_classes)
{
	const char *results[] = { "PP", "PF", "P" };
	const unsigned hours[] = { 1, 2, 3 };
	json_t *snaps = snapshots(4, 1), *drills = drills_of(results, hours, 3);
	char *html = render(snaps, drills, NULL, NULL);
	if (html) {
		EXPECT(count(html, "<table id=\"drills\">") == 1);
		EXPECT(count(html, "<tr class=\"pass\">") == 4);
		EXPECT(count(html, "<tr class=\"fail\">") == 1);
		EXPECT(strstr(html, "<td>db</td><td class=\"result\">FAILED</td>"));
		EXPECT(strstr(html, "<td class=\"num\">5.00</td><td class=\"num\">123456</td>"));
		EXPECT(strstr(html, "connection refused"));
		/* the summary: db's latest drill is the failed one, web's the third */
		EXPECT(strstr(html, "<span class=\"fail\">db FAILED</span>"));
		EXPECT(strstr(html, "<span class=\"pass\">web passed (RTO 7.00 s)</span>"));
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
}

TEST(drill_report_sorted_by_started)
{
	const char *results[] = { "P", "P", "P" };
	const unsigned hours[] = { 30, 10, 20 }; /* RTOs 5, 6, 7 */
	json_t *snaps = snapshots(1, 1), *drills = drills_of(results, hours, 3);
	char *html = render(snaps, drills, NULL, NULL);
	if (html) {
		/* the table newest first */
		char *a = strstr(html, "<td>2026-12-02 06:00:00Z"), *b = strstr(html, "<td>2026-12-01 20:00:00Z"),
		     *c = strstr(html, "<td>2026-12-01 10:00:00Z");
		EXPECT(a && b && c && a < b && b < c);
		/* the chart left to right: the drill of hour 10 (RTO 6) first, then 20 (RTO 7), then 30 (RTO 5) */
		EXPECT(strstr(html, "points=\"56.0,62.0 380.0,37.0 704.0,87.0\""));
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
}

TEST(drill_report_chart_series)
{
	const char *results[] = { "PP", "PF", "FF", "PP" };
	const unsigned hours[] = { 1, 2, 3, 4 };
	json_t *snaps = snapshots(4, 1), *drills = drills_of(results, hours, 4);
	char *html = render(snaps, drills, NULL, NULL);
	if (html) {
		EXPECT(count(html, "<svg id=\"rto-chart\"") == 1);
		EXPECT(count(html, "<polyline ") == 2);              /* web and db */
		EXPECT(count(html, "<circle class=\"fail\"") == 3); /* db twice, web once */
		EXPECT(count(html, "<title>db failed, ") == 2);
		EXPECT(!strstr(html, "nan") && !strstr(html, "inf"));
		/* snapshots of hours 0 to 3: 1 (PF) and 2 (FF) failed, 3 passed, 0 not drilled */
		EXPECT(count(html, "<line class=\"snap fail\"") == 2 && count(html, "<line class=\"snap pass\"") == 1);
		EXPECT(count(html, "<line class=\"snap\"") == 1);
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
}

/* One drill, all failed (no RTO anywhere), all at one time: still numbers, failures on the axis. */
TEST(drill_report_chart_edges)
{
	const char *one[] = { "P" }, *failed[] = { "F", "F", "F" }, *same[] = { "P", "P", "F" };
	const unsigned hours1[] = { 5 }, hours3[] = { 5, 6, 7 }, equal[] = { 5, 5, 5 };
	json_t *snaps = snapshots(8, 1);
	json_t *sets[] = { drills_of(one, hours1, 1), drills_of(failed, hours3, 3), drills_of(same, equal, 3) };
	for (size_t i = 0; i < 3; i++) {
		char *html = render(snaps, sets[i], NULL, NULL);
		if (html) {
			EXPECT(!strstr(html, "nan") && !strstr(html, "inf"));
			EXPECT(count(html, "<polyline ") == 1);
		}
		if (html && i == 0)
			EXPECT(strstr(html, "points=\"380.0,"));
		if (html && i == 1) {
			EXPECT(strstr(html, "points=\"\""));
			EXPECT(count(html, "<circle class=\"fail\" cx=") == 3 && count(html, "cy=\"212\"") == 3);
		}
		if (html && i == 2)
			EXPECT(strstr(html, "points=\"380.0,") && strstr(html, " 380.0,") &&
			       strstr(html, "<circle class=\"fail\" cx=\"380.0\""));
		free(html);
		json_decref(sets[i]);
	}
	json_decref(snaps);
}

static json_t *hostile_drill(void)
{
	json_t *m = machine("<script>alert(1)</script>", 0, -1, NULL);
	static const char tail[] = "</pre><script>alert(2)</script>\0\x01\xff\xfe x \xc3",
			  name[] = "</title>\xc0\xaf\xed\xa0\x80\xc2\x85";
	json_object_set_new(m, "console_tail", json_stringn_nocheck(tail, sizeof tail - 1));
	json_array_append_new(json_object_get(m, "checks"),
			      check("http", "'><svg onload=alert(3)>", 0, "<b>\"quoted\" & 'single'</b>"));
	json_t *d = drill(1, 0, json_pack("[o, o]", m, machine("x\" onmouseover=\"alert(4)", 1, 3, NULL)));
	json_object_set_new(d, "host", json_string("<img src=x onerror=alert(5)>"));
	json_object_set_new(d, "snapshot", json_string("<i>not hex</i>"));
	json_object_set_new(d, "snapshot_name", json_stringn_nocheck(name, sizeof name - 1));
	json_object_set_new(d, "snapshot_time", json_string("<u>when</u>"));
	return d;
}

TEST(drill_report_hostile_strings_escaped)
{
	json_t *snaps = snapshots(1, 1), *drills = json_pack("[o]", hostile_drill());
	json_object_set_new(json_array_get(snaps, 0), "name", json_string("<style>*{display:none}</style>"));
	char *html = render(snaps, drills, "</title><script>alert(0)</script>", NULL);
	if (html) {
		EXPECT(!strstr(html, "<script") && !strstr(html, "<img") && !strstr(html, "<svg onload"));
		EXPECT(!strstr(html, "<b>") && !strstr(html, "<i>") && !strstr(html, "<u>") && !strstr(html, "</pre><"));
		EXPECT(count(html, "<style>") == 1 && count(html, "<title>&lt;/title&gt;&lt;script&gt;alert(0)") == 1);
		EXPECT(!strstr(html, "\" onmouseover") && strstr(html, "x&quot; onmouseover=&quot;alert(4)"));
		EXPECT(strstr(html, "&#39;&gt;&lt;svg onload=alert(3)&gt;"));
		EXPECT(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
		EXPECT(strstr(html, "&lt;b&gt;&quot;quoted&quot; &amp; &#39;single&#39;&lt;/b&gt;"));
		EXPECT(strstr(html, "&lt;i&gt;not")); /* the short id: 8 bytes of it */
		EXPECT(count(html, "<pre>") == 1);
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
}

TEST(drill_report_invalid_utf8_replaced)
{
	json_t *snaps = snapshots(1, 1), *drills = json_pack("[o]", hostile_drill());
	char *html = render(snaps, drills, NULL, NULL); /* render checks: valid UTF-8, no NUL */
	if (html) {
		/* NUL, \x01, \xff, \xfe each replaced, then the cut \xc3 at the end */
		EXPECT(strstr(html, "&lt;/script&gt;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd x \xef\xbf\xbd</pre>"));
		/* an overlong '/', a surrogate, a C1 control: one replacement per byte */
		EXPECT(strstr(html, "&lt;/title&gt;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				    "\xef\xbf\xbd\xef\xbf\xbd</td>"));
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
}

TEST(drill_report_empty)
{
	json_t *snaps = snapshots(3, 1), *drills = json_array(), *none = json_array();
	char *html = render(snaps, drills, NULL, NULL);
	if (html) {
		EXPECT(strstr(html, "<p id=\"no-drills\">No drill has run yet.</p>"));
		EXPECT(!strstr(html, "<table") && !strstr(html, "rto-chart"));
		EXPECT(count(html, "<line class=\"snap\"") == 3);
		EXPECT(strstr(html, "<!DOCTYPE html>") == html && strstr(html, "</html>"));
	}
	free(html);
	html = render(none, drills, NULL, NULL);
	EXPECT(html && strstr(html, "No drill has run yet") && strstr(html, "The store has no snapshots"));
	free(html);
	json_decref(snaps);
	json_decref(drills);
	json_decref(none);
}

TEST(drill_report_console_tail_capped)
{
	size_t big = 100000;
	char *tail = malloc(big + 1);
	memset(tail, 'a', big);
	memcpy(tail, "FIRST-LINE", 10);
	memcpy(tail + big - 9, "LAST-LINE", 9);
	tail[big - 4097] = '\xc3', tail[big - 4096] = '\xa9'; /* an é cut by the cap */
	tail[big] = '\0';
	json_t *ms = json_array();
	for (int i = 0; i < EP_DRILL_TAILS_MAX + 5; i++)
		json_array_append_new(ms, machine("m", 0, -1, tail));
	json_t *snaps = snapshots(1, 1), *drills = json_pack("[o]", drill(0, 0, ms));
	size_t len;
	char *html = render(snaps, drills, NULL, &len);
	if (html) {
		EXPECT(!strstr(html, "FIRST-LINE") && count(html, "LAST-LINE") == EP_DRILL_TAILS_MAX);
		EXPECT(count(html, "<pre>[95905 earlier bytes not shown]\naaa") == EP_DRILL_TAILS_MAX);
		EXPECT(count(html, "<pre>") == EP_DRILL_TAILS_MAX);
		EXPECT(strstr(html, "<p>5 older failures are not shown.</p>"));
		EXPECT(len < (EP_DRILL_TAILS_MAX + 6) * EP_DRILL_TAIL_BYTES); /* not 25 times 100 kB */
	}
	free(html);
	free(tail);
	json_decref(snaps);
	json_decref(drills);
}

/* Each refusal names the record and what is wrong, and leaves no page. */
TEST(drill_report_bad_records_refused)
{
	static const struct {
		const char *key, *json, *msg;
	} cases[] = {
		{ "kind", "\"envpack-other\"", "drill record 2: \"kind\" is not \"envpack-drill\"" },
		{ "version", "2", "drill record 2: \"version\" is not 1" },
		{ "started", "\"2026-12-07 04:00\"", "drill record 2: \"started\" is not a UTC time" },
		{ "passed", "\"yes\"", "drill record 2: \"passed\" is not a boolean" },
		{ "machines", "{}", "drill record 2: \"machines\" is not an array" },
		{ "machines", "[{\"passed\": true}]", "drill record 2: a machine has no \"name\" string" },
		{ "machines", "[{\"name\": \"w\", \"passed\": true, \"checks\": [1]}]", "drill record 2: a check is not" },
	};
	json_t *snaps = snapshots(1, 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *drills = json_pack("[o, o]", drill(0, 0, json_array()), drill(1, 0, json_array()));
		json_object_set_new(json_array_get(drills, 1), cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
		char *html = (char *)"untouched";
		size_t len = 1;
		struct ep_error err = { 0 };
		EXPECT(ep_drill_report_html(snaps, drills, NULL, &html, &len, &err) == EP_EINPUT);
		EXPECT(strstr(err.msg, cases[i].msg));
		EXPECT(!html && !len);
		json_decref(drills);
	}
	char *html;
	size_t len;
	struct ep_error err = { 0 };
	json_t *bad_snaps = json_pack("[{s:s, s:s}]", "id", "x", "time", "yesterday"), *none = json_array();
	EXPECT(ep_drill_report_html(bad_snaps, none, NULL, &html, &len, &err) == EP_EINPUT && !html);
	EXPECT(strstr(err.msg, "snapshot 1: "));
	EXPECT(ep_drill_report_html(none, snaps /* not records */, NULL, &html, &len, &err) == EP_EINPUT && !html);
	EXPECT(strstr(err.msg, "drill record 1: \"kind\""));
	json_decref(bad_snaps);
	json_decref(none);
	json_decref(snaps);
}

/* The samples t98 has Chromium judge; written when EP_DRILL_SAMPLES names a directory. */
static json_t *many_drills(unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < n; i++) {
		int db_ok = i % 10 != 9;
		json_t *ms = json_pack("[o, o]", machine("web", 1, 6.0 + (double)(i % 7), NULL),
				       machine("db", db_ok, db_ok ? 9.0 + (double)(i % 5) : -1,
					       db_ok ? NULL : "[  12.3] EXT4-fs error\nENVPACK-BOOT-FAILED\n"));
		json_array_append_new(a, drill(24 * i + 1, 24 * i, ms)); /* daily, an hour after each snapshot */
	}
	return a;
}

static void write_sample(const char *dir, const char *name, const char *html, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.html", dir, name);
	FILE *f = fopen(path, "w");
	EXPECT(f && fwrite(html, 1, len, f) == len);
	if (f)
		EXPECT(fclose(f) == 0);
}

TEST(drill_report_samples)
{
	const char *one[] = { "P" }, *failed[] = { "F", "F", "F", "F", "F" }, *same[] = { "PP", "PF", "PP" };
	const unsigned hours1[] = { 3 }, hours5[] = { 1, 2, 3, 4, 5 }, equal[] = { 4, 4, 4 };
	json_t *snaps = snapshots(100, 24), *few = snapshots(6, 1), *none = json_array();
	struct {
		const char *name;
		json_t *snaps, *drills;
	} samples[] = {
		{ "one", few, drills_of(one, hours1, 1) },
		{ "many", snaps, many_drills(100) },
		{ "allfail", few, drills_of(failed, hours5, 5) },
		{ "equal", few, drills_of(same, equal, 3) },
		{ "hostile", few, json_pack("[o]", hostile_drill()) },
		{ "empty", few, json_array() },
		{ "nothing", none, json_array() },
	};
	const char *dir = getenv("EP_DRILL_SAMPLES");
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		size_t len;
		char *html = render(samples[i].snaps, samples[i].drills, "</title><script>alert(0)</script>", &len);
		if (html && !strcmp(samples[i].name, "many")) {
			EXPECT(count(html, "<tr class=") == 200);
			EXPECT(len < 160 * 1024); /* small enough to mail */
			if (dir)
				printf("       many.html: %zu bytes\n", len);
		}
		if (html && dir)
			write_sample(dir, samples[i].name, html, len);
		free(html);
		json_decref(samples[i].drills);
	}
	json_decref(snaps);
	json_decref(few);
	json_decref(none);
}
