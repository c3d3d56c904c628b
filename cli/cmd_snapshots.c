#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack snapshots STORE [--json]\n\n"
	"List a store's snapshots, oldest first: id (any unique prefix of it names the\n"
	"snapshot, as does 'latest'), time, environment name, host, tags, data size and\n"
	"what each holds. --json prints an array of objects with id, time, name, host,\n"
	"tags, sources, sequence, signed, components and sizes (virtual_bytes,\n"
	"data_bytes).\n\n"
	"A snapshot file that cannot be used (garbage, not matching its id, not opening\n"
	"with the key) is left out of the list (--json too) with a warning naming it.\n"
	"'envpack check' fails on them; 'envpack forget STORE ID' removes one.\n\n"
	"Options:\n" CLI_STORE_HELP;

static json_t *strings(char **list, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option opts[] = { CLI_STORE_OPTIONS, CLI_STORE_NET_OPTIONS, { 0 } };
	struct cli_store_args sa = { 0 };
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		int taken = cli_store_option("snapshots", c, optarg, &sa, help);
		if (taken != 1)
			return taken < 0 ? sa.exit : cli_usage("snapshots", "unknown option");
	}
	if (optind + 1 != argc)
		return cli_usage("snapshots", "name one store");
	struct ep_store *st;
	int code = cli_store_open(argv[optind], false, &sa.s3, &st);
	if (code)
		return code;
	struct ep_error err = { 0 };
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, &err);
	json_t *list = sa.json ? json_array() : NULL;
	if (!rc)
		cli_store_warn_bad(&cat, st, sa.quiet);
	if (!rc && !sa.json && !sa.quiet)
		printf("%-8s  %-20s  %-16s  %-16s  %10s  %s\n", "ID", "TIME (UTC)", "NAME", "HOST", "DATA", "TAGS");
	for (size_t i = 0; !rc && i < cat.n; i++) {
		const struct ep_catalog_entry *e = &cat.entries[i];
		const struct ep_manifest *m = e->manifest;
		const struct ep_snapinfo *si = m->snapshot;
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
				list, json_pack("{s:s,s:s,s:s,s:s?,s:o,s:o,s:I,s:b,s:o,s:{s:I,s:I}}", "id", e->id, "time",
						m->created, "name", m->name, "host", si ? si->host : NULL, "tags",
						si ? strings(si->tags, si->ntags) : json_array(), "sources",
						si ? strings(si->sources, si->nsources) : json_array(), "sequence",
						(json_int_t)e->sequence, "signed", e->signed_, "components", comps, "sizes",
						"virtual_bytes", (json_int_t)virt, "data_bytes", (json_int_t)data));
		} else if (!sa.quiet) {
			char h[32], tags[256] = "";
			cli_human(data, h, sizeof h);
			for (size_t k = 0; si && k < si->ntags; k++)
				snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", k ? "," : "", si->tags[k]);
			printf("%.8s  %-20s  %-16s  %-16s  %10s  %s\n", e->id, m->created, m->name, si ? si->host : "-", h, tags);
		}
	}
	if (list) {
		if (!rc)
			json_dumpf(list, stdout, JSON_COMPACT), putchar('\n');
		json_decref(list);
	} else if (!rc && !sa.quiet)
		printf("%zu snapshot%s\n", cat.n, cat.n == 1 ? "" : "s");
	if (!rc && !sa.json && !sa.quiet && cat.nbad)
		printf("%zu snapshot file%s cannot be used (see the warnings)\n", cat.nbad, cat.nbad == 1 ? "" : "s");
	if (!rc)
		ep_catalog_release(&cat);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
