#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "common/pool.h"
#include "pack.h"

static const char help[] =
	"usage: envpack pack -o OUT.envpack [-k NAME.key] [OPTIONS] SOURCE...\n\n"
	"Pack disks and file trees into one bundle: data is cut into content-defined\n"
	"chunks (about 1 MiB), each stored once, zstd-compressed, named by its SHA-256,\n"
	"and listed in a manifest signed with Ed25519. Nothing appears at OUT until\n"
	"the bundle is complete.\n\n"
	"Sources:\n"
	"  disk:PATH   a disk image (raw, qcow2, vmdk, vhd, vhdx: told apart by their first\n"
	"              bytes) or a block device; holes, zero clusters and all-zero runs\n"
	"              are not stored, so a sparse 64 GiB image with 1 GiB of data packs\n"
	"              like a 1 GiB file; qcow2 backing chains are flattened\n"
	"  image:oci:DIR[:TAG]  a container image (or every image) of an OCI layout;\n"
	"              each blob is checked against its digest and kept byte for byte\n"
	"  image:docker-archive:FILE  what docker save writes; configs and layers\n"
	"              checked against their digests, every entry kept byte for byte\n"
	"  image:docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]  an image pulled from a\n"
	"              registry (the distribution API); a multi-arch index is kept\n"
	"              whole unless --platform picks one image\n"
	"  vm:libvirt:DOMAIN.xml  a libvirt domain with its disks: the machine (vCPUs,\n"
	"              memory, firmware, disks, NICs, limits) goes into the manifest\n"
	"  vm:ovf:FILE.ovf, vm:ova:FILE.ova  an OVF package's machine and disks (an\n"
	"              OVA's members checked against its .mf)\n"
	"  vm:vmx:FILE.vmx  a VMware machine and its disks\n"
	"  iac:DIR     a file tree (Terraform, Kubernetes, Helm, ...): files with modes\n"
	"              and mtimes, directories, symlinks that stay inside DIR, and an\n"
	"              inventory: each file's kind, Terraform providers, modules and\n"
	"              resource types, Kubernetes objects and their images (see\n"
	"              'envpack inspect'). Terraform state and files that look like\n"
	"              secrets (*.pem, *.key, *.p12, *.pfx, id_rsa*, .env, *secret*.tfvars,\n"
	"              Kubernetes Secrets) are left out with a warning, and .terraform/\n"
	"              provider caches skipped\n\n"
	"Options:\n"
	"  -o, --output FILE    the bundle to write (required)\n"
	"  -k, --key FILE       sign with this private key (from 'envpack keygen');\n"
	"                       without it the bundle is unsigned and restore refuses it\n"
	"                       unless told --insecure-skip-verify\n"
	"  -n, --name NAME      environment name (default: OUT without .envpack)\n"
	"  -l, --level N        zstd level 1-19 (default 3)\n"
	"  -j, --threads N      worker threads (default: one per CPU)\n"
	"  -f, --format FMT     the disks' format, instead of detecting it (raw, qcow2, vmdk, vhd, vhdx)\n"
	"      --allow-dir DIR  backing files may also come from DIR (default: only each\n"
	"                       image's own directory; absolute references are refused)\n"
	"      --vcpus N, --memory MIB, --firmware bios|uefi, --os linux|windows|other,\n"
	"      --network NAME, --vm-name NAME\n"
	"                       describe the machine the disk: sources belong to (the\n"
	"                       first disk boots; default name: the environment's), so\n"
	"                       a bare disk restores as a VM to libvirt:, ova:, hyperv:\n"
	"      --platform OS/ARCH[/VARIANT]  from a registry's multi-arch index, take only\n"
	"                       this platform's image\n"
	"      --include-state  pack Terraform state and the files that look like secrets\n"
	"                       too: the bundle then INCLUDES SECRETS (passwords, keys,\n"
	"                       tokens), readable by anyone who gets it\n"
	CLI_NET_HELP
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

