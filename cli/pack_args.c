#include "cli/pack_args.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/interrupt.h"
#include "base/pool.h"

void cli_pack_args_init(struct cli_pack_args *a)
{
	*a = (struct cli_pack_args){
		.spec = { .vcpus = 1, .memory_mib = 1024, .firmware = "bios", .os = "other" },
		.level = 3,
		.threads = ep_cpu_count(),
	};
}

void cli_pack_args_release(struct cli_pack_args *a)
{
	json_decref(a->disks);
	a->disks = NULL;
}

void cli_pack_json_disks(struct cli_pack_args *a, json_t *o)
{
	if (a->disks)
		json_object_set(o, "disks", a->disks);
}

/* Records how a disk was read: {"component", "mode", "bytes_read"[, "dirty_bytes"], "added_bytes"} in a->disks. */
static void report_disk(void *ctx, const struct ep_source_disk_report *r)
{
	struct cli_pack_args *a = ctx;
	if (!a->disks)
		a->disks = json_array();
	json_t *o = json_pack("{s:s,s:s,s:I}", "component", r->component, "mode", r->mode, "bytes_read",
			      (json_int_t)r->bytes_read);
	if (!strcmp(r->mode, "incremental"))
		json_object_set_new(o, "dirty_bytes", json_integer((json_int_t)r->dirty_bytes));
	json_object_set_new(o, "added_bytes", json_integer((json_int_t)r->added_bytes));
	json_array_append_new(a->disks, o);
}

int cli_pack_option(const char *cmd, int c, const char *arg, struct cli_pack_args *a)
{
	long n;
	int net_rc = cli_seal_option(c, arg) ? 1 : cli_net_option(cmd, c, arg, &a->net);
	if (net_rc)
		return net_rc;
	switch (c) {
	case 'k': a->keyfile = arg; return 1;
	case 'n': a->name = arg; return 1;
	case 'l':
		if (!cli_number(arg, 1, 19, &a->level))
			return cli_usage(cmd, "--level takes a number from 1 to 19"), -1;
		return 1;
	case 'j':
		if (!cli_number(arg, 1, 64, &a->threads))
			return cli_usage(cmd, "--threads takes a number from 1 to 64"), -1;
		return 1;
	case CLI_PACK_FORMAT: a->format = arg; return 1;
	case 0x1101:
		if (a->nallow == 16)
			return cli_usage(cmd, "at most 16 --allow-dir"), -1;
		a->allow[a->nallow++] = arg;
		return 1;
	case 0x1102:
		if (!strchr(arg, '/'))
			return cli_usage(cmd, "--platform takes OS/ARCH[/VARIANT], as linux/arm64"), -1;
		a->platform = arg;
		return 1;
	case 0x1103: a->include_state = true; return 1;
	case 0x110a: a->allow_unlisted = true; return 1;
	case 0x110b: a->connect = arg; return 1;
	case 0x110c: a->quiesce = a->quiesce > EP_QUIESCE_TRY ? a->quiesce : EP_QUIESCE_TRY; return 1;
	case 0x110d: a->quiesce = EP_QUIESCE_REQUIRE; return 1;
	case 0x1104:
	case 0x1105:
		if (!cli_number(arg, 1, c == 0x1104 ? 1024 : 16777216, &n))
			return cli_usage(cmd, "%s", c == 0x1104 ? "--vcpus takes 1 to 1024" : "--memory takes MiB, 1 to 16777216"), -1;
		if (c == 0x1104)
			a->spec.vcpus = (unsigned)n;
		else
			a->spec.memory_mib = (uint64_t)n;
		break;
	case 0x1106:
		if (strcmp(arg, "bios") && strcmp(arg, "uefi"))
			return cli_usage(cmd, "--firmware takes bios or uefi"), -1;
		a->spec.firmware = arg;
		break;
	case 0x1107:
		if (strcmp(arg, "linux") && strcmp(arg, "windows") && strcmp(arg, "other"))
			return cli_usage(cmd, "--os takes linux, windows or other"), -1;
		a->spec.os = arg;
		break;
	case 0x1108: a->spec.network = arg; break;
	case 0x1109: a->spec.name = arg; break;
	default: return 0;
	}
	a->by_hand = true; /* one of the machine options */
	return 1;
}

int cli_pack_prepare(const char *cmd, struct cli_pack_args *a, char *const *specs, size_t n, const char *name,
		     struct ep_pack_options *opt, struct ep_source **sources, struct ep_key **key)
{
	struct ep_error err = { 0 };
	*sources = NULL;
	*key = NULL;
	if (n == 0)
		return cli_usage(cmd, "name at least one source (disk:PATH or iac:DIR)");
	int64_t created = (int64_t)time(NULL);
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	long epoch;
	if (sde && *sde) {
		if (!cli_number(sde, 0, 253402300799L, &epoch))
			return cli_usage(cmd, "SOURCE_DATE_EPOCH must be seconds since 1970");
		created = epoch;
	}
	if (!(*sources = calloc(n, sizeof **sources)))
		return cli_fail(&(struct ep_error){ EP_ERUNTIME, "out of memory" });
	for (size_t i = 0; i < n; i++) {
		if (ep_source_parse(specs[i], &(*sources)[i], &err)) {
			free(*sources);
			*sources = NULL;
			return cli_usage(cmd, "%s", err.msg);
		}
		(*sources)[i].format = a->format;
		(*sources)[i].platform = a->platform;
	}
	const struct ep_seal *seal = NULL;
	if ((a->keyfile && ep_key_load_private(a->keyfile, key, &err)) || cli_seal(&seal, &err)) {
		ep_key_free(*key);
		*key = NULL;
		free(*sources);
		*sources = NULL;
		return cli_fail(&err);
	}
	*opt = (struct ep_pack_options){
		.name = a->name ? a->name : name,
		.key = *key,
		.seal = seal,
		.level = (int)a->level,
		.threads = (unsigned)a->threads,
		.created = created,
		.tool = "envpack " EP_VERSION,
		.allow_dirs = a->allow,
		.nallow = a->nallow,
		.registry = &a->net.registry,
		.include_secrets = a->include_state,
		.allow_unlisted = a->allow_unlisted,
		.libvirt_uri = a->connect,
		.quiesce = a->quiesce,
		.report = report_disk,
		.report_ctx = a,
	};
	/* a live domain's backup job is ended when interrupted; other sources die as before */
	signal(SIGINT, ep_interrupt_signal);
	signal(SIGTERM, ep_interrupt_signal);
	if (a->by_hand) {
		if (!a->spec.name)
			a->spec.name = opt->name;
		opt->machine = &a->spec;
	}
	return 0;
}
