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
