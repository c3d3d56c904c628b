/*
 * OVF descriptors (DMTF DSP0243 1.x, the dialect VMware and VirtualBox
 * exchange) to and from the machine model. What OVF cannot say (virtio, the
 * OS family envpack keeps, machine type, limits) travels in an optional
 * envpack section that other readers skip, so envpack reads its own OVA back
 * as the same machine; foreign descriptors are read from the standard sections.
 */
#include "formats/vm/ovf.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/util.h"
#include "base/xml.h"

#define NS_OVF "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VSSD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"
#define NS_ENVPACK "urn:envpack:ovf:1"
#define NS_VBOX "http://www.virtualbox.org/ovf/machine"

enum { RT_CPU = 3, RT_MEMORY = 4, RT_IDE = 5, RT_SCSI = 6, RT_NIC = 10, RT_DISK = 17, RT_SATA = 20 };

static const char *const namespaces[] = { "ovf", NS_OVF, "rasd", NS_RASD, "vssd", NS_VSSD, "vmw", NS_VMW,
					  "envpack", NS_ENVPACK, "vbox", NS_VBOX, NULL };

/* ---- reading ---- */

struct reader {
	struct ep_xml x;
	const char *path;
	struct ep_error *err;
};

static xmlNodePtr item_of_type(struct reader *r, unsigned type)
{
	char expr[120];
	snprintf(expr, sizeof expr, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/ovf:Item[rasd:ResourceType='%u']", type);
	xmlXPathObjectPtr o = ep_xml_all(&r->x, NULL, expr);
	xmlNodePtr n = o && o->nodesetval && o->nodesetval->nodeNr ? o->nodesetval->nodeTab[0] : NULL;
	xmlXPathFreeObject(o);
	return n;
}

/* "byte * 2^20" and its kin, as a shift to MiB; false when unknown. */
static bool mib_shift(const char *units, int *shift)
{
	const char *p = units ? strstr(units, "2^") : NULL;
	if (!units || !*units || !strcasecmp(units, "MegaBytes") || !strcasecmp(units, "MB"))
		return (*shift = 0), true;
	if (!strcasecmp(units, "GigaBytes") || !strcasecmp(units, "GB"))
		return (*shift = 10), true;
	if (!p || strncmp(units, "byte", 4) != 0)
		return false;
	/* strtol, not atoi: "2^20x" or "2^" is malformed, not 2^20 or 2^0 */
	char *end;
	errno = 0;
	long e = strtol(p + 2, &end, 10);
	end += strspn(end, " \t");
	if (errno || end == p + 2 || *end || e < 20 || e > 50)
		return false;
	*shift = (int)e - 20;
	return true;
}

static const char *os_family(struct reader *r)
{
	uint64_t id = 0;
	char *type = ep_xml_get(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:OperatingSystemSection/@vmw:osType");
	ep_xml_num(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:OperatingSystemSection/@ovf:id", &id);
	const char *family = "other";
	static const char *const linuxes[] = { "linux", "debian", "ubuntu", "centos", "rhel", "sles", "fedora",
					       "oracle", "rocky", "alma", "photon", "coreos", NULL };
	for (const char *const *l = linuxes; type && *l; l++)
		if (strcasestr(type, *l))
			family = "linux";
	if (type && strcasestr(type, "windows"))
		family = "windows";
	/* CIM_OperatingSystem: 36 LINUX, 79-80 RHEL, 82-83 SUSE, 84-85 SLES, ... 99-101, 106-110 Linux distributions */
	if (!type && (id == 36 || (id >= 79 && id <= 80) || (id >= 82 && id <= 101 && id != 81) || (id >= 106 && id <= 110)))
		family = "linux";
	if (!type && ((id >= 67 && id <= 77) || id == 103 || id == 105 || id == 112 || id == 113 || id == 116))
		family = "windows";
	free(type);
	return family;
}

static const char *bus_of_controller(struct reader *r, const char *parent)
{
	char expr[200];
	uint64_t type = 0;
	snprintf(expr, sizeof expr, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/ovf:Item[rasd:InstanceID='%s']/rasd:ResourceType",
		 parent);
	if (!parent || strchr(parent, '\'') || !ep_xml_num(&r->x, NULL, expr, &type))
		return "scsi";
	return type == RT_IDE ? "ide" : type == RT_SATA ? "sata" : "scsi";
}

static const char *nic_model(const char *subtype)
{
	static const struct { const char *ovf, *model; } map[] = {
		{ "E1000", "e1000" }, { "E1000e", "e1000e" }, { "VmxNet3", "vmxnet3" }, { "VmxNet2", "vmxnet3" },
		{ "PCNet32", "pcnet" }, { "virtio", "virtio" }, { "VirtioNet", "virtio" },
	};
	for (size_t i = 0; subtype && i < sizeof map / sizeof *map; i++)
		if (!strcasecmp(subtype, map[i].ovf))
			return map[i].model;
	return "e1000";
}

static int read_disks(struct reader *r, struct ep_vm_source *s, const struct ep_disk_open_opts *opts)
{
	xmlXPathObjectPtr o = ep_xml_all(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/ovf:Item[rasd:ResourceType='17']");
	int rc = 0;
	for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		xmlNodePtr item = o->nodesetval->nodeTab[i];
		char *host = ep_xml_get(&r->x, item, "rasd:HostResource"), *parent = ep_xml_get(&r->x, item, "rasd:Parent");
		const char *id = host ? strrchr(host, '/') : NULL;
		char expr[300], *href = NULL, resolved[PATH_MAX];
		if (id && !strchr(id, '\'')) {
			snprintf(expr, sizeof expr, "/ovf:Envelope/ovf:References/ovf:File[@ovf:id=/ovf:Envelope/ovf:DiskSection/ovf:Disk[@ovf:diskId='%s']/@ovf:fileRef]/@ovf:href",
				 id + 1);
			href = ep_xml_get(&r->x, NULL, expr);
		}
		if (!href)
			rc = ep_fail(r->err, EP_EINPUT, "ovf: '%s': disk %d names no file (%s)", r->path, i + 1, host ? host : "no HostResource");
		else if (!(rc = ep_disk_resolve_ref(r->path, href, opts, resolved, r->err)))
			rc = ep_vm_source_add_disk(s, resolved, NULL, bus_of_controller(r, parent), "disk", i == 0 ? 1 : 0, r->err);
		free(host), free(parent), free(href);
	}
	xmlXPathFreeObject(o);
	return rc;
}

static int read_nics(struct reader *r, struct ep_vm_source *s)
{
	xmlXPathObjectPtr o = ep_xml_all(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/ovf:Item[rasd:ResourceType='10']");
	int rc = 0;
	for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		xmlNodePtr item = o->nodesetval->nodeTab[i];
		char *sub = ep_xml_get(&r->x, item, "rasd:ResourceSubType"), *net = ep_xml_get(&r->x, item, "rasd:Connection");
		char *mac = ep_xml_get(&r->x, item, "rasd:Address");
		for (char *p = mac; p && *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		rc = ep_machine_add_nic(&s->machine, nic_model(sub), mac, net, r->err);
		free(sub), free(net), free(mac);
	}
	xmlXPathFreeObject(o);
	return rc;
}

/* Names from foreign descriptors ("Ubuntu 22.04 Server") made safe: other characters become '-'. */
static char *safe_name(char *s)
{
	for (char *p = s; p && *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			*p = '-';
	if (s && (s[0] == '.' || s[0] == '-'))
		s[0] = 'x';
	return s;
}

/* The firmware from VMware's key, else from VirtualBox's machine section, which VirtualBox
 * reads instead (<Firmware type="EFI"/>, or EFI32, EFI64, EFIDUAL; its elements take the
 * export's default namespace). Secure Boot: VMware's uefi.secureBoot.enabled, which VMware
 * writes when it is on, so without it off; VirtualBox keeps it in the machine's variable
 * store, not here, so unknown. */
static void read_firmware(struct reader *r, struct ep_machine *m)
{
	char *fw = ep_xml_get(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/vmw:Config[@vmw:key='firmware']/@vmw:value");
	char *vbox = fw ? NULL : ep_xml_get(&r->x, NULL, "//ovf:VirtualSystem[1]/vbox:Machine//*[local-name()='Firmware']/@type");
	char *sb = ep_xml_get(&r->x, NULL, "//ovf:VirtualSystem[1]/ovf:VirtualHardwareSection/vmw:*[@vmw:key='uefi.secureBoot.enabled']/@vmw:value");
	bool vmware = fw && !strcmp(fw, "efi");
	m->firmware = strdup(vmware || (vbox && !strncasecmp(vbox, "EFI", 3)) ? "uefi" : "bios");
	if (vmware)
		m->secure_boot = sb && !strcasecmp(sb, "true") ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF;
	free(fw), free(vbox), free(sb);
}

/* envpack's own section: what OVF has no words for, checked like any manifest field. */
static int read_envpack(struct reader *r, struct ep_machine *m)
{
	char *text = ep_xml_get(&r->x, NULL, "//ovf:VirtualSystem[1]/envpack:Machine");
	if (!text)
		return 0;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	const char *os = json_string_value(json_object_get(o, "os")), *machine = json_string_value(json_object_get(o, "machine"));
	json_t *buses = json_object_get(o, "buses"), *limits = json_object_get(o, "limits");
	json_t *sb = json_object_get(o, "secure_boot");
	int rc = json_is_object(o) ? 0 : ep_fail(r->err, EP_EINPUT, "ovf: '%s': the envpack section is not JSON", r->path);
	if (!rc && sb && !json_is_boolean(sb) && !json_is_null(sb))
		rc = ep_fail(r->err, EP_EINPUT, "ovf: '%s': the envpack section's secure_boot is not true or false", r->path);
	/* envpack wrote it, unknown included (an OVA written before the field existed says nothing) */
	if (!rc && !strcmp(m->firmware ? m->firmware : "", "uefi"))
		m->secure_boot = json_is_true(sb) ? EP_SECURE_BOOT_ON : json_is_false(sb) ? EP_SECURE_BOOT_OFF : EP_SECURE_BOOT_UNKNOWN;
	if (!rc && os) {
		free(m->os);
		m->os = strdup(os);
	}
	if (!rc && machine && !(m->machine = strdup(machine)))
		rc = ep_oom(r->err);
	for (size_t i = 0; !rc && json_is_array(buses) && i < json_array_size(buses) && i < m->ndisks; i++) {
		const char *bus = json_string_value(json_array_get(buses, i));
		free(m->disks[i].bus);
		m->disks[i].bus = strdup(bus ? bus : "");
	}
	json_t *models = json_object_get(o, "nic_models");
	for (size_t i = 0; !rc && json_is_array(models) && i < json_array_size(models) && i < m->nnics; i++) {
		const char *model = json_string_value(json_array_get(models, i));
		free(m->nics[i].model);
		m->nics[i].model = strdup(model ? model : "");
	}
	json_t *v;
	if (!rc && json_is_object(limits)) {
		m->limits.cpu_shares = (v = json_object_get(limits, "cpu_shares")) && json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
		m->limits.cpu_quota_us = (v = json_object_get(limits, "cpu_quota_us")) && json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
		m->limits.cpu_period_us = (v = json_object_get(limits, "cpu_period_us")) && json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
		m->limits.memory_limit_mib = (v = json_object_get(limits, "memory_limit_mib")) && json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	}
	for (size_t i = 0; !rc && json_is_array(json_object_get(o, "boot")) && i < m->ndisks; i++) {
		v = json_array_get(json_object_get(o, "boot"), i);
		m->disks[i].boot = json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 64
					   ? (unsigned)json_integer_value(v)
					   : m->disks[i].boot;
	}
	json_decref(o);
	return rc;
}

int ep_ovf_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		struct ep_error *err)
{
	struct ep_vm_source *s = calloc(1, sizeof *s);
	struct reader r = { .path = path, .err = err };
	int rc = s ? ep_xml_load(&r.x, path, "ovf", "Envelope", namespaces, err) : ep_oom(err);
	struct ep_machine *m = s ? &s->machine : NULL;
	uint64_t vcpus = 1, memory = 0, systems = 0;
	int shift = 0;
	if (!rc) {
		xmlXPathObjectPtr o = ep_xml_all(&r.x, NULL, "//ovf:VirtualSystem");
		systems = o && o->nodesetval ? (uint64_t)o->nodesetval->nodeNr : 0;
		xmlXPathFreeObject(o);
		if (systems != 1)
			rc = ep_fail(err, EP_EINPUT, "ovf: '%s' holds %llu virtual systems; envpack packs one per descriptor", path,
				     (unsigned long long)systems);
	}
	if (!rc) {
		m->name = safe_name(ep_xml_get(&r.x, NULL, "//ovf:VirtualSystem/@ovf:id"));
		if (!m->name || !*m->name) {
			free(m->name);
			m->name = safe_name(ep_xml_get(&r.x, NULL, "//ovf:VirtualSystem/ovf:Name"));
		}
		xmlNodePtr cpu = item_of_type(&r, RT_CPU);
		xmlNodePtr mem = item_of_type(&r, RT_MEMORY);
		char *units = mem ? ep_xml_get(&r.x, mem, "rasd:AllocationUnits") : NULL;
		if (cpu && !ep_xml_num(&r.x, cpu, "rasd:VirtualQuantity", &vcpus))
			rc = ep_fail(err, EP_EINPUT, "ovf: '%s': the CPU count is not a number", path);
		else if (mem && !mib_shift(units, &shift))
			rc = ep_fail(err, EP_EINPUT, "ovf: '%s': the memory size is in unknown units (rasd:AllocationUnits '%s')",
				     path, ep_printable(units));
		else if (!mem || !ep_xml_num(&r.x, mem, "rasd:VirtualQuantity", &memory) ||
			 memory > (UINT64_C(1) << 44) >> shift)
			rc = ep_fail(err, EP_EINPUT, "ovf: '%s': the memory size is missing or in unknown units", path);
		free(units);
		m->vcpus = vcpus > 100000 ? 100000 : (unsigned)vcpus;
		m->memory_mib = memory << shift;
		read_firmware(&r, m);
		m->os = strdup(os_family(&r));
	}
	if (!rc)
		rc = read_disks(&r, s, opts);
	if (!rc)
		rc = read_nics(&r, s);
	if (!rc)
		rc = read_envpack(&r, m);
	if (!rc)
		rc = ep_vm_source_finish(s, path, "ovf", err);
	ep_xml_release(&r.x);
	if (rc) {
		ep_vm_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* ---- writing ---- */

struct writer {
	xmlNsPtr ovf, rasd, vssd, vmw, envpack;
	unsigned next_id;
};

/* A hardware item and its InstanceID; RASD elements form a sequence in
 * alphabetical order, so callers add theirs in that order. */
static xmlNodePtr item(struct writer *w, xmlNodePtr hw, unsigned *id)
{
	*id = ++w->next_id;
	return ep_xml_child(hw, w->ovf, "Item", NULL);
}

static void rasd(struct writer *w, xmlNodePtr it, const char *key, const char *value)
{
	ep_xml_child(it, w->rasd, key, value);
}

static void rasd_num(struct writer *w, xmlNodePtr it, const char *key, uint64_t v)
{
	ep_xml_number(it, w->rasd, key, v);
}

static const char *controller_of(const char *bus, unsigned *type, const char **subtype)
{
	if (!strcmp(bus, "ide"))
		return (*type = RT_IDE), (*subtype = "PIIX4"), "IDE Controller";
	if (!strcmp(bus, "sata"))
		return (*type = RT_SATA), (*subtype = "AHCI"), "SATA Controller";
	return (*type = RT_SCSI), (*subtype = "lsilogic"), "SCSI Controller"; /* virtio, scsi, nvme */
}

static const char *ovf_nic(const char *model)
{
	return !strcmp(model, "vmxnet3") ? "VmxNet3" : !strcmp(model, "e1000e") ? "E1000e" : "E1000";
}

int ep_ovf_write(const struct ep_machine *m, const struct ep_vm_target_disk *disks, char **out, size_t *len,
		 struct ep_error *err)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr env = xmlNewNode(NULL, (const xmlChar *)"Envelope");
	if (!doc || !env) {
		xmlFreeDoc(doc);
		return ep_oom(err);
	}
	xmlDocSetRootElement(doc, env);
	struct writer w = { 0 };
	xmlSetNs(env, xmlNewNs(env, (const xmlChar *)NS_OVF, NULL));
	w.ovf = xmlNewNs(env, (const xmlChar *)NS_OVF, (const xmlChar *)"ovf");
	w.rasd = xmlNewNs(env, (const xmlChar *)NS_RASD, (const xmlChar *)"rasd");
	w.vssd = xmlNewNs(env, (const xmlChar *)NS_VSSD, (const xmlChar *)"vssd");
	w.vmw = xmlNewNs(env, (const xmlChar *)NS_VMW, (const xmlChar *)"vmw");
	w.envpack = xmlNewNs(env, (const xmlChar *)NS_ENVPACK, (const xmlChar *)"envpack");
	ep_xml_attr(env, w.ovf, "version", "1.0");
	xmlNodePtr refs = ep_xml_child(env, w.ovf, "References", NULL);
	xmlNodePtr ds = ep_xml_child(env, w.ovf, "DiskSection", NULL);
	ep_xml_child(ds, w.ovf, "Info", "Virtual disk information");
	char id[32], ref[40], cap[32];
	for (size_t i = 0; i < m->ndisks; i++) {
		char *copy = strdup(disks[i].path);
		xmlNodePtr f = ep_xml_child(refs, w.ovf, "File", NULL);
		snprintf(ref, sizeof ref, "file%zu", i + 1);
		ep_xml_attr(f, w.ovf, "href", copy ? basename(copy) : "?");
		ep_xml_attr(f, w.ovf, "id", ref);
		free(copy);
		xmlNodePtr d = ep_xml_child(ds, w.ovf, "Disk", NULL);
		snprintf(id, sizeof id, "vmdisk%zu", i + 1);
		snprintf(cap, sizeof cap, "%llu", (unsigned long long)disks[i].virtual_size);
		ep_xml_attr(d, w.ovf, "capacity", cap);
		ep_xml_attr(d, w.ovf, "capacityAllocationUnits", "byte");
		ep_xml_attr(d, w.ovf, "diskId", id);
		ep_xml_attr(d, w.ovf, "fileRef", ref);
		ep_xml_attr(d, w.ovf, "format", "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized");
	}
	xmlNodePtr ns = ep_xml_child(env, w.ovf, "NetworkSection", NULL);
	ep_xml_child(ns, w.ovf, "Info", "The logical networks");
	for (size_t i = 0; i < m->nnics; i++) {
		const char *net = m->nics[i].network ? m->nics[i].network : "VM Network";
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= !strcmp(m->nics[k].network ? m->nics[k].network : "VM Network", net);
		if (!seen) {
			xmlNodePtr n = ep_xml_child(ns, w.ovf, "Network", NULL);
			ep_xml_attr(n, w.ovf, "name", net);
			ep_xml_child(n, w.ovf, "Description", "A network the machine was attached to");
		}
	}
	xmlNodePtr vs = ep_xml_child(env, w.ovf, "VirtualSystem", NULL);
	ep_xml_attr(vs, w.ovf, "id", m->name);
	ep_xml_child(vs, w.ovf, "Info", "A virtual machine packed by envpack");
	ep_xml_child(vs, w.ovf, "Name", m->name);
	xmlNodePtr oss = ep_xml_child(vs, w.ovf, "OperatingSystemSection", NULL);
	bool linux_os = !strcmp(m->os, "linux"), windows = !strcmp(m->os, "windows");
	ep_xml_attr(oss, w.ovf, "id", linux_os ? "101" : windows ? "103" : "1");
	ep_xml_attr(oss, w.vmw, "osType", linux_os ? "otherLinux64Guest" : windows ? "windows9Server64Guest" : "otherGuest64");
	ep_xml_child(oss, w.ovf, "Info", "The kind of guest operating system");
	xmlNodePtr hw = ep_xml_child(vs, w.ovf, "VirtualHardwareSection", NULL);
	ep_xml_child(hw, w.ovf, "Info", "Virtual hardware requirements");
	xmlNodePtr sys = ep_xml_child(hw, w.ovf, "System", NULL);
	ep_xml_child(sys, w.vssd, "ElementName", "Virtual Hardware Family");
	ep_xml_child(sys, w.vssd, "InstanceID", "0");
	ep_xml_child(sys, w.vssd, "VirtualSystemIdentifier", m->name);
	ep_xml_child(sys, w.vssd, "VirtualSystemType", "vmx-13");
	unsigned iid;
	char buf[64];
	xmlNodePtr it = item(&w, hw, &iid);
	rasd(&w, it, "AllocationUnits", "hertz * 10^6");
	snprintf(buf, sizeof buf, "%u virtual CPU(s)", m->vcpus);
	rasd(&w, it, "ElementName", buf);
	rasd_num(&w, it, "InstanceID", iid);
	rasd_num(&w, it, "ResourceType", RT_CPU);
	rasd_num(&w, it, "VirtualQuantity", m->vcpus);
	it = item(&w, hw, &iid);
	rasd(&w, it, "AllocationUnits", "byte * 2^20");
	snprintf(buf, sizeof buf, "%lluMB of memory", (unsigned long long)m->memory_mib);
	rasd(&w, it, "ElementName", buf);
	rasd_num(&w, it, "InstanceID", iid);
	rasd_num(&w, it, "ResourceType", RT_MEMORY);
	rasd_num(&w, it, "VirtualQuantity", m->memory_mib);
	/* one controller per bus kind the disks use, each disk on its bus's controller */
	unsigned ctl_ids[3] = { 0 }, ctl_used[3] = { 0 };
	for (size_t i = 0; i < m->ndisks; i++) {
		unsigned type;
		const char *sub, *cname = controller_of(m->disks[i].bus, &type, &sub);
		int k = type == RT_IDE ? 0 : type == RT_SATA ? 1 : 2;
		if (!ctl_ids[k]) {
			it = item(&w, hw, &ctl_ids[k]);
			rasd(&w, it, "ElementName", cname);
			rasd_num(&w, it, "InstanceID", ctl_ids[k]);
			rasd(&w, it, "ResourceSubType", sub);
			rasd_num(&w, it, "ResourceType", type);
		}
		it = item(&w, hw, &iid);
		rasd_num(&w, it, "AddressOnParent", ctl_used[k]++);
		snprintf(buf, sizeof buf, "Hard Disk %zu", i + 1);
		rasd(&w, it, "ElementName", buf);
		snprintf(buf, sizeof buf, "ovf:/disk/vmdisk%zu", i + 1);
		rasd(&w, it, "HostResource", buf);
		rasd_num(&w, it, "InstanceID", iid);
		rasd_num(&w, it, "Parent", ctl_ids[k]);
		rasd_num(&w, it, "ResourceType", RT_DISK);
	}
	for (size_t i = 0; i < m->nnics; i++) {
		it = item(&w, hw, &iid);
		if (m->nics[i].mac)
			rasd(&w, it, "Address", m->nics[i].mac);
		rasd_num(&w, it, "AddressOnParent", 7 + i);
		rasd(&w, it, "AutomaticAllocation", "true");
		rasd(&w, it, "Connection", m->nics[i].network ? m->nics[i].network : "VM Network");
		snprintf(buf, sizeof buf, "Ethernet %zu", i + 1);
		rasd(&w, it, "ElementName", buf);
		rasd_num(&w, it, "InstanceID", iid);
		rasd(&w, it, "ResourceSubType", ovf_nic(m->nics[i].model));
		rasd_num(&w, it, "ResourceType", RT_NIC);
	}
	if (!strcmp(m->firmware, "uefi")) {
		xmlNodePtr c = ep_xml_child(hw, w.vmw, "Config", NULL);
		ep_xml_attr(c, w.ovf, "required", "false");
		ep_xml_attr(c, w.vmw, "key", "firmware");
		ep_xml_attr(c, w.vmw, "value", "efi");
	}
	if (m->secure_boot) {
		xmlNodePtr c = ep_xml_child(hw, w.vmw, "Config", NULL);
		ep_xml_attr(c, w.ovf, "required", "false");
		ep_xml_attr(c, w.vmw, "key", "uefi.secureBoot.enabled");
		ep_xml_attr(c, w.vmw, "value", m->secure_boot == EP_SECURE_BOOT_ON ? "true" : "false");
	}
	/* what OVF has no words for, for envpack reading this back */
	json_t *sb = m->secure_boot ? json_boolean(m->secure_boot == EP_SECURE_BOOT_ON) : NULL;
	json_t *extra = json_pack("{s:s,s:s?,s:o*,s:[],s:[],s:[],s:o}", "os", m->os, "machine", m->machine, "secure_boot",
				  sb, "buses", "boot", "nic_models", "limits", json_object());
	for (size_t i = 0; extra && i < m->nnics; i++)
		json_array_append_new(json_object_get(extra, "nic_models"), json_string(m->nics[i].model));
	for (size_t i = 0; extra && i < m->ndisks; i++) {
		json_array_append_new(json_object_get(extra, "buses"), json_string(m->disks[i].bus));
		json_array_append_new(json_object_get(extra, "boot"), json_integer(m->disks[i].boot));
	}
	json_t *lim = json_object_get(extra, "limits");
	if (lim && m->limits.cpu_shares)
		json_object_set_new(lim, "cpu_shares", json_integer((json_int_t)m->limits.cpu_shares));
	if (lim && m->limits.cpu_quota_us)
		json_object_set_new(lim, "cpu_quota_us", json_integer((json_int_t)m->limits.cpu_quota_us));
	if (lim && m->limits.cpu_period_us)
		json_object_set_new(lim, "cpu_period_us", json_integer((json_int_t)m->limits.cpu_period_us));
	if (lim && m->limits.memory_limit_mib)
		json_object_set_new(lim, "memory_limit_mib", json_integer((json_int_t)m->limits.memory_limit_mib));
	char *text = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
	json_decref(extra);
	if (!text) {
		xmlFreeDoc(doc);
		return ep_oom(err);
	}
	xmlNodePtr sec = ep_xml_child(vs, w.envpack, "Machine", text);
	ep_xml_attr(sec, w.ovf, "required", "false");
	free(text);
	return ep_xml_dump(doc, out, len, err);
}
