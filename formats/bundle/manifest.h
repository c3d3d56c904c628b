/*
 * The bundle manifest: what a bundle holds, chunk by chunk. Its JSON form
 * is specified in formats/BUNDLE.md; the signature covers those exact bytes.
 */
#ifndef EP_MANIFEST_H
#define EP_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/links.h"
#include "base/util.h"
#include "formats/bundle/inventory.h"
#include "formats/bundle/snapinfo.h"
#include "formats/bundle/machine.h"

#define EP_BUNDLE_VERSION 1
#define EP_BUNDLE_CHUNK_MAX ((uint32_t)4 << 20) /* no chunk is larger */
/* fastcdc-gear-v1 cuts no chunk shorter, but the last of an extent (BUNDLE.md section 5) */
#define EP_BUNDLE_CHUNK_MIN ((uint32_t)256 << 10)
/* Writers start each extent on a sector, so a disk of N bytes holds at most N/512 of them
 * (and one more a list chunk, continued from the one before) */
#define EP_BUNDLE_SECTOR 512
#define EP_BUNDLE_COMPONENTS_MAX 65536
#define EP_BUNDLE_MANIFEST_MAX ((size_t)256 << 20)
#define EP_BUNDLE_VIRTUAL_MAX ((uint64_t)1 << 60)

/* An image is a file tree holding an OCI image layout, plus the descriptors of its images. */
enum ep_component_type { EP_COMP_DISK, EP_COMP_FILES, EP_COMP_IMAGE };
enum ep_file_type { EP_FILE_REG, EP_FILE_DIR, EP_FILE_SYMLINK };

struct ep_chunk_ref {
	uint8_t digest[EP_DIGEST_LEN]; /* SHA-256 of the uncompressed bytes */
	uint32_t size;                 /* uncompressed bytes */
};

/* first/count index the component's chunk array */
struct ep_extent_rec {
	uint64_t offset, length;
	size_t first, count;
};

struct ep_file_rec {
	char *path; /* relative, '/'-separated */
	enum ep_file_type type;
	uint32_t mode; /* permission bits, 07777 */
	int64_t mtime;
	uint64_t size;
	char *target; /* symlinks */
	size_t first, count;
	enum ep_file_kind kind; /* regular files of IaC trees; EP_KIND_NONE when not recorded */
};

struct ep_component {
	enum ep_component_type type;
	char *name;   /* unique within the bundle, a safe file name */
	char *source; /* the source's base name, for people */
	char *format; /* disks: the source format ("raw"); images: the layout ("oci", "docker-archive") */
	uint64_t virtual_size;
	char *checkpoint; /* disks of a live domain: the libvirt checkpoint taken with this copy, or NULL */
	uint64_t added_bytes; /* not serialised: the stored bytes of chunks the pack making it added */
	struct ep_extent_rec *extents;
	size_t nextents, cap_extents;
	struct ep_file_rec *files;
	size_t nfiles, cap_files;
	struct ep_chunk_ref *chunks;
	size_t nchunks, cap_chunks;
	/* disks listed in chunks of their own (BUNDLE.md, "extent_lists"): those chunks, in order;
	 * the extents above are empty until ep_manifest_resolve has read them (ep_component_listed) */
	struct ep_chunk_ref *lists;
	size_t nlists;
	char **images; /* image components: index.json descriptors, compact JSON */
	size_t nimages, cap_images;
	struct ep_inventory *inventory; /* files components of IaC trees; NULL when not recorded */
};

struct ep_manifest {
	char *name;
	char *created; /* RFC 3339 UTC */
	char *tool;
	struct ep_component *components;
	size_t ncomponents, cap_components;
	struct ep_machine *machines; /* each names its disks by component */
	size_t nmachines, cap_machines;
	struct ep_snapinfo *snapshot; /* a snapshot in a store says so; NULL in a plain bundle */
};

struct ep_manifest *ep_manifest_new(const char *name, const char *created, const char *tool);
void ep_manifest_free(struct ep_manifest *m);
struct ep_component *ep_manifest_add_component(struct ep_manifest *m, enum ep_component_type type,
					       const char *name, const char *source);
int ep_component_add_chunk(struct ep_component *c, const uint8_t digest[EP_DIGEST_LEN], uint32_t size,
			   struct ep_error *err);
/* Records may be added before the chunks of earlier records arrive: chunks are
 * appended in order, each to the record it belongs to (ep_component_append). */
int ep_component_add_extent(struct ep_component *c, uint64_t offset, struct ep_error *err);
int ep_component_add_file(struct ep_component *c, const char *path, enum ep_file_type type, uint32_t mode,
			  int64_t mtime, const char *target, struct ep_error *err);
