#include "cli/pack_args.h"

#include <signal.h>
#include <stdio.h>
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
	json_decref(a->requests);
	a->disks = a->requests = NULL;
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
	if (r->from) {
		json_object_set_new(o, "from", json_string(r->from));
		json_object_set_new(o, "requests", json_integer((json_int_t)r->requests));
	}
	if (!strcmp(r->mode, "incremental"))
		json_object_set_new(o, "dirty_bytes", json_integer((json_int_t)r->dirty_bytes));
	json_object_set_new(o, "added_bytes", json_integer((json_int_t)r->added_bytes));
	json_array_append_new(a->disks, o);
}

void cli_pack_print_captures(const struct cli_pack_args *a)
{
	size_t i;
	json_t *d;
	json_array_foreach(a->disks, i, d) {
		json_t *from = json_object_get(d, "from");
		if (!from)
			continue;
		char read[32];
		cli_human((uint64_t)json_integer_value(json_object_get(d, "bytes_read")), read, sizeof read);
		printf("captured %s from %s: %s read in %lld requests\n", json_string_value(json_object_get(d, "component")),
		       json_string_value(from), read, (long long)json_integer_value(json_object_get(d, "requests")));
	}
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
	case 0x110e:
		if (!strchr(arg, '=') || *arg == '=' || a->capture.nparams == sizeof a->inputs / sizeof *a->inputs)
			return cli_usage(cmd, "--input-option takes KEY=VALUE (at most %zu)",
					 sizeof a->inputs / sizeof *a->inputs), -1;
		a->inputs[a->capture.nparams++] = arg;
		return 1;
	case 0x110f: a->capture.keep_export = true; return 1;
	case 0x1110: a->dry_run = true; return 1;
	case 0x1104:
	case 0x1105:
		if (!cli_number(arg, 1, c == 0x1104 ? 1024 : 16777216, &n))
			return cli_usage(cmd, "%s", c == 0x1104 ? "--vcpus takes 1 to 1024" : "--memory takes MiB, 1 to 16777216"), -1;
		if (c == 0x1104)
			a->spec.vcpus = a->capture.vcpus = (unsigned)n;
		else
			a->spec.memory_mib = a->capture.memory_mib = (uint64_t)n;
		break;
	case 0x1106:
		if (strcmp(arg, "bios") && strcmp(arg, "uefi"))
			return cli_usage(cmd, "--firmware takes bios or uefi"), -1;
		a->spec.firmware = a->capture.firmware = arg;
		break;
	case 0x1107:
		if (strcmp(arg, "linux") && strcmp(arg, "windows") && strcmp(arg, "other"))
			return cli_usage(cmd, "--os takes linux, windows or other"), -1;
		a->spec.os = a->capture.os = arg;
		break;
	case 0x1108: a->spec.network = arg; break;
	case 0x1109: a->spec.name = a->capture.vm_name = arg; break;
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
		.capture = &a->capture,
	};
	a->capture.params = a->inputs;
	a->capture.http = &a->net.registry.http;
	/* a live domain's backup job is ended when interrupted; other sources die as before */
	signal(SIGINT, ep_interrupt_signal);
	signal(SIGTERM, ep_interrupt_signal);
	bool bare = false, captured = false; /* a capture's machine takes the options by hand too */
	for (size_t i = 0; i < n; i++)
		bare |= (*sources)[i].ops->bare_disk, captured |= (*sources)[i].ops->machine_options;
	if (a->by_hand && (bare || !captured)) {
		if (!a->spec.name)
			a->spec.name = opt->name;
		opt->machine = &a->spec;
	}
	return 0;
}

static void dry_run_request(void *ctx, const char *text)
{
	struct cli_pack_args *a = ctx;
	if (a->requests)
		json_array_append_new(a->requests, json_string(text));
	else
		printf("would send:\n%s\n", text);
}

int cli_pack_dry_run(struct cli_pack_args *a, const struct ep_pack_options *opt, const struct ep_source *sources,
		     size_t n, bool json)
{
	struct ep_error err = { 0 };
	if (json && !(a->requests = json_array()))
		return cli_fail(&(struct ep_error){ EP_ERUNTIME, "out of memory" });
	a->capture.dry_run_request = dry_run_request;
	a->capture.dry_run_ctx = a;
	if (ep_pack_dry_run(opt, sources, n, &err))
		return cli_fail(&err);
	if (json) {
		json_t *o = json_pack("{s:b,s:O}", "dry_run", 1, "requests", a->requests);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else {
		printf("dry run: nothing was read or written\n");
	}
	return 0;
}
