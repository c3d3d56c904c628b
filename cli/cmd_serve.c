#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/store_cli.h"
#include "cloud/s3.h"
#include "base/interrupt.h"
#include "serve/server.h"
#include "verify/check.h"

static const char help[] =
	"usage: envpack serve BUNDLE|STORE@SNAPSHOT [--socket PATH | --port N] [OPTIONS]\n\n"
	"Serve the disks of a bundle or store snapshot over NBD, read-only, one export\n"
	"per disk named after its component, until stopped (Ctrl-C). The signature is\n"
	"checked first; every chunk is checked against its SHA-256 before a byte of it\n"
	"is served (a chunk that fails is an I/O error on that read, never wrong data);\n"
	"holes read as zeros and are reported as such (base:allocation), so qemu-img,\n"
	"nbdcopy and qemu skip them. Runs nbdkit with envpack's plugin.\n\n"
	"  qemu-img convert -O qcow2 'nbd+unix:///web?socket=/tmp/s' web.qcow2\n"
	"  qemu-system-x86_64 -drive file=nbd+unix:///web?socket=/tmp/s,format=raw,snapshot=on\n\n"
	"Options:\n"
	"      --socket PATH      a unix socket (default: $TMPDIR/envpack-serve-PID.sock)\n"
	"      --port N           TCP port N on 127.0.0.1 instead\n"
	"      --only DISK        serve this disk only\n"
	"      --cache MIB        chunks kept in memory (default 256)\n"
	"  -p, --pubkey FILE      trust this public key only (default: the trusted-keys\n"
	"                         directories, as 'envpack verify' says)\n"
	"      --insecure-skip-verify  serve an unsigned bundle\n"
	"      --json             print the exports as JSON on stdout before serving\n"
	"  -q, --quiet            print nothing before serving\n"
	"  -h, --help             this help\n"
	CLI_ALLOW_OLDER_HELP
	CLI_DECRYPT_HELP
	CLI_REMOTE_HELP;

