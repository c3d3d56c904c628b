#include "drill/drill.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "drill/guest.h"
#include "formats/disk/disk.h"

#define SERIAL_MAX ((size_t)4 << 20) /* what of a console is searched */
#define TAIL_MAX 4096                /* what of it a record keeps */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 3))) static void say(const struct ep_drill_options *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	if (!o->say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->say(o->say_ctx, line);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* Invalid UTF-8 as '?', so that JSON can hold a console's bytes. */
static void utf8_clean(char *s)
{
	while (*s) {
		size_t n = ep_utf8_length((const unsigned char *)s);
		if (!n) {
			*s = '?';
			n = 1;
		}
		s += n;
	}
}

/* The whole of a file, up to max bytes from its end; "" when there is none. */
static char *read_tail(const char *path, size_t max)
{
	char *text = NULL;
	size_t len = 0;
	struct ep_error ignored = { 0 };
	if (ep_read_file(path, 1u << 30, &text, &len, &ignored))
		return strdup("");
	if (len > max) {
		memmove(text, text + len - max, max);
		text[max] = 0;
	}
	return text;
}

/* The console as read so far: the last SERIAL_MAX bytes of its file, NUL-terminated; each
 * poll reads on from where the last one stopped. */
struct console {
	const char *path;
	uint64_t off; /* bytes of the file read */
	char *text;   /* SERIAL_MAX + 1 bytes from the first read on */
	size_t len;
};

/* What the console wrote since the last call, appended; the oldest bytes dropped past SERIAL_MAX. */
static void console_read(struct console *c)
{
	if (!c->text && !(c->text = calloc(1, SERIAL_MAX + 1)))
		return;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return;
	uint64_t more = !fstat(fd, &st) && (uint64_t)st.st_size > c->off ? (uint64_t)st.st_size - c->off : 0;
	if (more > SERIAL_MAX) { /* what would be dropped at once is not read */
		c->off += more - SERIAL_MAX;
		more = SERIAL_MAX;
	}
	size_t drop = c->len + more > SERIAL_MAX ? c->len + (size_t)more - SERIAL_MAX : 0;
	memmove(c->text, c->text + drop, c->len - drop);
	c->len -= drop;
	ssize_t n;
	while (more && (n = pread(fd, c->text + c->len, (size_t)more, (off_t)c->off)) > 0) {
		c->len += (size_t)n;
		c->off += (uint64_t)n;
		more -= (uint64_t)n;
	}
	c->text[c->len] = 0;
	close(fd);
}

static const char *console_text(const struct console *c)
{
	return c->text ? c->text : "";
}

/* What the server logged: a chunk that failed its check, and the bytes it read. */
static void server_log(const char *log, struct ep_drill_result *res, uint64_t *bytes)
{
	char *text = read_tail(log, 1 << 20);
	regex_t re;
	regmatch_t m[1];
	if (!regcomp(&re, "chunk [0-9a-f]{64}[^\n]*", REG_EXTENDED)) {
		if (!regexec(&re, text, 1, m, 0)) {
			res->integrity = true;
			snprintf(res->integrity_detail, sizeof res->integrity_detail, "%.*s", (int)(m[0].rm_eo - m[0].rm_so),
				 text + m[0].rm_so);
		}
		regfree(&re);
	}
	const char *at = strstr(text, "envpack: fetched ");
	unsigned long long chunks, b;
	if (at && sscanf(at, "envpack: fetched %llu chunks, %llu stored bytes", &chunks, &b) == 2)
		*bytes = b;
	free(text);
}

static const struct ep_component *component(const struct ep_manifest *mf, const char *name)
{
	for (size_t i = 0; i < mf->ncomponents; i++)
		if (!strcmp(mf->components[i].name, name))
			return &mf->components[i];
	return NULL;
}

