/*
 * The neutral machine model a bundle carries beside its disks: what another
 * hypervisor needs to start the VM again. Every string is checked against a
 * strict pattern when parsed, since targets write it into XML, OVF and
 * PowerShell.
 */
#ifndef EP_MACHINE_H
#define EP_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"

struct ep_vm_disk {
	char *component; /* the disk component holding its data */
	char *bus;       /* virtio, sata, ide, scsi, nvme */
	char *device;    /* disk, cdrom */
	unsigned boot;   /* boot order, 1 first; 0 not bootable */
};

struct ep_vm_nic {
	char *model;   /* virtio, e1000, e1000e, rtl8139, vmxnet3 ... */
	char *mac;     /* "52:54:00:12:34:56", lowercase; NULL: the target makes one */
	char *network; /* the network's name on the source */
};

/* Whether a UEFI machine's firmware enforces Secure Boot (Microsoft's keys enrolled, so only
 * signed boot loaders run). Three states, since many sources do not say (libvirt's bare
 * <os firmware='efi'> leaves it to the host's firmware list, and manifests written before
 * the field existed): for UNKNOWN every target does what it did before the field existed. */
enum ep_secure_boot { EP_SECURE_BOOT_UNKNOWN = 0, EP_SECURE_BOOT_OFF, EP_SECURE_BOOT_ON };

struct ep_vm_limits { /* 0: not set */
	uint64_t cpu_shares, cpu_quota_us, cpu_period_us, memory_limit_mib;
};

struct ep_machine {
	char *name;
	unsigned vcpus;
	uint64_t memory_mib;
	char *firmware; /* bios, uefi */
	enum ep_secure_boot secure_boot; /* UNKNOWN unless firmware is uefi */
	char *machine;  /* the source's machine type ("pc", "q35", "pc-q35-7.2"), or NULL */
	char *os;       /* hint: linux, windows, other */
	struct ep_vm_limits limits;
	struct ep_vm_disk *disks;
	size_t ndisks, cap_disks;
	struct ep_vm_nic *nics;
	size_t nnics, cap_nics;
};

void ep_machine_release(struct ep_machine *m);
int ep_machine_add_disk(struct ep_machine *m, const char *component, const char *bus, const char *device,
			unsigned boot, struct ep_error *err);
int ep_machine_add_nic(struct ep_machine *m, const char *model, const char *mac, const char *network,
		       struct ep_error *err);
/* Checks every field against its pattern; `what` names the source in messages. */
int ep_machine_check(const struct ep_machine *m, const char *what, struct ep_error *err);

json_t *ep_machine_to_json(const struct ep_machine *m);
/* Parses and checks untrusted JSON into *out (released by the caller, also on failure). */
int ep_machine_from_json(json_t *o, struct ep_machine *out, const char *what, struct ep_error *err);

/* Whether the OS can be given virtio devices (a Linux guest has the drivers). */
bool ep_machine_virtio_ok(const struct ep_machine *m);
/* Whether the machine needs q35: its type says so, or it enforces Secure Boot (OVMF's
 * Secure Boot build needs SMM, which qemu's pc machine does not have). */
bool ep_machine_q35(const struct ep_machine *m);
/* The firmware for people: "bios", "uefi", "uefi (Secure Boot)", "uefi (no Secure Boot)". */
const char *ep_machine_firmware_text(const struct ep_machine *m);
/* A locally administered MAC from a seed (name and index), for targets that must make one. */
void ep_machine_make_mac(const char *seed, unsigned index, char out[18]);

#endif
