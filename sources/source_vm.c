/* vm:libvirt:, vm:ovf:, vm:ova: and vm:vmx: a machine definition and its disks: each
 * disk becomes a disk component, the machine a machine of the manifest. */
#include "sources/source.h"

#include <stdlib.h>
#include <string.h>

#include "formats/disk/disk.h"
#include "formats/vm/libvirt_xml.h"
#include "formats/vm/ova.h"
#include "formats/vm/ovf.h"
#include "formats/vm/vmx.h"

struct vm_state {
	struct ep_vm_source *vm;
	struct ep_disk **disks; /* one per machine disk */
	size_t ndisks;
	char *tmp; /* an OVA's members, unpacked */
	uint64_t data;
};

/* Reads a definition (opt: pack's options); an OVA unpacks into *tmp first. */
typedef int (*vm_read_fn)(const char *path, const struct ep_source_options *opt, const struct ep_disk_open_opts *opts,
			  char **tmp, struct ep_vm_source **out, struct ep_error *err);

static int vm_open(const struct ep_source *src, const struct ep_source_options *opt, vm_read_fn read,
		   void **state, struct ep_error *err)
{
	struct vm_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	struct ep_disk_open_opts ref_opts = { .allow_dirs = opt->allow_dirs, .nallow = opt->nallow };
	int rc = read(src->path, opt, &ref_opts, &s->tmp, &s->vm, err);
	if (!rc && !(s->disks = calloc(s->vm->machine.ndisks, sizeof *s->disks)))
		rc = ep_oom(err);
	if (!rc)
		s->ndisks = s->vm->machine.ndisks;
	for (size_t k = 0; !rc && k < s->ndisks; k++)
		rc = ep_source_disk_open(s->vm->where[k].path, s->vm->where[k].format, opt, &s->disks[k], &s->data, err);
	return rc;
}

static int read_libvirt(const char *path, const struct ep_source_options *opt, const struct ep_disk_open_opts *opts,
			char **tmp, struct ep_vm_source **out, struct ep_error *err)
{
	(void)opt, (void)tmp;
	return ep_libvirt_read(path, opts, out, err);
}

static int read_ovf(const char *path, const struct ep_source_options *opt, const struct ep_disk_open_opts *opts,
			char **tmp, struct ep_vm_source **out, struct ep_error *err)
{
	(void)opt, (void)tmp;
	return ep_ovf_read(path, opts, out, err);
}

static int read_vmx(const char *path, const struct ep_source_options *opt, const struct ep_disk_open_opts *opts,
			char **tmp, struct ep_vm_source **out, struct ep_error *err)
{
	(void)opt, (void)tmp;
	return ep_vmx_read(path, opts, out, err);
}

/* An OVA is read from the members it unpacks into *tmp, with the OVF reader's own reference rules. */
static int read_ova(const char *path, const struct ep_source_options *opt, const struct ep_disk_open_opts *opts,
		    char **tmp, struct ep_vm_source **out, struct ep_error *err)
{
	(void)opts;
	const struct ep_ova_options ova = { .allow_unlisted = opt->allow_unlisted, .warn = opt->warn, .warn_ctx = opt->warn_ctx };
	return ep_ova_read(path, &ova, tmp, out, err);
}

static int open_libvirt(const struct ep_source *src, const struct ep_source_options *opt, void **state,
			struct ep_error *err)
{
	return vm_open(src, opt, read_libvirt, state, err);
}

static int open_ovf(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	return vm_open(src, opt, read_ovf, state, err);
}

static int open_ova(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	return vm_open(src, opt, read_ova, state, err);
}

static int open_vmx(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	return vm_open(src, opt, read_vmx, state, err);
}

static uint64_t vm_size(const void *state)
{
	return ((const struct vm_state *)state)->data;
}

int ep_source_vm_pack(struct ep_vm_source *vm, struct ep_disk *const *disks, const struct ep_component *const *bases,
		      const struct ep_source_sink *sink, struct ep_component **out, struct ep_error *err)
{
	struct ep_manifest *manifest = sink->manifest;
	for (size_t i = 0; i < manifest->nmachines; i++)
		if (!strcmp(manifest->machines[i].name, vm->machine.name))
			return ep_fail(err, EP_EINPUT, "'%s': a machine named '%s' is packed already", vm->origin, vm->machine.name);
	int rc = 0;
	for (size_t k = 0; !rc && k < vm->machine.ndisks; k++) {
		struct ep_component *c;
		if (!(rc = sink->add_disk(sink->ctx, disks[k], bases ? bases[k] : NULL, vm->where[k].path, &c, err)) &&
		    !(vm->machine.disks[k].component = strdup(c->name)))
			rc = ep_oom(err);
		if (!rc && out)
			out[k] = c;
	}
	struct ep_machine *m = rc ? NULL : ep_manifest_add_machine(manifest);
	if (!rc && !m)
		return ep_oom(err);
	if (m) {
		*m = vm->machine;
		vm->machine = (struct ep_machine){ 0 };
	}
	return rc;
}

static int vm_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		   struct ep_error *err)
{
	(void)src;
	struct vm_state *s = state;
	return ep_source_vm_pack(s->vm, s->disks, NULL, sink, NULL, err);
}

static void vm_close(void *state)
{
	struct vm_state *s = state;
	if (!s)
		return;
	for (size_t k = 0; k < s->ndisks; k++)
		if (s->disks[k])
			ep_disk_close(s->disks[k], NULL);
	free(s->disks);
	ep_vm_source_free(s->vm);
	ep_ova_cleanup(s->tmp);
	free(s);
}

const struct ep_source_ops ep_source_vm_libvirt = {
	.prefix = "vm:libvirt:",
	.usage = "vm:libvirt:DOMAIN.xml",
	.open = open_libvirt,
	.size = vm_size,
	.pack = vm_pack,
	.close = vm_close,
};

const struct ep_source_ops ep_source_vm_ovf = {
	.prefix = "vm:ovf:",
	.usage = "vm:ovf:FILE.ovf",
	.open = open_ovf,
	.size = vm_size,
	.pack = vm_pack,
	.close = vm_close,
};

const struct ep_source_ops ep_source_vm_ova = {
	.prefix = "vm:ova:",
	.usage = "vm:ova:FILE.ova",
	.open = open_ova,
	.size = vm_size,
	.pack = vm_pack,
	.close = vm_close,
};

const struct ep_source_ops ep_source_vm_vmx = {
	.prefix = "vm:vmx:",
	.usage = "vm:vmx:FILE.vmx",
	.open = open_vmx,
	.size = vm_size,
	.pack = vm_pack,
	.close = vm_close,
};
