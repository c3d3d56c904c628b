#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "packer/backup.h"
#include "cli/pack_args.h"
#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack backup STORE [-k NAME.key] [OPTIONS] SOURCE...\n\n"
	"Take a snapshot of sources into a store: the same sources and chunking as\n"
	"'envpack pack', but only the chunks the store lacks are written, so a second\n"
	"backup of an unchanged disk adds almost nothing and one after 1 % of it\n"
	"changed adds about 1 %. A raw disk image file whose device, inode, size,\n"
	"mtime and ctime are those it had at the last backup is not even read: its\n"
	"record is taken from that snapshot (the files cache, kept with the rollback\n"
	"state; --force reads everything). The snapshot appears only once every chunk\n"
	"it names is in place; a backup killed at any moment leaves the store valid,\n"
	"and the next one reuses what it had written. Silent on success when not run\n"
	"from a terminal (cron); one line on stderr, and a non-zero exit, on failure.\n\n"
	"STORE is dir:PATH (or a plain PATH), or s3://BUCKET/PREFIX; see formats/STORE.md.\n\n"
	CLI_SOURCES_HELP
	"Options:\n"
	"      --init           make the store first if PATH is absent or empty\n"
	"      --object-lock DAYS  with --init, into an s3:// bucket made with Object\n"
	"                       Lock: every object the store gets is retained (S3 refuses\n"
	"                       to remove it) for DAYS days and more; each snapshot keeps\n"
	"                       the chunks it reuses retained as long as itself\n"
	"                       (formats/STORE.md, section 10). Later backups need no flag\n"
	"      --lock-mode MODE governance (default: an admin allowed to bypass it may\n"
	"                       remove early) or compliance (no one may, until the date)\n"
	"  -f, --from SPEC      read more sources from SPEC, one a line ('#' starts a comment)\n"
	"      --tag TAG        tag the snapshot (repeatable; letters, digits, ._:+=@-)\n"
	"  -n, --name NAME      environment name (default: the host name)\n"
	"      --host NAME      the host recorded in the snapshot (default: this one's)\n"
	"      --check-chunks   ask the store about every chunk (a HEAD or stat each), trusting\n"
	"                       neither the last snapshot nor this host's chunk cache: after\n"
	"                       'check' found a chunk missing, this writes it again\n"
	"      --force          read every disk again, even one the files cache says is\n"
	"                       unchanged since the last backup\n"
	CLI_PACK_HELP
	CLI_STORE_HELP_("") /* --cacert, --timeout, --retries: in CLI_PACK_HELP */
	"\nSOURCE_DATE_EPOCH, when set, is the snapshot's time.\n\n"
	"Examples:\n"
	"  envpack backup --init -k ops.key dir:/srv/dr disk:/dev/vg0/web iac:/etc/infra\n"
	"  envpack backup -k ops.key --tag nightly -f /etc/envpack/web.spec /srv/dr\n"
	"  envpack keygen --x25519 -o dr      # keep dr.key off this host\n"
	"  envpack backup --init --encrypt-to dr.pub -k ops.key s3://dr-bucket/web disk:/dev/vg0/web\n"
	"  envpack backup --init --object-lock 30 --lock-mode compliance -k ops.key s3://dr-locked/web disk:/dev/vg0/web\n";

#define SOURCES_MAX 256

