/* The machine model's Secure Boot in the manifest, and a drill's guest seeing UEFI give up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "drill/guest.h"
#include "formats/bundle/machine.h"
#include "tests/unit/unit.h"

static const char *const machine_json =
	"{\"name\": \"web\", \"vcpus\": 1, \"memory_mib\": 64, \"firmware\": \"%s\"%s, \"os\": \"linux\","
	" \"disks\": [{\"component\": \"web\", \"bus\": \"virtio\", \"device\": \"disk\", \"boot\": 1}]}";

/* Parses the machine with firmware fw and `extra` after it; its status, the machine in *m. */
static int parse(const char *fw, const char *extra, struct ep_machine *m, struct ep_error *err)
{
	char text[600];
	snprintf(text, sizeof text, machine_json, fw, extra);
	json_t *o = json_loads(text, 0, NULL);
	EXPECT(o != NULL);
	*m = (struct ep_machine){ 0 };
	int rc = ep_machine_from_json(o, m, "m.json", err);
	json_decref(o);
	return rc;
}

TEST(machine_secure_boot_round_trips_through_the_manifest)
{
	static const struct { const char *extra; enum ep_secure_boot want; const char *written; } cases[] = {
		{ ", \"secure_boot\": true", EP_SECURE_BOOT_ON, "\"firmware\":\"uefi\",\"secure_boot\":true,\"machine\":null" },
		{ ", \"secure_boot\": false", EP_SECURE_BOOT_OFF, "\"firmware\":\"uefi\",\"secure_boot\":false,\"machine\":null" },
		{ "", EP_SECURE_BOOT_UNKNOWN, "\"firmware\":\"uefi\",\"machine\":null" }, /* a manifest from before the field */
		{ ", \"secure_boot\": null", EP_SECURE_BOOT_UNKNOWN, "\"firmware\":\"uefi\",\"machine\":null" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct ep_machine m;
		struct ep_error err = { 0 };
		EXPECT(parse("uefi", cases[i].extra, &m, &err) == 0);
		EXPECT(m.secure_boot == cases[i].want);
		json_t *o = ep_machine_to_json(&m);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		EXPECT(text && strstr(text, cases[i].written));
		free(text);
		json_decref(o);
		ep_machine_release(&m);
	}
}

TEST(machine_secure_boot_refusals)
{
	struct ep_machine m;
	struct ep_error err = { 0 };
	EXPECT(parse("uefi", ", \"secure_boot\": \"yes\"", &m, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "m.json") && strstr(err.msg, "malformed"));
	ep_machine_release(&m);
	err = (struct ep_error){ 0 };
	/* Secure Boot is UEFI's: on a BIOS machine it is an error, not ignored */
	EXPECT(parse("bios", ", \"secure_boot\": false", &m, &err) == EP_EINPUT);
	EXPECT(strstr(err.msg, "m.json") && strstr(err.msg, "'secure_boot'"));
	ep_machine_release(&m);
}

TEST(machine_with_secure_boot_needs_q35)
{
	struct ep_machine m = { .firmware = "uefi" };
	EXPECT(!ep_machine_q35(&m));
	m.secure_boot = EP_SECURE_BOOT_OFF;
	EXPECT(!ep_machine_q35(&m));
	m.secure_boot = EP_SECURE_BOOT_ON; /* OVMF's Secure Boot build needs SMM, which pc lacks */
	EXPECT(ep_machine_q35(&m));
	EXPECT(!strcmp(ep_machine_firmware_text(&m), "uefi (Secure Boot)"));
	m = (struct ep_machine){ .firmware = "uefi", .machine = "pc-q35-7.2" };
	EXPECT(ep_machine_q35(&m) && !strcmp(ep_machine_firmware_text(&m), "uefi"));
}

TEST(drill_sees_uefi_give_up)
{
	char why[200] = "";
	const char *booting = "BdsDxe: loading Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0)\r\n";
	EXPECT(!ep_guest_gave_up(booting, why, sizeof why) && !why[0]);
	const char *refused =
		"BdsDxe: failed to load Boot0001 \"UEFI QEMU HARDDISK QM00001 \" from PciRoot(0x0): Access Denied\r\n"
		"BdsDxe: failed to start Boot0002 \"EFI Internal Shell\" from Fv(7CB8): Security Violation\r\n"
		"BdsDxe: No bootable option or device was found.\r\nBdsDxe: Press any key to enter the Boot Manager Menu.\r\n";
	EXPECT(ep_guest_gave_up(refused, why, sizeof why));
	EXPECT(!strcmp(why, "UEFI found nothing it could boot (Secure Boot refused the boot loader: Access Denied)"));
	EXPECT(ep_guest_gave_up("BdsDxe: No bootable option or device was found.\r\n", why, sizeof why));
	EXPECT(!strcmp(why, "UEFI found nothing it could boot"));
}
