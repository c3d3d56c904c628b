#include <getopt.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/interrupt.h"
#include "cli/cli.h"
#include "cli/store_cli.h"
#include "cloud/s3.h"
#include "drill/drill.h"
#include "formats/store/catalog.h"
#include "verify/drill_record.h"
#include "verify/drill_report.h"
#include "targets/restore.h"
#include "verify/check.h"

#define CHECKS_MAX 16

static const char help[] =
	"usage: envpack drill STORE[@SNAPSHOT]|BUNDLE --expect-serial REGEX|--expect-tcp PORT|\n"
	"                     --expect-http URL[=STATUS] ... [OPTIONS]\n\n"
	"Prove that a backup boots: each machine of the snapshot (latest by default) is\n"
	"started at once from the backup itself (instant recovery: qcow2 overlays over\n"
	"the disks 'envpack serve' exports, nothing restored first) in qemu-system-x86_64\n"
	"(KVM where /dev/kvm is usable and emulates SMM, else TCG) with its machine\n"
	"model's CPUs, memory, firmware (OVMF for UEFI, its Secure Boot build with\n"
	"Microsoft's keys for a machine that had Secure Boot) and disk buses, on an\n"
	"isolated user-mode network (no route out; only the ports the checks name are\n"
	"forwarded, to 127.0.0.1).\n"
	"Every check must pass within --timeout; the recovery time (RTO) is from the\n"
	"start of a machine's drill to its last check passing. A guest that powers off,\n"
	"or whose UEFI finds nothing it may boot, fails at once. Then the guest is\n"
	"powered off and everything the drill made is removed. A disk of no machine is\n"
	"booted as a machine of defaults.\n\n"
	"Checks (repeatable, at least one):\n"
	"      --expect-serial REGEX  a line on the serial console matches (POSIX ERE)\n"
	"      --expect-tcp PORT      the guest accepts TCP connections on PORT\n"
	"      --expect-http [http://HOST][:PORT]/PATH[=STATUS]  GET PATH on the guest's\n"
	"                             PORT (default 80) answers STATUS (default 200)\n\n"
	"Options:\n"
	"      --only MACHINE     drill this machine only\n"
	"      --timeout SECS     per machine (default 300)\n"
	"  -k, --key FILE         sign the drill's record with this key and keep it in the\n"
	"                         store beside the snapshots ('envpack snapshots' shows the\n"
	"                         last drill of each, 'envpack check' verifies them)\n"
	"      --report FILE.html one self-contained page: the snapshots, every drill the\n"
	"                         store keeps (verified) with its result and RTO, an RTO\n"
	"                         chart over time, the console of each failure\n"
	"      --json             print the drill record as JSON on stdout\n"
	"  -q, --quiet            print nothing unless it fails (for cron)\n"
	"  -p, --pubkey FILE      trust this public key only\n"
	"      --insecure-skip-verify  drill an unsigned bundle\n"
	"  -h, --help             this help\n"
	CLI_ALLOW_OLDER_HELP
	CLI_DECRYPT_HELP
	CLI_REMOTE_HELP
	"\nExit status: 0 every check passed, 1 a check failed or timed out, 2 bad\n"
	"input, 3 the backup's data failed its integrity check (a damaged chunk: the\n"
	"guest got an I/O error, never wrong bytes).\n";

static void say(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

/* The drill record's header: which snapshot, when, where. */
static json_t *record_head(const struct ep_manifest *m, const char *snapshot)
{
	char started[32], host[256] = "";
	time_t t = time(NULL);
	struct tm tm;
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	gethostname(host, sizeof host - 1);
	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "kind", "envpack-drill", "version", 1, "snapshot", snapshot,
			 "snapshot_time", m->created ? m->created : "", "snapshot_name", m->name ? m->name : "", "started",
			 started, "host", host);
}

static void print_result(const json_t *record, bool quiet)
{
	size_t i;
	json_t *mc;
	json_array_foreach(json_object_get(record, "machines"), i, mc)
	{
		bool passed = json_is_true(json_object_get(mc, "passed"));
		if (quiet && passed)
			continue;
		FILE *out = passed ? stdout : stderr;
		if (passed)
			fprintf(out, "%s: passed, RTO %.1f s, %lld bytes read from the backup\n",
				json_string_value(json_object_get(mc, "name")), json_real_value(json_object_get(mc, "rto_seconds")),
				(long long)json_integer_value(json_object_get(mc, "bytes_read")));
		else
			fprintf(out, "%s: FAILED: %s\n", json_string_value(json_object_get(mc, "name")),
				json_string_value(json_object_get(mc, "failure")) ? json_string_value(json_object_get(mc, "failure"))
										  : "a check did not pass");
	}
}

