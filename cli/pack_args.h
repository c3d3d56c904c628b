/* What pack and backup share: the sources they read and the options that say how. */
#ifndef EP_PACK_ARGS_H
#define EP_PACK_ARGS_H

#include <getopt.h>
#include <jansson.h>

#include "cli/cli.h"
#include "packer/pack.h"

struct cli_pack_args {
	const char *keyfile, *name, *format, *platform;
	struct cli_net net;
	struct ep_machine_spec spec;
	bool by_hand; /* a machine described with --vcpus, --memory, ... */
	const char *allow[16];
	size_t nallow;
	long level, threads;
	bool include_state;
	bool allow_unlisted;
	const char *connect; /* vm:domain: libvirt's URI */
	enum ep_quiesce quiesce;
	json_t *disks; /* how each live domain's disk was read, for --json; NULL when none */
	const char *inputs[16]; /* --input-option KEY=VALUE */
	struct ep_capture_options capture;
	bool dry_run;
	json_t *requests; /* a dry run's, for --json */
};

#define CLI_PACK_OPTIONS                                                                                       \
	{ "key", required_argument, NULL, 'k' }, { "name", required_argument, NULL, 'n' },                        \
		{ "level", required_argument, NULL, 'l' }, { "threads", required_argument, NULL, 'j' },           \
		{ "format", required_argument, NULL, 0x1100 }, { "allow-dir", required_argument, NULL, 0x1101 },  \
		{ "platform", required_argument, NULL, 0x1102 }, { "include-state", no_argument, NULL, 0x1103 },  \
		{ "vcpus", required_argument, NULL, 0x1104 }, { "memory", required_argument, NULL, 0x1105 },      \
		{ "firmware", required_argument, NULL, 0x1106 }, { "os", required_argument, NULL, 0x1107 },       \
		{ "network", required_argument, NULL, 0x1108 }, { "vm-name", required_argument, NULL, 0x1109 },   \
		{ "allow-unlisted", no_argument, NULL, 0x110a },                                                  \
		{ "connect", required_argument, NULL, 0x110b }, { "quiesce", no_argument, NULL, 0x110c },        \
		{ "require-quiesce", no_argument, NULL, 0x110d }, { "input-option", required_argument, NULL, 0x110e }, \
		{ "keep-export", no_argument, NULL, 0x110f }, { "dry-run", no_argument, NULL, 0x1110 },          \
		CLI_ENCRYPT_OPTION, CLI_NET_OPTIONS
#define CLI_PACK_SHORT "k:n:l:j:"
#define EP_BACKUP_LEVEL 5 /* backup's zstd level (pack's is 3): see CLI_PACK_HELP */
#define CLI_PACK_FORMAT 0x1100 /* pack also takes -f for --format */

