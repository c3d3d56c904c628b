/* VMware .vmx files as a VM source (vm:vmx:FILE.vmx). */
#ifndef EP_VMX_H
#define EP_VMX_H

#include "base/error.h"
#include "formats/disk/disk.h"
#include "formats/vm/vm_source.h"

/* Reads the machine and where its disks are; disks must resolve as opts allows. */
int ep_vmx_read(const char *path, const struct ep_disk_open_opts *opts, struct ep_vm_source **out,
		struct ep_error *err);

#endif
