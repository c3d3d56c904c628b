/*
 * libvirt:DIR — each machine as a domain definition DIR/NAME.xml that
 * `virsh define` takes, its disks as qcow2 files beside it (or --format):
 * the dir target, writing machines as libvirt XML. Disks go on virtio when
 * the OS hint says the guest has drivers, else on SATA (q35) or IDE. The
 * domain type is kvm where /dev/kvm is usable, else qemu, or --set domain_type.
 */
#include "formats/vm/libvirt_xml.h"
#include "targets/target.h"

static const struct ep_machine_format domain_xml = { "xml", ep_libvirt_write };

static int libvirt_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
			struct ep_error *err)
{
	struct ep_target_options o = *opt;
	if (!o.disk_format)
		o.disk_format = "qcow2";
	o.machine_format = &domain_xml;
	o.domain_type = ep_target_domain_type(opt->domain_type, NULL, 0);
	/* the instance is a dir target: its own table does the rest */
	return ep_target_dir.open(out, location, &o, err);
}

const struct ep_target_ops ep_target_libvirt = {
	.scheme = "libvirt",
	.summary = "machines as libvirt domain XML (virsh define) with qcow2 disks beside it",
	.machines = true,
	.domain_type = true,
	.open = libvirt_open,
};