/* Disk i of machine m as a qcow2 overlay over its export. */
static int make_overlays(const struct ep_manifest *mf, const struct ep_machine *m, const char *dir, const char *socket,
			 char **overlays, struct ep_error *err)
{
	const struct ep_disk_format *qcow2 = ep_disk_format_find("qcow2");
	int rc = 0;
	for (size_t i = 0; !rc && i < m->ndisks; i++) {
		char path[PATH_MAX], backing[PATH_MAX + 200];
		struct ep_disk *d;
		struct ep_disk_create_opts overlay = { .backing = backing, .backing_format = "raw" };
		const struct ep_component *c = component(mf, m->disks[i].component);
		if (!c)
			return ep_fail(err, EP_EINPUT, "machine '%s': no disk '%s' in the backup", m->name, m->disks[i].component);
		if (ep_path_format(path, sizeof path, err, "%s/disk%zu.qcow2", dir, i) ||
		    ep_path_format(backing, sizeof backing, err, "nbd+unix:///%s?socket=%s", c->name, socket))
			return err->code;
		if (!(overlays[i] = strdup(path)))
			return ep_oom(err);
		if (!(rc = qcow2->create(&d, path, c->virtual_size, &overlay, err)))
			rc = ep_disk_close(d, err);
	}
	return rc;
}

/* Host ports for the guest ports the checks reach, one each. */
static int forward_ports(struct ep_check *checks, size_t n, struct ep_guest_forward *fwd, size_t *nfwd,
			 struct ep_error *err)
{
	*nfwd = 0;
	for (size_t i = 0; i < n; i++) {
		if (checks[i].kind == EP_CHECK_SERIAL)
			continue;
		size_t k = 0;
		while (k < *nfwd && fwd[k].guest != checks[i].port)
			k++;
		if (k == *nfwd) {
			if (*nfwd == EP_GUEST_FORWARDS)
				return ep_fail(err, EP_EINPUT, "at most %d guest ports can be checked", EP_GUEST_FORWARDS);
			fwd[k].guest = checks[i].port;
			int rc = ep_check_free_port(&fwd[k].host, err);
			if (rc)
				return rc;
			(*nfwd)++;
		}
		checks[i].host_port = fwd[k].host;
	}
	return 0;
}

/* Tries every check not passed yet until all pass, the guest ends, or time is up; each
 * result into checks (passed, seconds since t0, detail). */
static void wait_checks(const struct ep_drill_options *o, struct ep_guest *g, struct console *con,
			const char *server_log_path, struct ep_drill_result *res, double t0, json_t *checks, char *why,
			size_t cap)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	double deadline = t0 + o->timeout_s, last_net = 0;
	size_t left = o->nchecks;
	why[0] = 0;
	while (left && !why[0]) {
		console_read(con);
		bool net_turn = now() - last_net >= 0.5;
		for (size_t i = 0; i < o->nchecks; i++) {
			json_t *c = json_array_get(checks, i);
			if (json_is_true(json_object_get(c, "passed")) || (o->checks[i].kind != EP_CHECK_SERIAL && !net_turn))
				continue;
			char detail[300];
			bool ok = ep_check_try(&o->checks[i], console_text(con), detail, sizeof detail);
			json_object_set_new(c, "detail", json_string(detail));
			if (ok) {
				json_object_set_new(c, "passed", json_true());
				json_object_set_new(c, "seconds", json_real(now() - t0));
				say(o, "  check %s '%s' passed after %.1f s", json_string_value(json_object_get(c, "kind")),
				    o->checks[i].spec, now() - t0);
				left--;
			}
		}
		if (net_turn)
			last_net = now();
		if (!left)
			break;
		uint64_t unused;
		if (net_turn) /* a damaged chunk ends the drill at once: no wait will mend it */
			server_log(server_log_path, res, &unused);
		if (ep_interrupted())
			snprintf(why, cap, "interrupted");
		else if (res->integrity)
			snprintf(why, cap, "the backup's data is damaged");
		else if (!ep_guest_running(g, why, cap)) {
			if (!why[0])
				snprintf(why, cap, "qemu ended");
		} else if (ep_guest_gave_up(console_text(con), why, cap))
			break; /* OVMF waits for a key: no wait will make it boot */
		else if (now() > deadline)
			snprintf(why, cap, "timed out after %u s", o->timeout_s);
		else
			nanosleep(&tick, NULL);
	}
}

static json_t *checks_json(const struct ep_drill_options *o)
{
	static const char *const kinds[] = { "serial", "tcp", "http" };
	json_t *a = json_array();
	for (size_t i = 0; i < o->nchecks; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:n,s:s}", "kind", kinds[o->checks[i].kind], "target",
						   o->checks[i].spec, "passed", 0, "seconds", "detail", ""));
	return a;
}

