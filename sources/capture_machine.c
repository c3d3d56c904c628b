/* The machine a cloud capture describes: what the cloud says of it, pack's machine
 * options given by hand winning, its boot disk and any more. image:glance:, vm:aws: and
 * vm:azure: make theirs so. */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define DEFAULT_MEMORY_MIB 1024 /* as pack's --memory */

/* A cloud's name for people ("Web server 1") as a machine name: letters, digits, '.',
 * '_' and '-', the rest '-'; the fallback when that makes none. */
static void machine_name(const char *name, const char *fallback, char *out, size_t cap)
{
	snprintf(out, cap, "%.*s", (int)(cap - 1), name ? name : ""); /* ep_name_ok's 128 at most */
	for (char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			*p = '-';
	if (!ep_name_ok(out))
		snprintf(out, cap, "%s", fallback);
}

int ep_capture_machine_add(const struct ep_capture_options *c, const struct ep_capture_machine *said,
			   struct ep_manifest *manifest, const char *component, const char *what, struct ep_error *err)
{
	char name[129];
	machine_name(said->name, said->fallback, name, sizeof name);
	const char *firmware = c && c->firmware ? c->firmware : said->firmware ? said->firmware : "bios";
	const char *os = c && c->os ? c->os : said->os ? said->os : "other";
	struct ep_machine *m = ep_manifest_add_machine(manifest);
	if (!m || !(m->name = strdup(c && c->vm_name ? c->vm_name : name)) || !(m->firmware = strdup(firmware)) ||
	    !(m->os = strdup(os)) || (said->machine && *said->machine && !(m->machine = strdup(said->machine))))
		return ep_oom(err);
	m->vcpus = c && c->vcpus ? c->vcpus : said->vcpus ? said->vcpus : 1;
	m->memory_mib = c && c->memory_mib ? c->memory_mib : said->memory_mib ? said->memory_mib : DEFAULT_MEMORY_MIB;
	if (!strcmp(firmware, "uefi")) /* a firmware given by hand keeps what the cloud says of Secure Boot */
		m->secure_boot = said->secure_boot;
	const char *bus = said->bus ? said->bus : !strcmp(os, "linux") ? "virtio" : "sata";
	int rc = ep_machine_add_disk(m, component, bus, "disk", 1, err);
	for (size_t i = 0; !rc && i < said->nmore_disks; i++) /* not bootable, as pack's disk: sources after the first */
		rc = ep_machine_add_disk(m, said->more_disks[i], bus, "disk", 0, err);
	return rc ? rc : ep_machine_check(m, what, err);
}
