/* The pack pipeline: sources -> content-defined chunks -> SHA-256 + zstd in
 * worker threads -> deduplicated chunks in a bundle, with a signed manifest. */
#ifndef EP_PACK_H
#define EP_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/progress.h"
#include "formats/bundle/seal.h"
#include "formats/bundle/snapinfo.h"
#include "formats/image/distribution.h"
#include "formats/bundle/keys.h"
#include "sources/source.h"

/* A machine described by hand around the disk: sources (--vcpus, --memory, --firmware). */
struct ep_machine_spec {
	const char *name;
	unsigned vcpus;
	uint64_t memory_mib;
	const char *firmware, *os, *network;
};

/* Where packed chunks and the signed manifest go: a bundle file (the default), or a store. */
struct ep_pack_dest {
	void *ctx;
	/* Whether the destination held the chunk before this run (a store's index); thread-safe. */
	bool (*has)(void *ctx, const uint8_t digest[EP_DIGEST_LEN]);
	int (*add_chunk)(void *ctx, const uint8_t digest[EP_DIGEST_LEN], const void *zdata, size_t zlen,
			 struct ep_error *err);
	/* Publishes the manifest and its signature (NULL when unsigned), having every chunk. */
	int (*commit)(void *ctx, const char *manifest, size_t len, const char *sig, size_t siglen, struct ep_error *err);
	/* Leaves nothing published (a store keeps the chunks for the next run to find). */
	void (*abort)(void *ctx);
	/* When set: sees the whole manifest (every chunk named, its extent lists' too) once every
	 * chunk was handed over, before it is signed and committed; a failure publishes nothing
	 * (a store with Object Lock extends the retention of the chunks it reuses here, and may
	 * lower the floor the snapshot info records to what they have). */
	int (*prepare)(void *ctx, struct ep_manifest *m, struct ep_error *err);
};

struct ep_pack_options {
	const char *output;               /* the bundle to write, when dest is NULL */
	const struct ep_pack_dest *dest;  /* NULL: a bundle at output */
	const struct ep_snapinfo *snapshot; /* recorded in the manifest (a store's snapshot), or NULL */
	const char *name;          /* environment name */
	const struct ep_key *key;  /* NULL: unsigned */
	/* NULL: plain; else chunks, manifest and signature are sealed to its recipient
	 * (a store destination must be the store encrypted with this same seal) */
	const struct ep_seal *seal;
	int level;                 /* zstd level */
	unsigned threads;
	int64_t created;           /* seconds since the epoch, also every tar entry's mtime */
	const char *tool;          /* "envpack 0.1.0" */
	const struct ep_progress *progress;
	ep_warn_fn warn;
	void *warn_ctx;
	const char *const *allow_dirs; /* where disk references (backing files) may point */
	size_t nallow;
	const struct ep_registry_options *registry; /* how to reach registries */
	const struct ep_machine_spec *machine;       /* NULL: disk: sources are bare disks */
	bool include_secrets; /* iac: trees: pack Terraform state and files that look like secrets */
	bool allow_unlisted;  /* vm:ova: members its .mf leaves out are packed unchecked, with a warning */
	const char *libvirt_uri; /* vm:domain: the connection URI; NULL: libvirt's default */
	ep_source_report_fn report; /* how each live domain's disk was read; may be NULL */
	void *report_ctx;
	const struct ep_source_history *history; /* backup: the store's memory of earlier ones; NULL: none */
	enum ep_quiesce quiesce;                 /* vm:domain: freeze a running guest's file systems */
	const struct ep_capture_options *capture; /* cloud captures; NULL: defaults */
	size_t *source_component; /* when set: [i] the component source i became (disk sources), else SIZE_MAX */
	struct ep_manifest **manifest_out; /* when set: the manifest published, handed over (free it) */
};

struct ep_pack_stats {
	uint64_t virtual_bytes; /* disks' virtual sizes */
	uint64_t data_bytes;    /* bytes chunked */
	uint64_t stored_bytes;  /* compressed bytes of the unique chunks */
	uint64_t chunks, unique_chunks;
	uint64_t bundle_bytes;
	uint64_t reused_chunks; /* chunks the destination held already (a store) */
};

int ep_pack(const struct ep_pack_options *opt, const struct ep_source *sources, size_t nsources,
	    struct ep_pack_stats *stats, struct ep_error *err);
/* A dry run: opens each source as ep_pack would and closes it, reading no data and writing
 * nothing; a cloud capture hands the requests it would send to opt->capture's dry_run_request. */
int ep_pack_dry_run(const struct ep_pack_options *opt, const struct ep_source *sources, size_t nsources,
		    struct ep_error *err);

#endif
