/*
 * libvirt domain XML (libvirt.org/formatdomain.html) to and from the machine
 * model, through libxml2. The XML is untrusted: no DTD is accepted (so no
 * entity, internal or external, can be declared) and nothing is fetched from
 * the network. A domain on this host is its administrator's configuration, so
 * a disk named by an absolute path (/var/lib/libvirt/images/..., /dev/vg/lv)
 * is taken where it is, if it is a regular file or a block device; a relative
 * one, which libvirt would resolve against its own working directory, is taken
 * from the definition's directory and must stay inside it or an allowed one,
 * as backing files must.
 */
#include "formats/vm/libvirt_xml.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/xml.h"

struct reader {
	struct ep_xml x;
	const char *path;
	struct ep_error *err;
};

static char *get(struct reader *r, xmlNodePtr at, const char *expr)
{
	return ep_xml_get(&r->x, at, expr);
}

static bool get_num(struct reader *r, xmlNodePtr at, const char *expr, uint64_t *out)
{
	return ep_xml_num(&r->x, at, expr, out);
}

/* A size with libvirt's unit attribute (default KiB), in MiB rounded up. */
static int get_mib(struct reader *r, const char *expr, uint64_t *mib, bool required)
{
	char unit_expr[200];
	uint64_t v;
	if (!get_num(r, NULL, expr, &v))
		return required ? ep_fail(r->err, EP_EINPUT, "libvirt: '%s' has no %s", r->path, expr) : 0;
	snprintf(unit_expr, sizeof unit_expr, "%s/@unit", expr);
	char *unit = get(r, NULL, unit_expr);
	static const struct { const char *name; uint64_t bytes; } units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "KiB", 1024 }, { "MB", 1000000 },
		{ "M", 1 << 20 }, { "MiB", 1 << 20 }, { "GB", 1000000000 }, { "G", 1 << 30 }, { "GiB", 1 << 30 },
		{ "TB", 1000000000000 }, { "T", (uint64_t)1 << 40 }, { "TiB", (uint64_t)1 << 40 },
	};
	uint64_t per = unit ? 0 : 1024;
	for (size_t i = 0; unit && i < sizeof units / sizeof *units; i++)
		if (!strcmp(unit, units[i].name))
			per = units[i].bytes;
	free(unit);
	if (!per || (v && per > UINT64_MAX / v))
		return ep_fail(r->err, EP_EINPUT, "libvirt: '%s': %s has an unknown unit or is too large", r->path, expr);
	*mib = (v * per + (1 << 20) - 1) >> 20;
	return 0;
}

static const char *os_family(const char *id)
{
	static const char *const linuxes[] = { "linux", "debian", "ubuntu", "fedora", "redhat", "rhel", "centos",
					       "rocky", "alma", "suse", "arch", "alpine", "gentoo", "mageia", NULL };
	if (!id)
		return "other";
	if (strstr(id, "microsoft.com/win"))
		return "windows";
	for (const char *const *l = linuxes; *l; l++)
		if (strstr(id, *l))
			return "linux";
	return "other";
}

static const char *bus_of(const char *bus)
{
	static const char *const known[] = { "virtio", "sata", "ide", "scsi", "nvme", NULL };
	for (const char *const *k = known; bus && *k; k++)
		if (!strcmp(bus, *k))
			return *k;
	return "sata"; /* usb, sd, xen: the closest every hypervisor has */
}

/* What a disk's source is when it is neither a regular file nor a block device, or NULL. */
static const char *unreadable_kind(mode_t mode)
{
	if (S_ISREG(mode) || S_ISBLK(mode))
		return NULL;
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	return S_ISCHR(mode) ? "a character device" : "not a regular file";
}

/* Disk i named by an absolute path: kept as written (a symlink such as /dev/vg/lv names
 * the disk, and qemu resolves an image's relative backing file from it), refused unless it
 * is a regular file or a block device. A block device is read as raw, as libvirt tells
 * qemu when the driver names no format; another format on a device is refused. */
static int host_disk(struct reader *r, int i, const char *ref, const char **format)
{
	struct stat st;
	if (stat(ref, &st) != 0)
		return ep_fail_errno(r->err, EP_EINPUT, "libvirt: '%s': disk %d, '%s', cannot be read", r->path, i + 1, ref);
	const char *kind = unreadable_kind(st.st_mode);
	if (kind)
		return ep_fail(r->err, EP_EINPUT,
			       "libvirt: '%s': disk %d, '%s', is %s: refused (a disk must be a regular file or a block device)",
			       r->path, i + 1, ref, kind);
	if (S_ISBLK(st.st_mode) && *format && strcmp(*format, "raw"))
		return ep_fail(r->err, EP_EINPUT,
			       "libvirt: '%s': disk %d, block device '%s', is driven as %s: refused (a block device is read as raw only)",
			       r->path, i + 1, ref, *format);
	if (S_ISBLK(st.st_mode))
		*format = "raw";
	return 0;
}