/* The "Sources:" heading included: a command's help puts this in its place. */
#define CLI_SOURCES_HELP \
	"Sources:\n" \
	"  disk:PATH   a disk image (raw, qcow2, vmdk, vhd, vhdx: told apart by their first\n" \
	"              bytes) or a block device; holes, zero clusters and all-zero runs\n" \
	"              are not stored, so a sparse 64 GiB image with 1 GiB of data packs\n" \
	"              like a 1 GiB file; qcow2 backing chains are flattened\n" \
	"  disk:s3://BUCKET/KEY, disk:https://HOST/PATH  such an image read where it\n" \
	"              lies, with ranged GETs (a few per 8 MiB), no local copy; one naming\n" \
	"              backing or extent files is refused. S3: --input-option endpoint=URL\n" \
	"              and region=NAME, else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,\n" \
	"              AWS_REGION; credentials as the aws: target's\n" \
	"  image:oci:DIR[:TAG]  a container image (or every image) of an OCI layout;\n" \
	"              each blob is checked against its digest and kept byte for byte\n" \
	"  image:docker-archive:FILE  what docker save writes; configs and layers\n" \
	"              checked against their digests, every entry kept byte for byte\n" \
	"  image:docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]  an image pulled from a\n" \
	"              registry (the distribution API); a multi-arch index is kept\n" \
	"              whole unless --platform picks one image\n" \
	"  image:glance:NAME|ID  an OpenStack image, found in Glance by id, else by its\n" \
	"              name (one image only), credentials as openstack: reads them\n" \
	"              (OS_* or clouds.yaml; --input-option cloud=, region=,\n" \
	"              interface=, image-url=): a raw image streamed into the pack\n" \
	"              as it downloads; qcow2, vmdk, vhd, vhdx downloaded into a\n" \
	"              scratch file under $TMPDIR (removed whatever happens) first,\n" \
	"              then packed as a disk: of that format; resumed with a Range\n" \
	"              request after a cut, checked against Glance's os_hash_value\n" \
	"              or MD5 checksum (a mismatch: exit 3, nothing written).\n" \
	"              The machine: the image's name, hw_firmware_type=uefi,\n" \
	"              os_secure_boot, hw_machine_type, os_type (else os_distro) as\n" \
	"              the OS, min_ram as memory, hw_cpu_sockets x cores x threads\n" \
	"              as vCPUs, hw_disk_bus; --vcpus, --memory, --firmware, --os,\n" \
	"              --vm-name given by hand win\n" \
	"  vm:libvirt:DOMAIN.xml  a libvirt domain with its disks: the machine (vCPUs,\n" \
	"              memory, firmware, disks, NICs, limits) goes into the manifest;\n" \
	"              disks at absolute paths are taken where they are (regular files,\n" \
	"              or block devices read as raw), relative ones from DOMAIN.xml's\n" \
	"              directory and confined to it as --allow-dir says\n" \
	"  vm:domain:NAME  a libvirt domain by name, through libvirt (--connect): the\n" \
	"              machine from its live definition; a shut-off domain's disks\n" \
	"              read from their image files, a running one's at one point in\n" \
	"              time through a pull-mode backup job and its NBD export (guest\n" \
	"              writes made meanwhile are not in the copy; the job is ended\n" \
	"              and its scratch files removed whatever happens); backed up\n" \
	"              into a store, the next backup there reads only the blocks\n" \
	"              written since (qemu's dirty bitmap), the rest from the last\n" \
	"              snapshot\n" \
	"  vm:openstack:SERVER  an OpenStack server by name (exactly one) or id,\n" \
	"              through a snapshot Nova makes of it: the server and its flavor\n" \
	"              read (compute API, microversion 2.47), createImage, the image\n" \
	"              polled in Glance until active, then read as image:glance: reads\n" \
	"              an image and deleted afterwards, also when the pack fails, times\n" \
	"              out or is interrupted (Ctrl-C), unless --keep-export;\n" \
	"              --input-option compute-url= (else the catalog's compute\n" \
	"              endpoint), poll-seconds= (5), timeout-minutes= (360), and\n" \
	"              image:glance:'s; the machine named after the server, its\n" \
	"              flavor's vCPUs and memory, the rest from the image's properties;\n" \
	"              an unknown server (or several of its name): exit 2; createImage\n" \
	"              refused, a snapshot that fails or is not active in time: exit 1\n" \
	"  vm:aws:AMI_ID|INSTANCE_ID  an AMI or an instance: DescribeImages (an\n" \
	"              instance: DescribeInstances, DescribeInstanceTypes), then EC2's\n" \
	"              export (ExportImage; CreateInstanceExportTask) to\n" \
	"              s3://BUCKET/PREFIX (--input-option bucket=BUCKET, required;\n" \
	"              prefix=, default envpack-export/; format=VMDK|RAW|VHD;\n" \
	"              role-name= (AMIs); poll-seconds=, timeout-minutes=; region=),\n" \
	"              the task polled until it completes, then the object read where\n" \
	"              it lies (ranged GETs) and removed; a task given up on (the\n" \
	"              timeout, Ctrl-C) is cancelled; --keep-export keeps both;\n" \
	"              credentials, region, AWS_ENDPOINT_URL_EC2 and _S3 as the aws:\n" \
	"              target takes them; the machine from the AMI's Name or the Name\n" \
	"              tag, its boot mode (firmware), platform (OS) and an instance's\n" \
	"              type (vCPUs, memory), the machine options by hand winning; not\n" \
	"              x86 or unknown to EC2: exit 2, a refused call or failed task: 1\n" \
	"  vm:azure:CONTAINER/BLOB, vm:azure:https://ACCOUNT.blob.core.windows.net/C/B?SAS\n" \
	"              an Azure disk: a page blob holding a fixed VHD, the account as\n" \
	"              the azure: target takes it (AZURE_STORAGE_CONNECTION_STRING, ...;\n" \
	"              --input-option endpoint=URL, jobs=N) or a SAS URL (never printed);\n" \
	"              only its allocated page ranges are read (Get Page Ranges, ranged\n" \
	"              GETs checked against their Content-MD5, neighbours 256 KiB apart\n" \
	"              or less in one GET); the disk is the blob less its VHD footer\n" \
	"              (--format raw: a page blob without one)\n" \
	"  vm:azure:/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/disks/D\n" \
	"              a managed disk by its resource id: Azure Resource Manager grants a\n" \
	"              read SAS (beginGetAccess, polled), the blob is read as above, and\n" \
	"              the grant is revoked once it is read, also on failure or Ctrl-C; a\n" \
	"              service principal's AZURE_TENANT_ID, AZURE_CLIENT_ID and\n" \
	"              AZURE_CLIENT_SECRET (AZURE_AUTHORITY_HOST; --input-option\n" \
	"              arm-endpoint=URL, access-seconds=N, default 14400)\n" \
	"  vm:azure:/subscriptions/S/.../Microsoft.Compute/virtualMachines/V  a VM: its\n" \
	"              OS disk as above, then its data disks by lun (each granted, read\n" \
	"              and revoked in turn; --input-option data-disks=none: the OS disk\n" \
	"              alone), its machine named after it, vCPUs and memory from its\n" \
	"              size, UEFI and secure boot from its security profile\n" \
	"  vm:ovf:FILE.ovf, vm:ova:FILE.ova  an OVF package's machine and disks (an\n" \
	"              OVA's members checked against its .mf, which must list them all)\n" \
	"  vm:vmx:FILE.vmx  a VMware machine and its disks\n" \
	"  vm:gcp:gs://BUCKET/OBJECT.tar.gz  a Compute Engine image export (disk.raw in\n" \
	"              a .tar.gz, as 'gcloud compute images export' or the gcp: target\n" \
	"              writes it; envpack does not call images.export, which needs\n" \
	"              OAuth2) read from Cloud Storage's XML API with an HMAC key\n" \
	"              (GCS_HMAC_ACCESS_ID, GCS_HMAC_SECRET, else ~/.boto), streamed: one\n" \
	"              GET, resumed where a cut connection stopped, nothing kept on disk;\n" \
	"              a bare disk; --input-option endpoint=URL for another server;\n" \
	"              a corrupt gzip or tar exits 3, publishing nothing\n" \
	"  iac:DIR     a file tree (Terraform, Kubernetes, Helm, ...): files with modes\n" \
	"              and mtimes, directories, symlinks that stay inside DIR, and an\n" \
	"              inventory: each file's kind, Terraform providers, modules and\n" \
	"              resource types, Kubernetes objects and their images (see\n" \
	"              'envpack inspect'). Terraform state and files that look like\n" \
	"              secrets (*.pem, *.key, *.p12, *.pfx, id_rsa*, .env, *secret*.tfvars,\n" \
	"              Terraform plans, Kubernetes Secrets alone or in a List,\n" \
	"              kubeconfigs with credentials, symlinks to any of these) are\n" \
	"              left out with a warning, and .terraform/ provider caches skipped\n\n"

