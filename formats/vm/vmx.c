/*
 * VMware .vmx files (vm:vmx:FILE.vmx): `key = "value"` lines. None of the
 * chosen libraries reads them, and the grammar is one line long, so this is
 * read by hand, defensively: bounded size and line length, unknown keys
 * ignored, each disk resolved inside the file's directory as backing files are.
 */
#include "formats/vm/vmx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

#define VMX_MAX ((size_t)1 << 20)
#define KEYS_MAX 4096

struct pair {
	char *key, *value;
};

struct vmx {
	struct pair *pairs;
	size_t n, cap;
};

static const char *get(const struct vmx *v, const char *key)
{
	for (size_t i = v->n; i-- > 0;) /* the last one wins, as VMware reads it */
		if (!strcasecmp(v->pairs[i].key, key))
			return v->pairs[i].value;
	return NULL;
}

/* The value of DEV.SUFFIX ("scsi0:0" ".fileName"). */
static const char *getf(const struct vmx *v, char *buf, size_t cap, const char *dev, const char *suffix)
{
	snprintf(buf, cap, "%s%s", dev, suffix);
	return get(v, buf);
}

static int parse(const char *path, char *text, struct vmx *v, struct ep_error *err)
{
	size_t lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#' || *p == '\r' || !strncmp(p, ".encoding", 9))
			continue;
		char *eq = strchr(p, '=');
		if (!eq)
			return ep_fail(err, EP_EINPUT, "vmx: '%s' line %zu is not key = \"value\"", path, lineno);
		char *kend = eq;
		while (kend > p && (kend[-1] == ' ' || kend[-1] == '\t'))
			kend--;
		*kend = '\0';
		char *val = eq + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		char *vend = val + strlen(val);
		while (vend > val && (vend[-1] == '\r' || vend[-1] == ' '))
			vend--;
		*vend = '\0';
		if (*val == '"') {
			if (vend - val < 2 || vend[-1] != '"')
				return ep_fail(err, EP_EINPUT, "vmx: '%s' line %zu has an unterminated value", path, lineno);
			*--vend = '\0';
			val++;
		}
		if (v->n == KEYS_MAX)
			return ep_fail(err, EP_EINPUT, "vmx: '%s' has more than %d keys", path, KEYS_MAX);
		if (!ep_grow((void **)&v->pairs, &v->cap, v->n + 1, sizeof *v->pairs))
			return ep_oom(err);
		v->pairs[v->n++] = (struct pair){ p, val };
	}
	return 0;
}

static bool yes(const char *s)
{
	return s && !strcasecmp(s, "TRUE");
}

static const char *os_family(const char *guest)
{
	static const char *const linuxes[] = { "linux", "ubuntu", "debian", "centos", "rhel", "sles", "fedora",
					       "oracle", "rocky", "alma", "photon", "coreos", "asianux", NULL };
	for (const char *const *l = linuxes; guest && *l; l++)
		if (strcasestr(guest, *l))
			return "linux";
	return guest && (strcasestr(guest, "windows") || !strncasecmp(guest, "win", 3)) ? "windows" : "other";
}

/* Disks on every controller VMware has, in the order a BIOS would try them. */
static int read_disks(const char *path, const struct vmx *v, const struct ep_disk_open_opts *opts,
		      struct ep_vm_source *s, struct ep_error *err)
{
	static const struct { const char *prefix, *bus; int controllers, units; } buses[] = {
		{ "ide", "ide", 2, 2 }, { "sata", "sata", 4, 30 }, { "scsi", "scsi", 4, 16 }, { "nvme", "nvme", 4, 15 },
	};
	char key[64], dev[32], resolved[PATH_MAX];
	int rc = 0;
	unsigned boot = 1;
	for (size_t b = 0; !rc && b < sizeof buses / sizeof *buses; b++)
		for (int c = 0; !rc && c < buses[b].controllers; c++) {
			snprintf(dev, sizeof dev, "%s%d", buses[b].prefix, c);
			if (!yes(getf(v, key, sizeof key, dev, ".present")))
				continue;
			for (int u = 0; !rc && u < buses[b].units; u++) {
				snprintf(dev, sizeof dev, "%s%d:%d", buses[b].prefix, c, u);
				const char *file = getf(v, key, sizeof key, dev, ".fileName");
				const char *type = getf(v, key, sizeof key, dev, ".deviceType");
				if (!yes(getf(v, key, sizeof key, dev, ".present")) || !file)
					continue;
				if (type && strstr(type, "cdrom"))
					continue; /* install media, not the machine's data */
				if (!(rc = ep_disk_resolve_ref(path, file, opts, resolved, err)))
					rc = ep_vm_source_add_disk(s, resolved, NULL, buses[b].bus, "disk", boot, err);
				boot = 0;
			}
		}
	return rc;
}

