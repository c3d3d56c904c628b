#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/pack_args.h"

static const char help[] =
	"usage: envpack pack -o OUT.envpack [-k NAME.key] [OPTIONS] SOURCE...\n\n"
	"Pack disks and file trees into one bundle: data is cut into content-defined\n"
	"chunks (about 1 MiB), each stored once, zstd-compressed, named by its SHA-256,\n"
	"and listed in a manifest signed with Ed25519. Nothing appears at OUT until\n"
	"the bundle is complete, and an existing OUT is replaced only with --force.\n\n"
	CLI_SOURCES_HELP
	"Options:\n"
	"  -o, --output FILE    the bundle to write (required)\n"
	"      --force          replace FILE if it exists (pack refuses otherwise)\n"
	"  -n, --name NAME      environment name (default: OUT without .envpack)\n"
	"  -f FMT               short for --format FMT\n"
	CLI_PACK_HELP
	"      --json           print a summary as JSON on stdout\n"
	"  -q, --quiet          no progress bar and no warnings\n"
	"  -h, --help           this help\n\n"
	"SOURCE_DATE_EPOCH, when set, fixes the created time so that packing the\n"
	"same sources again gives the same bundle, byte for byte.\n\n"
	"Example:\n"
	"  envpack pack -k ops.key -o web.envpack disk:/var/lib/vm/web.raw iac:./infra\n";

static const char *default_name(const char *out, char *buf, size_t cap)
{
	const char *base = strrchr(out, '/');
	snprintf(buf, cap, "%s", base ? base + 1 : out);
	size_t n = strlen(buf);
	if (n > 8 && !strcmp(buf + n - 8, ".envpack"))
		buf[n - 8] = '\0';
	return buf;
}

static int print_summary(const char *out, const struct ep_pack_stats *s, const char *signer, bool json,
			 struct cli_pack_args *a)
{
	if (json) {
		json_t *o = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I}", "bundle", out, "signed_by", signer,
				      "virtual_bytes", (json_int_t)s->virtual_bytes, "data_bytes",
				      (json_int_t)s->data_bytes, "stored_bytes", (json_int_t)s->stored_bytes, "bundle_bytes",
				      (json_int_t)s->bundle_bytes, "chunks", (json_int_t)s->chunks, "unique_chunks",
				      (json_int_t)s->unique_chunks);
		cli_pack_json_disks(a, o);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
		return 0;
	}
	char data[32], bundle[32];
	cli_human(s->data_bytes, data, sizeof data);
	cli_human(s->bundle_bytes, bundle, sizeof bundle);
	printf("packed %s: %s of data in %llu chunks (%llu unique) -> %s, %s\n", out, data,
	       (unsigned long long)s->chunks, (unsigned long long)s->unique_chunks, bundle,
	       signer ? "signed" : "UNSIGNED");
	cli_pack_print_captures(a);
	return 0;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },        { "help", no_argument, NULL, 'h' },
		{ "force", no_argument, NULL, 'F' },
		CLI_PACK_OPTIONS, { 0 }
	};
	struct cli_pack_args args;
	const char *out = NULL;
	bool json = false, quiet = false, force = false;
	int c;
	cli_pack_args_init(&args);
	while ((c = getopt_long(argc, argv, "o:qhf:" CLI_PACK_SHORT, opts, NULL)) != -1) {
		int taken = cli_pack_option("pack", c == 'f' ? CLI_PACK_FORMAT : c, optarg, &args);
		if (taken < 0)
			return 2;
		if (taken)
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'J': json = true; break;
		case 'q': quiet = true; break;
		case 'F': force = true; break;
		case 'h': return cli_help(help);
		default: return cli_usage("pack", "unknown option");
		}
	}
	if (!out)
		return cli_usage("pack", "name the bundle to write with -o FILE");
	struct ep_error err = { 0 };
	if (!force && !access(out, F_OK)) { /* as convert, export and pull: no silent replacing */
		ep_fail(&err, EP_EINPUT, "'%s' exists; pack replaces it only with --force", out);
		return cli_fail(&err);
	}
	char namebuf[256];
	struct ep_pack_options opt;
	struct ep_source *sources;
	struct ep_key *key;
	int code = cli_pack_prepare("pack", &args, argv + optind, (size_t)(argc - optind),
				    default_name(out, namebuf, sizeof namebuf), &opt, &sources, &key);
	if (code)
		return code;
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "pack", quiet || json);
	opt.output = out;
	opt.progress = &progress;
	opt.warn = cli_warn;
	opt.warn_ctx = &quiet;
	if (args.dry_run) {
		code = cli_pack_dry_run(&args, &opt, sources, (size_t)(argc - optind), json);
		free(sources);
		ep_key_free(key);
		cli_pack_args_release(&args);
		return code;
	}
	struct ep_pack_stats stats;
	int rc = ep_pack(&opt, sources, (size_t)(argc - optind), &stats, &err);
	cli_bar_finish(&bar);
	free(sources);
	if (!rc && (json || !quiet))
		print_summary(out, &stats, key ? ep_key_id(key) : NULL, json, &args);
	ep_key_free(key);
	cli_pack_args_release(&args);
	return rc ? cli_fail(&err) : 0;
}
