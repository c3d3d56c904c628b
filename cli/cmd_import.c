#include <stdio.h>

#include <jansson.h>

#include "packer/backup.h"
#include "base/pool.h"
#include "cli/store_cli.h"

static const char help[] =
	"usage: envpack import FILE.envpack STORE [-p KEY.pub]\n\n"
	"Add a bundle to a store as a snapshot: its signature checked (as 'envpack\n"
	"verify' does), every chunk decompressed and checked, the chunks the store\n"
	"lacks copied as they are, then the manifest and signature, byte for byte: the\n"
	"snapshot's id is the SHA-256 of the bundle's manifest, and exporting it gives\n"
	"the bundle back.\n\n"
	"Options:\n"
	"      --init                 make the store first if it does not exist\n"
	"  -p, --pubkey FILE          trust this public key only\n"
	"      --insecure-skip-verify import an unsigned or unverifiable bundle\n"
	"  -j, --threads N            worker threads (default: one per CPU)\n"
	CLI_ENCRYPT_HELP
	"The store is asked about each chunk (HEAD, stat), 8 requests in flight, and\n"
	"only those it lacks are put; --json gives the requests sent, by kind.\n"
	"An encrypted bundle goes into a store encrypted to the same key, its chunks as\n"
	"they are; a plain bundle's chunks are encrypted on the way into an encrypted store.\n"
	CLI_STORE_HELP;

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = { { "pubkey", required_argument, NULL, 'p' },
					      { "insecure-skip-verify", no_argument, NULL, 'I' },
					      { "threads", required_argument, NULL, 'j' },
					      { "init", no_argument, NULL, 'N' },
					      CLI_STORE_OPTIONS, CLI_STORE_NET_OPTIONS, CLI_ENCRYPT_OPTION,
					      { 0 } };
	struct cli_store_args sa = { 0 };
	struct ep_trust trust = { 0 };
	long threads = ep_cpu_count();
	bool init = false;
	int c;
	while ((c = getopt_long(argc, argv, "p:j:qh", opts, NULL)) != -1) {
		int taken = cli_store_option("import", c, optarg, &sa, help);
		if (taken < 0)
			return sa.exit;
		if (taken)
			continue;
		switch (c) {
		case 'p': trust.pubkey = optarg; break;
		case 'I': trust.insecure = true; break;
		case 'N': init = true; break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &threads))
				return cli_usage("import", "--threads takes a number from 1 to 64");
			break;
		default: return cli_usage("import", "unknown option");
		}
	}
	if (optind + 2 != argc)
		return cli_usage("import", "name the bundle, then the store");
	struct ep_store *st;
	struct ep_error err = { 0 };
	int code = cli_store_open(argv[optind + 1], init, &sa.s3, &st);
	if (code)
		return code;
	char id[EP_STORE_ID_HEX];
	uint64_t added = 0;
	int rc = ep_store_lock(st, false, "import", sa.lock_wait, cli_warn, &sa.quiet, &err);
	if (!rc)
		rc = ep_import(st, argv[optind], &trust, (unsigned)threads, id, &added, &err);
	ep_store_unlock(st); /* and the release counts among the requests */
	if (!rc && sa.json) {
		json_t *o = json_pack("{s:s,s:s,s:I}", "snapshot", id, "store", argv[optind + 1], "added_bytes",
				      (json_int_t)added),
		       *requests = cli_store_requests_json(st);
		if (requests)
			json_object_set_new(o, "requests", requests);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !sa.quiet) {
		char h[32];
		cli_human(added, h, sizeof h);
		printf("imported %s as snapshot %.8s (%s added)\n", argv[optind], id, h);
	}
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
