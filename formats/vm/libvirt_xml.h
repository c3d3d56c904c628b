/* libvirt domain XML as a VM source (vm:libvirt:FILE.xml) and as what the libvirt: target writes. */
#ifndef EP_LIBVIRT_H
#define EP_LIBVIRT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/disk/disk.h"
#include "formats/vm/vm_source.h"

/* Reads a domain definition; its disks must resolve as opts allows (see ep_disk_resolve_ref). */
int ep_libvirt_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		    struct ep_error *err);

/* Where a target put machine disk i, in what format, and how large it is. */
struct ep_vm_target_disk {
	const char *path; /* absolute */
	const char *format;
	uint64_t virtual_size;
};

/* The bus the restored machine's disks use: virtio where the OS has drivers, else SATA (q35) or IDE. */
const char *ep_libvirt_bus(const struct ep_machine *m);
/* A domain definition for m of domain_type ("kvm", "qemu"), its disks at disks[0..m->ndisks);
 * *xml is heap (free()). */
int ep_libvirt_write(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		     char **xml, size_t *len, struct ep_error *err);

#endif
