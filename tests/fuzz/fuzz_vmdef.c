/* libFuzzer target: the VM definition readers (libvirt domain XML, OVF, .vmx) on
 * arbitrary bytes, in a directory holding a small disk file the definition
 * may name (disk.raw), so the readers get past the disk references. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vm/libvirt_xml.h"
#include "formats/vm/ovf.h"
#include "formats/vm/vmx.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX];
	if (!path[0]) {
		fuzz_path(path, sizeof path, "%s/disk.raw", fuzz_scratch("vm"));
		fuzz_put(path, "disk", 4);
		fuzz_path(path, sizeof path, "%s/def.xml", fuzz_scratch("vm"));
	}
	fuzz_put(path, data, size);
	struct ep_vm_source *s = NULL;
	struct ep_error err = { 0 };
	if (ep_libvirt_read(path, NULL, &s, &err) == 0) {
		/* what parses must be a machine the manifest would accept once its disks are named */
		if (ep_vm_source_finish(s, path, "fuzz", &err) != 0)
			abort();
		ep_vm_source_free(s);
	}
	s = NULL;
	if (ep_ovf_read(path, NULL, &s, &err) == 0)
		ep_vm_source_free(s);
	s = NULL;
	if (ep_vmx_read(path, NULL, &s, &err) == 0)
		ep_vm_source_free(s);
	return 0;
}
