#include "formats/bundle/machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define VCPUS_MAX 1024
#define MEMORY_MAX_MIB ((uint64_t)16 << 20) /* 16 TiB */

static bool word_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static bool mac_ok(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const char *const buses[] = { "virtio", "sata", "ide", "scsi", "nvme", NULL };
static const char *const devices[] = { "disk", "cdrom", NULL };
static const char *const firmwares[] = { "bios", "uefi", NULL };
static const char *const oses[] = { "linux", "windows", "other", NULL };

int ep_machine_check(const struct ep_machine *m, const char *what, struct ep_error *err)
{
	const char *bad = !m->name || !ep_name_ok(m->name)			 ? "name"
			  : m->vcpus < 1 || m->vcpus > VCPUS_MAX			 ? "vcpus"
			  : m->memory_mib < 1 || m->memory_mib > MEMORY_MAX_MIB	 ? "memory_mib"
			  : !one_of(m->firmware, firmwares)			 ? "firmware"
			  : m->secure_boot > EP_SECURE_BOOT_ON ||
					  (m->secure_boot && strcmp(m->firmware, "uefi")) ? "secure_boot"
			  : m->machine && !word_ok(m->machine, 64)		 ? "machine"
			  : !one_of(m->os, oses)				 ? "os"
			  : m->limits.memory_limit_mib > MEMORY_MAX_MIB		 ? "limits.memory_limit_mib"
			  : m->limits.cpu_shares > 262144			 ? "limits.cpu_shares"
			  : m->limits.cpu_period_us > 1000000			 ? "limits.cpu_period_us"
			  : m->limits.cpu_quota_us > ((uint64_t)1 << 44)		 ? "limits.cpu_quota_us"
											 : NULL;
	for (size_t i = 0; !bad && i < m->ndisks; i++) {
		const struct ep_vm_disk *d = &m->disks[i];
		bad = !d->component || !ep_name_ok(d->component) ? "disks.component"
		      : !one_of(d->bus, buses)	? "disks.bus"
		      : !one_of(d->device, devices) ? "disks.device"
		      : d->boot > 64		? "disks.boot"
						: NULL;
	}
	for (size_t i = 0; !bad && i < m->nnics; i++) {
		const struct ep_vm_nic *n = &m->nics[i];
		bad = !word_ok(n->model, 32)			   ? "nics.model"
		      : n->mac && !mac_ok(n->mac)		   ? "nics.mac"
		      : n->network && !word_ok(n->network, 64) ? "nics.network"
							   : NULL;
	}
	if (!bad && (m->ndisks > 64 || m->nnics > 64))
		bad = m->ndisks > 64 ? "disks (more than 64)" : "nics (more than 64)";
	return bad ? ep_fail(err, EP_EINPUT, "%s: machine '%s': field '%s' is missing or not allowed", what,
			     m->name && ep_name_ok(m->name) ? m->name : "?", bad)
		   : 0;
}

void ep_machine_release(struct ep_machine *m)
{
	for (size_t i = 0; i < m->ndisks; i++) {
		free(m->disks[i].component);
		free(m->disks[i].bus);
		free(m->disks[i].device);
	}
	for (size_t i = 0; i < m->nnics; i++) {
		free(m->nics[i].model);
		free(m->nics[i].mac);
		free(m->nics[i].network);
	}
	free(m->disks);
	free(m->nics);
	free(m->name);
	free(m->firmware);
	free(m->machine);
	free(m->os);
	*m = (struct ep_machine){ 0 };
}

static bool dup(char **dst, const char *s)
{
	return !s || (*dst = strdup(s));
}

int ep_machine_add_disk(struct ep_machine *m, const char *component, const char *bus, const char *device,
			unsigned boot, struct ep_error *err)
{
	if (!ep_grow((void **)&m->disks, &m->cap_disks, m->ndisks + 1, sizeof *m->disks))
		return ep_oom(err);
	struct ep_vm_disk *d = &m->disks[m->ndisks++];
	*d = (struct ep_vm_disk){ .boot = boot };
	return dup(&d->component, component) && dup(&d->bus, bus) && dup(&d->device, device) ? 0 : ep_oom(err);
}

int ep_machine_add_nic(struct ep_machine *m, const char *model, const char *mac, const char *network,
		       struct ep_error *err)
{
	if (!ep_grow((void **)&m->nics, &m->cap_nics, m->nnics + 1, sizeof *m->nics))
		return ep_oom(err);
	struct ep_vm_nic *n = &m->nics[m->nnics++];
	*n = (struct ep_vm_nic){ 0 };
	return dup(&n->model, model) && dup(&n->mac, mac) && dup(&n->network, network) ? 0 : ep_oom(err);
}

json_t *ep_machine_to_json(const struct ep_machine *m)
{
	json_t *sb = m->secure_boot ? json_boolean(m->secure_boot == EP_SECURE_BOOT_ON) : NULL; /* absent: unknown */
	json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:o*,s:s?,s:s}", "name", m->name, "vcpus", (json_int_t)m->vcpus,
			      "memory_mib", (json_int_t)m->memory_mib, "firmware", m->firmware, "secure_boot", sb,
			      "machine", m->machine, "os", m->os);
	json_t *limits = json_object(), *disks = json_array(), *nics = json_array();
	const struct { const char *key; uint64_t v; } lim[] = {
		{ "cpu_shares", m->limits.cpu_shares },
		{ "cpu_quota_us", m->limits.cpu_quota_us },
		{ "cpu_period_us", m->limits.cpu_period_us },
		{ "memory_limit_mib", m->limits.memory_limit_mib },
	};
	for (size_t i = 0; limits && i < sizeof lim / sizeof *lim; i++)
		if (lim[i].v)
			json_object_set_new(limits, lim[i].key, json_integer((json_int_t)lim[i].v));
	for (size_t i = 0; disks && i < m->ndisks; i++)
		json_array_append_new(disks, json_pack("{s:s,s:s,s:s,s:I}", "component", m->disks[i].component, "bus",
						       m->disks[i].bus, "device", m->disks[i].device, "boot",
						       (json_int_t)m->disks[i].boot));
	for (size_t i = 0; nics && i < m->nnics; i++)
		json_array_append_new(nics, json_pack("{s:s,s:s?,s:s?}", "model", m->nics[i].model, "mac", m->nics[i].mac,
						      "network", m->nics[i].network));
	if (!o || !limits || !disks || !nics || json_object_set_new(o, "limits", limits) ||
	    json_object_set_new(o, "disks", disks) || json_object_set_new(o, "nics", nics)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int get_uint(json_t *o, const char *key, bool required, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!v && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static bool copy(json_t *o, const char *key, char **dst)
{
	json_t *v = json_object_get(o, key);
	return !v || json_is_null(v) || (json_is_string(v) && (*dst = strdup(json_string_value(v))));
}

int ep_machine_from_json(json_t *o, struct ep_machine *m, const char *what, struct ep_error *err)
{
	uint64_t vcpus = 0, boot;
	json_t *limits = json_object_get(o, "limits"), *disks = json_object_get(o, "disks"), *nics = json_object_get(o, "nics");
	json_t *sb = json_object_get(o, "secure_boot");
	m->secure_boot = json_is_true(sb) ? EP_SECURE_BOOT_ON : json_is_false(sb) ? EP_SECURE_BOOT_OFF : EP_SECURE_BOOT_UNKNOWN;
	bool ok = json_is_object(o) && (!sb || json_is_boolean(sb) || json_is_null(sb)) && copy(o, "name", &m->name) &&
		  copy(o, "firmware", &m->firmware) && copy(o, "machine", &m->machine) && copy(o, "os", &m->os) && !get_uint(o, "vcpus", true, &vcpus) &&
		  vcpus <= VCPUS_MAX && !get_uint(o, "memory_mib", true, &m->memory_mib) &&
		  (!limits || (json_is_object(limits) && !get_uint(limits, "cpu_shares", false, &m->limits.cpu_shares) &&
			       !get_uint(limits, "cpu_quota_us", false, &m->limits.cpu_quota_us) &&
			       !get_uint(limits, "cpu_period_us", false, &m->limits.cpu_period_us) &&
			       !get_uint(limits, "memory_limit_mib", false, &m->limits.memory_limit_mib))) &&
		  json_is_array(disks) && json_array_size(disks) <= 64 && (!nics || (json_is_array(nics) && json_array_size(nics) <= 64));
	m->vcpus = (unsigned)vcpus;
	size_t i;
	json_t *d;
	json_array_foreach(ok ? disks : NULL, i, d)
	{
		const char *c = json_string_value(json_object_get(d, "component")), *bus = json_string_value(json_object_get(d, "bus")),
			   *dev = json_string_value(json_object_get(d, "device"));
		boot = 0;
		if (!(ok = !get_uint(d, "boot", false, &boot) && boot <= 64 && c && bus && dev))
			break;
		if (ep_machine_add_disk(m, c, bus, dev, (unsigned)boot, err))
			return err->code;
	}
	json_array_foreach(ok ? nics : NULL, i, d)
	{
		const char *model = json_string_value(json_object_get(d, "model"));
		json_t *mac = json_object_get(d, "mac"), *net = json_object_get(d, "network");
		if (!(ok = model && (!mac || json_is_string(mac) || json_is_null(mac)) &&
			   (!net || json_is_string(net) || json_is_null(net))))
			break;
		if (ep_machine_add_nic(m, model, json_string_value(mac), json_string_value(net), err))
			return err->code;
	}
	if (!ok)
		return ep_fail(err, EP_EINPUT, "%s: a machine is malformed", what);
	return ep_machine_check(m, what, err);
}

bool ep_machine_q35(const struct ep_machine *m)
{
	return (m->machine && strstr(m->machine, "q35")) || m->secure_boot == EP_SECURE_BOOT_ON;
}

const char *ep_machine_firmware_text(const struct ep_machine *m)
{
	return m->secure_boot == EP_SECURE_BOOT_ON    ? "uefi (Secure Boot)"
	       : m->secure_boot == EP_SECURE_BOOT_OFF ? "uefi (no Secure Boot)"
						      : m->firmware;
}

bool ep_machine_virtio_ok(const struct ep_machine *m)
{
	return m->os && !strcmp(m->os, "linux");
}

void ep_machine_make_mac(const char *seed, unsigned index, char out[18])
{
	uint8_t h[EP_DIGEST_LEN];
	char buf[300];
	snprintf(buf, sizeof buf, "%s/%u", seed, index);
	ep_sha256(buf, strlen(buf), h);
	/* 52:54:00 is QEMU's prefix; the rest from the seed, so restores are repeatable */
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", h[0], h[1], h[2]);
}
