#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/vm/libvirt_xml.h"
#include "tests/unit/unit.h"

TEST(libvirt_backup_xml_is_pull_mode_over_a_unix_socket)
{
	struct ep_error err = { 0 };
	const struct ep_libvirt_backup_disk disks[] = {
		{ .target = "sda", .scratch = "/tmp/d/scratch-0.qcow2", .bitmap = true, .since = "envpack-0a" },
		{ .target = "sd'b", .scratch = "/tmp/d/scratch-1.qcow2", .bitmap = false },
	};
	char *xml = NULL;
	EXPECT(ep_libvirt_backup_xml("/tmp/d/nbd.sock", disks, 2, &xml, &err) == 0);
	EXPECT(xml && strstr(xml, "<domainbackup mode=\"pull\">"));
	EXPECT(xml && strstr(xml, "<server transport=\"unix\" socket=\"/tmp/d/nbd.sock\"/>"));
	EXPECT(xml && strstr(xml, "<disk name=\"sda\" backup=\"yes\" type=\"file\" exportname=\"sda\" "
				  "backupmode=\"incremental\" incremental=\"envpack-0a\">"));
	EXPECT(xml && strstr(xml, "exportname=\"sd'b\">")); /* a full backup of that disk */
	EXPECT(xml && strstr(xml, "<scratch file=\"/tmp/d/scratch-1.qcow2\"/>"));
	EXPECT(xml && strstr(xml, "name=\"sd'b\"")); /* an attribute, so quoted by libxml2, never pasted */
	free(xml);
	xml = NULL;
	EXPECT(ep_libvirt_checkpoint_xml("envpack-00ff", "envpack store 12ab", disks, 2, &xml, &err) == 0);
	EXPECT(xml && strstr(xml, "<name>envpack-00ff</name>"));
	EXPECT(xml && strstr(xml, "<description>envpack store 12ab</description>"));
	EXPECT(xml && strstr(xml, "<disk name=\"sda\" checkpoint=\"bitmap\"/>"));
	EXPECT(xml && strstr(xml, "checkpoint=\"no\"")); /* a raw disk holds no bitmap */
	free(xml);
}

/* A domain of one SATA disk at `file`. */
static void domain(char *out, size_t cap, const char *file)
{
	snprintf(out, cap,
		 "<domain type='qemu'><name>web</name><memory unit='MiB'>64</memory>"
		 "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
		 "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
		 "<target dev='sda' bus='sata'/></disk></devices></domain>",
		 file);
}

TEST(libvirt_parse_reads_a_definition_in_memory)
{
	char xml[1024], cwd[512], file[600];
	struct ep_error err = { 0 };
	struct ep_vm_source *s = NULL;
	/* /dev/null is a character device: refused as vm:libvirt: refuses it, naming the domain */
	domain(xml, sizeof xml, "/dev/null");
	EXPECT(ep_libvirt_parse(xml, strlen(xml), "domain 'web'", NULL, &s, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "domain 'web'") && strstr(err.msg, "character device"));
	EXPECT(!s);
	EXPECT(getcwd(cwd, sizeof cwd) != NULL);
	snprintf(file, sizeof file, "%s/web.raw", cwd);
	FILE *f = fopen(file, "w");
	EXPECT(f && fclose(f) == 0);
	domain(xml, sizeof xml, file);
	err = (struct ep_error){ 0 };
	EXPECT(ep_libvirt_parse(xml, strlen(xml), "domain 'web'", NULL, &s, &err) == 0);
	EXPECT(s && s->machine.ndisks == 1 && s->machine.memory_mib == 64);
	EXPECT(s && s->where[0].target && !strcmp(s->where[0].target, "sda")); /* the export's name */
	EXPECT(s && !strcmp(s->where[0].path, file) && !strcmp(s->where[0].format, "raw"));
	ep_vm_source_free(s);
}

/* The Secure Boot a UEFI domain whose <os> holds `inside` (after firmware='efi' when efi) is read with. */
static enum ep_secure_boot secure_boot_of(const char *inside, bool efi)
{
	char xml[2048], cwd[512];
	struct ep_error err = { 0 };
	struct ep_vm_source *s = NULL;
	EXPECT(getcwd(cwd, sizeof cwd) != NULL);
	FILE *f = fopen("web.raw", "w");
	EXPECT(f && fclose(f) == 0);
	snprintf(xml, sizeof xml,
		 "<domain type='qemu'><name>web</name><memory unit='MiB'>64</memory><os%s><type arch='x86_64' "
		 "machine='q35'>hvm</type>%s</os><devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		 "<source file='%s/web.raw'/><target dev='sda' bus='sata'/></disk></devices></domain>",
		 efi ? " firmware='efi'" : "", inside, cwd);
	EXPECT(ep_libvirt_parse(xml, strlen(xml), "domain 'web'", NULL, &s, &err) == 0);
	enum ep_secure_boot v = s ? s->machine.secure_boot : (enum ep_secure_boot)99;
	EXPECT(s && !strcmp(s->machine.firmware, "uefi"));
	ep_vm_source_free(s);
	return v;
}

