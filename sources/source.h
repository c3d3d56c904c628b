/*
 * What pack reads, behind one table of function pointers: disks, VM definitions,
 * images and IaC trees. A source opens what a spec names, says how many bytes it
 * will read (the progress bar's total) and packs itself through a sink, which the
 * pipeline (packer/pack.c) implements: sources know nothing of chunks, threads or
 * destinations. Adding a source kind is one new file and one line in sources/source.c.
 */
#ifndef EP_SOURCE_H
#define EP_SOURCE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"
#include "formats/iac/tree.h"

struct ep_disk;
struct ep_vm_source;
struct ep_registry_options;
struct ep_source_ops;

struct ep_source {
	const struct ep_source_ops *ops; /* its kind */
	const char *path;     /* what follows the prefix (image:oci: the directory alone) */
	const char *format;   /* disks: NULL to probe */
	const char *platform; /* registry images: "os/arch[/variant]" of a multi-arch index, NULL for all */
	char ref[256];        /* OCI layouts: the tag to take, "" for every image */
	char dir[PATH_MAX];   /* OCI layouts: the layout directory */
	/* disks: the record of this very disk, unchanged since, whose chunks the destination
	 * holds (a store's files cache): copied, and the disk not read. Borrowed. */
	const struct ep_component *reuse;
};

/* How a source read one disk component, said once it is published: mode is "offline" (its image file), "full" (a live
 * domain's export, every allocated block) or "incremental" (only what its dirty bitmap names,
 * dirty_bytes, the rest from the previous backup); bytes_read is what came from the source. */
struct ep_source_disk_report {
	const char *component;
	const char *mode;
	uint64_t bytes_read;
	uint64_t dirty_bytes; /* incremental only */
	uint64_t added_bytes; /* the stored bytes of the chunks it added to the destination */
	/* A cloud capture: where the disk was read (a URL or the cloud's name for it, no
	 * credential in it) and the requests that cost; NULL and 0 otherwise. */
	const char *from;
	uint64_t requests;
};
typedef void (*ep_source_report_fn)(void *ctx, const struct ep_source_disk_report *r);

/* What a store remembers of a live disk's last backup there (packer/backup.c), for an
 * incremental one: vm:domain: asks for the record under key ("vm:domain:UUID:TARGET"), then
 * tells what it packed under which key. */
struct ep_source_history {
	void *ctx;
	/* The tag checkpoints taken for this store carry (their description): only those are
	 * the source's to delete. */
	const char *tag;
	/* The component recorded under key and the checkpoint it was taken at, borrowed until
	 * pack ends; NULL when there is none (*why: "" when nothing was ever recorded, else
	 * why the record cannot be used). */
	const struct ep_component *(*previous)(void *ctx, const char *key, const char **checkpoint, char *why,
					       size_t cap);
	/* A recorded chunk's bytes (ep_chunk_load_fn); NULL when the store cannot be read here
	 * (an encrypted store's public key only): then the source reads them again instead. */
	ep_chunk_load_fn load;
	/* Component `component` of the snapshot being made is the disk under key, at checkpoint. */
	int (*packed)(void *ctx, const char *key, const char *component, const char *checkpoint, struct ep_error *err);
};

/* vm:domain: freezing a running guest's file systems (its agent) as the backup begins. */
enum ep_quiesce {
	EP_QUIESCE_NONE,    /* crash-consistent */
	EP_QUIESCE_TRY,     /* when an agent answers; else said, and crash-consistent */
	EP_QUIESCE_REQUIRE, /* or fail */
};

