#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "packer/backup.h"
#include "base/pool.h"
#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack export STORE@SNAPSHOT -o FILE.envpack [-p KEY.pub]\n\n"
	"Write one snapshot of a store as a self-contained bundle: its manifest and\n"
	"signature byte for byte, and every chunk it names, each checked first. A\n"
	"store is many bundles sharing chunks; a bundle is a store of one snapshot.\n"
	"SNAPSHOT is an id, a unique prefix of one, or latest. The signature is\n"
	"checked as 'envpack verify' does (see its --help for how keys are found).\n\n"
	"Options:\n"
	"  -o, --output FILE          the bundle to write (never over an existing file)\n"
	"  -p, --pubkey FILE          trust this public key only\n"
	"      --insecure-skip-verify export an unsigned or unverifiable snapshot\n"
	"  -j, --threads N            worker threads (default: one per CPU)\n" CLI_ALLOW_OLDER_HELP CLI_STORE_HELP;

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "pubkey", required_argument, NULL, 'p' },
					      { "insecure-skip-verify", no_argument, NULL, 'I' },
					      { "threads", required_argument, NULL, 'j' },
					      CLI_ALLOW_OLDER_OPTION,
					      CLI_STORE_OPTIONS, CLI_STORE_NET_OPTIONS,
					      { 0 } };
	struct cli_store_args sa = { 0 };
	struct ep_trust trust = { 0 };
	const char *out = NULL;
	long threads = ep_cpu_count();
	int c;
	while ((c = getopt_long(argc, argv, "o:p:j:qh", opts, NULL)) != -1) {
		int taken = cli_store_option("export", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'p': trust.pubkey = optarg; break;
		case 'I': trust.insecure = true; break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &threads))
				return cli_usage("export", "--threads takes a number from 1 to 64");
			break;
		case 0x1210: cli_allow_older(); break;
		default: return cli_usage("export", "unknown option");
		}
	}
	if (optind + 1 != argc || !out)
		return cli_usage("export", "name one STORE@SNAPSHOT and the bundle to write with -o FILE");
	struct ep_error err = { 0 };
	if (access(out, F_OK) == 0) {
		ep_fail(&err, EP_EINPUT, "'%s' exists; export never overwrites", out);
		return cli_fail(&err);
	}
	struct ep_store *st;
	char id[EP_STORE_ID_HEX];
	int code = cli_snapshot_open(argv[optind], &sa.s3, &st, id);
	if (code)
		return code;
	uint64_t bytes = 0;
	int rc = ep_store_lock(st, false, "export", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!rc)
		rc = ep_export(st, id, &trust, (unsigned)threads, out, &bytes, &err);
	if (!rc && sa.json) {
		json_t *o = json_pack("{s:s,s:s,s:I}", "snapshot", id, "bundle", out, "chunk_bytes", (json_int_t)bytes);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !sa.quiet)
		printf("exported snapshot %.8s to %s\n", id, out);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
