/* libFuzzer target: the VM definition readers (libvirt domain XML, OVF, .vmx) on
 * arbitrary bytes, in a directory holding a small disk file the definition
 * may name (disk.raw), so the readers get past the disk references. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vm/libvirt.h"
#include "formats/vm/ovf.h"
#include "formats/vm/vmx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[4096], path[4200];
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR"); /* tests/fuzz/run.sh gives each run its own */
		snprintf(dir, sizeof dir, "%s/envpack-fuzz-vm.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/disk.raw", dir);
		put(path, "disk", 4);
		snprintf(path, sizeof path, "%s/def.xml", dir);
	}
	put(path, data, size);
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