static int print_summary(const char *out, const struct ep_pack_stats *s, const char *signer, bool json)
{
	if (json) {
		json_t *o = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I}", "bundle", out, "signed_by", signer,
				      "virtual_bytes", (json_int_t)s->virtual_bytes, "data_bytes",
				      (json_int_t)s->data_bytes, "stored_bytes", (json_int_t)s->stored_bytes, "bundle_bytes",
				      (json_int_t)s->bundle_bytes, "chunks", (json_int_t)s->chunks, "unique_chunks",
				      (json_int_t)s->unique_chunks);
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
	return 0;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },   { "level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'j' }, { "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },        { "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' }, { "allow-dir", required_argument, NULL, 'A' },
		{ "platform", required_argument, NULL, 'P' }, { "include-state", no_argument, NULL, 'S' },
		{ "vcpus", required_argument, NULL, 'V' },    { "memory", required_argument, NULL, 'M' },
		{ "firmware", required_argument, NULL, 'F' }, { "os", required_argument, NULL, 'U' },
		{ "network", required_argument, NULL, 'N' },  { "vm-name", required_argument, NULL, 'W' },
		CLI_NET_OPTIONS, { 0 }
	};
	const char *out = NULL, *keyfile = NULL, *name = NULL, *format = NULL, *platform = NULL;
	struct cli_net net = { 0 };
	struct ep_machine_spec spec = { .vcpus = 1, .memory_mib = 1024, .firmware = "bios", .os = "other" };
	bool by_hand = false;
	long n;
	const char *allow[16];
	size_t nallow = 0;
	long level = 3, threads = ep_cpu_count();
	bool json = false, quiet = false, include_state = false;
	int c;
	while ((c = getopt_long(argc, argv, "o:k:n:l:j:qhf:", opts, NULL)) != -1) {
		int net_rc = cli_net_option("pack", c, optarg, &net);
		if (net_rc < 0)
			return 2;
		if (net_rc)
			continue;
		switch (c) {
		case 'V':
		case 'M':
			if (!cli_number(optarg, 1, c == 'V' ? 1024 : 16777216, &n))
				return cli_usage("pack", "%s", c == 'V' ? "--vcpus takes 1 to 1024" : "--memory takes MiB, 1 to 16777216");
			if (c == 'V')
				spec.vcpus = (unsigned)n;
			else
				spec.memory_mib = (uint64_t)n;
			by_hand = true;
			break;
		case 'F':
			if (strcmp(optarg, "bios") && strcmp(optarg, "uefi"))
				return cli_usage("pack", "--firmware takes bios or uefi");
			spec.firmware = optarg;
			by_hand = true;
			break;
		case 'U':
			if (strcmp(optarg, "linux") && strcmp(optarg, "windows") && strcmp(optarg, "other"))
				return cli_usage("pack", "--os takes linux, windows or other");
			spec.os = optarg;
			by_hand = true;
			break;
		case 'N': spec.network = optarg; by_hand = true; break;
		case 'W': spec.name = optarg; by_hand = true; break;
		case 'P':
			if (!strchr(optarg, '/'))
				return cli_usage("pack", "--platform takes OS/ARCH[/VARIANT], as linux/arm64");
			platform = optarg;
			break;
		case 'f': format = optarg; break;
		case 'S': include_state = true; break;
		case 'A':
			if (nallow == 16)
				return cli_usage("pack", "at most 16 --allow-dir");
			allow[nallow++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'n': name = optarg; break;
		case 'l':
			if (!cli_number(optarg, 1, 19, &level))
				return cli_usage("pack", "--level takes a number from 1 to 19");
			break;
		case 'j':
			if (!cli_number(optarg, 1, 64, &threads))
				return cli_usage("pack", "--threads takes a number from 1 to 64");
			break;
		case 'J': json = true; break;
		case 'q': quiet = true; break;
		case 'h': return cli_help(help);
		default: return cli_usage("pack", "unknown option");
		}
	}
	if (!out)
		return cli_usage("pack", "name the bundle to write with -o FILE");
	if (optind == argc)
		return cli_usage("pack", "name at least one source (disk:PATH or iac:DIR)");
	struct ep_error err = { 0 };
	size_t nsources = (size_t)(argc - optind);
	struct ep_source *sources = calloc(nsources, sizeof *sources);
	if (!sources)
		return cli_fail(&(struct ep_error){ EP_ERUNTIME, "out of memory" });
	for (size_t i = 0; i < nsources; i++)
		if (ep_source_parse(argv[optind + (int)i], &sources[i], &err)) {
			free(sources);
			return cli_usage("pack", "%s", err.msg);
		} else {
			sources[i].format = format;
			sources[i].platform = platform;
		}
	int64_t created = (int64_t)time(NULL);
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	long epoch;
	if (sde && *sde) {
		if (!cli_number(sde, 0, 253402300799L, &epoch)) {
			free(sources);
			return cli_usage("pack", "SOURCE_DATE_EPOCH must be seconds since 1970");
		}
		created = epoch;
	}
	struct ep_key *key = NULL;
	if (keyfile && ep_key_load_private(keyfile, &key, &err)) {
		free(sources);
		return cli_fail(&err);
	}
	char namebuf[256];
	struct ep_progress progress;
	struct cli_bar bar;
	cli_bar_init(&bar, &progress, "pack", quiet || json);
	struct ep_pack_options opt = {
		.output = out,
		.name = name ? name : default_name(out, namebuf, sizeof namebuf),
		.key = key,
		.level = (int)level,
		.threads = (unsigned)threads,
		.created = created,
		.tool = "envpack " EP_VERSION,
		.progress = &progress,
		.warn = cli_warn,
		.warn_ctx = &quiet,
		.allow_dirs = allow,
		.nallow = nallow,
		.registry = &net.registry,
		.include_secrets = include_state,
	};
	if (by_hand) {
		if (!spec.name)
			spec.name = opt.name;
		opt.machine = &spec;
	}
	struct ep_pack_stats stats;
	int rc = ep_pack(&opt, sources, nsources, &stats, &err);
	cli_bar_finish(&bar);
	free(sources);
	if (!rc && (json || !quiet))
		print_summary(out, &stats, key ? ep_key_id(key) : NULL, json);
	ep_key_free(key);
	return rc ? cli_fail(&err) : 0;
}
