/* libvirt domain XML as a VM source (vm:libvirt:FILE.xml) and as what the libvirt: target writes. */
#ifndef EP_LIBVIRT_H
#define EP_LIBVIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "formats/disk/disk.h"
#include "formats/vm/vm_source.h"

/* Reads a domain definition; its disks must resolve as opts allows (see ep_disk_resolve_ref). */
int ep_libvirt_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		    struct ep_error *err);

/* The same on a definition in memory (a live domain's, from libvirt); name stands for
 * its path in messages, and relative disk paths resolve against name's directory. */
int ep_libvirt_parse(const char *xml, size_t len, const char *name, const struct ep_disk_open_opts *opts,
		     struct ep_vm_source **out, struct ep_error *err);

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

/* A disk of a live domain's backup job: its target ("sda") and where its scratch file goes. */
struct ep_libvirt_backup_disk {
	const char *target;
	const char *scratch;
	bool bitmap; /* a checkpoint bitmap (qcow2 disks only) */
	const char *since; /* the checkpoint an incremental backup starts from; NULL: a full one */
};

/* A pull-mode <domainbackup> serving disks[0..n) over NBD at the unix socket `socket`. */
int ep_libvirt_backup_xml(const char *socket, const struct ep_libvirt_backup_disk *disks, size_t n, char **xml,
			  struct ep_error *err);
/* The <domaincheckpoint> named `name` taken with that backup: a bitmap on each disk that can
 * hold one; `description` says whose it is. */
int ep_libvirt_checkpoint_xml(const char *name, const char *description, const struct ep_libvirt_backup_disk *disks,
			      size_t n, char **xml, struct ep_error *err);

/* The text of the first node the XPath expr selects in a libvirt document whose root is
 * `root` (a live domain's, a backup job's, a checkpoint's), heap; NULL when none or when the
 * text does not parse. */
char *ep_libvirt_xml_get(const char *xml, const char *root, const char *expr);

#endif
