#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/store_cli.h"
#include "base/pool.h"
#include "cloud/s3.h"
#include "verify/check.h"

static const char help[] =
	"usage: envpack verify BUNDLE [-p KEY.pub] [--deep] [OPTIONS]\n\n"
	"Check that a bundle is what its signer packed: the Ed25519 signature over\n"
	"the manifest, then that every chunk the manifest names is in the bundle.\n"
	"Exits 0 only if everything holds, 3 if anything does not.\n\n"
	"Which key: -p names it. Without -p, envpack looks for the *.pub file whose\n"
	"key id matches the signature in the trusted-keys directories:\n"
	"  $ENVPACK_TRUSTED_KEYS (a directory; when set, the only one searched), else\n"
	"  ${XDG_CONFIG_HOME:-$HOME/.config}/envpack/trusted-keys/ and\n"
	"  /etc/envpack/trusted-keys/\n\n"
	"Options:\n"
	"  -p, --pubkey FILE          trust this public key only\n"
	"      --deep                 also decompress every chunk and check its SHA-256\n"
	"      --insecure-skip-verify check the chunks of an unsigned bundle, ignoring signatures\n"
	"  -j, --threads N            worker threads for --deep (default: one per CPU)\n"
	"      --json                 print the result as JSON on stdout\n"
	"  -q, --quiet                no progress bar, no output on success\n"
	"  -h, --help                 this help\n"
	CLI_ALLOW_OLDER_HELP
	CLI_DECRYPT_HELP
	"BUNDLE may also be a store's snapshot, STORE@ID (a unique prefix will do) or\n"
	"STORE@latest: the store is asked about each chunk (HEAD, stat), 8 requests\n"
	"in flight, and --json gives the requests sent, by kind.\n"
	CLI_REMOTE_HELP;

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pubkey", required_argument, NULL, 'p' }, { "deep", no_argument, NULL, 'D' },
		{ "insecure-skip-verify", no_argument, NULL, 'I' }, { "threads", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },          { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          CLI_S3_OPTIONS, CLI_NET_OPTIONS, CLI_ALLOW_OLDER_OPTION, CLI_DECRYPT_OPTION, { 0 }
	};
	struct cli_net net = { 0 };
	struct ep_s3_options remote = { 0 };
	struct ep_trust trust = { 0 };
	bool deep = false, json = false, quiet = false;
	long threads = ep_cpu_count();
	int c;
	while ((c = getopt_long(argc, argv, "p:j:qh", opts, NULL)) != -1) {
		int r = cli_remote_option("verify", c, optarg, &net, &remote);
		if (r < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 'p': trust.pubkey = optarg; break;
		case 'D': deep = true; break;
		case 'I': trust.insecure = true; break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &threads))
				return cli_usage("verify", "--threads takes a number from 1 to 64");
			break;
		case 'J': json = true; break;
		case 'q': quiet = true; cli_store_quiet(); break;
		case 'h': return cli_help(help);
		case 0x1210: cli_allow_older(); break;
		default: return cli_usage("verify", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("verify", "name one bundle");
	const char *path = argv[optind];
	struct ep_error err = { 0 };
	struct ep_bundle *b = NULL;
	struct ep_store *st = NULL;
	struct ep_manifest *m = NULL;
	struct ep_verify_stats stats = { 0 };
	char signer[EP_KEY_ID_HEX] = "";
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "verify", quiet || json);
	int rc = cli_bundle_open(path, &remote, &b, &st, &err);
	if (!rc)
		rc = ep_bundle_load_lazily(b, &trust, &m, signer, &err);
	if (!rc)
		cli_seen_verified(st, m, signer);
	if (!rc)
		rc = ep_verify_chunks(b, m, deep, (unsigned)threads, &progress, &stats, &err);
	cli_bar_finish(&bar);
	if (json) {
		json_t *o = json_pack("{s:s,s:b,s:s?,s:b,s:I,s:I,s:s?}", "bundle", path, "ok", !rc, "signed_by",
				      *signer ? signer : NULL, "deep", deep, "chunks_checked", (json_int_t)stats.chunks_checked,
				      "bytes_checked", (json_int_t)stats.bytes_checked, "error", rc ? err.msg : NULL);
		json_t *requests = st ? cli_store_requests_json(st) : NULL; /* a store's snapshot on S3 */
		if (requests)
			json_object_set_new(o, "requests", requests);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !quiet) {
		if (*signer)
			printf("%s: signature by key %s holds", path, signer);
		else
			printf("%s: NOT signature-checked (--insecure-skip-verify)", path);
		if (deep)
			printf("; %llu chunks decompressed and match their digests\n",
			       (unsigned long long)stats.chunks_checked);
		else
			printf("; every chunk is present (--deep also checks their content)\n");
	}
	ep_manifest_free(m);
	ep_bundle_close(b);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