/* What is served and where, as text or JSON. */
static void print_exports(const char *bundle, const struct ep_manifest *m, const struct ep_serve_options *o,
			  const char *signer, bool json)
{
	json_t *list = json_array();
	for (size_t i = 0; i < m->ncomponents; i++) {
		const struct ep_component *c = &m->components[i];
		if (c->type != EP_COMP_DISK || (o->only && strcmp(o->only, c->name)))
			continue;
		char uri[PATH_MAX + 200];
		if (o->socket)
			snprintf(uri, sizeof uri, "nbd+unix:///%s?socket=%s", c->name, o->socket);
		else
			snprintf(uri, sizeof uri, "nbd://127.0.0.1:%u/%s", o->port, c->name);
		json_array_append_new(list, json_pack("{s:s,s:I,s:s}", "name", c->name, "size", (json_int_t)c->virtual_size,
						      "uri", uri));
		if (!json) {
			char h[32];
			cli_human(c->virtual_size, h, sizeof h);
			printf("  %-16s %9s  %s\n", c->name, h, uri);
		}
	}
	if (json) {
		json_t *out = json_pack("{s:s,s:s?,s:o}", "bundle", bundle, "signed_by", *signer ? signer : NULL, "exports", list);
		json_dumpf(out, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(out);
	} else {
		json_decref(list);
		printf("served read-only until Ctrl-C (signature %s)\n", *signer ? signer : "not checked");
	}
	fflush(stdout);
}

/* The bundle and disk checked here, for the documented exit codes, before nbdkit opens them again. */
static int check_input(const char *arg, const struct ep_s3_options *remote, const struct ep_trust *trust,
		       struct ep_serve_options *o, char *resolved, size_t cap, bool json, bool quiet, struct ep_error *err)
{
	struct ep_bundle *b = NULL;
	struct ep_store *st = NULL;
	struct ep_manifest *m = NULL;
	char signer[EP_KEY_ID_HEX] = "";
	int rc = cli_bundle_open(arg, remote, &b, &st, err);
	if (!rc)
		rc = ep_bundle_load_lazily(b, trust, &m, signer, err);
	if (!rc)
		cli_seen_verified(st, m, signer);
	bool any = false;
	for (size_t i = 0; !rc && i < m->ncomponents; i++)
		any |= m->components[i].type == EP_COMP_DISK && (!o->only || !strcmp(o->only, m->components[i].name));
	if (!rc && !any)
		rc = ep_fail(err, EP_EINPUT, "'%s' holds no disk%s%s", arg, o->only ? " named " : "", o->only ? o->only : "");
	cli_serve_options(arg, st, trust, remote, resolved, cap, o);
	if (!rc && !quiet)
		print_exports(arg, m, o, signer, json);
	ep_manifest_free(m);
	if (b)
		ep_bundle_close(b);
	ep_store_close(st);
	return rc;
}

/* nbdkit until Ctrl-C or SIGTERM (or until it stops on its own: a failure), then its socket removed. */
static int serve(const struct ep_serve_options *o, const char *tmp)
{
	struct ep_error err = { 0 };
	struct ep_server server;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/envpack-serve-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		ep_fail_errno(&err, EP_ERUNTIME, "cannot create a private directory in '%s'", tmp);
		return cli_fail(&err);
	}
	signal(SIGINT, ep_interrupt_signal);
	signal(SIGTERM, ep_interrupt_signal);
	ep_interrupt_arm();
	int rc = ep_serve_start(&server, o, dir, false, true, &err);
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	while (!rc && !ep_interrupted() && ep_serve_running(&server))
		nanosleep(&tick, NULL);
	if (!rc && !ep_interrupted())
		rc = ep_fail(&err, EP_ERUNTIME, "nbdkit stopped serving '%s'", o->bundle);
	ep_serve_stop(&server);
	ep_interrupt_disarm();
	rmdir(dir);
	return rc ? cli_fail(&err) : 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },  { "port", required_argument, NULL, 'P' },
		{ "only", required_argument, NULL, 'O' },    { "cache", required_argument, NULL, 'C' },
		{ "pubkey", required_argument, NULL, 'p' },  { "insecure-skip-verify", no_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'J' },          { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },          CLI_S3_OPTIONS, CLI_NET_OPTIONS, CLI_ALLOW_OLDER_OPTION,
		CLI_DECRYPT_OPTION,                          { 0 }
	};
	struct cli_net net = { 0 };
	struct ep_s3_options remote = { 0 };
	struct ep_trust trust = { 0 };
	struct ep_serve_options o = { 0 };
	bool json = false, quiet = false;
	long n;
	int c;
	while ((c = getopt_long(argc, argv, "p:qh", opts, NULL)) != -1) {
		int r = cli_remote_option("serve", c, optarg, &net, &remote);
		if (r < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 'S': o.socket = optarg; break;
		case 'P':
			if (!cli_number(optarg, 1, 65535, &n))
				return cli_usage("serve", "--port takes a number from 1 to 65535");
			o.port = (unsigned)n;
			break;
		case 'O': o.only = optarg; break;
		case 'C':
			if (!cli_number(optarg, 1, 1 << 20, &n))
				return cli_usage("serve", "--cache takes MiB, 1 to 1048576");
			o.cache_bytes = (uint64_t)n << 20;
			break;
		case 'p': trust.pubkey = optarg; break;
		case 'I': trust.insecure = true; break;
		case 'J': json = true; break;
		case 'q': quiet = true; cli_store_quiet(); break;
		case 'h': return cli_help(help);
		case 0x1210: cli_allow_older(); break;
		default: return cli_usage("serve", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("serve", "name one bundle or STORE@SNAPSHOT");
	if (o.socket && o.port)
		return cli_usage("serve", "--socket and --port: name one");
	char socket[PATH_MAX], resolved[PATH_MAX + EP_STORE_ID_HEX + 2];
	const char *tmp = getenv("TMPDIR");
	if (!o.socket && !o.port) {
		snprintf(socket, sizeof socket, "%s/envpack-serve-%ld.sock", tmp && *tmp ? tmp : "/tmp", (long)getpid());
		o.socket = socket;
	}
	struct ep_error err = { 0 };
	int rc = check_input(argv[optind], &remote, &trust, &o, resolved, sizeof resolved, json, quiet, &err);
	if (rc)
		return cli_fail(&err);
	return serve(&o, tmp && *tmp ? tmp : "/tmp");
}
