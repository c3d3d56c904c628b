#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/store_cli.h"
#include "verify/drill_record.h"

static const char help[] =
	"usage: envpack snapshots STORE [--as-of TIME] [--json] [-p KEY.pub]\n\n"
	"List a store's snapshots, oldest first: id (any unique prefix of it names the\n"
	"snapshot, as does 'latest'), time, environment name, host, data size, the\n"
	"last drill (its result and recovery time: 'ok 7.4s', 'FAILED', or '-' when\n"
	"none) and tags. --json prints an array of objects with id, time, name, host,\n"
	"tags, sources, sequence, signed, components, sizes (virtual_bytes, data_bytes)\n"
	"and last_drill (id, started, passed, rto_seconds; null when none); in a store\n"
	"with Object Lock, object_lock: the mode and the retain_until date before which\n"
	"the snapshot and every chunk it names cannot be removed (null when none).\n\n"
	"A drill record (what 'envpack drill' keeps in the store) counts only when its\n"
	"signature holds against -p KEY.pub, or else a key in the trusted-keys\n"
	"directories; the others are not shown, with one warning ('envpack check' names\n"
	"each). The last drill is the latest by its start time.\n\n"
	"A snapshot file that cannot be used (garbage, not matching its id, not opening\n"
	"with the key) is left out of the list (--json too) with a warning naming it.\n"
	"'envpack check' fails on them; 'envpack forget STORE ID' removes one.\n\n"
	"With --as-of, the snapshots the store held at TIME, read from the versions\n"
	"of its bucket (those deleted or overwritten since included): what\n"
	"'envpack recover --as-of TIME' would bring back. Nothing is written.\n\n"
	"Options:\n"
	"  -p, --pubkey FILE    trust drill records signed by this key\n" CLI_AS_OF_HELP CLI_STORE_HELP;

