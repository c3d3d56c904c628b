#include "verify/drill_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

/* ---- the page as it grows ---------------------------------------------------------------- */

/* An allocation failure sticks and is reported once, at the end: the writers stay one line each. */
struct page {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put_bytes(struct page *pg, const char *s, size_t n)
{
	if (pg->oom || !ep_grow((void **)&pg->p, &pg->cap, pg->len + n + 1, 1)) {
		pg->oom = true;
		return;
	}
	memcpy(pg->p + pg->len, s, n);
	pg->len += n;
	pg->p[pg->len] = '\0';
}

static void put(struct page *pg, const char *s)
{
	put_bytes(pg, s, strlen(s));
}

/* Our own markup and numbers only: fmt is a literal (-Wformat-nonliteral holds callers to it)
 * and a %s never takes a string from a record (those go through put_text). */
__attribute__((format(printf, 2, 3))) static void putf(struct page *pg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || pg->oom || !ep_grow((void **)&pg->p, &pg->cap, pg->len + (size_t)n + 1, 1)) {
		pg->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(pg->p + pg->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	pg->len += (size_t)n;
}

/* ---- untrusted text ---------------------------------------------------------------------- */

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* What an ASCII byte becomes in text or a quoted attribute, or NULL when it stays. Control
 * bytes (but tab and line ends) are parse errors in HTML, and NUL worse: they are replaced. */
static const char *ascii_ref(unsigned char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	case '\t': case '\n': case '\r': return NULL;
	default: return c < 0x20 || c == 0x7f ? replacement : NULL;
	}
}

/* The length of the character at u (left bytes remain) when it can be copied as it is; 0 when
 * it must be replaced: markup, a control, a C1 control, invalid or cut-off UTF-8. */
static size_t plain_length(const unsigned char *u, size_t left)
{
	if (u[0] < 0x80)
		return ascii_ref(u[0]) ? 0 : 1;
	size_t k = ep_utf8_length(u); /* stops at the NUL every jansson string ends with */
	if (k == 0 || k > left || (u[0] == 0xc2 && u[1] < 0xa0))
		return 0;
	return k;
}

/* n bytes of s (which is NUL-terminated at or after n) as HTML text, safe in a quoted attribute too. */
static void put_text(struct page *pg, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, from = 0;
	while (i < n) {
		size_t k = plain_length(u + i, n - i);
		if (k) {
			i += k;
			continue;
		}
		put_bytes(pg, s + from, i - from);
		const char *ref = u[i] < 0x80 ? ascii_ref(u[i]) : NULL;
		put(pg, ref ? ref : replacement);
		from = ++i;
	}
	put_bytes(pg, s + from, n - from);
}

/* A string field of a record, at most max bytes of it, or a dash when it is absent. */
static void put_field_max(struct page *pg, const json_t *o, const char *key, size_t max)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_string(v)) {
		put(pg, "\xe2\x80\x94"); /* an em dash */
		return;
	}
	size_t n = json_string_length(v);
	put_text(pg, json_string_value(v), n < max ? n : max);
}

static void put_field(struct page *pg, const json_t *o, const char *key)
{
	put_field_max(pg, o, key, SIZE_MAX);
}

/* ---- times and numbers ------------------------------------------------------------------- */

static bool parse_time(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return false;
	*t = (int64_t)timegm(&tm);
	return true;
}

