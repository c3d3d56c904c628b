#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/prune_cli.h"
#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack forget STORE [POLICY] [--prune] [--dry-run]\n"
	"       envpack forget STORE SNAPSHOT...\n"
	"       envpack forget STORE --drill ID... [--dry-run]\n\n"
	"Remove snapshots, by id (or a unique prefix of one) or by a retention policy,\n"
	"with the meaning restic gives it. Snapshots are grouped by host and\n"
	"environment name; in each group, walking from the newest, every rule keeps\n"
	"the newest snapshot of each of the last N hours (days, weeks, months, years)\n"
	"that have one, --keep-last the N newest; a snapshot any rule keeps is kept.\n"
	"Periods are counted in UTC, weeks as ISO weeks. N = -1 keeps all of them.\n"
	"Forgetting removes the snapshot only; its chunks and drill records go with\n"
	"'envpack prune' (or --prune here). A snapshot file that cannot be used (garbage, not matching its\n"
	"id) is kept by a policy, with a warning, and removed when named by its id;\n"
	"--prune refuses while one is left, as prune does.\n\n"
	"--drill removes the drill records named instead (by id, or a unique prefix of\n"
	"one), each record and its signature, whatever state they are in: the way to\n"
	"remove one that 'envpack check' says cannot be used. Nothing is removed unless\n"
	"every id names one.\n\n"
	"Policy:\n"
	"      --keep-last N, --keep-hourly N, --keep-daily N, --keep-weekly N,\n"
	"      --keep-monthly N, --keep-yearly N\n"
	"      --keep-tag TAG   keep every snapshot with this tag (repeatable)\n"
	"Options:\n"
	"      --prune          prune afterwards, under the same lock\n"
	"      --drill          the ids name drill records, not snapshots\n"
	"      --bypass-governance  in a store with Object Lock in governance mode,\n"
	"                       remove snapshots still retained, every version of them\n"
	"                       for good (the credential needs s3:BypassGovernanceRetention)\n"
	"  -n, --dry-run        say what would be removed, remove nothing\n" CLI_STORE_HELP
	"\nIn a store with Object Lock (formats/STORE.md, section 10) a snapshot is not\n"
	"removed before its retain-until date: forget refuses (exit 1) before removing\n"
	"anything while one it would remove is retained, in compliance mode always, in\n"
	"governance mode unless --bypass-governance. Its chunks stay until theirs passes.\n"
	"\nExample (cron, nightly):\n"
	"  envpack forget /srv/dr --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune\n"
	"Forget needs a credential that may delete: with an append-only one, as backup\n"
	"hosts have, it fails at once (exit 1), changing nothing. --dry-run runs with\n"
	"one, warning once that the real run would fail.\n";

static json_t *entry_json(const struct ep_catalog_entry *e, const char *why)
{
	const struct ep_snapinfo *si = e->manifest->snapshot;
	return json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "id", e->id, "time", e->manifest->created, "name", e->manifest->name,
			 "host", si ? si->host : NULL, "reason", *why ? why : NULL);
}

/* Marks the snapshot ref names for removal: one that can be used in keep, one that cannot in drop. */
static int select_id(const struct ep_catalog *cat, const char *ref, const char *store, bool *keep, bool *drop,
		     struct ep_error *err)
{
	const struct ep_catalog_entry *e = ep_catalog_find(cat, ref, store, err);
	const struct ep_catalog_bad *b = e ? NULL : ep_catalog_find_bad(cat, ref);
	if (e)
		keep[e - cat->entries] = false;
	else if (b)
		drop[b - cat->bad] = true, *err = (struct ep_error){ 0 };
	return e || b ? 0 : err->code;
}

/* Object Lock: the snapshots to remove (ids[n]) must be past their retention, but governance ones
 * when bypass is given (force[i] set for those, removed for good). Judged for all before any is
 * removed: a refusal changes nothing. */
static int check_retention(struct ep_store *st, char (*ids)[EP_STORE_ID_HEX], size_t n, bool bypass, bool *force,
			   struct ep_error *err)
{
	char(*names)[100] = calloc(n ? n : 1, sizeof *names);
	struct ep_store_retention *r = calloc(n ? n : 1, sizeof *r);
	int rc = names && r ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < n; i++)
		snprintf(names[i], sizeof names[i], "snapshots/%s.json", ids[i]);
	if (!rc)
		rc = ep_store_retentions(st, (const char(*)[100])names, n, r, err);
	int64_t now = time(NULL);
	size_t refused = 0, first = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		force[i] = r[i].until > now && r[i].mode == EP_LOCK_GOVERNANCE && bypass;
		if (r[i].until > now && !force[i] && !refused++)
			first = i;
	}
	if (!rc && refused) {
		char until[EP_UTC_LEN], more[64] = "";
		ep_utc_format(r[first].until, until, sizeof until);
		if (refused > 1)
			snprintf(more, sizeof more, " (and %zu more)", refused - 1);
		rc = ep_fail(err, EP_ERUNTIME, "store '%s': snapshot %.8s is retained by Object Lock (%s mode) until %s%s: "
					       "%s; nothing was removed", ep_store_where(st), ids[first],
			     ep_lock_mode_name(r[first].mode), until, more,
			     r[first].mode == EP_LOCK_COMPLIANCE ? "no one may remove it before then"
								 : "wait until then, or give --bypass-governance");
	}
	free(names);
	free(r);
	return rc;
}