TEST(libvirt_reads_secure_boot_in_each_form)
{
	const char *on = "<firmware><feature enabled='yes' name='enrolled-keys'/><feature enabled='yes' name='secure-boot'/></firmware>";
	EXPECT(secure_boot_of("", true) == EP_SECURE_BOOT_UNKNOWN); /* the host's firmware list decides */
	EXPECT(secure_boot_of(on, true) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<firmware><feature enabled='yes' name='secure-boot'/></firmware>", true) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<firmware><feature enabled='no' name='secure-boot'/></firmware>", true) == EP_SECURE_BOOT_OFF);
	/* Secure Boot without keys enrolled enforces nothing */
	EXPECT(secure_boot_of("<firmware><feature enabled='no' name='enrolled-keys'/><feature enabled='yes' name='secure-boot'/></firmware>",
			      true) == EP_SECURE_BOOT_OFF);
	/* the firmware features win over a loader's name */
	EXPECT(secure_boot_of("<firmware><feature enabled='no' name='secure-boot'/></firmware>"
			      "<loader secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>",
			      true) == EP_SECURE_BOOT_OFF);
	/* what a running domain's XML says once libvirt has picked (Debian's names) */
	EXPECT(secure_boot_of("<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</loader>"
			      "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>/var/lib/libvirt/qemu/nvram/web_VARS.fd</nvram>",
			      false) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
			      "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/web_VARS.fd</nvram>",
			      false) == EP_SECURE_BOOT_OFF);
	/* the Secure Boot build over an empty variable store: no key, nothing enforced */
	EXPECT(secure_boot_of("<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>"
			      "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/x</nvram>",
			      false) == EP_SECURE_BOOT_OFF);
	/* Fedora's: the keys in OVMF_VARS.secboot.fd */
	EXPECT(secure_boot_of("<loader secure='yes' type='pflash'>/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd</loader>"
			      "<nvram template='/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd'>/x</nvram>",
			      false) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<loader type='pflash'>/usr/share/OVMF/OVMF_CODE.secboot.fd</loader>", false) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<loader secure='yes'/>", true) == EP_SECURE_BOOT_ON);
	EXPECT(secure_boot_of("<loader secure='no'/>", true) == EP_SECURE_BOOT_OFF);
}

/* The domain XML written for a UEFI machine with Secure Boot `sb`. */
static char *written(enum ep_secure_boot sb, const char *machine)
{
	struct ep_vm_disk d = { .component = "web", .bus = "virtio", .device = "disk", .boot = 1 };
	struct ep_vm_target_disk td = { .path = "/srv/web.qcow2", .format = "qcow2" };
	struct ep_machine m = { .name = "web", .vcpus = 1, .memory_mib = 64, .firmware = "uefi", .secure_boot = sb,
				.machine = (char *)machine, .os = "linux", .disks = &d, .ndisks = 1 };
	struct ep_error err = { 0 };
	char *xml = NULL;
	size_t len;
	EXPECT(ep_libvirt_write(&m, &td, "qemu", &xml, &len, &err) == 0);
	/* one line: each newline and the indentation after it dropped */
	size_t w = 0;
	for (size_t r = 0; xml && xml[r]; r++)
		if (xml[r] == '\n')
			r += strspn(xml + r + 1, " ");
		else
			xml[w++] = xml[r];
	if (xml)
		xml[w] = '\0';
	return xml;
}

TEST(libvirt_writes_secure_boot_for_firmware_autoselection)
{
	char *xml = written(EP_SECURE_BOOT_ON, NULL);
	/* libvirt finds Secure Boot firmware for q35 only (it needs SMM), whatever the source's type */
	EXPECT(xml && strstr(xml, "<os firmware=\"efi\"><type arch=\"x86_64\" machine=\"q35\">hvm</type><firmware>"
				  "<feature enabled=\"yes\" name=\"enrolled-keys\"/><feature enabled=\"yes\" name=\"secure-boot\"/>"
				  "</firmware></os>"));
	free(xml);
	xml = written(EP_SECURE_BOOT_OFF, NULL);
	EXPECT(xml && strstr(xml, "<type arch=\"x86_64\" machine=\"pc\">hvm</type><firmware>"
				  "<feature enabled=\"no\" name=\"secure-boot\"/></firmware></os>"));
	free(xml);
	xml = written(EP_SECURE_BOOT_UNKNOWN, "pc-q35-7.2"); /* as before: libvirt picks */
	EXPECT(xml && strstr(xml, "machine=\"q35\">hvm</type></os>") && !strstr(xml, "<firmware>"));
	free(xml);
}