/* t in UTC, to the second or (for axis labels) to the minute. */
static void put_time_to(struct page *pg, int64_t t, bool seconds)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[64];
	if (gmtime_r(&tt, &tm) &&
	    strftime(s, sizeof s, seconds ? "%Y-%m-%d %H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm))
		put(pg, s);
	else
		put(pg, "?");
}

static void put_time(struct page *pg, int64_t t)
{
	put_time_to(pg, t, true);
}

/* A time field shown like put_time when it is one, else as the text it is. */
static void put_time_field(struct page *pg, const json_t *o, const char *key)
{
	int64_t t;
	if (parse_time(json_string_value(json_object_get(o, key)), &t))
		put_time(pg, t);
	else
		put_field(pg, o, key);
}

/* A machine's RTO, when it has a usable one (a chart needs finite, non-negative values). */
static bool machine_rto(const json_t *m, double *rto)
{
	const json_t *v = json_object_get(m, "rto_seconds");
	*rto = json_number_value(v);
	return json_is_number(v) && isfinite(*rto) && *rto >= 0 && *rto < 1e9;
}

static bool is_passed(const json_t *o)
{
	return json_is_true(json_object_get(o, "passed"));
}

static const char *result_class(const json_t *o)
{
	return is_passed(o) ? "pass" : "fail";
}

/* ---- the records, checked and ordered ---------------------------------------------------- */

struct drill {
	const json_t *rec, *machines;
	int64_t started;
	size_t index; /* in the input: equal times keep their order */
};

struct report {
	struct page pg;
	struct drill *drills; /* oldest first */
	size_t n, failures;   /* failures: failed machines, over all drills */
	const json_t **names; /* every machine's name, once, in order */
	size_t nnames, cap_names;
	const json_t *snapshots;
};

static int bad_record(struct ep_error *err, size_t i, const char *what)
{
	return ep_fail(err, EP_EINPUT, "drill record %zu: %s", i + 1, what);
}

static int check_machine(const json_t *m, size_t i, struct ep_error *err)
{
	if (!json_is_object(m))
		return bad_record(err, i, "a machine is not a JSON object");
	if (!json_is_string(json_object_get(m, "name")))
		return bad_record(err, i, "a machine has no \"name\" string");
	if (!json_is_boolean(json_object_get(m, "passed")))
		return bad_record(err, i, "a machine has no \"passed\" boolean");
	const json_t *checks = json_object_get(m, "checks");
	if (checks && !json_is_array(checks))
		return bad_record(err, i, "a machine's \"checks\" is not an array");
	size_t j;
	const json_t *c;
	json_array_foreach(checks, j, c)
		if (!json_is_object(c))
			return bad_record(err, i, "a check is not a JSON object");
	return 0;
}

static int check_record(const json_t *rec, size_t i, struct drill *d, struct ep_error *err)
{
	if (!json_is_object(rec))
		return bad_record(err, i, "not a JSON object");
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	if (!kind || strcmp(kind, "envpack-drill"))
		return bad_record(err, i, "\"kind\" is not \"envpack-drill\"");
	const json_t *version = json_object_get(rec, "version");
	if (!json_is_integer(version) || json_integer_value(version) != 1)
		return bad_record(err, i, "\"version\" is not 1");
	if (!parse_time(json_string_value(json_object_get(rec, "started")), &d->started))
		return bad_record(err, i, "\"started\" is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)");
	if (!json_is_boolean(json_object_get(rec, "passed")))
		return bad_record(err, i, "\"passed\" is not a boolean");
	d->rec = rec;
	d->index = i;
	d->machines = json_object_get(rec, "machines");
	if (!json_is_array(d->machines))
		return bad_record(err, i, "\"machines\" is not an array");
	size_t j;
	const json_t *m;
	json_array_foreach(d->machines, j, m) {
		int rc = check_machine(m, i, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int check_snapshots(const json_t *snapshots, struct ep_error *err)
{
	if (!json_is_array(snapshots))
		return ep_fail(err, EP_EINPUT, "snapshots: not an array");
	size_t i;
	const json_t *s;
	int64_t t;
	json_array_foreach(snapshots, i, s)
		if (!json_is_object(s) || !json_is_string(json_object_get(s, "id")) ||
		    !parse_time(json_string_value(json_object_get(s, "time")), &t))
			return ep_fail(err, EP_EINPUT, "snapshot %zu: no \"id\" string or no \"time\" (YYYY-MM-DDTHH:MM:SSZ)",
				       i + 1);
	return 0;
}

static int by_started(const void *a, const void *b)
{
	const struct drill *x = a, *y = b;
	if (x->started != y->started)
		return x->started < y->started ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Names compared whole: a NUL inside one does not end it. */
static int name_cmp(const json_t *a, const json_t *b)
{
	size_t la = json_string_length(a), lb = json_string_length(b);
	int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
	return c ? c : la < lb ? -1 : la > lb;
}

static int by_name(const void *a, const void *b)
{
	return name_cmp(*(const json_t *const *)a, *(const json_t *const *)b);
}

/* Every machine's name once, sorted: the chart's series and their colours. */
static int collect_names(struct report *r, struct ep_error *err)
{
	for (size_t i = 0; i < r->n; i++) {
		size_t j;
		const json_t *m;
		json_array_foreach(r->drills[i].machines, j, m) {
			if (!ep_grow((void **)&r->names, &r->cap_names, r->nnames + 1, sizeof *r->names))
				return ep_oom(err);
			r->names[r->nnames++] = json_object_get(m, "name");
			r->failures += !is_passed(m);
		}
	}
	if (r->nnames)
		qsort(r->names, r->nnames, sizeof *r->names, by_name);
	size_t u = 0;
	for (size_t i = 0; i < r->nnames; i++)
		if (!u || name_cmp(r->names[u - 1], r->names[i]))
			r->names[u++] = r->names[i];
	r->nnames = u;
	return 0;
}

static int load(struct report *r, const json_t *snapshots, const json_t *drills, struct ep_error *err)
{
	int rc = check_snapshots(snapshots, err);
	if (rc)
		return rc;
	if (!json_is_array(drills))
		return ep_fail(err, EP_EINPUT, "drill records: not an array");
	r->snapshots = snapshots;
	r->n = json_array_size(drills);
	if (r->n && !(r->drills = calloc(r->n, sizeof *r->drills)))
		return ep_oom(err);
	for (size_t i = 0; i < r->n; i++)
		if ((rc = check_record(json_array_get(drills, i), i, &r->drills[i], err)))
			return rc;
	if (r->n)
		qsort(r->drills, r->n, sizeof *r->drills, by_started);
	return collect_names(r, err);
}

/* The machine called name in drill d, or NULL. */
static const json_t *find_machine(const struct drill *d, const json_t *name)
{
	size_t j;
	const json_t *m;
	json_array_foreach(d->machines, j, m)
		if (!name_cmp(json_object_get(m, "name"), name))
			return m;
	return NULL;
}

/* ---- the page's parts -------------------------------------------------------------------- */

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
				       "#8c564b", "#e377c2", "#17becf", "#7f7f7f" };
#define NPALETTE (sizeof palette / sizeof palette[0])

static const char style[] =
	"body{font:14px/1.4 sans-serif;margin:1em 2em;color:#222}"
	"table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}"
	"td.num{text-align:right}tr.fail td{background:#fdecea}"
	"b.pass,span.pass,li.pass,tr.pass td.result{color:#176f2c}b.fail,span.fail,li.fail,tr.fail td.result{color:#b3261e}"
	"ul{margin:0;padding-left:1.2em}ul.legend{list-style:none;padding:0}ul.legend li{display:inline;margin-right:1em}"
	".sw{display:inline-block;width:1.5em;height:.3em;vertical-align:middle;margin-right:.3em}"
	"pre{background:#111;color:#ddd;padding:.5em;max-height:30em;overflow:auto;white-space:pre-wrap}"
	"svg{max-width:100%;height:auto}svg text{font:11px sans-serif;fill:#444}"
	".axis{stroke:#888}.grid{stroke:#eee}circle.fail{fill:#d62728;stroke:#fff}"
	"line.snap{stroke:#aaa;stroke-width:2}line.snap.pass{stroke:#2ca02c}line.snap.fail{stroke:#d62728}";

static void put_head(struct page *pg, const char *title)
{
	put(pg, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	put_text(pg, title, strlen(title));
	putf(pg, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
	put_text(pg, title, strlen(title));
	put(pg, "</h1>\n");
}

/* One line: the latest drill of each machine. */
static void put_summary(struct report *r)
{
	struct page *pg = &r->pg;
	const struct drill *last = &r->drills[r->n - 1];
	putf(pg, "<p id=\"overview\">%zu drill%s from ", r->n, r->n == 1 ? "" : "s");
	put_time(pg, r->drills[0].started);
	put(pg, " to ");
	put_time(pg, last->started);
	putf(pg, "; %zu failed machine%s in all. Latest on ", r->failures, r->failures == 1 ? "" : "s");
	put_field(pg, last->rec, "host");
	putf(pg, ": <b class=\"%s\">%s</b>.</p>\n", result_class(last->rec), is_passed(last->rec) ? "passed" : "FAILED");
	put(pg, "<p id=\"summary\">Latest drill per machine:");
	for (size_t k = 0; k < r->nnames; k++) {
		const json_t *m = NULL;
		size_t i = r->n;
		while (i > 0 && !(m = find_machine(&r->drills[i - 1], r->names[k])))
			i--;
		double rto;
		putf(pg, "%s <span class=\"%s\">", k ? "," : "", result_class(m));
		put_text(pg, json_string_value(r->names[k]), json_string_length(r->names[k]));
		put(pg, is_passed(m) ? " passed" : " FAILED");
		if (machine_rto(m, &rto))
			putf(pg, " (RTO %.2f s)", rto);
		put(pg, "</span>");
	}
	put(pg, "</p>\n");
}

static void put_checks(struct page *pg, const json_t *m)
{
	const json_t *checks = json_object_get(m, "checks"), *c;
	size_t j;
	if (!json_array_size(checks)) {
		put(pg, "\xe2\x80\x94");
		return;
	}
	put(pg, "<ul>");
	json_array_foreach(checks, j, c) {
		const json_t *secs = json_object_get(c, "seconds");
		const char *detail = json_string_value(json_object_get(c, "detail"));
		putf(pg, "<li class=\"%s\">%s ", result_class(c), is_passed(c) ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
		put_field(pg, c, "kind");
		put(pg, " <code>");
		put_field(pg, c, "target");
		put(pg, "</code>");
		if (json_is_number(secs) && isfinite(json_number_value(secs)))
			putf(pg, " %.2f s", json_number_value(secs));
		if (detail && *detail) {
			put(pg, ": ");
			put_field(pg, c, "detail");
		}
		put(pg, "</li>");
	}
	put(pg, "</ul>");
}

static void put_row(struct page *pg, const struct drill *d, const json_t *m)
{
	double rto;
	const json_t *bytes = json_object_get(m, "bytes_read");
	putf(pg, "<tr class=\"%s\"><td>", result_class(m));
	put_time(pg, d->started);
	put(pg, "<br>");
	put_field(pg, d->rec, "host");
	put(pg, "</td><td><code>");
	put_field_max(pg, d->rec, "snapshot", 8);
	put(pg, "</code> ");
	put_time_field(pg, d->rec, "snapshot_time");
	put(pg, "<br>");
	put_field(pg, d->rec, "snapshot_name");
	put(pg, "</td><td>");
	put_field(pg, m, "name");
	putf(pg, "</td><td class=\"result\">%s</td><td class=\"num\">", is_passed(m) ? "passed" : "FAILED");
	if (machine_rto(m, &rto))
		putf(pg, "%.2f", rto);
	put(pg, "</td><td class=\"num\">");
	if (json_is_integer(bytes) && json_integer_value(bytes) >= 0)
		putf(pg, "%lld", (long long)json_integer_value(bytes));
	put(pg, "</td><td>");
	put_checks(pg, m);
	put(pg, "</td></tr>\n");
}

/* Newest first: what a reader looks for is at the top. */
static void put_table(struct report *r)
{
	struct page *pg = &r->pg;
	put(pg, "<h2>Drills</h2>\n<table id=\"drills\"><thead><tr><th>Drill</th><th>Snapshot</th><th>Machine</th>"
		"<th>Result</th><th>RTO (s)</th><th>Bytes read</th><th>Checks</th></tr></thead><tbody>\n");
	for (size_t i = r->n; i-- > 0;) {
		size_t j;
		const json_t *m;
		json_array_foreach(r->drills[i].machines, j, m)
			put_row(pg, &r->drills[i], m);
	}
	put(pg, "</tbody></table>\n");
}

/* ---- the charts -------------------------------------------------------------------------- */

enum { CW = 720, CH = 240, LEFT = 56, RIGHT = 16, TOP = 12, BOTTOM = 28, TL_H = 56 };

/* Where times go along a chart's x axis: all at the middle when they are equal. */
struct xscale {
	int64_t t0, t1;
};

static double x_of(const struct xscale *xs, int64_t t)
{
	if (xs->t1 <= xs->t0)
		return (LEFT + CW - RIGHT) / 2.0;
	return LEFT + (double)(t - xs->t0) / (double)(xs->t1 - xs->t0) * (CW - LEFT - RIGHT);
}

/* The first, middle and last times under the x axis at baseline y. */
static void put_x_labels(struct page *pg, const struct xscale *xs, int y)
{
	int64_t at[3] = { xs->t0, xs->t0 + (xs->t1 - xs->t0) / 2, xs->t1 };
	const char *anchor[3] = { "start", "middle", "end" };
	for (int i = 0; i < 3; i++) {
		if (xs->t1 <= xs->t0 && i != 1)
			continue; /* one time: one label, in the middle */
		putf(pg, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">", x_of(xs, at[i]), y,
		     xs->t1 <= xs->t0 ? "middle" : anchor[i]);
		put_time_to(pg, at[i], false);
		put(pg, "</text>");
	}
}

/* A step of 1, 2 or 5 times a power of ten that cuts 0..max into at most five or so. */
static double nice_step(double max)
{
	double raw = max / 4, p = 1e-3;
	while (p * 10 <= raw)
		p *= 10;
	double f = raw / p;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

struct yscale {
	double max, step;
};

static double y_of(const struct yscale *ys, double v)
{
	return CH - BOTTOM - v / ys->max * (CH - TOP - BOTTOM);
}

/* 0 up to the largest RTO rounded up to a step; 0..1 when no drill has one. */
static struct yscale y_scale(const struct report *r)
{
	double max = 0, rto;
	for (size_t i = 0; i < r->n; i++) {
		size_t j;
		const json_t *m;
		json_array_foreach(r->drills[i].machines, j, m)
			if (is_passed(m) && machine_rto(m, &rto) && rto > max)
				max = rto;
	}
	if (max <= 0)
		max = 1;
	struct yscale ys = { 0, nice_step(max) };
	double steps = (double)(long long)(max / ys.step);
	ys.max = (steps * ys.step < max ? steps + 1 : steps) * ys.step;
	return ys;
}

static void put_axes(struct page *pg, const struct xscale *xs, const struct yscale *ys)
{
	for (double v = 0; v <= ys->max + ys->step / 2; v += ys->step) {
		double y = y_of(ys, v);
		putf(pg, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", LEFT, y, CW - RIGHT, y);
		putf(pg, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g s</text>", LEFT - 4, y + 4, v);
	}
	putf(pg, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", LEFT, TOP, LEFT, CH - BOTTOM);
	putf(pg, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LEFT, CH - BOTTOM, CW - RIGHT,
	     CH - BOTTOM);
	put_x_labels(pg, xs, CH - BOTTOM + 16);
	put(pg, "\n");
}

/* A dot at every point of a series, by markers: a single drill still shows, and a point costs no markup. */
static void put_markers(struct page *pg, size_t n)
{
	put(pg, "<defs>");
	for (size_t k = 0; k < n && k < NPALETTE; k++)
		putf(pg, "<marker id=\"dot%zu\" viewBox=\"0 0 6 6\" refX=\"3\" refY=\"3\" markerWidth=\"4\" "
			 "markerHeight=\"4\"><circle cx=\"3\" cy=\"3\" r=\"3\" fill=\"%s\"/></marker>",
		     k, palette[k]);
	put(pg, "</defs>\n");
}

/* One polyline per machine through its passed drills' RTOs (it may have no point at all). */
static void put_series(struct report *r, size_t k, const struct xscale *xs, const struct yscale *ys)
{
	struct page *pg = &r->pg;
	size_t c = k % NPALETTE;
	double rto;
	putf(pg, "<polyline class=\"rto\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" marker-start=\"url(#dot%zu)\" "
		 "marker-mid=\"url(#dot%zu)\" marker-end=\"url(#dot%zu)\" points=\"",
	     palette[c], c, c, c);
	const char *sep = "";
	for (size_t i = 0; i < r->n; i++) {
		const json_t *m = find_machine(&r->drills[i], r->names[k]);
		if (m && is_passed(m) && machine_rto(m, &rto)) {
			putf(pg, "%s%.1f,%.1f", sep, x_of(xs, r->drills[i].started), y_of(ys, rto));
			sep = " ";
		}
	}
	put(pg, "\"><title>");
	put_text(pg, json_string_value(r->names[k]), json_string_length(r->names[k]));
	put(pg, "</title></polyline>\n");
}

/* A red circle on the time axis for each failed machine: a failure has no recovery time to plot. */
static void put_failures(struct report *r, const struct xscale *xs)
{
	struct page *pg = &r->pg;
	for (size_t i = 0; i < r->n; i++) {
		size_t j;
		const json_t *m;
		json_array_foreach(r->drills[i].machines, j, m) {
			if (is_passed(m))
				continue;
			putf(pg, "<circle class=\"fail\" cx=\"%.1f\" cy=\"%d\" r=\"4\"><title>",
			     x_of(xs, r->drills[i].started), CH - BOTTOM);
			put_field(pg, m, "name");
			put(pg, " failed, ");
			put_time(pg, r->drills[i].started);
			put(pg, "</title></circle>");
		}
	}
	put(pg, "\n");
}

static void put_legend(struct report *r)
{
	put(&r->pg, "<ul class=\"legend\">");
	for (size_t k = 0; k < r->nnames; k++) {
		putf(&r->pg, "<li><span class=\"sw\" style=\"background:%s\"></span>", palette[k % NPALETTE]);
		put_text(&r->pg, json_string_value(r->names[k]), json_string_length(r->names[k]));
		put(&r->pg, "</li>");
	}
	put(&r->pg, "<li><span class=\"fail\">\xe2\x97\x8f</span> a failed drill</li></ul>\n");
}

static void put_chart(struct report *r)
{
	struct page *pg = &r->pg;
	struct xscale xs = { r->drills[0].started, r->drills[r->n - 1].started };
	struct yscale ys = y_scale(r);
	put(pg, "<h2>Recovery time</h2>\n");
	putf(pg, "<svg id=\"rto-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		 "height=\"%d\" role=\"img\" aria-label=\"RTO in seconds over drill time\">\n",
	     CW, CH, CW, CH);
	put_markers(pg, r->nnames);
	put_axes(pg, &xs, &ys);
	for (size_t k = 0; k < r->nnames; k++)
		put_series(r, k, &xs, &ys);
	put_failures(r, &xs);
	put(pg, "</svg>\n");
	put_legend(r);
}

/* The newest drill of snapshot s, or NULL. */
static const struct drill *snapshot_drill(const struct report *r, const json_t *s)
{
	const json_t *id = json_object_get(s, "id");
	for (size_t i = r->n; i-- > 0;) {
		const json_t *of = json_object_get(r->drills[i].rec, "snapshot");
		if (json_is_string(of) && !name_cmp(of, id))
			return &r->drills[i];
	}
	return NULL;
}

static void put_snapshot_tick(struct report *r, const json_t *s, const struct xscale *xs)
{
	struct page *pg = &r->pg;
	const struct drill *d = snapshot_drill(r, s);
	int64_t t = 0;
	parse_time(json_string_value(json_object_get(s, "time")), &t);
	double x = x_of(xs, t);
	putf(pg, "<line class=\"snap%s%s\" x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"30\"><title>", d ? " " : "",
	     d ? result_class(d->rec) : "", x, x);
	put_field_max(pg, s, "id", 8);
	put(pg, " ");
	put_field(pg, s, "name");
	put(pg, " ");
	put_time(pg, t);
	put(pg, d ? (is_passed(d->rec) ? ": drill passed" : ": drill FAILED") : ": not drilled");
	put(pg, "</title></line>");
}

/* The store's snapshots as ticks along time, coloured by their latest drill. */
static void put_timeline(struct report *r)
{
	struct page *pg = &r->pg;
	size_t n = json_array_size(r->snapshots), i;
	const json_t *s;
	put(pg, "<h2>Snapshots</h2>\n");
	if (!n) {
		put(pg, "<p id=\"no-snapshots\">The store has no snapshots.</p>\n");
		return;
	}
	struct xscale xs = { INT64_MAX, INT64_MIN };
	json_array_foreach(r->snapshots, i, s) {
		int64_t t = 0;
		parse_time(json_string_value(json_object_get(s, "time")), &t);
		xs.t0 = t < xs.t0 ? t : xs.t0;
		xs.t1 = t > xs.t1 ? t : xs.t1;
	}
	putf(pg, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		 "height=\"%d\" role=\"img\" aria-label=\"snapshots over time\">\n",
	     CW, TL_H, CW, TL_H);
	putf(pg, "<line class=\"axis\" x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"30\"/>\n", LEFT, CW - RIGHT);
	json_array_foreach(r->snapshots, i, s)
		put_snapshot_tick(r, s, &xs);
	put(pg, "\n");
	put_x_labels(pg, &xs, 46);
	putf(pg, "\n</svg>\n<p>%zu snapshot%s; green: its latest drill passed, red: failed, grey: not drilled.</p>\n", n,
	     n == 1 ? "" : "s");
}

/* ---- console tails ----------------------------------------------------------------------- */

/* The last EP_DRILL_TAIL_BYTES of a console, starting on a character. */
static void put_tail(struct page *pg, const json_t *m)
{
	const json_t *v = json_object_get(m, "console_tail");
	size_t n = json_string_length(v), from = n > EP_DRILL_TAIL_BYTES ? n - EP_DRILL_TAIL_BYTES : 0;
	const char *s = json_string_value(v);
	if (!s || !n) {
		put(pg, "<p>No console output was recorded.</p>\n");
		return;
	}
	for (int k = 0; k < 3 && from > 0 && from < n && ((unsigned char)s[from] & 0xc0) == 0x80; k++)
		from++; /* past a cut character's continuation bytes */
	put(pg, "<pre>");
	if (from)
		putf(pg, "[%zu earlier bytes not shown]\n", from);
	put_text(pg, s + from, n - from);
	put(pg, "</pre>\n");
}

/* The newest failures' consoles: why a machine failed is most often on its console. */
static void put_consoles(struct report *r)
{
	struct page *pg = &r->pg;
	size_t shown = 0;
	if (!r->failures)
		return;
	put(pg, "<section id=\"consoles\"><h2>Console tails of failed machines</h2>\n");
	for (size_t i = r->n; i-- > 0 && shown < EP_DRILL_TAILS_MAX;) {
		size_t j;
		const json_t *m;
		json_array_foreach(r->drills[i].machines, j, m) {
			if (is_passed(m) || shown == EP_DRILL_TAILS_MAX)
				continue;
			shown++;
			put(pg, "<div class=\"console\"><h3>");
			put_field(pg, m, "name");
			put(pg, ", drill of ");
			put_time(pg, r->drills[i].started);
			put(pg, "</h3>\n");
			if (json_is_string(json_object_get(m, "failure"))) { /* what the drill saw: a timeout, a damaged chunk */
				put(pg, "<p class=\"failure\">");
				put_field_max(pg, m, "failure", 1024);
				put(pg, "</p>\n");
			}
			put_tail(pg, m);
			put(pg, "</div>\n");
		}
	}
	if (shown < r->failures)
		putf(pg, "<p>%zu older failure%s not shown.</p>\n", r->failures - shown,
		     r->failures - shown == 1 ? " is" : "s are");
	put(pg, "</section>\n");
}

/* ---- the whole page ---------------------------------------------------------------------- */

static void render(struct report *r, const char *title)
{
	struct page *pg = &r->pg;
	put_head(pg, title ? title : "envpack drill report");
	if (r->n) {
		put_summary(r);
		put_chart(r);
	} else {
		put(pg, "<p id=\"no-drills\">No drill has run yet.</p>\n");
	}
	put_timeline(r);
	if (r->n)
		put_table(r);
	put_consoles(r);
	put(pg, "</body>\n</html>\n");
}

int ep_drill_report_html(const json_t *snapshots, const json_t *drills, const char *title, char **html,
			 size_t *len, struct ep_error *err)
{
	struct report r = { 0 };
	*html = NULL;
	*len = 0;
	int rc = load(&r, snapshots, drills, err);
	if (!rc) {
		render(&r, title);
		rc = r.pg.oom ? ep_oom(err) : 0;
	}
	if (!rc) {
		*html = r.pg.p;
		*len = r.pg.len;
	} else {
		free(r.pg.p);
	}
	free(r.drills);
	free(r.names);
	return rc;
}
