#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack recover STORE --as-of TIME [--dry-run] [--json]\n\n"
	"Bring a store back to what it held at TIME, after an attack (or a mistake)\n"
	"deleted or overwrote its objects: an s3:// store in a bucket with versioning on\n"
	"(which Object Lock needs), where a delete leaves a delete marker and an\n"
	"overwrite a new version. For every object under the store but locks/ and\n"
	"claims/ (config.json, snapshots/, chunks/, drills/), the version that was\n"
	"current at TIME, when it is not the current one now, is copied onto its key\n"
	"and so made current again (retained by the store's Object Lock policy, when it\n"
	"has one). Nothing is deleted: what was made after TIME stays, and the\n"
	"snapshots among it are listed, for 'envpack forget' if they are the attacker's.\n"
	"What no version is left of (removed version by version, which Object Lock\n"
	"prevents until the retention passes) cannot come back. Recover takes the\n"
	"store's exclusive lock, as prune does (not with --dry-run); then run\n"
	"'envpack check --read-data'. It needs a credential that may list versions,\n"
	"read them (s3:GetObjectVersion) and put objects; see 'snapshots --as-of' to\n"
	"look first. Exit 0 done, 1 refused or failed, 2 bad input (a dir: store, a\n"
	"bucket without versioning, a bad TIME).\n\n"
	"Options:\n" CLI_AS_OF_HELP
	"  -n, --dry-run        say what would be recovered, change nothing\n"
	"      --json           {as_of, dry_run, restored: {snapshots, chunks, other}\n"
	"                       (objects), bytes (alike), unchanged, later_snapshots\n"
	"                       (ids), requests}\n" CLI_STORE_HELP;

static int later_snapshot(void *ctx, const char *id, struct ep_error *err)
{
	(void)err;
	json_array_append_new(ctx, json_string(id));
	return 0;
}

static json_t *folders_json(const uint64_t v[EP_RECOVER_FOLDERS])
{
	return json_pack("{s:I,s:I,s:I}", "snapshots", (json_int_t)v[EP_RECOVER_SNAPSHOTS], "chunks",
			 (json_int_t)v[EP_RECOVER_CHUNKS], "other", (json_int_t)v[EP_RECOVER_OTHER]);
}

static void report(const struct ep_store *st, const char *when, bool dry_run, const struct ep_recover_stats *rs,
		   const json_t *later, const struct cli_store_args *sa)
{
	static const char *const names[] = { "snapshot objects", "chunks", "other objects" };
	uint64_t n = 0;
	for (int f = 0; f < EP_RECOVER_FOLDERS; f++)
		n += rs->restored[f];
	cli_log_info("recover %s as of %s: %llu objects %srestored", ep_store_where(st), when, (unsigned long long)n,
		     dry_run ? "would be " : "");
	if (sa->json) {
		json_t *o = json_pack("{s:s,s:b,s:o,s:o,s:I,s:O,s:o?}", "as_of", when, "dry_run", dry_run, "restored",
				      folders_json(rs->restored), "bytes", folders_json(rs->bytes), "unchanged",
				      (json_int_t)rs->unchanged, "later_snapshots", later, "requests",
				      cli_store_requests_json(st));
		json_dumpf(o, stdout, JSON_COMPACT), putchar('\n');
		json_decref(o);
		return;
	}
	if (sa->quiet)
		return;
	printf("%s as of %s:\n", dry_run ? "would recover" : "recovered", when);
	for (int f = 0; f < EP_RECOVER_FOLDERS; f++) {
		char h[32];
		cli_human(rs->bytes[f], h, sizeof h);
		printf("  %-17s %8llu  (%s)\n", names[f], (unsigned long long)rs->restored[f], h);
	}
	printf("  %-17s %8llu\n", "unchanged", (unsigned long long)rs->unchanged);
	for (size_t i = 0; i < json_array_size(later); i++)
		printf("snapshot %.8s was made after %s: kept ('envpack forget' removes it)\n",
		       json_string_value(json_array_get(later, i)), when);
}

int cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = { { "as-of", required_argument, NULL, 'A' },
					      { "dry-run", no_argument, NULL, 'n' }, CLI_STORE_OPTIONS,
					      CLI_STORE_NET_OPTIONS, { 0 } };
	struct cli_store_args sa = { 0 };
	bool dry_run = false;
	int64_t t = 0;
	int c;
	while ((c = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		int taken = cli_store_option("recover", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		if (c == 'n')
			dry_run = true;
		else if (c != 'A')
			return cli_usage("recover", "unknown option");
		else if (!cli_as_of("recover", optarg, &t))
			return 2;
	}
	if (optind + 1 != argc)
		return cli_usage("recover", "name one store");
	if (!t)
		return cli_usage("recover", "say to when: --as-of TIME");
	char when[EP_UTC_LEN];
	ep_utc_format(t, when, sizeof when);
	struct ep_store *st;
	/* opened as of then: config.json as it was, whatever was put over it since */
	int code = cli_store_open_as_of(argv[optind], &sa.s3, t, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	struct ep_recover_stats rs;
	json_t *later = json_array();
	int rc = ep_store_as_of(st, 0, &err);
	if (!rc && !dry_run)
		rc = ep_store_lock(st, true, "recover", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!rc)
		rc = ep_store_recover(st, t, dry_run, &rs, later_snapshot, later, &err);
	if (!rc)
		report(st, when, dry_run, &rs, later, &sa);
	json_decref(later);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
