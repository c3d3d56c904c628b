#include "cli/cli.h"

#include "formats/bundle/seal.h"
#include "cloud/s3.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static bool to_syslog; /* --log syslog */

int cli_log_option(const char *cmd, const char *arg)
{
	if (strcmp(arg, "syslog") && strcmp(arg, "stderr"))
		return cli_usage(cmd, "--log takes syslog or stderr");
	if ((to_syslog = !strcmp(arg, "syslog")))
		openlog("envpack", LOG_PID, LOG_DAEMON);
	return 0;
}

void cli_log_info(const char *fmt, ...)
{
	if (!to_syslog)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsyslog(LOG_INFO, fmt, ap);
	va_end(ap);
}

/* Messages quote names from untrusted input (manifests, trees, images): control bytes
 * become '?' before they reach a terminal or the log. */
int cli_fail(const struct ep_error *err)
{
	char msg[sizeof err->msg];
	snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : "failed");
	ep_printable(msg);
	fprintf(stderr, "envpack: %s\n", msg);
	if (to_syslog)
		syslog(LOG_ERR, "%s", msg);
	return err->code < 0 ? -err->code : 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "envpack %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'envpack %s --help'.\n", cmd);
	return 2;
}

void cli_warn(void *ctx, const char *text)
{
	char *copy = strdup(text), *msg = copy ? ep_printable(copy) : "(a warning, and out of memory)";
	if (!ctx || !*(const bool *)ctx) /* ctx: the command's quiet flag */
		fprintf(stderr, "envpack: warning: %s\n", msg);
	if (to_syslog)
		syslog(LOG_WARNING, "%s", msg);
	free(copy);
}

int cli_help(const char *text)
{
	fputs(text, stdout);
	return 0;
}

void cli_human(uint64_t bytes, char *buf, size_t cap)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
}

bool cli_number(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static double seconds_since(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) + (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
}

static void bar_update(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_bar *bar = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (bar->drawn && done < total && seconds_since(&bar->last, &now) < 0.1)
		return;
	bar->last = now;
	bar->drawn = true;
	double elapsed = seconds_since(&bar->start, &now);
	double frac = total ? (double)done / (double)total : 1.0;
	if (frac > 1)
		frac = 1;
	char d[32], t[32], r[32], eta[32] = "--:--";
	cli_human(done, d, sizeof d);
	cli_human(total, t, sizeof t);
	double rate = elapsed > 0 ? (double)done / elapsed : 0;
	cli_human((uint64_t)rate, r, sizeof r);
	if (rate > 0 && done < total) {
		unsigned long s = (unsigned long)((double)(total - done) / rate);
		snprintf(eta, sizeof eta, "%lu:%02lu", s / 60, s % 60);
	}
	char cells[31];
	int filled = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		cells[i] = i < filled ? '#' : '.';
	cells[30] = '\0';
	fprintf(stderr, "\r%-8s %3d%% [%s] %s / %s  %s/s  ETA %s \033[K", bar->label, (int)(frac * 100), cells, d, t,
		r, eta);
	fflush(stderr);
}

void cli_bar_init(struct cli_bar *bar, struct ep_progress *progress, const char *label, bool quiet)
{
	*bar = (struct cli_bar){ .label = label, .enabled = !quiet && isatty(STDERR_FILENO) };
	clock_gettime(CLOCK_MONOTONIC, &bar->start);
	*progress = (struct ep_progress){ bar->enabled ? bar_update : NULL, bar };
}

void cli_bar_finish(struct cli_bar *bar)
{
	if (bar->enabled && bar->drawn)
		fputs("\r\033[K", stderr);
	bar->drawn = false;
}

int cli_net_option(const char *cmd, int c, const char *arg, struct cli_net *net)
{
	long v;
	struct ep_registry_options *r = &net->registry;
	switch (c) {
	case 0x1001:
		if (r->ninsecure == sizeof net->insecure / sizeof *net->insecure)
			return cli_usage(cmd, "at most 16 --insecure-registry"), -1;
		net->insecure[r->ninsecure++] = arg;
		r->insecure = net->insecure;
		return 1;
	case 0x1002:
		if (access(arg, R_OK) != 0)
			return cli_usage(cmd, "--cacert: cannot read '%s'", arg), -1;
		r->http.cacert = arg;
		return 1;
	case 0x1003:
		if (!cli_number(arg, 1, 3600, &v))
			return cli_usage(cmd, "--timeout takes seconds, 1 to 3600"), -1;
		r->http.timeout = (unsigned)v;
		return 1;
	case 0x1004:
		if (!cli_number(arg, 1, 20, &v))
			return cli_usage(cmd, "--retries takes a number from 1 to 20"), -1;
		r->http.attempts = (unsigned)v;
		return 1;
	case 0x1005:
		if (!cli_number(arg, 1, 4096, &v))
			return cli_usage(cmd, "--chunk-size takes MiB, 1 to 4096"), -1;
		r->upload_chunk = (uint64_t)v << 20;
		return 1;
	}
	return 0;
}

int cli_s3_option(const char *cmd, int c, const char *arg, struct ep_s3_options *s3)
{
	long v;
	switch (c) {
	case 0x1010: s3->endpoint = arg; return 1;
	case 0x1011: s3->region = arg; return 1;
	case 0x1012:
		if (!cli_number(arg, 5, 5120, &v))
			return cli_usage(cmd, "--part-size takes MiB, 5 to 5120"), -1;
		s3->part_size = (uint64_t)v << 20;
		return 1;
	}
	return 0;
}

static struct {
	const char *encrypt_to, *decrypt_key;
	struct ep_seal *seal;
} keys;

int cli_seal_option(int c, const char *arg)
{
	if (c == 0x1020)
		keys.encrypt_to = arg;
	else if (c == 0x1021)
		keys.decrypt_key = arg;
	return c == 0x1020 || c == 0x1021;
}

const char *cli_decrypt_key(void)
{
	return keys.decrypt_key;
}

bool cli_seal_wanted(void)
{
	return keys.encrypt_to || keys.decrypt_key;
}

int cli_seal(const struct ep_seal **out, struct ep_error *err)
{
	struct ep_seal *pub = NULL;
	*out = NULL;
	if (!keys.seal && cli_seal_wanted()) {
		int rc = ep_seal_new(&keys.seal, keys.encrypt_to, keys.decrypt_key, err);
		if (!rc && keys.encrypt_to && keys.decrypt_key && !(rc = ep_seal_new(&pub, keys.encrypt_to, NULL, err)) &&
		    strcmp(ep_seal_key_id(pub), ep_seal_key_id(keys.seal)))
			rc = ep_fail(err, EP_EINPUT, "--encrypt-to '%s' (key %s) and --decrypt-key '%s' (key %s) are not one key pair",
				     keys.encrypt_to, ep_seal_key_id(pub), keys.decrypt_key, ep_seal_key_id(keys.seal));
		ep_seal_free(pub);
		if (rc) {
			cli_seal_release();
			return rc;
		}
	}
	*out = keys.seal;
	return 0;
}

void cli_seal_release(void)
{
	ep_seal_free(keys.seal);
	keys.seal = NULL;
}

int cli_remote_option(const char *cmd, int c, const char *arg, struct cli_net *net, struct ep_s3_options *s3)
{
	if (cli_seal_option(c, arg))
		return 1;
	int r = cli_net_option(cmd, c, arg, net);
	if (!r)
		r = cli_s3_option(cmd, c, arg, s3);
	s3->http = net->registry.http;
	return r;
}
