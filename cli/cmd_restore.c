#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "base/interrupt.h"
#include "cli/restore_instant.h"
#include "cli/store_cli.h"
#include "base/pool.h"
#include "cloud/s3.h"
#include "targets/restore.h"
#include "targets/retarget.h"
#include "targets/rewrite.h"
#include "targets/target.h"
#include "verify/check.h"

static const char help_head[] =
	"usage: envpack restore BUNDLE --to TARGET [-p KEY.pub] [OPTIONS]\n"
	"       envpack restore BUNDLE --to libvirt:DIR|dir:DIR --instant [OPTIONS]\n"
	"       envpack restore --finish DIR [--connect URI]\n\n"
	"Restore a bundle onto a target. The signature is checked first (see\n"
	"'envpack verify --help' for how keys are found) and every chunk is checked\n"
	"against its SHA-256 before a byte of it is written. The target publishes\n"
	"only when everything succeeded: a failed restore leaves nothing behind,\n"
	"and existing files are never overwritten.\n\n"
	"Targets:\n";

static const char help_tail[] =
	"\nlibvirt:, ova:, ovf:, vagrant: and hyperv: write machines: a disk that belongs to\n"
	"no machine (a bare disk: source) becomes one built from defaults, with a warning\n"
	"(1 vCPU, 1024 MiB, BIOS, the disk its boot disk, one NIC on the default network).\n"
	"\nOptions:\n"
	"  -t, --to TARGET            where to restore (required)\n"
	"  -f, --format FMT           write disks as FMT: raw (default), qcow2, vmdk, vhd, vhdx\n"
	"  -p, --pubkey FILE          trust this public key only\n"
	"      --insecure-skip-verify restore an unsigned or unverifiable bundle (chunk\n"
	"                             digests are still checked)\n"
	"      --instant              dir:, libvirt: only: each disk a qcow2 overlay over\n"
	"                             the backup, served by nbdkit from DIR/.envpack-instant\n"
	"                             (envpack serve), so a machine starts at once and its\n"
	"                             writes stay local; no byte copied yet\n"
	"      --finish DIR           copy in what DIR's instant overlays still read from\n"
	"                             the backup (libvirt's block pull for a disk a running\n"
	"                             domain uses, else qemu-img rebase), then stop serving\n"
	"      --connect URI          --finish: where running domains are looked for\n"
	"  -n, --dry-run              print what would be written, write nothing; a cloud\n"
	"                             target prints each request it would send, credentials\n"
	"                             masked, and needs no network\n"
	"      --only NAME            restore only this component or machine (with its\n"
	"                             disks); repeatable\n"
	"      --set KEY=VALUE        fill a machine parameter: name (also renames its disks,\n"
	"                             and makes its MACs anew), vcpus, memory_mib, network,\n"
	"                             secure_boot=yes|no (UEFI machines: whether the firmware\n"
	"                             enforces Secure Boot, for a source that did not say),\n"
	"                             hostname (in cloud-init files; one it cannot edit safely\n"
	"                             stays as it was, with a warning); so one bundle\n"
	"                             restores as several instances. libvirt: and vagrant:\n"
	"                             also take domain_type=kvm or qemu (default: kvm where\n"
	"                             /dev/kvm is usable and emulates SMM, else qemu; said\n"
	"                             on stderr and in --json)\n"
	"      --keep-mac             keep the MAC addresses when --set name= renames\n"
	"      --rewrite-registry OLD=NEW  move container image references from registry\n"
	"                             OLD to NEW (\"docker.io\" covers short names like\n"
	"                             nginx), only where files hold images, each value's\n"
	"                             quoting and every other byte kept:\n"
	"                             - Kubernetes: each image: of an object, CRDs left\n"
	"                             - Kustomization: images' name and newName\n"
	"                             - Helm values: image: as a reference or as registry\n"
	"                               + repository (or image), global registries too\n"
	"                             - Terraform: string literals where container\n"
	"                               resources keep images (kubernetes_*, docker_*,\n"
	"                               Cloud Run, Azure, ECS container definitions,\n"
	"                               helm_release set); expressions and other images\n"
	"                               kept\n"
	"                             a result that would not read back is refused\n"
	"  -o, --option KEY=VALUE     a setting of the target's own, repeatable:\n"
	"                             aws: format, import, role-name, license-type, platform,\n"
	"                               architecture, tag, poll-seconds, timeout-minutes,\n"
	"                               keep-objects\n"
	"                             azure: endpoint, jobs, subscription, resource-group,\n"
	"                               storage-resource-group, location\n"
	"                             openstack: disk-format, visibility, heat-stack,\n"
	"                               heat-template, cloud, region, interface, image-url,\n"
	"                               heat-url\n"
	"                             gcp: project, image, family, description, labels,\n"
	"                               storage-location, guest-os-features\n"
	"                             docker-archive: platform=OS/ARCH[/VARIANT], the image\n"
	"                               of a multi-platform index to write (default: the\n"
	"                               host's)\n"
	"                             (man envpack, targets/CLOUDS.md)\n"
	"  -j, --threads N            worker threads (default: one per CPU)\n"
	CLI_NET_HELP
	"      --endpoint URL         S3-compatible store: the remote BUNDLE's and the aws: and\n"
	"                             gcp: targets', path-style (default AWS, or AWS_ENDPOINT_URL)\n"
	"      --region NAME          the region to sign for (default AWS_REGION or us-east-1)\n"
	"      --part-size MIB        uploads larger than this go up in parts of it (default: one\n"
	"                             PUT up to 16 MiB, else 16 MiB, 1024 parts past 16 GiB)\n"
	"BUNDLE may be s3://BUCKET/KEY or http(s)://URL, read where it lies, or a store's\n"
	"snapshot, STORE@ID (a unique prefix of an id will do) or STORE@latest.\n"
	CLI_ALLOW_OLDER_HELP
	CLI_DECRYPT_HELP
	"      --json                 print the plan and result as JSON on stdout\n"
	"  -q, --quiet                no progress bar, no output on success\n"
	"  -h, --help                 this help\n\n"
	"Example:\n"
	"  envpack restore -p ops.pub web.envpack --to dir:/srv/web\n";