static bool named_before(char (*const ids)[EP_STORE_ID_HEX], size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ids[i], id))
			return true;
	return false;
}

/* --drill: the records refs name, every one found before any is removed, then removed whatever
 * state they are in (no byte of them is read). */
static int forget_drills(struct ep_store *st, const char *store, char **refs, size_t n, bool dry_run,
			 const struct cli_store_args *sa, struct ep_error *err)
{
	char(*ids)[EP_STORE_ID_HEX] = calloc(n, sizeof *ids);
	size_t nids = 0;
	int rc = ids ? 0 : ep_oom(err);
	for (size_t i = 0; !rc && i < n; i++)
		if (!(rc = ep_store_find_drill(st, refs[i], ids[nids], err)) && !named_before(ids, nids, ids[nids]))
			nids++;
	json_t *out = sa->json ? json_pack("{s:b,s:[]}", "dry_run", dry_run, "remove") : NULL;
	for (size_t i = 0; !rc && i < nids; i++) {
		char file[PATH_MAX + 100];
		snprintf(file, sizeof file, "%s/drills/%s.json", ep_store_where(st), ids[i]);
		if (out)
			json_array_append_new(json_object_get(out, "remove"),
					      json_pack("{s:s,s:s}", "id", ids[i], "file", file));
		else if (cli_store_chatty(sa))
			printf("%-12s %.8s  drill record\n", dry_run ? "would remove" : "remove", ids[i]);
		if (!dry_run)
			rc = ep_store_remove_drill(st, ids[i], err);
	}
	if (!rc)
		cli_log_info("forget %s: %zu drill record%s %sremoved", store, nids, nids == 1 ? "" : "s",
			     dry_run ? "would be " : "");
	if (out && !rc)
		json_dumpf(out, stdout, JSON_COMPACT), putchar('\n');
	json_decref(out);
	free(ids);
	return rc;
}

/* A snapshot removed; force: every version of it, past its governance retention. */
static int remove_snapshot(struct ep_store *st, const char *id, bool force, struct ep_error *err)
{
	return force ? ep_store_remove_snapshot_bypass(st, id, err) : ep_store_remove_snapshot(st, id, err);
}