int ep_component_add_image(struct ep_component *c, const char *descriptor_json, struct ep_error *err);
/* Appends a chunk to extent or file `record`; chunks of one record are contiguous. */
int ep_component_append(struct ep_component *c, size_t record, const uint8_t digest[EP_DIGEST_LEN], uint32_t size,
			struct ep_error *err);

/* A new machine, zeroed, for the caller to fill; NULL when out of memory. */
struct ep_machine *ep_manifest_add_machine(struct ep_manifest *m);

/* A disk of more than EP_LIST_INLINE chunks keeps its extents in list chunks of their own,
 * each of at most EP_LIST_MAX_REFS chunk references: an unchanged disk has the same list
 * chunks, so its next snapshot's manifest names a few chunks instead of thousands. */
#define EP_LIST_INLINE 32 /* ~2.5 KB of references: smaller disks stay inline, readable */
#define EP_LIST_MAX_REFS 16384 /* at most ~2 MB of JSON, under EP_BUNDLE_CHUNK_MAX; every list but the last is full */
#define EP_LIST_MAX_LISTS 65536 /* for one disk, and for all of a manifest's */
/* The content of c's list chunks: compact JSON arrays of extents, in order (heap array of
 * heap strings, *n of them); NULL when out of memory. */
char **ep_component_list_pieces(const struct ep_component *c, size_t *n);
int ep_component_set_lists(struct ep_component *c, const struct ep_chunk_ref *lists, size_t n, struct ep_error *err);
/* Whether c's extents are still in its list chunks, not read yet. */
bool ep_component_listed(const struct ep_component *c);
/* Gives a list chunk's content (heap, free()), checked against its digest. */
typedef int (*ep_chunk_load_fn)(void *ctx, const struct ep_chunk_ref *ref, char **data, size_t *len,
				struct ep_error *err);
/* Calls each with c's records and chunks: c itself, or when c is listed, one list chunk at a
 * time as a disk of its own (c's name and sizes, that list's extents and chunks), so that
 * what is held is one list (at most EP_LIST_MAX_REFS chunks) whatever the manifest declares;
 * part is gone once each returns. Each list is checked as ep_manifest_resolve checks it;
 * what names the bundle in messages. */
typedef int (*ep_part_fn)(void *ctx, const struct ep_component *part, struct ep_error *err);
int ep_component_each_part(const struct ep_component *c, ep_chunk_load_fn load, void *load_ctx, const char *what,
			   ep_part_fn each, void *ctx, struct ep_error *err);
/* Fills the extents of the disks m lists in list chunks, all of them at once (restore, diff
 * and export need them whole; what a disk may name is bounded by its virtual size). */
int ep_manifest_resolve(struct ep_manifest *m, ep_chunk_load_fn load, void *ctx, const char *what,
			struct ep_error *err);
/* Every chunk m names, in the order pack writes them: the data chunks, then the list
 * chunks; a chunk named twice comes twice. */
int ep_manifest_each_ref(const struct ep_manifest *m,
			 int (*each)(void *ctx, const struct ep_chunk_ref *ref, struct ep_error *err), void *ctx,
			 struct ep_error *err);

/* Serialise deterministically; *json is heap-allocated (free()). */
int ep_manifest_to_json(const struct ep_manifest *m, char **json, size_t *len, struct ep_error *err);
/* Parse and validate untrusted bytes; `what` names the source in messages. */
int ep_manifest_parse(const char *json, size_t len, const char *what, struct ep_manifest **out,
		      struct ep_error *err);

/* m's created time in seconds since the epoch; -1 when it is not RFC 3339 UTC. */
int64_t ep_manifest_created(const struct ep_manifest *m);
/* Sums a component's chunk sizes. */
uint64_t ep_component_data_size(const struct ep_component *c);

/* The index of the record named path in files[0..n), or -1. */
ssize_t ep_file_find(const struct ep_file_rec *files, size_t n, const char *path);
/* The regular file path names, through symlinks inside the tree (docker-archives
 * link legacy layer.tar names to their blobs); -1 when there is none. */
ssize_t ep_file_resolve(const struct ep_file_rec *files, size_t n, const char *path);
/* Follows every symlink of files through all the others (ep_link_follow): *bad is the first
 * that leaves the tree or loops, how in *how, or -1 when all stay inside. */
int ep_files_check_links(const struct ep_file_rec *files, size_t n, ssize_t *bad, enum ep_link_end *how,
			 struct ep_error *err);

#endif