/* Disk i's source: where it is (into resolved, PATH_MAX bytes) and its format, or a refusal. */
static int disk_source(struct reader *r, int i, const char *type, const char *ref, const char **format,
		       const struct ep_disk_open_opts *opts, char *resolved)
{
	static const struct { const char *type, *what; } remote[] = {
		{ "network", "a network disk" }, { "volume", "a storage pool volume" }, { "dir", "a directory" },
	};
	for (size_t k = 0; type && k < sizeof remote / sizeof *remote; k++)
		if (!strcmp(type, remote[k].type))
			return ep_fail(r->err, EP_EINPUT,
				       "libvirt: '%s': disk %d is %s (type='%s'): refused (only files and block devices are packed)",
				       r->path, i + 1, remote[k].what, type);
	if (!ref)
		return ep_fail(r->err, EP_EINPUT, "libvirt: '%s': disk %d has no source file or device", r->path, i + 1);
	if (ref[0] != '/')
		return ep_disk_resolve_ref(r->path, ref, opts, resolved, r->err);
	if (strlen(ref) >= PATH_MAX)
		return ep_fail(r->err, EP_EINPUT, "libvirt: '%s': disk %d names an overlong path", r->path, i + 1);
	int rc = host_disk(r, i, ref, format);
	if (!rc)
		memcpy(resolved, ref, strlen(ref) + 1);
	return rc;
}

static int read_disks(struct reader *r, struct ep_vm_source *s, const struct ep_disk_open_opts *opts)
{
	xmlXPathObjectPtr o = ep_xml_all(&r->x, NULL, "/domain/devices/disk");
	int rc = 0;
	for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		xmlNodePtr d = o->nodesetval->nodeTab[i];
		char *device = get(r, d, "@device"), *type = get(r, d, "@type"), *file = get(r, d, "source/@file");
		char *dev = get(r, d, "source/@dev"), *driver = get(r, d, "driver/@type"), *bus = get(r, d, "target/@bus");
		char *target = get(r, d, "target/@dev");
		uint64_t boot = 0;
		get_num(r, d, "boot/@order", &boot);
		const char *format = driver;
		char resolved[PATH_MAX];
		/* cdroms and floppies are install media, not the machine's data: left out */
		if ((!device || !strcmp(device, "disk")) &&
		    !(rc = disk_source(r, i, type, file ? file : dev, &format, opts, resolved)) &&
		    !(rc = ep_vm_source_add_disk(s, resolved, format, bus_of(bus), "disk", boot > 64 ? 64 : (unsigned)boot,
						 r->err))) {
			s->where[s->nwhere - 1].target = target; /* a live domain's export is named after it */
			target = NULL;
		}
		free(device), free(type), free(file), free(dev), free(driver), free(bus), free(target);
	}
	xmlXPathFreeObject(o);
	return rc;
}