int cmd_forget(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-last", required_argument, NULL, 0 },   { "keep-hourly", required_argument, NULL, 1 },
		{ "keep-daily", required_argument, NULL, 2 },  { "keep-weekly", required_argument, NULL, 3 },
		{ "keep-monthly", required_argument, NULL, 4 }, { "keep-yearly", required_argument, NULL, 5 },
		{ "keep-tag", required_argument, NULL, 'T' },  { "prune", no_argument, NULL, 'P' },
		{ "dry-run", no_argument, NULL, 'n' },         { "drill", no_argument, NULL, 'D' },
		{ "bypass-governance", no_argument, NULL, 'B' },
		CLI_STORE_OPTIONS,                             CLI_STORE_NET_OPTIONS,
		{ 0 }
	};
	struct cli_store_args sa = { 0 };
	struct ep_policy policy = { 0 };
	int *rules[] = { &policy.last, &policy.hourly, &policy.daily, &policy.weekly, &policy.monthly, &policy.yearly };
	const char *keep_tags[32];
	bool prune = false, dry_run = false, drills = false, bypass = false;
	long n;
	int c;
	while ((c = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		int taken = cli_store_option("forget", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		if (c >= 0 && c <= 5) {
			if (!cli_number(optarg, -1, 1000000, &n) || n == 0)
				return cli_usage("forget", "%s takes a count from 1, or -1 for all", opts[c].name);
			*rules[c] = (int)n;
		} else if (c == 'T') {
			if (policy.nkeep_tags == 32 || !ep_snap_tag_ok(optarg))
				return cli_usage("forget", "--keep-tag takes a tag (at most 32 of them)");
			keep_tags[policy.nkeep_tags++] = optarg;
			policy.keep_tags = keep_tags;
		} else if (c == 'P')
			prune = true;
		else if (c == 'n')
			dry_run = true;
		else if (c == 'D')
			drills = true;
		else if (c == 'B')
			bypass = true;
		else
			return cli_usage("forget", "unknown option");
	}
	if (optind >= argc)
		return cli_usage("forget", "name the store");
	const char *store = argv[optind++];
	size_t nids = (size_t)(argc - optind);
	if (drills && bypass)
		return cli_usage("forget", "--bypass-governance removes snapshots, not drill records");
	if (drills && (!nids || !ep_policy_empty(&policy) || prune))
		return cli_usage("forget", "--drill takes drill record ids alone (no policy, no --prune)");
	if (!drills && !nids == ep_policy_empty(&policy))
		return cli_usage("forget", "give either snapshot ids or a policy (--keep-...), not %s",
				 nids ? "both" : "neither");
	struct ep_store *st;
	int code = cli_store_open_streamed(store, &sa.s3, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	struct ep_catalog cat = { 0 };
	int rc = dry_run ? ep_store_lock_dry_run(st, "forget", sa.lock_wait, cli_warn, &sa.quiet, &err)
			 : ep_store_lock(st, true, "forget", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (drills) {
		if (!rc)
			rc = forget_drills(st, store, argv + optind, nids, dry_run, &sa, &err);
		ep_store_close(st);
		return rc ? cli_fail(&err) : 0;
	}
	if (!rc)
		rc = ep_catalog_load(st, &cat, &err);
	bool *keep = calloc(cat.n ? cat.n : 1, sizeof *keep);
	const char **why = calloc(cat.n ? cat.n : 1, sizeof *why);
	bool *drop = calloc(cat.nbad ? cat.nbad : 1, sizeof *drop); /* bad snapshots named to be removed */
	if (!rc && (!keep || !why || !drop))
		rc = ep_oom(&err);
	if (!rc && nids) {
		for (size_t i = 0; i < cat.n; i++)
			keep[i] = true, why[i] = "";
		for (size_t i = 0; !rc && i < nids; i++)
			rc = select_id(&cat, argv[optind + (int)i], store, keep, drop, &err);
	} else if (!rc) {
		cli_store_warn_bad(&cat, st, sa.quiet); /* kept: a policy cannot judge what it cannot read */
		rc = ep_policy_apply(&cat, &policy, keep, why, &err);
	}
	/* before anything is removed: prune would refuse the bad snapshots left */
	if (!rc && prune)
		rc = ep_catalog_require_all(&cat, drop, store, "prune", &err);
	/* what goes, in the order it goes: the bad snapshots named, then the others not kept */
	char(*gone)[EP_STORE_ID_HEX] = calloc(cat.n + cat.nbad + 1, sizeof *gone);
	bool *force = calloc(cat.n + cat.nbad + 1, sizeof *force);
	size_t ngone = 0;
	if (!rc && (!gone || !force))
		rc = ep_oom(&err);
	for (size_t i = 0; !rc && i < cat.nbad; i++)
		if (drop[i])
			memcpy(gone[ngone++], cat.bad[i].id, EP_STORE_ID_HEX);
	for (size_t i = 0; !rc && i < cat.n; i++)
		if (!keep[i])
			memcpy(gone[ngone++], cat.entries[i].id, EP_STORE_ID_HEX);
	if (!rc && ep_store_object_lock(st))
		rc = check_retention(st, gone, ngone, bypass, force, &err);
	json_t *out = sa.json ? json_pack("{s:b,s:[],s:[]}", "dry_run", dry_run, "keep", "remove") : NULL;
	size_t removed = 0;
	for (size_t i = 0; !rc && i < cat.nbad; i++) {
		if (!drop[i])
			continue;
		if (out)
			json_array_append_new(json_object_get(out, "remove"), cli_bad_snapshot_json(&cat.bad[i], st));
		else if (cli_store_chatty(&sa))
			printf("%-12s %.8s  (cannot be used)\n", dry_run ? "would remove" : "remove", cat.bad[i].id);
		if (!dry_run)
			rc = remove_snapshot(st, cat.bad[i].id, force[removed], &err);
		removed++;
	}
	for (size_t i = 0; !rc && i < cat.n; i++) {
		const struct ep_catalog_entry *e = &cat.entries[i];
		if (out)
			json_array_append_new(json_object_get(out, keep[i] ? "keep" : "remove"), entry_json(e, why[i]));
		else if (cli_store_chatty(&sa))
			printf("%-12s %.8s  %s  %s%s%s%s\n", keep[i] ? "keep" : dry_run ? "would remove" : "remove", e->id,
			       e->manifest->created, e->manifest->name, *why[i] ? "  (" : "", why[i], *why[i] ? ")" : "");
		if (!keep[i]) {
			if (!dry_run)
				rc = remove_snapshot(st, e->id, force[removed], &err);
			removed++;
		}
	}
	free(gone);
	free(force);
	if (!rc)
		cli_log_info("forget %s: %zu of %zu snapshots %sremoved", store, removed, cat.n + cat.nbad,
			     dry_run ? "would be " : "");
	if (!rc && prune)
		rc = cli_prune(st, dry_run, &sa, out, &err);
	if (out && !rc)
		json_dumpf(out, stdout, JSON_COMPACT), putchar('\n');
	json_decref(out);
	free(keep);
	free(why);
	free(drop);
	ep_catalog_release(&cat);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
