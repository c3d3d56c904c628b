#include "targets/retarget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- machines ---- */

static bool chosen(const struct ep_retarget *rt, const struct ep_machine *vm)
{
	for (size_t i = 0; i < rt->nonly; i++)
		if (!strcmp(rt->only[i], vm->name))
			return true;
	return rt->nonly == 0;
}

static bool number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (!s || *s < '0' || *s > '9' || *end || v < 1 || v > max)
		return false;
	*out = v;
	return true;
}

static int replace(char **field, const char *value, struct ep_error *err)
{
	char *copy = strdup(value);
	if (!copy)
		return ep_oom(err);
	free(*field);
	*field = copy;
	return 0;
}

/* web -> web-2 for its disks: "web" becomes "web-2", "web-data" "web-2-data", anything else "web-2-NAME". */
static int rename_machine(struct ep_manifest *m, struct ep_machine *vm, const char *name, struct ep_error *err)
{
	if (!ep_name_ok(name))
		return ep_fail(err, EP_EINPUT, "--set name=%s: a name is letters, digits, '.', '_' or '-'", name);
	for (size_t i = 0; i < m->nmachines; i++)
		if (&m->machines[i] != vm && !strcmp(m->machines[i].name, name))
			return ep_fail(err, EP_EINPUT, "--set name=%s: the bundle has a machine of that name", name);
	size_t old = strlen(vm->name);
	for (size_t k = 0; k < vm->ndisks; k++) {
		char next[300];
		const char *c = vm->disks[k].component;
		if (!strncmp(c, vm->name, old) && (c[old] == '\0' || c[old] == '-' || c[old] == '.' || c[old] == '_'))
			snprintf(next, sizeof next, "%s%s", name, c + old);
		else
			snprintf(next, sizeof next, "%s-%s", name, c);
		if (!ep_name_ok(next))
			return ep_fail(err, EP_EINPUT, "--set name=%s: its disk '%s' would be named '%s', which is too long", name, c, next);
		for (size_t i = 0; i < m->ncomponents; i++)
			if (!strcmp(m->components[i].name, next))
				return ep_fail(err, EP_EINPUT, "--set name=%s: its disk '%s' would take the name of '%s'", name, c, next);
		for (size_t i = 0; i < m->ncomponents; i++)
			if (!strcmp(m->components[i].name, c) && replace(&m->components[i].name, next, err))
				return err->code;
		if (replace(&vm->disks[k].component, next, err))
			return err->code;
	}
	return replace(&vm->name, name, err);
}

/* --set secure_boot=yes|no: says what the source did not (a bare <os firmware='efi'>, a
 * bundle from before the field), or changes it. Secure Boot is UEFI's only. */
static int set_secure_boot(struct ep_machine *vm, const char *v, struct ep_error *err)
{
	if (strcmp(v, "yes") && strcmp(v, "no"))
		return ep_fail(err, EP_EINPUT, "--set secure_boot=%s: yes or no", v);
	if (strcmp(vm->firmware, "uefi"))
		return ep_fail(err, EP_EINPUT, "--set secure_boot=%s: machine '%s' boots BIOS, and Secure Boot is UEFI's (--only picks machines)",
			       v, vm->name);
	vm->secure_boot = !strcmp(v, "yes") ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF;
	return 0;
}

static int apply(struct ep_manifest *m, struct ep_machine *vm, const struct ep_retarget *rt, struct ep_error *err)
{
	int rc = 0;
	bool renamed = false;
	for (size_t i = 0; !rc && i < rt->nsets; i++) {
		const char *k = rt->sets[i].key, *v = rt->sets[i].value;
		uint64_t n;
		if (!strcmp(k, "name")) {
			size_t named = rt->nonly;
			for (size_t j = 0; j < rt->nonly; j++)
				named = !strcmp(rt->only[j], vm->name) ? j : named;
			renamed = !(rc = rename_machine(m, vm, v, err));
			if (renamed && named < rt->nonly)
				rt->only[named] = vm->name; /* --only still names it */
		}
		else if (!strcmp(k, "vcpus"))
			rc = number(v, 1024, &n) ? (vm->vcpus = (unsigned)n, 0)
						 : ep_fail(err, EP_EINPUT, "--set vcpus=%s: a number from 1 to 1024", v);
		else if (!strcmp(k, "memory_mib"))
			rc = number(v, (uint64_t)16 << 20, &vm->memory_mib)
				     ? 0
				     : ep_fail(err, EP_EINPUT, "--set memory_mib=%s: MiB, from 1 to 16777216", v);
		else if (!strcmp(k, "network"))
			for (size_t j = 0; !rc && j < vm->nnics; j++)
				rc = replace(&vm->nics[j].network, v, err);
		else if (!strcmp(k, "secure_boot"))
			rc = set_secure_boot(vm, v, err);
		else
			rc = ep_fail(err, EP_EINPUT, "--set %s: not a parameter (name, vcpus, memory_mib, network, secure_boot)", k);
	}
	/* a second instance must not answer to the first one's MACs */
	for (size_t j = 0; !rc && renamed && !rt->keep_mac && j < vm->nnics; j++) {
		char mac[18];
		ep_machine_make_mac(vm->name, (unsigned)j, mac);
		rc = replace(&vm->nics[j].mac, mac, err);
	}
	return rc ? rc : ep_machine_check(vm, "--set", err);
}

int ep_retarget_machines(struct ep_manifest *m, const struct ep_retarget *rt, struct ep_error *err)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nmachines; i++)
		n += chosen(rt, &m->machines[i]);
	for (size_t i = 0; i < rt->nsets; i++) {
		if (!strcmp(rt->sets[i].key, "name") && n != 1)
			return ep_fail(err, EP_EINPUT, "--set name=%s: the bundle has %zu machines; pick one with --only", rt->sets[i].value, n);
		if (n == 0)
			return ep_fail(err, EP_EINPUT, "--set %s: the bundle has no machine to set it on", rt->sets[i].key);
	}
	int rc = 0;
	for (size_t i = 0; !rc && rt->nsets && i < m->nmachines; i++)
		if (chosen(rt, &m->machines[i]))
			rc = apply(m, &m->machines[i], rt, err);
	return rc;
}

/* ---- cloud-init host names ---- */

bool ep_hostname_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		      h[i] == '-' || h[i] == '.'))
			return false;
	return true;
}