struct plan_out {
	json_t *items; /* --json */
	bool quiet, dry_run;
	json_t *requests; /* a cloud target's dry run: what it would send for the item planned next */
	json_t *created;  /* --json: what a cloud target made */
	json_t *next;     /* a real run: the requests a cloud target left for the user to send */
	json_t *warnings; /* --json: each warning, also said on stderr */
	const char *domain_type; /* the domain type the target writes machines with, or NULL */
	char domain_why[200];    /* and why */
};

static void warned(void *ctx, const char *msg)
{
	struct plan_out *p = ctx;
	if (p->warnings) {
		json_t *s = json_string(msg);
		json_array_append_new(p->warnings, s ? s : json_string("(a warning that is not UTF-8; see stderr)"));
	}
	cli_warn(&p->quiet, msg);
}

/* A cloud target made something (an AMI, a snapshot): said even when it is the one result. */
static void created(void *ctx, const char *item, const char *kind, const char *id)
{
	struct plan_out *p = ctx;
	if (p->created)
		json_array_append_new(p->created, json_pack("{s:s,s:s,s:s}", "item", item, "kind", kind, "id", id));
	else if (!p->quiet)
		printf("created %s %s for %s\n", kind, id, item);
}

static void append_text(json_t **list, const char *text)
{
	if (!*list)
		*list = json_array();
	json_array_append_new(*list, json_string(text));
}

static void dry_run_request(void *ctx, const char *text)
{
	append_text(&((struct plan_out *)ctx)->requests, text);
}

static void next_request(void *ctx, const char *text)
{
	append_text(&((struct plan_out *)ctx)->next, text);
}

/* Each request of list under title, indented. */
static void print_requests(const char *title, const json_t *list)
{
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r) {
		printf("%s\n", title);
		for (const char *line = json_string_value(r); *line;) {
			size_t n = strcspn(line, "\n");
			printf("    %.*s\n", (int)n, line);
			line += n + (line[n] == '\n');
		}
	}
}

