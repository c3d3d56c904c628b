#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/pool.h"
#include "cli/store_cli.h"
#include "verify/store_check.h"

static const char help[] =
	"usage: envpack check STORE [--read-data | --read-data-subset N%] [-p KEY.pub]\n\n"
	"Check a store: every snapshot reads and matches its id, every chunk a snapshot\n"
	"names is there; with --read-data every chunk is also decompressed and its\n"
	"SHA-256 checked, with --read-data-subset N% a random N percent of them (a\n"
	"different share each run, so nightly runs cover the store over time); with -p\n"
	"each signed snapshot's signature is checked against KEY.pub. Each problem is\n"
	"printed on a line of its own; exit 3 when there is any. A snapshot file that\n"
	"cannot be used (garbage, not matching its id, not opening with the key) is one\n"
	"problem, named by its file, and the other snapshots are checked all the same.\n"
	"Every drill record ('envpack drill') must be signed by KEY.pub and be of the\n"
	"right shape; one that is not is a problem, named by its file with the command\n"
	"that removes it ('envpack forget STORE --drill ID'). Without -p, records are\n"
	"checked against the keys in the trusted-keys directories: one signed by a key\n"
	"they do not hold is not verified, and counted in a note (--json:\n"
	"drills_unverified), no problem; one unsigned, whose signature is malformed or\n"
	"does not hold, or of the wrong shape, is a problem all the same. Chunks no\n"
	"snapshot names, and drill records of snapshots forgotten since (--json:\n"
	"drills_without_snapshot), are counted, not a problem: 'envpack prune' removes\n"
	"them.\n\n"
	"In a store with Object Lock (formats/STORE.md, section 10), check also reads the\n"
	"retention of each snapshot's manifest object and of a few of its chunks, picked\n"
	"at random: one retained for less than the store's policy says (its days from\n"
	"the snapshot's creation, in its mode, and at least until the date the snapshot\n"
	"records) is warned of, no problem (--json: retention_short, warnings).\n\n"
	"Options:\n"
	"      --read-data      read every chunk\n"
	"      --read-data-subset N%  read a random share of the chunks\n"
	"  -p, --pubkey FILE    check signatures against this key\n"
	"  -j, --threads N      worker threads for reading (default: one per CPU)\n" CLI_STORE_HELP;

/* Once, not per record: the records this host has no key for, and how to give it one. */
static void note_unverified(uint64_t n)
{
	char dirs[1][PATH_MAX];
	size_t ndirs;
	struct ep_error ignored = { 0 };
	if (ep_trusted_dirs(dirs, 1, &ndirs, &ignored) || !ndirs)
		snprintf(dirs[0], sizeof dirs[0], "a trusted-keys directory");
	fprintf(stderr,
		"envpack: check: note: %llu drill record%s signed by a key this host does not trust: not verified "
		"(give -p KEY.pub, or add the key to %s)\n",
		(unsigned long long)n, n == 1 ? "" : "s", dirs[0]);
}

static void problem(void *ctx, const char *msg)
{
	json_t *list = ctx;
	if (list)
		json_array_append_new(list, json_string(msg));
	fprintf(stderr, "envpack: check: %s\n", msg);
}

struct warnings {
	json_t *list; /* --json */
	bool quiet;
};