#define CLI_PACK_HELP \
	"  -k, --key FILE       sign with this private key (from 'envpack keygen');\n" \
	"                       without it the bundle is unsigned and restore refuses it\n" \
	"                       unless told --insecure-skip-verify\n" \
	"  -l, --level N        zstd level 1-19 (default 3; backup 5: a store keeps what it\n" \
	"                       holds for years, 4 % smaller for 1.7 times the CPU)\n" \
	"  -j, --threads N      worker threads (default: one per CPU)\n" \
	"      --format FMT     the disks' format, instead of detecting it (raw, qcow2, vmdk, vhd, vhdx)\n" \
	"      --allow-dir DIR  backing files, extents, and the disks of an OVF, OVA or\n" \
	"                       .vmx (or a libvirt domain's relative ones) may also come\n" \
	"                       from DIR (default: only the image's or definition's own\n" \
	"                       directory; absolute references are refused)\n" \
	"      --vcpus N, --memory MIB, --firmware bios|uefi, --os linux|windows|other,\n" \
	"      --network NAME, --vm-name NAME\n" \
	"                       describe the machine the disk: sources belong to (the\n" \
	"                       first disk boots; default name: the environment's), so\n" \
	"                       a bare disk restores as a VM to libvirt:, ova:, hyperv:;\n" \
	"                       over an image:glance:, vm:openstack:, vm:aws: or\n" \
	"                       vm:azure: capture's machine, they win\n" \
	"      --input-option KEY=VALUE  a cloud capture's own setting (its endpoint,\n" \
	"                       region, bucket, ...; see Sources); repeatable\n" \
	"      --keep-export    vm:aws: leave the export a capture made, and a task it\n" \
	"                       gives up on running; vm:openstack: the snapshot image\n" \
	"                       (vm:gcp: reads one the user made, and never removes it)\n" \
	"      --dry-run        open the sources and print the requests a cloud capture\n" \
	"                       would send (credentials masked); read and write nothing\n" \
	"      --platform OS/ARCH[/VARIANT]  from a registry's multi-arch index, take only\n" \
	"                       this platform's image\n" \
	"      --include-state  pack Terraform state and the files that look like secrets\n" \
	"                       too: the bundle then INCLUDES SECRETS (passwords, keys,\n" \
	"                       tokens), readable by anyone who gets it\n" \
	"      --connect URI    vm:domain: the libvirt connection (default:\n" \
	"                       $LIBVIRT_DEFAULT_URI, else libvirt's own default)\n" \
	"      --quiesce        vm:domain: freeze a running guest's file systems through\n" \
	"                       its agent as the backup begins (application-consistent);\n" \
	"                       without an agent, say so and go on crash-consistent\n" \
	"      --require-quiesce  the same, but fail (exit 1) when it cannot freeze\n" \
	"      --allow-unlisted vm:ova: pack the members its .mf leaves out, unchecked,\n" \
	"                       with a warning (default: refused, exit 2)\n" \
	CLI_ENCRYPT_HELP \
	CLI_NET_HELP

