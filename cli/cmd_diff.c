#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "formats/bundle/diff.h"
#include "cli/store_cli.h"
#include "verify/check.h"

static const char help[] =
	"usage: envpack diff OLD NEW [--json]\n\n"
	"Show what changed from OLD to NEW, each a bundle or STORE@SNAPSHOT: components\n"
	"added or removed, disks whose data changed (with the bytes NEW holds that OLD\n"
	"does not), and in file trees each path added (+), removed (-) or modified (M).\n"
	"Reads the manifests only.\n\n"
	"Options:\n"
	"      --json           print {\"changes\": [...], totals} on stdout\n"
	"  -h, --help           this help\n"
	CLI_DECRYPT_HELP
	CLI_STORE_S3_HELP
	"\nExample:\n"
	"  envpack diff /srv/dr@3f2a9c1e /srv/dr@latest\n";

static void print_item(void *ctx, const struct ep_diff_item *it)
{
	static const char *const mark[] = { "+", "-", "M" }, *const word[] = { "added", "removed", "changed" };
	json_t *list = ctx;
	if (list) {
		json_array_append_new(list, json_pack("{s:s,s:s,s:s?,s:I}", "change", word[it->kind], "component",
						      it->component, "path", it->path, "new_bytes",
						      (json_int_t)it->new_bytes));
		return;
	}
	char h[32];
	cli_human(it->new_bytes, h, sizeof h);
	char *path = it->path ? strdup(it->path) : NULL; /* a manifest's: control bytes made '?' */
	if (it->path)
		printf("%s %s/%s\n", mark[it->kind], it->component, path ? ep_printable(path) : "?");
	else
		printf("%s %s%s%s%s\n", mark[it->kind], it->component, it->kind == EP_DIFF_REMOVED ? "" : " (",
		       it->kind == EP_DIFF_REMOVED ? "" : h, it->kind == EP_DIFF_REMOVED ? "" : " new)");
	free(path);
}

/* Reads a side's manifest; signatures are not checked (nothing is restored). */
static int load(const char *arg, const struct ep_s3_options *remote, struct ep_bundle **b, struct ep_store **st,
		struct ep_manifest **m, struct ep_error *err)
{
	char signer[EP_KEY_ID_HEX];
	static const struct ep_trust insecure = { .insecure = true };
	int rc = cli_bundle_open(arg, remote, b, st, err);
	return rc ? rc : ep_bundle_load(*b, &insecure, m, signer, err);
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' },
					      CLI_S3_OPTIONS, CLI_NET_OPTIONS, CLI_DECRYPT_OPTION, { 0 } };
	struct cli_net net = { 0 };
	struct ep_s3_options remote = { 0 };
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(help);
		int r = cli_remote_option("diff", c, optarg, &net, &remote);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (c != 'J')
			return cli_usage("diff", "unknown option");
		json = true;
	}
	if (optind + 2 != argc)
		return cli_usage("diff", "name two snapshots or bundles, the older first");
	struct ep_error err = { 0 };
	struct ep_bundle *b[2] = { NULL };
	struct ep_store *st[2] = { NULL };
	struct ep_manifest *m[2] = { NULL };
	struct ep_diff_stats ds;
	json_t *list = json ? json_array() : NULL;
	int rc = load(argv[optind], &remote, &b[0], &st[0], &m[0], &err);
	if (!rc)
		rc = load(argv[optind + 1], &remote, &b[1], &st[1], &m[1], &err);
	if (!rc)
		rc = ep_manifest_diff(m[0], m[1], print_item, list, &ds, &err);
	if (!rc) {
		char h[32];
		cli_human(ds.new_bytes, h, sizeof h);
		if (json) {
			json_t *o = json_pack("{s:O,s:I,s:I,s:I,s:I}", "changes", list, "added", (json_int_t)ds.added,
					      "removed", (json_int_t)ds.removed, "changed", (json_int_t)ds.changed,
					      "new_bytes", (json_int_t)ds.new_bytes);
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		} else
			printf("%llu added, %llu removed, %llu changed; %s of new data\n", (unsigned long long)ds.added,
			       (unsigned long long)ds.removed, (unsigned long long)ds.changed, h);
	}
	json_decref(list);
	for (int i = 0; i < 2; i++) {
		ep_manifest_free(m[i]);
		ep_bundle_close(b[i]);
		ep_store_close(st[i]);
	}
	return rc ? cli_fail(&err) : 0;
}