struct ep_http_options;
/* Captures from clouds (image:glance:, vm:aws:, vm:azure:, vm:gcp:): how to reach them. */
struct ep_capture_options {
	const struct ep_http_options *http; /* --cacert, --timeout, --retries; NULL: defaults */
	/* --input-option KEY=VALUE, each kind's own settings (endpoints, region, bucket, ...),
	 * named as the same cloud's target names its -o settings */
	const char *const *params;
	size_t nparams;
	bool keep_export; /* vm:aws: leave the export the capture made where it lies (vm:gcp: makes none) */
	/* Set on a dry run (ep_pack_dry_run): each request a capture would send, as
	 * ep_http_request_text renders it (credentials masked); none is sent. */
	void (*dry_run_request)(void *ctx, const char *text);
	void *dry_run_ctx;
	/* pack's --vcpus, --memory, --firmware, --os and --vm-name when given by hand (0 or
	 * NULL: not), which win over what the cloud says of a captured machine */
	unsigned vcpus;
	uint64_t memory_mib;
	const char *firmware, *os, *vm_name;
};
/* The value of --input-option KEY=VALUE for key, or NULL; c may be NULL. */
const char *ep_capture_param(const struct ep_capture_options *c, const char *key);
struct ep_source;
/* EP_EINPUT naming the first --input-option no source of the n given takes (a typo must not
 * send a capture to the default endpoint); 0 when each is taken. */
int ep_capture_params_check(const struct ep_capture_options *c, const struct ep_source *sources, size_t n,
			    struct ep_error *err);

/* What a cloud says of a captured machine; NULL or 0 where it says nothing. */
struct ep_capture_machine {
	const char *name;     /* its name for people ("Web server 1"), made a machine name */
	const char *fallback; /* the machine's name when that makes none (the image's id) */
	const char *firmware; /* bios, uefi; NULL: bios */
	enum ep_secure_boot secure_boot; /* kept when the firmware is uefi */
	const char *os;       /* linux, windows, other; NULL: other */
	unsigned vcpus;       /* 0: 1 */
	uint64_t memory_mib;  /* 0: 1024, as pack's --memory */
	const char *machine;  /* a checked machine type ("q35"), or NULL */
	const char *bus;      /* the disks'; NULL: virtio for Linux, else sata */
	const char *const *more_disks; /* components of its disks after the boot disk, in order */
	size_t nmore_disks;
};
/* Adds that machine to manifest, its boot disk `component` (then said's more_disks), c's machine options given by
 * hand (--vcpus, --memory, --firmware, --os, --vm-name) winning; checked, `what` naming
 * the source in messages. */
int ep_capture_machine_add(const struct ep_capture_options *c, const struct ep_capture_machine *said,
			   struct ep_manifest *manifest, const char *component, const char *what, struct ep_error *err);

/* What sources need from pack's options. */
struct ep_source_options {
	const char *const *allow_dirs; /* where disk references (backing files) may point */
	size_t nallow;
	const struct ep_registry_options *registry; /* how to reach registries; NULL: defaults */
	bool include_secrets; /* iac: trees: pack Terraform state and files that look like secrets */
	bool allow_unlisted;  /* vm:ova: members its .mf leaves out are packed unchecked, with a warning */
	ep_warn_fn warn;
	void *warn_ctx;
	int64_t created; /* seconds since the epoch: the mtime of files a source makes up */
	const char *libvirt_uri; /* vm:domain: the connection URI; NULL: LIBVIRT_DEFAULT_URI or libvirt's default */
	ep_source_report_fn report; /* vm:domain: each disk once packed; may be NULL */
	void *report_ctx;
	/* vm:domain: a store's memory of earlier backups; NULL (a bundle): every read is full
	 * and no checkpoint is taken, as none could serve */
	const struct ep_source_history *history;
	enum ep_quiesce quiesce;
	const struct ep_capture_options *capture; /* cloud captures; NULL: defaults, a real run */
};

/* Reads up to cap bytes into buf: the count, 0 at the end, or a negative status (err set). */
typedef ssize_t (*ep_source_read_fn)(void *src, void *buf, size_t cap, struct ep_error *err);

/* Where a source's components and bytes go (packer/pack.c). Bytes go into one record at a
 * time (a file of a files or image component), ended before the next record starts. */