void cli_pack_args_init(struct cli_pack_args *a);
/* Frees what the pack went on to record in a. */
void cli_pack_args_release(struct cli_pack_args *a);
/* Adds a->disks (if any) to a --json summary o as "disks". */
void cli_pack_json_disks(struct cli_pack_args *a, json_t *o);
/* 1 when c was one of CLI_PACK_OPTIONS (taken into a), 0 when not, -1 on a bad value (reported). */
int cli_pack_option(const char *cmd, int c, const char *arg, struct cli_pack_args *a);
/* Parses the source specs, loads the key, and fills opt (name: the environment name to
 * use unless --name gave one). 0, or an exit code (reported). Free *sources and *key. */
int cli_pack_prepare(const char *cmd, struct cli_pack_args *a, char *const *specs, size_t n, const char *name,
		     struct ep_pack_options *opt, struct ep_source **sources, struct ep_key **key);
/* Prints a line for each disk a cloud capture read: what, from where, in how many requests. */
void cli_pack_print_captures(const struct cli_pack_args *a);
/* --dry-run: opens the sources prepared, printing the requests a cloud capture would send
 * (on stdout, or as {"dry_run", "requests"} with json); packs and writes nothing. An exit code. */
int cli_pack_dry_run(struct cli_pack_args *a, const struct ep_pack_options *opt, const struct ep_source *sources,
		     size_t n, bool json);

#endif