/* The snapshots of st as the report lists them: {"id", "time", "name"}, oldest first. */
static int report_snapshots(struct ep_store *st, json_t *out, struct ep_error *err)
{
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	for (size_t i = 0; !rc && i < cat.n; i++) {
		const struct ep_manifest *m = cat.entries[i].manifest;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "id", cat.entries[i].id, "time", m->created ? m->created : "",
						     "name", m->name ? m->name : ""));
	}
	ep_catalog_release(&cat);
	return rc;
}

/* --report: every verified drill of the store (this one too, kept or not), written whole or not at all. */
static int write_report(const char *path, struct ep_store *st, const struct ep_trust *trust, const json_t *record,
			bool kept, const char *name, struct ep_error *err)
{
	json_t *snaps = json_array(), *drills = NULL, *bad = NULL;
	int rc = st ? ep_drill_records_load(st, trust, &drills, &bad, err) : 0;
	if (!rc && !drills)
		drills = json_array();
	if (!rc && st)
		rc = report_snapshots(st, snaps, err);
	if (!rc && !kept)
		json_array_append(drills, (json_t *)record);
	char *html = NULL, title[PATH_MAX + 32], tmp[PATH_MAX + 32];
	size_t len = 0;
	snprintf(title, sizeof title, "envpack drills: %s", name);
	if (!rc)
		rc = ep_drill_report_html(snaps, drills, title, &html, &len, err);
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
	FILE *f = rc ? NULL : fopen(tmp, "w");
	if (!rc && (!f || fwrite(html, 1, len, f) != len || fclose(f) != 0 || rename(tmp, path) != 0)) {
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot write '%s'", path);
		unlink(tmp);
	}
	free(html);
	json_decref(snaps);
	json_decref(drills);
	json_decref(bad);
	return rc;
}