static int read_nics(const struct vmx *v, struct ep_vm_source *s, struct ep_error *err)
{
	char key[64], dev[32], mac[18];
	int rc = 0;
	for (int i = 0; !rc && i < 10; i++) {
		snprintf(dev, sizeof dev, "ethernet%d", i);
		if (!yes(getf(v, key, sizeof key, dev, ".present")))
			continue;
		const char *model = getf(v, key, sizeof key, dev, ".virtualDev");
		const char *net = getf(v, key, sizeof key, dev, ".networkName");
		const char *addr = getf(v, key, sizeof key, dev, ".address");
		if (!addr)
			addr = getf(v, key, sizeof key, dev, ".generatedAddress");
		snprintf(mac, sizeof mac, "%s", addr ? addr : "");
		for (char *p = mac; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		rc = ep_machine_add_nic(&s->machine, model && !strcmp(model, "vlance") ? "pcnet" : model ? model : "e1000",
					*mac ? mac : NULL, net, err);
	}
	return rc;
}

int ep_vmx_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		struct ep_error *err)
{
	char *text = NULL;
	size_t len;
	struct vmx v = { 0 };
	struct ep_vm_source *s = calloc(1, sizeof *s);
	int rc = s ? ep_read_file(path, VMX_MAX, &text, &len, err) : ep_oom(err);
	if (!rc && memchr(text, '\0', len))
		rc = ep_fail(err, EP_EINPUT, "vmx: '%s' is not a text file", path);
	if (!rc)
		rc = parse(path, text, &v, err);
	struct ep_machine *m = s ? &s->machine : NULL;
	uint64_t n = 1;
	char *end;
	if (!rc) {
		const char *name = get(&v, "displayName"), *cpus = get(&v, "numvcpus"), *mem = get(&v, "memsize");
		if (cpus && (n = strtoull(cpus, &end, 10), *end || n == 0))
			rc = ep_fail(err, EP_EINPUT, "vmx: '%s': numvcpus is not a number", path);
		m->vcpus = n > 100000 ? 100000 : (unsigned)n;
		if (!rc && (!mem || (m->memory_mib = strtoull(mem, &end, 10), *end)))
			rc = ep_fail(err, EP_EINPUT, "vmx: '%s': memsize is missing or not a number", path);
		m->name = name ? strdup(name) : NULL;
		for (char *p = m->name; p && *p; p++) /* display names are for people: "Web Server 1" */
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
			      *p == '_' || *p == '-'))
				*p = '-';
		const char *fw = get(&v, "firmware");
		m->firmware = strdup(fw && !strcasecmp(fw, "efi") ? "uefi" : "bios");
		/* VMware writes the key when Secure Boot is on; without it, it is off */
		if (fw && !strcasecmp(fw, "efi"))
			m->secure_boot = yes(get(&v, "uefi.secureBoot.enabled")) ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF;
		m->os = strdup(os_family(get(&v, "guestOS")));
	}
	if (!rc)
		rc = read_disks(path, &v, opts, s, err);
	if (!rc)
		rc = read_nics(&v, s, err);
	if (!rc)
		rc = ep_vm_source_finish(s, path, "vmx", err);
	free(v.pairs);
	free(text);
	if (rc) {
		ep_vm_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}
