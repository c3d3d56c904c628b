/* A machine read from a VM definition (libvirt, OVF, OVA, .vmx), with where its
 * disks' data lies: what every reader in formats/vm/ hands the packer. */
#ifndef EP_VM_SOURCE_H
#define EP_VM_SOURCE_H

#include "base/error.h"
#include "formats/bundle/machine.h"

/* Where a machine's disk i is: the resolved file, and the format the definition names (or NULL). */
struct ep_vm_source_disk {
	char *path;
	char *format;
	char *target; /* libvirt: the disk's target device ("sda"), or NULL */
};

/* A machine read from a VM definition, with where its disks are. */
struct ep_vm_source {
	struct ep_machine machine; /* its disks' components are named when packed */
	struct ep_vm_source_disk *where; /* one per machine disk */
	size_t nwhere, cap_where; /* nwhere stays when the machine moves into a manifest */
	char *origin; /* the definition's path, for messages */
};

void ep_vm_source_free(struct ep_vm_source *s);
/* Checks a machine just read from `path` (a `kind` definition): it has disks, and
 * every field but the disks' components, named only when packed, is allowed. */
int ep_vm_source_finish(struct ep_vm_source *s, const char *path, const char *kind, struct ep_error *err);
/* Adds a disk to the machine (component unnamed yet) with where its data is. */
int ep_vm_source_add_disk(struct ep_vm_source *s, const char *path, const char *format, const char *bus,
			  const char *device, unsigned boot, struct ep_error *err);

#endif
