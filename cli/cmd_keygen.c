#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "formats/bundle/keys.h"

static const char help[] =
	"usage: envpack keygen [--x25519] -o NAME\n\n"
	"Make an Ed25519 key pair for signing bundles:\n"
	"  NAME.key  the private key (PKCS#8 PEM, mode 0600): keep it secret, give it to 'pack -k'\n"
	"  NAME.pub  the public key (PEM): give it to 'verify -p' and 'restore -p', or put it\n"
	"            in a trusted-keys directory (see 'envpack verify --help')\n"
	"With --x25519, an X25519 key pair for encryption at rest instead:\n"
	"  NAME.pub  what 'pack' and 'backup' encrypt to (--encrypt-to): a host that only\n"
	"            backs up needs nothing else, and cannot read what it wrote\n"
	"  NAME.key  what reads it back ('restore', 'verify', 'snapshots', 'forget', 'check'\n"
	"            ... --decrypt-key): keep it off the hosts and out of the store\n"
	"Existing files are never overwritten. Prints the key id that bundles name.\n\n"
	"Options:\n"
	"  -o, --output NAME   path prefix of the two files (required)\n"
	"      --x25519        an encryption key pair (formats/STORE.md, section 8)\n"
	"  -h, --help          this help\n";

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "x25519", no_argument, NULL, 'x' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	const char *name = NULL;
	enum ep_key_kind kind = EP_KEY_SIGNING;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'o')
			name = optarg;
		else if (c == 'x')
			kind = EP_KEY_RECIPIENT;
		else if (c == 'h')
			return cli_help(help);
		else
			return cli_usage("keygen", "unknown option");
	}
	if (!name || optind != argc)
		return cli_usage("keygen", "give the key's name with -o NAME, and nothing else");
	struct ep_error err = { 0 };
	char id[EP_KEY_ID_HEX];
	if (ep_key_generate(name, kind, id, &err))
		return cli_fail(&err);
	printf("key id %s\nwrote %s.key (private, keep it secret) and %s.pub (public)\n", id, name, name);
	return 0;
}