static int read_nics(struct reader *r, struct ep_vm_source *s)
{
	xmlXPathObjectPtr o = ep_xml_all(&r->x, NULL, "/domain/devices/interface");
	int rc = 0;
	for (int i = 0; !rc && o && o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		xmlNodePtr n = o->nodesetval->nodeTab[i];
		char *mac = get(r, n, "mac/@address"), *model = get(r, n, "model/@type");
		char *net = get(r, n, "source/@network");
		if (!net)
			net = get(r, n, "source/@bridge");
		for (char *p = mac; p && *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		rc = ep_machine_add_nic(&s->machine, model ? model : "virtio", mac, net, r->err);
		free(mac), free(model), free(net);
	}
	xmlXPathFreeObject(o);
	return rc;
}

/* "uefi" or "bios". <os firmware='efi'> lets libvirt pick the firmware; without it, a
 * <loader> is UEFI when it is a pflash or its image OVMF's (edk2's): a rom loader
 * otherwise is a BIOS such as SeaBIOS's bios-256k.bin or Xen's hvmloader. */
static const char *firmware(struct reader *r)
{
	char *fw = get(r, NULL, "/domain/os/@firmware");
	char *type = get(r, NULL, "/domain/os/loader/@type");
	char *loader = get(r, NULL, "/domain/os/loader");
	bool uefi = fw ? !strcmp(fw, "efi")
		       : (type && !strcmp(type, "pflash")) ||
				 (loader && (strcasestr(loader, "ovmf") || strcasestr(loader, "edk2") || strcasestr(loader, "efi")));
	free(fw);
	free(type);
	free(loader);
	return uefi ? "uefi" : "bios";
}

/* Whether a firmware file's name marks Secure Boot: Debian's and Ubuntu's OVMF_CODE_4M.secboot.fd,
 * OVMF_CODE_4M.ms.fd and OVMF_VARS_4M.ms.fd, Fedora's OVMF_VARS.secboot.fd, the snakeoil test keys. */
static bool names_secure_boot(const char *path)
{
	return path && (strstr(path, "secboot") || strstr(path, ".ms.") || strstr(path, "snakeoil"));
}

/* Whether a UEFI domain enforces Secure Boot. The firmware features say it when given
 * (secure-boot with enrolled-keys off enforces nothing: no key is enrolled); else a loader
 * that can (secure='yes', or a Secure Boot build by name) does, unless its variable store's
 * template is named and holds no keys; a bare <os firmware='efi'> leaves the choice to the
 * host's firmware list (on Debian, q35 gets Secure Boot, pc does not), so it is unknown. */
static enum ep_secure_boot secure_boot(struct reader *r)
{
	char *sb = get(r, NULL, "/domain/os/firmware/feature[@name='secure-boot']/@enabled");
	char *keys = get(r, NULL, "/domain/os/firmware/feature[@name='enrolled-keys']/@enabled");
	char *secure = get(r, NULL, "/domain/os/loader/@secure"), *loader = get(r, NULL, "/domain/os/loader");
	char *vars = get(r, NULL, "/domain/os/nvram/@template");
	enum ep_secure_boot v = EP_SECURE_BOOT_UNKNOWN;
	if (sb)
		v = !strcmp(sb, "yes") && !(keys && !strcmp(keys, "no")) ? EP_SECURE_BOOT_ON : EP_SECURE_BOOT_OFF;
	else if (secure || (loader && *loader))
		v = ((secure && !strcmp(secure, "yes")) || names_secure_boot(loader)) && (!vars || names_secure_boot(vars))
			    ? EP_SECURE_BOOT_ON
			    : EP_SECURE_BOOT_OFF;
	free(sb), free(keys), free(secure), free(loader), free(vars);
	return v;
}

/* The machine of a domain loaded into r->x (r->x released here). */
static int read_domain(struct reader *r0, int rc, const struct ep_disk_open_opts *opts, struct ep_vm_source **out)
{
	struct reader r = *r0;
	const char *path = r.path;
	struct ep_error *err = r.err;
	struct ep_vm_source *s = rc ? NULL : calloc(1, sizeof *s);
	if (!rc && !s)
		rc = ep_oom(err);
	struct ep_machine *m = s ? &s->machine : NULL;
	uint64_t vcpus = 1;
	if (!rc) {
		m->name = get(&r, NULL, "/domain/name");
		m->machine = get(&r, NULL, "/domain/os/type/@machine");
		char *id = get(&r, NULL, "/domain/metadata/*[local-name()='libosinfo']/*[local-name()='os']/@id");
		m->os = strdup(os_family(id));
		m->firmware = strdup(firmware(&r));
		if (m->firmware && !strcmp(m->firmware, "uefi"))
			m->secure_boot = secure_boot(&r);
		free(id);
		char *v = get(&r, NULL, "/domain/vcpu");
		if (v && !get_num(&r, NULL, "/domain/vcpu", &vcpus))
			rc = ep_fail(err, EP_EINPUT, "libvirt: '%s': vcpu is not a number", path);
		m->vcpus = vcpus > 100000 ? 100000 : (unsigned)vcpus;
		free(v);
	}
	if (!rc)
		rc = get_mib(&r, "/domain/memory", &m->memory_mib, true);
	if (!rc)
		rc = get_mib(&r, "/domain/memtune/hard_limit", &m->limits.memory_limit_mib, false);
	if (!rc) {
		get_num(&r, NULL, "/domain/cputune/shares", &m->limits.cpu_shares);
		get_num(&r, NULL, "/domain/cputune/period", &m->limits.cpu_period_us);
		get_num(&r, NULL, "/domain/cputune/quota", &m->limits.cpu_quota_us); /* -1, unlimited, is no number */
		rc = read_disks(&r, s, opts);
	}
	if (!rc)
		rc = read_nics(&r, s);
	if (!rc)
		rc = ep_vm_source_finish(s, path, "libvirt", err);
	ep_xml_release(&r.x);
	if (rc) {
		ep_vm_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ep_libvirt_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		    struct ep_error *err)
{
	struct reader r = { .path = path, .err = err };
	return read_domain(&r, ep_xml_load(&r.x, path, "libvirt", "domain", NULL, err), opts, out);
}

int ep_libvirt_parse(const char *xml, size_t len, const char *name, const struct ep_disk_open_opts *opts,
		     struct ep_vm_source **out, struct ep_error *err)
{
	struct reader r = { .path = name, .err = err };
	return read_domain(&r, ep_xml_parse(&r.x, xml, len, name, "libvirt", "domain", NULL, err), opts, out);
}

/* ---- writing ---- */

static xmlNodePtr child(xmlNodePtr parent, const char *name, const char *text)
{
	return ep_xml_child(parent, NULL, name, text);
}

static void attr(xmlNodePtr n, const char *name, const char *value)
{
	ep_xml_attr(n, NULL, name, value);
}

static void number(xmlNodePtr parent, const char *name, uint64_t v, const char *unit)
{
	xmlNodePtr n = ep_xml_number(parent, NULL, name, v);
	if (unit)
		attr(n, "unit", unit);
}

const char *ep_libvirt_bus(const struct ep_machine *m)
{
	return ep_machine_virtio_ok(m) ? "virtio" : ep_machine_q35(m) ? "sata" : "ide";
}

/* libvirt's firmware autoselection (libvirt.org/formatdomain.html#bios-bootloader), by the
 * features of the host's firmware descriptors: with Secure Boot, keys enrolled (on Debian
 * OVMF_CODE_4M.ms.fd; libvirt turns SMM on); without, a build that has none (OVMF_CODE_4M.fd),
 * where left unsaid libvirt would pick the Secure Boot one for q35. */
static void firmware_features(xmlNodePtr os, bool on)
{
	xmlNodePtr fw = child(os, "firmware", NULL);
	if (on) {
		xmlNodePtr keys = child(fw, "feature", NULL);
		attr(keys, "enabled", "yes");
		attr(keys, "name", "enrolled-keys");
	}
	xmlNodePtr sb = child(fw, "feature", NULL);
	attr(sb, "enabled", on ? "yes" : "no");
	attr(sb, "name", "secure-boot");
}

int ep_libvirt_write(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		     char **xml, size_t *len, struct ep_error *err)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr dom = xmlNewNode(NULL, (const xmlChar *)"domain");
	if (!doc || !dom) {
		xmlFreeDoc(doc);
		return ep_oom(err);
	}
	xmlDocSetRootElement(doc, dom);
	attr(dom, "type", domain_type);
	child(dom, "name", m->name);
	number(dom, "memory", m->memory_mib, "MiB");
	number(dom, "vcpu", m->vcpus, NULL);
	xmlNodePtr os = child(dom, "os", NULL);
	if (!strcmp(m->firmware, "uefi"))
		attr(os, "firmware", "efi");
	xmlNodePtr type = child(os, "type", "hvm");
	attr(type, "arch", "x86_64");
	attr(type, "machine", ep_machine_q35(m) ? "q35" : "pc");
	if (m->secure_boot)
		firmware_features(os, m->secure_boot == EP_SECURE_BOOT_ON);
	xmlNodePtr features = child(dom, "features", NULL);
	child(features, "acpi", NULL);
	child(features, "apic", NULL);
	if (m->limits.cpu_shares || m->limits.cpu_period_us || m->limits.cpu_quota_us) {
		xmlNodePtr t = child(dom, "cputune", NULL);
		if (m->limits.cpu_shares)
			number(t, "shares", m->limits.cpu_shares, NULL);
		if (m->limits.cpu_period_us)
			number(t, "period", m->limits.cpu_period_us, NULL);
		if (m->limits.cpu_quota_us)
			number(t, "quota", m->limits.cpu_quota_us, NULL);
	}
	if (m->limits.memory_limit_mib)
		number(child(dom, "memtune", NULL), "hard_limit", m->limits.memory_limit_mib, "MiB");
	xmlNodePtr devs = child(dom, "devices", NULL);
	const char *bus = ep_libvirt_bus(m);
	const char *prefix = !strcmp(bus, "virtio") ? "vd" : !strcmp(bus, "ide") ? "hd" : "sd";
	for (size_t i = 0; i < m->ndisks && i < 26; i++) {
		char dev[8], order[16];
		snprintf(dev, sizeof dev, "%s%c", prefix, (char)('a' + i));
		xmlNodePtr d = child(devs, "disk", NULL);
		attr(d, "type", "file");
		attr(d, "device", m->disks[i].device);
		xmlNodePtr drv = child(d, "driver", NULL);
		attr(drv, "name", "qemu");
		attr(drv, "type", disks[i].format);
		attr(child(d, "source", NULL), "file", disks[i].path);
		xmlNodePtr tgt = child(d, "target", NULL);
		attr(tgt, "dev", dev);
		attr(tgt, "bus", bus);
		if (m->disks[i].boot) {
			snprintf(order, sizeof order, "%u", m->disks[i].boot);
			attr(child(d, "boot", NULL), "order", order);
		}
	}
	for (size_t i = 0; i < m->nnics; i++) {
		const struct ep_vm_nic *n = &m->nics[i];
		xmlNodePtr nic = child(devs, "interface", NULL);
		attr(nic, "type", "network");
		if (n->mac)
			attr(child(nic, "mac", NULL), "address", n->mac);
		attr(child(nic, "source", NULL), "network", n->network ? n->network : "default");
		bool virtio = !strcmp(n->model, "virtio") || !strcmp(n->model, "vmxnet3");
		attr(child(nic, "model", NULL), "type",
		     virtio ? (ep_machine_virtio_ok(m) ? "virtio" : "e1000") : n->model);
	}
	attr(child(devs, "serial", NULL), "type", "pty");
	attr(child(devs, "console", NULL), "type", "pty");
	return ep_xml_dump(doc, xml, len, err);
}

/* A document with root element `root`, or NULL when out of memory. */
static xmlDocPtr new_doc(const char *root, xmlNodePtr *top)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	*top = doc ? xmlNewNode(NULL, (const xmlChar *)root) : NULL;
	if (!*top) {
		xmlFreeDoc(doc);
		return NULL;
	}
	xmlDocSetRootElement(doc, *top);
	return doc;
}