/* The requests gathered for the item just planned: into its JSON object, or printed under it. */
static void flush_requests(struct plan_out *p, json_t *item)
{
	if (!p->requests)
		return;
	if (item)
		json_object_set(item, "requests", p->requests);
	else if (!p->quiet)
		print_requests("  would send:", p->requests);
	json_decref(p->requests);
	p->requests = NULL;
}

static void planned(void *ctx, const struct ep_component *c, const char *dest)
{
	struct plan_out *p = ctx;
	uint64_t bytes = ep_component_data_size(c);
	if (p->items) {
		static const char *const type_name[] = { [EP_COMP_DISK] = "disk", [EP_COMP_FILES] = "files",
							  [EP_COMP_IMAGE] = "image" };
		json_t *item = json_pack("{s:s,s:s,s:s,s:I}", "component", c->name, "type", type_name[c->type],
					 "destination", dest, "data_bytes", (json_int_t)bytes);
		flush_requests(p, item);
		json_array_append_new(p->items, item);
	} else if (!p->quiet) {
		char h[32];
		cli_human(bytes, h, sizeof h);
		if (c->type == EP_COMP_DISK) {
			char v[32];
			cli_human(c->virtual_size, v, sizeof v);
			printf("%s disk %s (%s) -> %s (virtual %s, data %s)\n", p->dry_run ? "would restore" : "restore", c->name,
			       c->format ? c->format : "raw", dest, v, h);
		} else {
			printf("%s %s %s -> %s (%zu entries, %s)\n", p->dry_run ? "would restore" : "restore",
			       c->type == EP_COMP_IMAGE ? "image" : "files", c->name, dest, c->nfiles, h);
		}
	}
	flush_requests(p, NULL);
}

static void planned_machine(void *ctx, const struct ep_machine *m, const char *dest)
{
	struct plan_out *p = ctx;
	if (p->domain_type && !p->quiet) /* on stderr, so --json says it too */
		fprintf(stderr, "envpack: machine %s: domain type %s (%s)\n", m->name, p->domain_type, p->domain_why);
	if (p->items) {
		json_t *sb = m->secure_boot ? json_boolean(m->secure_boot == EP_SECURE_BOOT_ON) : NULL;
		json_t *item = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:o*,s:I,s:s?}", "machine", m->name, "type", "machine",
					 "destination", dest, "vcpus", (json_int_t)m->vcpus, "memory_mib",
					 (json_int_t)m->memory_mib, "firmware", m->firmware, "secure_boot", sb, "disks",
					 (json_int_t)m->ndisks, "domain_type", p->domain_type);
		flush_requests(p, item);
		json_array_append_new(p->items, item);
	} else if (!p->quiet)
		printf("%s machine %s -> %s (%u vCPU, %llu MiB, %s, %zu disk%s, %zu NIC%s)\n",
		       p->dry_run ? "would restore" : "restore", m->name, dest, m->vcpus, (unsigned long long)m->memory_mib,
		       ep_machine_firmware_text(m), m->ndisks, m->ndisks == 1 ? "" : "s", m->nnics, m->nnics == 1 ? "" : "s");
	flush_requests(p, NULL);
}