/* A store named alone means its latest snapshot. */
static void input_name(const char *arg, char *out, size_t cap)
{
	struct stat st;
	bool named = (!strncmp(arg, "s3://", 5) || !strncmp(arg, "dir:", 4)) && !strchr(arg, '@');
	bool store = named || (stat(arg, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(out, cap, "%s%s", arg, store ? "@latest" : "");
}

struct drill_out {
	const struct ep_key *key; /* keeps the record in the store; NULL: not kept */
	const char *report;       /* --report FILE.html, or NULL */
	bool json, quiet;
};

static int run_drill(const char *arg, struct ep_drill_options *o, const struct ep_trust *trust,
		     const struct ep_s3_options *remote, const struct drill_out *out)
{
	bool json = out->json, quiet = out->quiet;
	char name[PATH_MAX + 16], resolved[PATH_MAX + EP_STORE_ID_HEX + 2], location[PATH_MAX], signer[EP_KEY_ID_HEX];
	const char *ref;
	struct ep_error err = { 0 };
	struct ep_bundle *b = NULL;
	struct ep_store *st = NULL;
	struct ep_manifest *m = NULL;
	struct ep_drill_result res = { 0 };
	input_name(arg, name, sizeof name);
	int rc = cli_bundle_open(name, remote, &b, &st, &err);
	/* held for the drill, so that no forget or prune takes its chunks meanwhile */
	bool quiet_lock = true;
	if (!rc && st)
		rc = ep_store_lock(st, false, "drill", 0, cli_warn, &quiet_lock, &err);
	if (!rc)
		rc = ep_bundle_load(b, trust, &m, signer, &err);
	if (!rc)
		cli_seen_verified(st, m, signer);
	/* bare disks boot as a machine target restores them: a machine of defaults each */
	struct ep_restore_options defaults = { .to = "libvirt:-" };
	if (!rc)
		rc = ep_restore_default_machines(m, &defaults, &err);
	bool snapshot = st && ep_store_ref_split(name, location, sizeof location, &ref);
	cli_serve_options(name, st, trust, remote, resolved, sizeof resolved, &o->serve);
	const char *tmp = getenv("TMPDIR");
	o->manifest = m;
	o->tmpdir = tmp && *tmp ? tmp : "/tmp";
	o->say = !quiet && !json && isatty(STDERR_FILENO) ? say : NULL;
	signal(SIGINT, ep_interrupt_signal);
	signal(SIGTERM, ep_interrupt_signal);
	ep_interrupt_arm();
	if (!rc)
		rc = ep_drill_run(o, &res, &err);
	ep_interrupt_disarm();
	json_t *record = rc ? NULL : record_head(m, snapshot ? cli_resolved_snapshot() : name);
	bool ran = record != NULL;
	char id[EP_STORE_ID_HEX] = "";
	if (record) {
		json_object_set_new(record, "passed", json_boolean(res.passed));
		json_object_set_new(record, "integrity_failure", json_boolean(res.integrity));
		json_object_set(record, "machines", res.machines);
		if (out->key && !st)
			fprintf(stderr, "envpack: warning: a bundle has no store to keep the drill's record in\n");
		else if (out->key && (rc = ep_drill_record_put(st, out->key, record, id, &err)))
			id[0] = 0;
		if (!rc && out->report)
			rc = write_report(out->report, st, trust, record, id[0] != 0, arg, &err);
		if (id[0])
			json_object_set_new(record, "id", json_string(id));
		if (json) {
			json_dumpf(record, stdout, JSON_COMPACT);
			putchar('\n');
		} else
			print_result(record, quiet);
		if (res.integrity)
			fprintf(stderr, "envpack: the backup's data is damaged: %s\n", res.integrity_detail);
	}
	json_decref(record);
	json_decref(res.machines);
	ep_manifest_free(m);
	if (b)
		ep_bundle_close(b);
	ep_store_close(st);
	if (rc) { /* the record could not be kept or the report written: said, yet a damaged backup is 3 */
		int code = cli_fail(&err);
		return ran && res.integrity ? 3 : code;
	}
	return res.integrity ? 3 : res.passed ? 0 : 1;
}

int cmd_drill(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expect-serial", required_argument, NULL, 0x1401 }, { "expect-tcp", required_argument, NULL, 0x1402 },
		{ "expect-http", required_argument, NULL, 0x1403 },   { "only", required_argument, NULL, 'O' },
		{ "timeout", required_argument, NULL, 'T' },          { "pubkey", required_argument, NULL, 'p' },
		{ "insecure-skip-verify", no_argument, NULL, 'I' },   { "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },                  { "help", no_argument, NULL, 'h' },
		{ "key", required_argument, NULL, 'k' },              { "report", required_argument, NULL, 'R' },
		CLI_S3_OPTIONS, CLI_NET_OPTIONS, CLI_ALLOW_OLDER_OPTION, CLI_DECRYPT_OPTION, { 0 }
	};
	struct cli_net net = { 0 };
	struct ep_s3_options remote = { 0 };
	struct ep_trust trust = { 0 };
	struct ep_check checks[CHECKS_MAX];
	struct ep_drill_options o = { .checks = checks, .timeout_s = 300 };
	struct ep_error err = { 0 };
	struct drill_out out = { 0 };
	const char *keyfile = NULL;
	long n;
	int c, rc = 0;
	while (!rc && (c = getopt_long(argc, argv, "p:k:qh", opts, NULL)) != -1) {
		int r = cli_remote_option("drill", c, optarg, &net, &remote);
		if (r < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 0x1401:
		case 0x1402:
		case 0x1403:
			if (o.nchecks == CHECKS_MAX)
				return cli_usage("drill", "at most %d checks", CHECKS_MAX);
			if (ep_check_parse(&checks[o.nchecks], c == 0x1401 ? EP_CHECK_SERIAL : c == 0x1402 ? EP_CHECK_TCP : EP_CHECK_HTTP,
					   optarg, &err))
				rc = cli_usage("drill", "%s", err.msg);
			else
				o.nchecks++;
			break;
		case 'O': o.only = optarg; break;
		case 'T':
			if (!cli_number(optarg, 1, 86400, &n))
				rc = cli_usage("drill", "--timeout takes seconds, 1 to 86400");
			o.timeout_s = (unsigned)n;
			break;
		case 'p': trust.pubkey = optarg; break;
		case 'I': trust.insecure = true; break;
		case 'J': out.json = true; break;
		case 'q': out.quiet = true; cli_store_quiet(); break;
		case 'k': keyfile = optarg; break;
		case 'R': out.report = optarg; break;
		case 'h': return cli_help(help);
		case 0x1210: cli_allow_older(); break;
		default: rc = cli_usage("drill", "unknown option");
		}
	}
	if (!rc && optind + 1 != argc)
		rc = cli_usage("drill", "name one store snapshot or bundle");
	if (!rc && !o.nchecks)
		rc = cli_usage("drill", "name what proves it boots: --expect-serial, --expect-tcp or --expect-http");
	if (rc) {
		for (size_t i = 0; i < o.nchecks; i++)
			ep_check_release(&checks[i]);
		return rc;
	}
	struct ep_key *key = NULL;
	if (keyfile && ep_key_load_private(keyfile, &key, &err))
		rc = cli_fail(&err);
	out.key = key;
	if (!rc)
		rc = run_drill(argv[optind], &o, &trust, &remote, &out);
	ep_key_free(key);
	for (size_t i = 0; i < o.nchecks; i++)
		ep_check_release(&checks[i]);
	return rc;
}