int ep_libvirt_backup_xml(const char *socket, const struct ep_libvirt_backup_disk *disks, size_t n, char **xml,
			  struct ep_error *err)
{
	xmlNodePtr top;
	xmlDocPtr doc = new_doc("domainbackup", &top);
	if (!doc)
		return ep_oom(err);
	attr(top, "mode", "pull");
	xmlNodePtr server = child(top, "server", NULL);
	attr(server, "transport", "unix");
	attr(server, "socket", socket);
	xmlNodePtr list = child(top, "disks", NULL);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr d = child(list, "disk", NULL);
		attr(d, "name", disks[i].target);
		attr(d, "backup", "yes");
		attr(d, "type", "file");
		attr(d, "exportname", disks[i].target);
		if (disks[i].since) {
			attr(d, "backupmode", "incremental");
			attr(d, "incremental", disks[i].since);
		}
		attr(child(d, "driver", NULL), "type", "qcow2");
		attr(child(d, "scratch", NULL), "file", disks[i].scratch);
	}
	size_t len;
	return ep_xml_dump(doc, xml, &len, err);
}

int ep_libvirt_checkpoint_xml(const char *name, const char *description, const struct ep_libvirt_backup_disk *disks,
			      size_t n, char **xml, struct ep_error *err)
{
	xmlNodePtr top;
	xmlDocPtr doc = new_doc("domaincheckpoint", &top);
	if (!doc)
		return ep_oom(err);
	child(top, "name", name);
	child(top, "description", description);
	xmlNodePtr list = child(top, "disks", NULL);
	for (size_t i = 0; i < n; i++) {
		xmlNodePtr d = child(list, "disk", NULL);
		attr(d, "name", disks[i].target);
		attr(d, "checkpoint", disks[i].bitmap ? "bitmap" : "no");
	}
	size_t len;
	return ep_xml_dump(doc, xml, &len, err);
}

char *ep_libvirt_xml_get(const char *xml, const char *root, const char *expr)
{
	struct ep_xml x = { 0 };
	struct ep_error ignored = { 0 };
	char *text = xml && !ep_xml_parse(&x, xml, strlen(xml), root, "libvirt XML", root, NULL, &ignored)
			     ? ep_xml_get(&x, NULL, expr)
			     : NULL;
	ep_xml_release(&x);
	return text;
}