static json_t *strings(char **list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* The latest verified drill of each snapshot, by snapshot id. The records that do not verify
 * are not results: one warning says how many, naming the first. */
static int latest_drills(struct ep_store *st, const struct ep_trust *trust, bool quiet, json_t **latest,
			 struct ep_error *err)
{
	json_t *verified, *bad;
	int rc = ep_drill_records_load(st, trust, &verified, &bad, err);
	if (rc)
		return rc;
	size_t nbad = json_array_size(bad);
	if (nbad) {
		const json_t *first = json_array_get(bad, 0);
		char msg[1500], more[64] = "";
		if (nbad > 1)
			snprintf(more, sizeof more, " (and %zu more)", nbad - 1);
		snprintf(msg, sizeof msg, "%zu drill record%s cannot be verified, so %s not shown: '%s'%s: %s "
			 "('envpack check' names each)", nbad, nbad == 1 ? "" : "s", nbad == 1 ? "it is" : "they are",
			 json_string_value(json_object_get(first, "file")), more,
			 json_string_value(json_object_get(first, "problem")));
		cli_warn(&quiet, msg);
	}
	*latest = ep_drill_latest(verified);
	json_decref(verified);
	json_decref(bad);
	return *latest ? 0 : ep_oom(err);
}

/* The drill column: "ok 7.4s", "ok" (no recovery time), "FAILED" or "-". */
static void drill_cell(const json_t *last, char *buf, size_t cap)
{
	const json_t *rto = json_object_get(last, "rto_seconds");
	if (!last)
		snprintf(buf, cap, "-");
	else if (!json_is_true(json_object_get(last, "passed")))
		snprintf(buf, cap, "FAILED");
	else if (json_is_number(rto))
		snprintf(buf, cap, "ok %.1fs", json_number_value(rto));
	else
		snprintf(buf, cap, "ok");
}

/* What a snapshot says of its retention (Object Lock): {"mode", "retain_until"}, or null. */
static json_t *lock_json(const struct ep_snapinfo *si)
{
	char until[EP_UTC_LEN];
	if (!si || !si->lock_mode[0])
		return json_null();
	ep_utc_format(si->retain_until, until, sizeof until);
	return json_pack("{s:s,s:s}", "mode", si->lock_mode, "retain_until", until);
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option opts[] = { { "pubkey", required_argument, NULL, 'p' },
					      { "as-of", required_argument, NULL, 'A' }, CLI_STORE_OPTIONS,
					      CLI_STORE_NET_OPTIONS, { 0 } };
	int64_t as_of = 0;
	struct cli_store_args sa = { 0 };
	struct ep_trust trust = { 0 }; /* no -p: the trusted-keys directories */
	int c;
	while ((c = getopt_long(argc, argv, "p:qh", opts, NULL)) != -1) {
		int taken = cli_store_option("snapshots", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		if (c == 'A' && !cli_as_of("snapshots", optarg, &as_of))
			return 2;
		if (c != 'p' && c != 'A')
			return cli_usage("snapshots", "unknown option");
		if (c == 'p')
			trust.pubkey = optarg;
	}
	if (optind + 1 != argc)
		return cli_usage("snapshots", "name one store");
	struct ep_store *st;
	int code = cli_store_open_as_of(argv[optind], &sa.s3, as_of, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	struct ep_catalog cat;
	json_t *drills = NULL;
	int rc = ep_catalog_load(st, &cat, &err);
	json_t *list = sa.json ? json_array() : NULL;
	if (!rc)
		cli_store_warn_bad(&cat, st, sa.quiet);
	if (!rc && (rc = latest_drills(st, &trust, sa.quiet, &drills, &err)))
		ep_catalog_release(&cat);
	if (!rc && !sa.json && !sa.quiet)
		printf("%-8s  %-20s  %-16s  %-16s  %10s  %-10s  %s\n", "ID", "TIME (UTC)", "NAME", "HOST", "DATA", "DRILL",
		       "TAGS");
	for (size_t i = 0; !rc && i < cat.n; i++) {
		const struct ep_catalog_entry *e = &cat.entries[i];
		const struct ep_manifest *m = e->manifest;
		const struct ep_snapinfo *si = m->snapshot;
		json_t *last = json_object_get(drills, e->id);
		uint64_t data = 0, virt = 0;
		for (size_t k = 0; k < m->ncomponents; k++) {
			data += ep_component_data_size(&m->components[k]);
			virt += m->components[k].virtual_size;
		}
		if (list) {
			json_t *comps = json_array();
			for (size_t k = 0; k < m->ncomponents; k++)
				json_array_append_new(comps, json_string(m->components[k].name));
			json_array_append_new(
				list, json_pack("{s:s,s:s,s:s,s:s?,s:o,s:o,s:I,s:b,s:o,s:{s:I,s:I},s:O}", "id", e->id, "time",
						m->created, "name", m->name, "host", si ? si->host : NULL, "tags",
						si ? strings(si->tags, si->ntags) : json_array(), "sources",
						si ? strings(si->sources, si->nsources) : json_array(), "sequence",
						(json_int_t)e->sequence, "signed", e->signed_, "components", comps, "sizes",
						"virtual_bytes", (json_int_t)virt, "data_bytes", (json_int_t)data,
						"last_drill", last ? last : json_null()));
			json_object_set_new(json_array_get(list, json_array_size(list) - 1), "object_lock", lock_json(si));
		} else if (!sa.quiet) {
			char h[32], tags[256] = "", drill[32];
			cli_human(data, h, sizeof h);
			drill_cell(last, drill, sizeof drill);
			for (size_t k = 0; si && k < si->ntags; k++)
				snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", k ? "," : "", si->tags[k]);
			printf("%.8s  %-20s  %-16s  %-16s  %10s  %-10s  %s\n", e->id, m->created, m->name, si ? si->host : "-", h,
			       drill, tags);
		}
	}
	if (list) {
		if (!rc)
			json_dumpf(list, stdout, EP_DRILL_JSON_FLAGS), putchar('\n'); /* rto_seconds as recorded */
		json_decref(list);
	} else if (!rc && !sa.quiet)
		printf("%zu snapshot%s\n", cat.n, cat.n == 1 ? "" : "s");
	if (!rc && !sa.json && !sa.quiet && cat.nbad)
		printf("%zu snapshot file%s cannot be used (see the warnings)\n", cat.nbad, cat.nbad == 1 ? "" : "s");
	if (!rc)
		ep_catalog_release(&cat);
	json_decref(drills);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