/* One machine's drill in its own directory: served, booted, checked, stopped. */
static int drill_machine(const struct ep_drill_options *o, const struct ep_machine *m, const char *dir,
			 struct ep_drill_result *res, json_t *out, struct ep_error *err)
{
	double t0 = now();
	char socket[PATH_MAX], why[512] = "";
	char **overlays = calloc(m->ndisks ? m->ndisks : 1, sizeof *overlays);
	struct ep_guest_forward fwd[EP_GUEST_FORWARDS];
	size_t nfwd = 0;
	struct ep_server server = { 0 };
	struct ep_guest guest = { 0 };
	struct console con = { .path = guest.serial };
	struct ep_serve_options so = o->serve;
	int rc = overlays ? 0 : ep_oom(err);
	if (!rc && ep_path_format(socket, sizeof socket, err, "%s/nbd.sock", dir))
		rc = err->code;
	so.socket = socket;
	so.port = 0;
	so.only = NULL;
	if (!rc)
		rc = forward_ports(o->checks, o->nchecks, fwd, &nfwd, err);
	if (!rc)
		rc = ep_serve_start(&server, &so, dir, true, true, err);
	if (!rc)
		rc = make_overlays(o->manifest, m, dir, socket, overlays, err);
	if (!rc)
		rc = ep_guest_start(&guest, m, overlays, dir, fwd, nfwd, err);
	json_t *checks = checks_json(o);
	if (!rc) {
		say(o, "machine %s: booting from the backup (%s)", m->name, guest.kvm ? "KVM" : "TCG");
		wait_checks(o, &guest, &con, server.log, res, t0, checks, why, sizeof why);
	}
	double rto = now() - t0;
	if (!rc) /* what the console wrote since the last poll, for the record's tail */
		console_read(&con);
	char *tail = strdup(console_text(&con) + (con.len > TAIL_MAX ? con.len - TAIL_MAX : 0));
	if (tail)
		utf8_clean(tail);
	ep_guest_stop(&guest);
	ep_serve_stop(&server);
	uint64_t bytes = 0;
	server_log(server.log, res, &bytes);
	bool passed = !rc && !why[0] && !res->integrity;
	res->passed &= passed;
	if (res->integrity) /* the record names the chunk */
		snprintf(why, sizeof why, "the backup's data is damaged: %s", res->integrity_detail);
	json_array_append_new(out, json_pack("{s:s,s:b,s:o,s:I,s:o,s:s,s:s?}", "name", m->name, "passed", passed,
					     "rto_seconds", passed ? json_real(rto) : json_null(), "bytes_read",
					     (json_int_t)bytes, "checks", checks, "console_tail", tail ? tail : "",
					     "failure", rc ? err->msg : why[0] ? why : NULL));
	say(o, "machine %s: %s%s%s", m->name, passed ? "passed" : "FAILED", passed ? "" : ": ",
	    passed ? "" : rc ? err->msg : why);
	free(tail);
	free(con.text);
	for (size_t i = 0; overlays && i < m->ndisks; i++)
		free(overlays[i]);
	free(overlays);
	return rc;
}

int ep_drill_run(const struct ep_drill_options *o, struct ep_drill_result *res, struct ep_error *err)
{
	*res = (struct ep_drill_result){ .machines = json_array(), .passed = true };
	const struct ep_manifest *mf = o->manifest;
	int rc = res->machines ? 0 : ep_oom(err);
	size_t ran = 0;
	for (size_t i = 0; !rc && i < mf->nmachines; i++) {
		const struct ep_machine *m = &mf->machines[i];
		if (o->only && strcmp(o->only, m->name))
			continue;
		char dir[PATH_MAX];
		if (ep_path_format(dir, sizeof dir, err, "%s/envpack-drill-XXXXXX", o->tmpdir))
			return err->code;
		if (!mkdtemp(dir))
			return ep_fail_errno(err, EP_ERUNTIME, "cannot create a private directory in '%s'", o->tmpdir);
		struct ep_error machine_err = { 0 };
		drill_machine(o, m, dir, res, res->machines, &machine_err); /* a machine that fails is a result */
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		ran++;
		if (ep_interrupted())
			rc = ep_fail(err, EP_ERUNTIME, "interrupted");
	}
	if (!rc && !ran)
		rc = o->only ? ep_fail(err, EP_EINPUT, "the backup holds no machine named '%s'", o->only)
			     : ep_fail(err, EP_EINPUT, "the backup holds no machine to drill");
	return rc;
}
