/* OVF descriptors as a VM source (vm:ovf:FILE.ovf, and inside vm:ova:FILE.ova)
 * and as what the ova: and ovf: targets write. */
#ifndef EP_OVF_H
#define EP_OVF_H

#include <stddef.h>

#include "base/error.h"
#include "formats/disk/disk.h"
#include "formats/vm/libvirt_xml.h"
#include "formats/vm/vm_source.h"

/* Reads the descriptor's one virtual system; its disk files must resolve as opts allows. */
int ep_ovf_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		struct ep_error *err);
/* A descriptor for m whose files are the basenames of disks[i].path (streamOptimized VMDKs). */
int ep_ovf_write(const struct ep_machine *m, const struct ep_vm_target_disk *disks, char **out, size_t *len,
		 struct ep_error *err);

#endif
