/*
 * Restore targets behind one table of function pointers. A target receives
 * the components of a verified bundle, each as a stream of verified chunks,
 * and publishes them only at commit. Adding a target is one new file and
 * one line in targets/target.c.
 */
#ifndef EP_TARGET_H
#define EP_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "formats/bundle/manifest.h"
#include "verify/chunk_stream.h"

struct ep_target;

struct ep_registry_options;
struct ep_rewrite;
struct ep_s3_options;
struct ep_vm_target_disk;

/* How a target writes a machine's definition: a file NAME.EXTENSION beside its disks. */
struct ep_machine_format {
	const char *extension; /* "xml", "vm.json" */
	/* domain_type: the hypervisor libvirt's formats name, "kvm" or "qemu"; the others ignore it */
	int (*render)(const struct ep_machine *m, const struct ep_vm_target_disk *disks, const char *domain_type,
		      char **out, size_t *len, struct ep_error *err);
};

struct ep_target_options {
	const char *disk_format; /* disks are written in this format (default raw) */
	const struct ep_registry_options *registry; /* how to reach registries; NULL: defaults */
	const struct ep_machine_format *machine_format; /* dir: how machines are written (default JSON) */
	const struct ep_rewrite *rewrites; /* image references moved to another registry, in IaC files */
	size_t nrewrites;
	const char *hostname; /* the host name cloud-init files give the machine, or NULL */
	/* Targets whose table says domain_type: the domain type machines are written with,
	 * "kvm" or "qemu"; NULL: the host's (ep_target_domain_type). Others refuse one. */
	const char *domain_type;
	/* Files a retargeting leaves as they were, and why (a cloud-init file it cannot edit safely). NULL: untold. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	/* Clouds: */
	const struct ep_s3_options *s3; /* object stores: endpoint, region, part size, HTTP options; NULL: defaults */
	const char *const *params;      /* -o KEY=VALUE, the target's own settings (region=, project=, ...) */
	size_t nparams;
	const struct ep_progress *progress; /* uploads report here */
	/* Set on a dry run: a cloud target's plan hands each request it would send,
	 * as ep_http_request_text renders it (credentials masked), and sends none. */
	void (*dry_run_request)(void *ctx, const char *text);
	void *dry_run_ctx;
	/* A cloud target tells here what it made once it exists: for item (a machine
	 * or disk), kind ("image", "snapshot") and the cloud's id ("ami-..."). NULL: untold. */
	void (*created)(void *ctx, const char *item, const char *kind, const char *id);
	void *created_ctx;
	/* Set on a real run: once its uploads are done, a cloud target hands each request
	 * left for the user to send (one envpack cannot, such as an OAuth2 call), rendered
	 * the same way; the CLI prints them after the restore. */
	void (*next_request)(void *ctx, const char *text);
	void *next_ctx;
	/* The manifest being restored (set by ep_restore): which machine holds which
	 * disk (and its firmware) is known while planning the disks. */
	const struct ep_manifest *manifest;
	/* Instant recovery (dir:, libvirt:): each disk a qcow2 overlay backed by the export
	 * nbd+unix:///NAME?socket=THIS that `envpack serve` runs, not a byte of it copied. */
	const char *instant_socket;
};

/* The value of -o KEY=VALUE for key, or NULL. */
const char *ep_target_param(const struct ep_target_options *opt, const char *key);
/* Refuses a -o key that scheme does not know; known is NULL-terminated. */
int ep_target_params_check(const struct ep_target_options *opt, const char *scheme, const char *const *known,
			   struct ep_error *err);

struct ep_target_ops {
	const char *scheme;  /* "dir" in "dir:PATH" */
	const char *summary; /* one line for --help */
	const char *location; /* what follows "SCHEME:" in --help; NULL: "PATH" */
	/* A machine target: what it writes are machines, so a disk no machine holds becomes one
	 * (ep_restore_default_machines) and a disk restored without its machine is refused. */
	bool machines;
	bool domain_type; /* writes a libvirt domain type (ep_target_options.domain_type) */
	int (*open)(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err);
	/* Where and as what component c would land, for --dry-run; also refuses what would clash. */
	int (*plan)(struct ep_target *t, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err);
	/* NULL when the target can't take that kind of component. */
	int (*put_disk)(struct ep_target *t, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err);
	int (*put_files)(struct ep_target *t, const struct ep_component *c, struct ep_chunk_stream *s,
			 struct ep_error *err);
	/* Where machine m's definition would go, for --dry-run; NULL when the target keeps no machines. */
	int (*plan_machine)(struct ep_target *t, const struct ep_machine *m, char *dest, size_t cap, struct ep_error *err);
	/* Writes m's definition, its disks (components of manifest) having been put already. */
	int (*put_machine)(struct ep_target *t, const struct ep_manifest *manifest, const struct ep_machine *m,
			   struct ep_error *err);
	/* Publishes everything at once and frees t, or fails having published nothing. */
	int (*commit)(struct ep_target *t, struct ep_error *err);
	/* Removes what was half-written and frees t. */
	void (*abort)(struct ep_target *t);
};

struct ep_target {
	const struct ep_target_ops *ops;
};

/* The domain type machines are written with: asked ("kvm" or "qemu") when set, else "kvm"
 * where /dev/kvm can be opened for reading and writing, "qemu" (emulation) where it can't;
 * why (cap bytes, may be NULL) says what decided, for people. */
const char *ep_target_domain_type(const char *asked, char *why, size_t cap);

/* The table entry of "SCHEME:LOCATION", or NULL. */
const struct ep_target_ops *ep_target_find(const char *uri);
/* Opens "SCHEME:LOCATION". */
int ep_target_open(struct ep_target **out, const char *uri, const struct ep_target_options *opt,
		   struct ep_error *err);
const struct ep_target_ops *const *ep_target_list(size_t *count);

struct ep_digestmap;
/* An image component's blobs by digest: each blobs/sha256/<hex> file's index in c->files, plus one, in into. */
int ep_target_image_blobs(const struct ep_component *c, struct ep_digestmap *into, struct ep_error *err);

extern const struct ep_target_ops ep_target_dir, ep_target_oci, ep_target_docker_archive, ep_target_registry,
	ep_target_libvirt, ep_target_ova, ep_target_ovf, ep_target_hyperv,
	ep_target_vagrant, ep_target_aws, ep_target_azure, ep_target_openstack, ep_target_gcp;

#endif