struct ep_source_sink {
	void *ctx;
	/* What is packed so far: a source adds its machines here. */
	struct ep_manifest *manifest;
	/* The largest record made in memory that the pipeline takes whole. */
	size_t whole_max;
	/* A new component, named uniquely after path's last element; the records fed next belong to it. */
	int (*add_component)(void *ctx, enum ep_component_type type, const char *path, struct ep_component **out,
			     struct ep_error *err);
	/* A new disk component holding d's data, zero blocks left out, named as add_component names it.
	 * With base (an earlier record of the same disk), d's extents are only the runs that changed
	 * since: base's chunks outside them are taken as they are. */
	int (*add_disk)(void *ctx, struct ep_disk *d, const struct ep_component *base, const char *path,
			struct ep_component **out, struct ep_error *err);
	/* Chunks len bytes into record (an index in the current component's files); more may follow. */
	int (*feed)(void *ctx, size_t record, const void *data, size_t len, struct ep_error *err);
	/* Chunks what read gives until its end into record, and ends the record. */
	int (*feed_from)(void *ctx, size_t record, ep_source_read_fn read_fn, void *src, struct ep_error *err);
	/* Ends the record being fed. */
	int (*end)(void *ctx, struct ep_error *err);
};

struct ep_source_ops {
	const char *prefix; /* "disk:" in "disk:PATH" */
	const char *usage;  /* "disk:PATH", for the message naming every kind */
	/* One disk and no machine: the machine --vcpus, --memory and --firmware describe takes it,
	 * and a store's files cache may reuse it (ep_source.reuse). */
	bool bare_disk;
	/* The --input-option keys it takes, space-separated ("endpoint region"); NULL: none. */
	const char *input_options;
	/* A capture whose machine takes the machine options given by hand (ep_capture_options):
	 * they need no disk: source then. */
	bool machine_options;
	/* Fills what the kind needs beyond path (which holds what follows the prefix); NULL: nothing. */
	int (*parse)(const char *spec, struct ep_source *out, struct ep_error *err);
	/* Opens what src names; *state is set even on failure, for close. */
	int (*open)(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err);
	/* The bytes pack will read, for the progress bar. */
	uint64_t (*size)(const void *state);
	int (*pack)(const struct ep_source *src, void *state, const struct ep_source_sink *sink, struct ep_error *err);
	/* Told, before close, whether what was packed was published; NULL: nothing to do. */
	void (*published)(void *state, bool yes);
	/* Frees what open made; state may be NULL. */
	void (*close)(void *state);
};

/* Parses "disk:PATH", "iac:DIR", "image:oci:DIR[:TAG]", "image:docker-archive:FILE" or
 * "image:docker://HOST[:PORT]/REPO[:TAG|@DIGEST]", "image:glance:NAME|ID", "vm:libvirt:DOMAIN.xml", "vm:domain:NAME",
 * "vm:aws:AMI_ID|INSTANCE_ID", "vm:azure:CONTAINER/BLOB", "vm:azure:https://.../CONTAINER/BLOB?SAS" or
 * "vm:azure:/subscriptions/.../Microsoft.Compute/disks/D" (or .../virtualMachines/V),
 * "vm:ovf:FILE.ovf", "vm:ova:FILE.ova" or "vm:vmx:FILE.vmx". */
int ep_source_parse(const char *spec, struct ep_source *out, struct ep_error *err);

/* spec as it may be recorded or shown: a URL's query (a SAS token) left out. */
void ep_source_public_spec(const char *spec, char *buf, size_t cap);

/* Opens the disk at path as opt allows (format NULL: probed) and adds its data bytes to
 * *data: for kinds made of disks. *out is set for ep_disk_close even on failure. */
int ep_source_disk_open(const char *path, const char *format, const struct ep_source_options *opt,
			struct ep_disk **out, uint64_t *data, struct ep_error *err);
/* Adds the bytes in d's data extents to *data. */
int ep_source_disk_data(struct ep_disk *d, uint64_t *data, struct ep_error *err);

/* Packs a machine read from a definition, disk k from disks[k] (over bases[k] when bases is
 * set: add_disk), and moves the machine into the manifest, its disks named after the
 * components made (into out[k] when out is set). */
int ep_source_vm_pack(struct ep_vm_source *vm, struct ep_disk *const *disks, const struct ep_component *const *bases,
		      const struct ep_source_sink *sink, struct ep_component **out, struct ep_error *err);

#endif