static int help(void)
{
	size_t n;
	const struct ep_target_ops *const *t = ep_target_list(&n);
	fputs(help_head, stdout);
	for (size_t i = 0; i < n; i++) {
		char uri[64];
		snprintf(uri, sizeof uri, "%s:%s", t[i]->scheme, t[i]->location ? t[i]->location : "PATH");
		printf("  %-25s %s\n", uri, t[i]->summary);
	}
	fputs(help_tail, stdout);
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },      { "pubkey", required_argument, NULL, 'p' },
		{ "insecure-skip-verify", no_argument, NULL, 'I' }, { "dry-run", no_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'j' }, { "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },         { "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' },  { "only", required_argument, NULL, 'O' }, { "set", required_argument, NULL, 'S' },
		{ "keep-mac", no_argument, NULL, 'K' },      { "rewrite-registry", required_argument, NULL, 'R' },
		{ "option", required_argument, NULL, 'o' },  { "instant", no_argument, NULL, 0x1301 },
		{ "finish", required_argument, NULL, 0x1302 }, { "connect", required_argument, NULL, 0x1303 }, CLI_NET_OPTIONS, CLI_S3_OPTIONS, CLI_ALLOW_OLDER_OPTION, CLI_DECRYPT_OPTION, { 0 }
	};
	struct ep_s3_options s3 = { 0 };
	const char *params[32];
	struct ep_trust trust = { 0 };
	struct ep_restore_options opt = { .threads = ep_cpu_count() };
	struct cli_net net = { 0 };
	const char *only[64];
	struct ep_set sets[32];
	struct ep_rewrite rewrites[32];
	struct ep_retarget rt = { .sets = sets };
	bool json = false, quiet = false, instant = false;
	const char *finish = NULL, *connect = NULL;
	long threads;
	int c;
	opt.target.registry = &net.registry;
	opt.target.s3 = &s3;
	opt.target.params = params;
	while ((c = getopt_long(argc, argv, "t:p:nj:qhf:o:", opts, NULL)) != -1) {
		int net_rc = cli_remote_option("restore", c, optarg, &net, &s3);
		if (net_rc < 0)
			return 2;
		if (net_rc)
			continue;
		switch (c) {
		case 'f': opt.target.disk_format = optarg; break;
		case 'O':
			if (opt.nonly == sizeof only / sizeof *only)
				return cli_usage("restore", "at most 64 --only");
			only[opt.nonly++] = optarg;
			opt.only = rt.only = only;
			rt.nonly = opt.nonly;
			break;
		case 'S':
		case 'R': {
			char *eq = strchr(optarg, '=');
			size_t *n = c == 'S' ? &rt.nsets : &opt.target.nrewrites;
			if (!eq || eq == optarg || (c == 'R' && !eq[1]) || *n == 32)
				return cli_usage("restore", "%s takes KEY=VALUE (at most 32)", c == 'S' ? "--set" : "--rewrite-registry");
			*eq = '\0';
			if (c == 'S' && !strcmp(optarg, "hostname")) { /* cloud-init's, not the machine model's */
				if (!ep_hostname_ok(eq + 1))
					return cli_usage("restore", "--set hostname=%s: letters, digits, '-' and '.'", eq + 1);
				opt.target.hostname = eq + 1;
			} else if (c == 'S' && !strcmp(optarg, "domain_type")) { /* the target's, not the machine model's */
				if (strcmp(eq + 1, "kvm") && strcmp(eq + 1, "qemu"))
					return cli_usage("restore", "--set domain_type=%s: kvm or qemu", eq + 1);
				opt.target.domain_type = eq + 1;
			} else if (c == 'S')
				sets[(*n)++] = (struct ep_set){ optarg, eq + 1 };
			else {
				struct ep_error rule_err = { 0 };
				rewrites[*n] = (struct ep_rewrite){ optarg, eq + 1 };
				if (ep_rewrite_rule_check(&rewrites[(*n)++], &rule_err))
					return cli_usage("restore", "%s", rule_err.msg);
			}
			opt.target.rewrites = rewrites;
			break;
		}
		case 'o':
			if (!strchr(optarg, '=') || *optarg == '=' || opt.target.nparams == sizeof params / sizeof *params)
				return cli_usage("restore", "-o takes KEY=VALUE (at most 32)");
			params[opt.target.nparams++] = optarg;
			break;
		case 'K': rt.keep_mac = true; break;
		case 't': opt.to = optarg; break;
		case 'p': trust.pubkey = optarg; break;
		case 'I': trust.insecure = true; break;
		case 'n': opt.dry_run = true; break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &threads))
				return cli_usage("restore", "--threads takes a number from 1 to 64");
			opt.threads = (unsigned)threads;
			break;
		case 'J': json = true; break;
		case 'q': quiet = true; cli_store_quiet(); break;
		case 'h': return help();
		case 0x1210: cli_allow_older(); break;
		case 0x1301: instant = true; break;
		case 0x1302: finish = optarg; break;
		case 0x1303: connect = optarg; break;
		default: return cli_usage("restore", "unknown option");
		}
	}
	if (finish)
		return optind == argc ? cli_restore_finish(finish, connect, json, quiet)
				      : cli_usage("restore", "--finish DIR takes no bundle");
	if (optind + 1 != argc)
		return cli_usage("restore", "name one bundle");
	if (!opt.to)
		return cli_usage("restore", "say where to restore with --to TARGET (for example --to dir:PATH)");
	const char *path = argv[optind];
	struct ep_error err = { 0 };
	struct ep_bundle *b = NULL;
	struct ep_store *st = NULL;
	struct ep_manifest *m = NULL;
	char signer[EP_KEY_ID_HEX];
	struct plan_out plan = { .items = json ? json_array() : NULL, .quiet = quiet, .dry_run = opt.dry_run,
				 .created = json ? json_array() : NULL, .warnings = json ? json_array() : NULL };
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "restore", quiet || json);
	opt.progress = &progress;
	opt.planned = planned;
	opt.planned_machine = planned_machine;
	opt.ctx = &plan;
	opt.target.warn = warned;
	opt.target.warn_ctx = &plan;
	if (opt.dry_run) {
		opt.target.dry_run_request = dry_run_request;
		opt.target.dry_run_ctx = &plan;
	} else {
		opt.target.next_request = next_request;
		opt.target.next_ctx = &plan;
	}
	const struct ep_target_ops *ops = ep_target_find(opt.to);
	if (ops && ops->domain_type) /* decided here, so what is said is what the target writes */
		plan.domain_type = opt.target.domain_type =
			ep_target_domain_type(opt.target.domain_type, plan.domain_why, sizeof plan.domain_why);
	opt.target.progress = &progress;
	opt.target.created = created;
	opt.target.created_ctx = &plan;
	/* cloud targets delete what they half-wrote when interrupted; others die as before */
	signal(SIGINT, ep_interrupt_signal);
	signal(SIGTERM, ep_interrupt_signal);
	int rc = cli_bundle_open(path, &s3, &b, &st, &err);
	if (!rc)
		rc = ep_bundle_load(b, &trust, &m, signer, &err);
	if (!rc)
		cli_seen_verified(st, m, signer);
	if (!rc) /* before --set, which may change them */
		rc = ep_restore_default_machines(m, &opt, &err);
	if (!rc)
		rc = ep_retarget_machines(m, &rt, &err);
	struct cli_instant ci = { 0 };
	if (!rc && instant && !opt.dry_run && !(rc = cli_instant_begin(&ci, opt.to, path, st, &trust, &s3, &err)))
		opt.target.instant_socket = ci.socket;
	if (!rc)
		rc = ep_restore(b, m, &opt, &err);
	cli_instant_end(&ci, !rc);
	cli_bar_finish(&bar);
	if (json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:s?,s:o,s:O,s:O,s:s?}", "bundle", path, "to", opt.to, "ok", !rc,
				      "dry_run", opt.dry_run, "signed_by", !rc && *signer ? signer : NULL, "components",
				      plan.items, "created", plan.created, "warnings", plan.warnings, "error",
				      rc ? err.msg : NULL);
		if (!rc && plan.next)
			json_object_set(o, "next_requests", plan.next);
		if (!rc && opt.target.instant_socket)
			json_object_set_new(o, "instant", cli_instant_json(&ci));
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !quiet && plan.next) {
		print_requests("left to send by hand (envpack holds no credential for it):", plan.next);
	}
	if (!rc && !quiet && !json && opt.target.instant_socket)
		printf("instant: the disks are overlays over the backup, served by nbdkit (pid %ld) on %s;\n"
		       "start the machine now; 'envpack restore --finish %s' copies the rest in\n",
		       (long)ci.server.pid, ci.socket, ci.dir);
	json_decref(plan.requests);
	json_decref(plan.created);
	json_decref(plan.warnings);
	json_decref(plan.next);
	ep_manifest_free(m);
	ep_bundle_close(b);
	ep_store_close(st);
	return rc ? cli_fail(&err) : 0;
}