static void retention_warning(void *ctx, const char *msg)
{
	struct warnings *w = ctx;
	if (w->list)
		json_array_append_new(w->list, json_string(msg));
	cli_warn(&w->quiet, msg);
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = { { "read-data", no_argument, NULL, 'R' },
					      { "read-data-subset", required_argument, NULL, 'S' },
					      { "pubkey", required_argument, NULL, 'p' },
					      { "threads", required_argument, NULL, 'j' },
					      CLI_STORE_OPTIONS, CLI_STORE_NET_OPTIONS,
					      { 0 } };
	struct cli_store_args sa = { 0 };
	struct ep_trust trust = { 0 };
	struct ep_store_check_options opt = { .threads = ep_cpu_count() };
	long v;
	int c;
	while ((c = getopt_long(argc, argv, "p:j:qh", opts, NULL)) != -1) {
		int taken = cli_store_option("check", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		switch (c) {
		case 'R': opt.read_percent = 100; break;
		case 'S': {
			char num[8];
			size_t len = strlen(optarg);
			if (len < 2 || len > 4 || optarg[len - 1] != '%' || !memcpy(num, optarg, len - 1) ||
			    (num[len - 1] = '\0', !cli_number(num, 1, 100, &v)))
				return cli_usage("check", "--read-data-subset takes a percentage, 1%% to 100%%");
			opt.read_percent = (unsigned)v;
			break;
		}
		case 'p': trust.pubkey = optarg; opt.trust = &trust; break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &v))
				return cli_usage("check", "--threads takes a number from 1 to 64");
			opt.threads = (unsigned)v;
			break;
		default: return cli_usage("check", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("check", "name one store");
	struct ep_store *st;
	int code = cli_store_open_streamed(argv[optind], &sa.s3, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	struct ep_store_check_stats stats;
	struct ep_progress progress;
	struct cli_bar bar;
	json_t *problems = sa.json ? json_array() : NULL;
	cli_bar_init(&bar, &progress, "check", sa.quiet || sa.json);
	opt.progress = &progress;
	opt.problem = problem;
	opt.ctx = problems;
	struct warnings warnings = { sa.json ? json_array() : NULL, sa.quiet };
	opt.warn = retention_warning;
	opt.warn_ctx = &warnings;
	/* shared: backups may go on; prune, which removes chunks, waits */
	int rc = ep_store_lock(st, false, "check", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!rc)
		rc = ep_store_check(st, &opt, &stats, &err);
	cli_bar_finish(&bar);
	if ((!rc || err.code == EP_EINTEGRITY) && stats.drills_unverified && !sa.quiet)
		note_unverified(stats.drills_unverified);
	if (!rc || err.code == EP_EINTEGRITY) {
		cli_log_info("check %s: %llu snapshots, %llu chunks, %llu read, %llu missing, %llu bad", argv[optind],
			     (unsigned long long)stats.snapshots, (unsigned long long)stats.chunks,
			     (unsigned long long)stats.read, (unsigned long long)stats.missing, (unsigned long long)stats.bad);
		if (sa.json) {
			json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:O}",
					      "store", argv[optind], "ok", !rc, "snapshots", (json_int_t)stats.snapshots,
					      "bad_snapshots", (json_int_t)stats.bad_snapshots, "chunks",
					      (json_int_t)stats.chunks, "referenced", (json_int_t)stats.referenced,
					      "unreferenced", (json_int_t)stats.unreferenced, "missing",
					      (json_int_t)stats.missing, "read", (json_int_t)stats.read, "bad",
					      (json_int_t)stats.bad, "unsigned_snapshots", (json_int_t)stats.unsigned_snapshots,
					      "drills", (json_int_t)stats.drills, "bad_drills", (json_int_t)stats.bad_drills,
					      "drills_unverified", (json_int_t)stats.drills_unverified,
					      "drills_without_snapshot", (json_int_t)stats.drills_without_snapshot,
					      "problems", problems);
			if (ep_store_object_lock(st)) {
				json_object_set_new(o, "retention_short", json_integer((json_int_t)stats.retention_short));
				json_object_set(o, "warnings", warnings.list);
			}
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		} else if (cli_store_chatty(&sa) && !rc)
			printf("store %s: %llu snapshots, %llu chunks (%llu unreferenced), %llu read back, %llu drill records: "
			       "no problems\n", argv[optind], (unsigned long long)stats.snapshots,
			       (unsigned long long)stats.chunks, (unsigned long long)stats.unreferenced,
			       (unsigned long long)stats.read, (unsigned long long)stats.drills);
	}
	json_decref(problems);
	json_decref(warnings.list);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
