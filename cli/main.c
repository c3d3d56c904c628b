/* envpack: the command dispatch table. Each command lives in cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "make an Ed25519 signing key pair" },
	{ "pack", cmd_pack, "pack disks and file trees into a signed bundle" },
	{ "inspect", cmd_inspect, "show what a bundle holds (reads only)" },
	{ "verify", cmd_verify, "check a bundle's signature and chunks" },
	{ "restore", cmd_restore, "restore a verified bundle onto a target" },
	{ "serve", cmd_serve, "serve a bundle's or snapshot's disks over NBD, read-only" },
	{ "drill", cmd_drill, "boot a backup's machines from it and check them (DR drill, RTO)" },
	{ "convert", cmd_convert, "convert a disk image between formats (raw, qcow2, vmdk, vhd, vhdx)" },
	{ "push", cmd_push, "upload a bundle to S3 or an S3-compatible store (resumable)" },
	{ "pull", cmd_pull, "download a bundle from S3 or an S3-compatible store" },
	{ "backup", cmd_backup, "take a snapshot of sources into a deduplicating store" },
	{ "snapshots", cmd_snapshots, "list a store's snapshots" },
	{ "diff", cmd_diff, "show what changed between two snapshots" },
	{ "forget", cmd_forget, "remove snapshots by id or by a retention policy" },
	{ "prune", cmd_prune, "remove the chunks no snapshot names" },
	{ "check", cmd_check, "check a store: snapshots, chunks, and their content" },
	{ "recover", cmd_recover, "bring back a store's objects as they were at a time (versioned S3)" },
	{ "export", cmd_export, "write a store's snapshot as a self-contained bundle" },
	{ "import", cmd_import, "add a bundle to a store as a snapshot" },
};

static int usage(FILE *out)
{
	fprintf(out, "usage: envpack COMMAND [OPTIONS] ...\n\n"
		     "Pack VM disks and infrastructure code into signed, compressed,\n"
		     "deduplicated bundles, and restore them elsewhere.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nA first round trip:\n"
		     "  envpack keygen -o mykey\n"
		     "  envpack pack -k mykey.key -o web.envpack disk:web.raw iac:./terraform\n"
		     "  envpack verify -p mykey.pub --deep web.envpack\n"
		     "  envpack restore -p mykey.pub web.envpack --to dir:/srv/restored\n\n"
		     "Nightly backups into a deduplicating store:\n"
		     "  envpack backup --init -k mykey.key /srv/dr disk:web.raw iac:./terraform\n"
		     "  envpack forget /srv/dr --keep-daily 7 --keep-weekly 5 --prune\n"
		     "  envpack restore -p mykey.pub /srv/dr@latest --to libvirt:/srv/restored\n\n"
		     "'envpack COMMAND --help' explains each command; 'man envpack' has the rest.\n"
		     "Exit status: 0 ok, 1 runtime error, 2 usage or malformed input,\n"
		     "3 integrity or signature failure.\n");
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("envpack %s\n", EP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name)) {
			int code = commands[i].run(argc - 1, argv + 1);
			cli_seal_release();
			return code;
		}
	fprintf(stderr, "envpack: '%s' is not a command. See 'envpack --help'.\n", argv[1]);
	return 2;
}