/* SPEC's lines into specs (pointing into *text, which the caller frees). */
static int read_spec(const char *path, char **text, char **specs, size_t *n)
{
	struct ep_error err = { 0 };
	size_t len;
	if (ep_read_file(path, 1 << 20, text, &len, &err))
		return cli_fail(&err);
	char *rest = *text, *line;
	while ((line = strsep(&rest, "\n"))) {
		line += strspn(line, " \t");
		size_t end = strlen(line);
		while (end && (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
			line[--end] = '\0';
		if (!*line || *line == '#')
			continue;
		if (*n == SOURCES_MAX)
			return cli_usage("backup", "at most %d sources", SOURCES_MAX);
		specs[(*n)++] = line;
	}
	return 0;
}

/* "object_lock": the floor recorded and what was sent to keep the reused chunks retained. */
static json_t *lock_json(const struct ep_store *st, const struct ep_backup_result *res)
{
	const struct ep_store_object_lock *p = ep_store_object_lock(st);
	if (!p)
		return NULL;
	char until[EP_UTC_LEN];
	ep_utc_format(res->retain_until, until, sizeof until);
	return json_pack("{s:s,s:I,s:s,s:I,s:I,s:I}", "mode", ep_lock_mode_name(p->mode), "days", (json_int_t)p->days,
			 "retain_until", until, "covered", (json_int_t)res->lock_covered, "checked",
			 (json_int_t)res->lock_keep.checked, "extended", (json_int_t)res->lock_keep.extended);
}

static void summary(const struct cli_store_args *sa, const struct ep_store *st, const char *store,
		    const struct ep_snapinfo *info, const char *name, const struct ep_backup_result *res,
		    const struct ep_pack_stats *s, double secs, struct cli_pack_args *a)
{
	char data[32], added[32];
	cli_human(s->data_bytes, data, sizeof data);
	cli_human(s->stored_bytes, added, sizeof added);
	cli_log_info("backup %s@%.8s: %s of data, %s added", store, res->id, data, added);
	if (sa->json) {
		json_t *tags = json_array();
		for (size_t i = 0; i < info->ntags; i++)
			json_array_append_new(tags, json_string(info->tags[i]));
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "store", store, "snapshot",
				      res->id, "name", name, "host", info->host, "tags", tags, "sequence",
				      (json_int_t)res->sequence, "virtual_bytes", (json_int_t)s->virtual_bytes,
				      "data_bytes", (json_int_t)s->data_bytes, "added_bytes", (json_int_t)s->stored_bytes,
				      "chunks", (json_int_t)s->chunks, "added_chunks", (json_int_t)s->unique_chunks,
				      "reused_chunks", (json_int_t)s->reused_chunks, "seconds", secs);
		cli_pack_json_disks(a, o);
		json_t *lock = lock_json(st, res), *requests = cli_store_requests_json(st);
		if (lock)
			json_object_set_new(o, "object_lock", lock);
		if (requests)
			json_object_set_new(o, "requests", requests);
		json_object_set_new(o, "lookups", json_pack("{s:I,s:s,s:I,s:I}", "previous", (json_int_t)res->known_previous,
							   "chunk_cache", res->chunk_cache, "cached",
							   (json_int_t)res->known_cached, "asked", (json_int_t)res->chunks_asked));
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (cli_store_chatty(sa)) {
		printf("snapshot %.8s of %s saved in %s: %s of data, %s added (%llu of %llu chunks new)\n", res->id, name,
		       store, data, added, (unsigned long long)s->unique_chunks, (unsigned long long)s->chunks);
		cli_pack_print_captures(a);
	}
}

int cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "init", no_argument, NULL, 'I' }, { "from", required_argument, NULL, 'f' },
		{ "tag", required_argument, NULL, 'T' }, { "host", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'F' }, { "object-lock", required_argument, NULL, 0x1500 },
		{ "lock-mode", required_argument, NULL, 0x1501 }, { "check-chunks", no_argument, NULL, 0x1502 },
		CLI_PACK_OPTIONS, CLI_STORE_OPTIONS, { 0 }
	};
	struct ep_store_object_lock object_lock = { EP_LOCK_GOVERNANCE, 0 };
	bool lock_mode_given = false;
	long days;
	struct cli_pack_args args;
	struct cli_store_args sa = { 0 };
	const char *tags[EP_SNAP_TAGS_MAX], *host = NULL, *from[16];
	size_t ntags = 0, nfrom = 0;
	bool init = false, reread = false, check_chunks = false;
	int c;
	cli_pack_args_init(&args);
	args.level = EP_BACKUP_LEVEL;
	while ((c = getopt_long(argc, argv, "f:qh" CLI_PACK_SHORT, opts, NULL)) != -1) {
		int taken = cli_pack_option("backup", c, optarg, &args);
		if (taken < 0)
			return 2;
		if (!taken && (taken = cli_store_option("backup", c, optarg, &sa, help)) < 0)
			return sa.exit;
		if (taken)
			continue;
		switch (c) {
		case 'I': init = true; break;
		case 'f':
			if (nfrom == 16)
				return cli_usage("backup", "at most 16 --from");
			from[nfrom++] = optarg;
			break;
		case 'T':
			if (!ep_snap_tag_ok(optarg) || ntags == EP_SNAP_TAGS_MAX)
				return cli_usage("backup", "--tag takes 1 to 64 of letters, digits and ._:+=@- (at most 64 tags)");
			tags[ntags++] = optarg;
			break;
		case 'H': host = optarg; break;
		case 'F': reread = true; break;
		case 0x1502: check_chunks = true; break;
		case 0x1500:
			if (!cli_number(optarg, 1, EP_STORE_LOCK_DAYS_MAX, &days))
				return cli_usage("backup", "--object-lock takes days, 1 to %d", EP_STORE_LOCK_DAYS_MAX);
			object_lock.days = (unsigned)days;
			break;
		case 0x1501:
			if (!ep_lock_mode_parse(optarg, &object_lock.mode))
				return cli_usage("backup", "--lock-mode takes governance or compliance");
			lock_mode_given = true;
			break;
		default: return cli_usage("backup", "unknown option");
		}
	}
	if (optind == argc)
		return cli_usage("backup", "name the store, then the sources");
	if (object_lock.days && !init)
		return cli_usage("backup", "--object-lock is given with --init: a store's Object Lock is set when it is "
					   "made, and later backups follow it");
	if (lock_mode_given && !object_lock.days)
		return cli_usage("backup", "--lock-mode goes with --object-lock DAYS");
	const char *store = argv[optind++];
	char *specs[SOURCES_MAX], *spec_text[16] = { 0 }, hostname[256] = "";
	size_t nspecs = 0;
	int code = 0;
	for (int i = optind; !code && i < argc; i++)
		if (nspecs == SOURCES_MAX)
			code = cli_usage("backup", "at most %d sources", SOURCES_MAX);
		else
			specs[nspecs++] = argv[i];
	for (size_t i = 0; !code && i < nfrom; i++)
		code = read_spec(from[i], &spec_text[i], specs, &nspecs);
	gethostname(hostname, sizeof hostname - 1);
	if (!host)
		host = *hostname ? hostname : "localhost";
	struct ep_pack_options opt;
	struct ep_source *sources = NULL;
	struct ep_key *key = NULL;
	if (!code)
		code = cli_pack_prepare("backup", &args, specs, nspecs, host, &opt, &sources, &key);
	if (!code && args.dry_run) { /* the store is not opened: a dry run shows what captures would send */
		code = cli_pack_dry_run(&args, &opt, sources, nspecs, sa.json);
		cli_pack_args_release(&args);
		free(sources);
		ep_key_free(key);
		for (size_t i = 0; i < nfrom; i++)
			free(spec_text[i]);
		return code;
	}
	struct ep_snapinfo *info = code ? NULL : ep_snapinfo_new(host, 0);
	struct ep_error err = { 0 };
	int rc = code || info ? 0 : ep_oom(&err);
	for (size_t i = 0; !code && !rc && i < ntags; i++)
		rc = ep_snapinfo_add(&info->tags, &info->ntags, EP_SNAP_TAGS_MAX, tags[i], &err);
	for (size_t i = 0; !code && !rc && i < nspecs; i++) {
		char shown[2048]; /* a SAS URL's token is a credential: the snapshot records the URL without it */
		ep_source_public_spec(specs[i], shown, sizeof shown);
		rc = ep_snapinfo_add(&info->sources, &info->nsources, EP_SNAP_SOURCES_MAX, shown, &err);
	}
	struct ep_store *st = NULL;
	sa.s3.http = args.net.registry.http; /* --cacert, --timeout, --retries came with the pack options */
	if (!code && !rc)
		code = cli_store_open_backup(store, init, &sa.s3, object_lock.days ? &object_lock : NULL, &st);
	if (!code && !rc && cli_seal_wanted() && !ep_store_seal(st))
		rc = ep_fail(&err, EP_EINPUT, "store '%s' is not encrypted: its snapshots cannot be; back up into a new "
					      "store made with --init --encrypt-to", store);
	if (!code && !rc)
		rc = ep_store_lock(st, false, "backup", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!code && !rc) {
		struct ep_progress progress;
		struct cli_bar bar;
		struct ep_backup_result res;
		struct ep_pack_stats stats;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cli_bar_init(&bar, &progress, "backup", sa.quiet || sa.json);
		opt.progress = &progress;
		opt.warn = cli_warn;
		opt.warn_ctx = &sa.quiet;
		char files[PATH_MAX], chunks[PATH_MAX];
		struct ep_backup_cache cache = { cli_files_cache(st, files, sizeof files),
						 cli_chunk_cache(st, chunks, sizeof chunks), reread, check_chunks };
		info->sequence = cli_seen_sequence(st) + 1; /* never below what this host wrote before */
		rc = ep_backup(st, &opt, sources, nspecs, info, &cache, &stats, &res, &err);
		if (!rc)
			cli_seen_record(st, res.sequence);
		ep_store_unlock(st); /* published: and the release counts among the requests */
		cli_bar_finish(&bar);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!rc)
			summary(&sa, st, store, info, opt.name, &res, &stats,
				(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, &args);
	}
	ep_store_close(st); /* unlocks */
	ep_snapinfo_free(info);
	cli_pack_args_release(&args);
	free(sources);
	ep_key_free(key);
	for (size_t i = 0; i < nfrom; i++)
		free(spec_text[i]);
	if (code)
		return code;
	return rc ? cli_fail(&err) : 0;
}
