#include <stdio.h>

#include <jansson.h>

#include "cli/prune_cli.h"
#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack prune STORE [--dry-run]\n\n"
	"Remove the chunks no snapshot names any longer (after 'envpack forget'), the\n"
	"drill records ('envpack drill') of snapshots no longer there, what backups\n"
	"that were killed left half-written, and the lock records and sequence claims\n"
	"backups leave (they remove nothing). Prune takes the store's exclusive lock: it\n"
	"waits for running backups (--lock-wait) and they for it, so a chunk a backup\n"
	"is about to name is never removed under it. A snapshot that cannot be read\n"
	"stops prune before anything is removed (exit 3, naming its file): repair it,\n"
	"or remove it with 'envpack forget STORE ID'. A drill record that cannot be\n"
	"read is kept ('envpack check' names it). Prune and forget need a credential\n"
	"that may delete: with an append-only one, as backup hosts have, they fail at\n"
	"once (exit 1), changing nothing; --dry-run runs with one, warning once that\n"
	"the real run would fail. In a store with Object Lock\n"
	"(formats/STORE.md, section 10) a chunk or drill record goes only once its\n"
	"retention has passed; prune says how many it had to keep, and until when\n"
	"(--json: chunks_locked, bytes_locked, drills_locked, locked_until).\n\n"
	"Options:\n"
	"  -n, --dry-run        say what would be removed, remove nothing\n" CLI_STORE_HELP;

/* Object Lock: what prune had to keep, and until when. */
static void lock_json(json_t *o, const struct ep_prune_stats *ps)
{
	char until[EP_UTC_LEN];
	ep_utc_format(ps->locked_until, until, sizeof until);
	json_object_set_new(o, "chunks_locked", json_integer((json_int_t)ps->chunks_locked));
	json_object_set_new(o, "bytes_locked", json_integer((json_int_t)ps->bytes_locked));
	json_object_set_new(o, "drills_locked", json_integer((json_int_t)ps->drills_locked));
	json_object_set_new(o, "locked_until", ps->locked_until ? json_string(until) : json_null());
}

static void locked_info(const struct ep_store *st, const struct ep_prune_stats *ps, bool dry_run, bool chatty)
{
	char until[EP_UTC_LEN], bytes[32];
	ep_utc_format(ps->locked_until, until, sizeof until);
	cli_human(ps->bytes_locked, bytes, sizeof bytes);
	cli_log_info("prune %s: %llu chunks (%s) and %llu drill records no snapshot needs %s kept: Object Lock retains "
		     "them, until %s at the latest", ep_store_where(st), (unsigned long long)ps->chunks_locked, bytes,
		     (unsigned long long)ps->drills_locked, dry_run ? "would be" : "were", until);
	if (chatty)
		printf("%llu chunks (%s) and %llu drill records kept: Object Lock retains them, until %s at the latest\n",
		       (unsigned long long)ps->chunks_locked, bytes, (unsigned long long)ps->drills_locked, until);
}

int cli_prune(struct ep_store *st, bool dry_run, const struct cli_store_args *sa, json_t *out, struct ep_error *err)
{
	struct ep_prune_stats ps;
	int rc = ep_store_prune(st, dry_run, &ps, err);
	if (rc)
		return rc;
	char removed[32], kept[32];
	cli_human(ps.bytes_removed, removed, sizeof removed);
	cli_human(ps.bytes_kept, kept, sizeof kept);
	cli_log_info("prune %s: %llu chunks (%s) and %llu drill records %sremoved, %llu chunks kept", ep_store_where(st),
		     (unsigned long long)ps.chunks_removed, removed, (unsigned long long)ps.drills_removed,
		     dry_run ? "would be " : "", (unsigned long long)ps.chunks_kept);
	if (out)
		json_object_set_new(out, "prune",
				    json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dry_run", dry_run, "chunks_removed",
					      (json_int_t)ps.chunks_removed, "bytes_removed", (json_int_t)ps.bytes_removed,
					      "chunks_kept", (json_int_t)ps.chunks_kept, "bytes_kept",
					      (json_int_t)ps.bytes_kept, "partial_files_removed", (json_int_t)ps.temps_removed,
					      "drills_removed", (json_int_t)ps.drills_removed, "drills_kept",
					      (json_int_t)ps.drills_kept, "lock_records_removed",
					      (json_int_t)ps.locks_removed));
	else if (cli_store_chatty(sa))
		printf("%s %llu chunks (%s) and %llu drill records of forgotten snapshots; %llu chunks (%s) kept for %llu "
		       "snapshots\n",
		       dry_run ? "would remove" : "removed", (unsigned long long)ps.chunks_removed, removed,
		       (unsigned long long)ps.drills_removed, (unsigned long long)ps.chunks_kept, kept,
		       (unsigned long long)ps.snapshots);
	if (out && ep_store_object_lock(st))
		lock_json(json_object_get(out, "prune"), &ps);
	if (ps.chunks_locked || ps.drills_locked)
		locked_info(st, &ps, dry_run, !out && cli_store_chatty(sa));
	return 0;
}

int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = { { "dry-run", no_argument, NULL, 'n' }, CLI_STORE_OPTIONS, CLI_STORE_NET_OPTIONS, { 0 } };
	struct cli_store_args sa = { 0 };
	bool dry_run = false;
	int c;
	while ((c = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		int taken = cli_store_option("prune", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		if (c != 'n')
			return cli_usage("prune", "unknown option");
		dry_run = true;
	}
	if (optind + 1 != argc)
		return cli_usage("prune", "name one store");
	struct ep_store *st;
	int code = cli_store_open_streamed(argv[optind], &sa.s3, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	json_t *out = sa.json ? json_object() : NULL;
	int rc = dry_run ? ep_store_lock_dry_run(st, "prune", sa.lock_wait, cli_warn, &sa.quiet, &err)
			 : ep_store_lock(st, true, "prune", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!rc)
		rc = cli_prune(st, dry_run, &sa, out, &err);
	if (out && !rc)
		json_dumpf(out, stdout, JSON_COMPACT), putchar('\n');
	json_decref(out);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
