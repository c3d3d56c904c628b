/*
 * Disk image formats behind one table of function pointers. A reader yields
 * the virtual size and the allocated extents; a writer takes data at offsets.
 * Adding a format is one new file and one line in formats/disk/disk.c.
 */
#ifndef EP_DISK_H
#define EP_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/extent.h"

#define EP_PROBE_BYTES (64 << 10)

struct ep_disk;

struct ep_disk_ops {
	/* The first extent at or after `from` holding data: 1 and *out, or 0 when none is left. */
	int (*next_extent)(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err);
	int (*read)(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err);
	int (*write)(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err);
	/* A writer finalises and syncs here; always frees d. */
	int (*close)(struct ep_disk *d, struct ep_error *err);
};

struct ep_disk {
	const struct ep_disk_ops *ops;
	const struct ep_disk_format *format;
	uint64_t virtual_size;
};

#define EP_DISK_CHAIN_MAX 16

/* How to open an image; its references (backing files, extents) are untrusted. */
struct ep_disk_open_opts {
	const char *format;             /* NULL: probe the first bytes */
	const char *const *allow_dirs;  /* where references may point besides the image's own directory */
	size_t nallow;
	/* the images that led here, to refuse a reference loop */
	struct {
		uint64_t dev, ino;
	} chain[EP_DISK_CHAIN_MAX];
	unsigned depth;
};

/* How to write a new image. */
struct ep_disk_create_opts {
	const char *subformat; /* e.g. "fixed" or "dynamic" for VHD; NULL: the format's default */
	bool compress;         /* qcow2: compressed clusters, deflated on every core */
	/* qcow2: an overlay whose unwritten clusters read from this backing file (a path or a
	 * URI qemu opens, such as nbd+unix:///d?socket=S) of backing_format ("raw"), as qemu's */
	const char *backing, *backing_format;
};

struct ep_disk_format {
	const char *name;
	/* 0..100 for the first bytes of a file: 0 not mine, the highest wins */
	int (*probe)(const uint8_t *head, size_t len);
	int (*open)(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		    struct ep_error *err);
	/* Creates a new image; fails if path exists. opts may be NULL. */
	int (*create)(struct ep_disk **out, const char *path, uint64_t virtual_size,
		      const struct ep_disk_create_opts *opts, struct ep_error *err);
	const char *extension; /* file name extension for restored disks */
};

const struct ep_disk_format *ep_disk_format_find(const char *name);
/* Opens path as opts->format, or as the format whose probe scores highest. opts may be NULL. */
int ep_disk_open(struct ep_disk **out, const char *path, const struct ep_disk_open_opts *opts,
		 struct ep_error *err);
/* Opens a reference (backing file, extent) made by image `from`: it must resolve to a
 * regular file inside from's directory or an allowed one, and not loop. format may be NULL. */
int ep_disk_open_ref(struct ep_disk **out, const char *from, const char *ref, const char *format,
		     const struct ep_disk_open_opts *opts, struct ep_error *err);
/* Resolves a reference (backing file, extent file) made by image `from` under the same
 * rules as ep_disk_open_ref, into resolved (PATH_MAX bytes). opts may be NULL. */
int ep_disk_resolve_ref(const char *from, const char *ref, const struct ep_disk_open_opts *opts, char *resolved,
			struct ep_error *err);
/* d->ops->next_extent, with its answer checked: an extent must be non-empty, start at
 * or after from and end within the disk, or a broken reader could loop forever. */
int ep_disk_next_extent(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err);
/* A parent image (backing file, differencing parent), with its last extent cached
 * so that a sequential scan asks it once per extent. */
struct ep_parent {
	struct ep_disk *disk;
	uint64_t from;
	struct ep_extent ext;
	bool valid, found;
};
/* Whether the parent holds data at off; *len bytes (at most max) share that answer. */
int ep_parent_classify(struct ep_parent *p, uint64_t off, uint64_t max, bool *data, uint64_t *len,
		       struct ep_error *err);
/* Reads the bytes at off into p, at most max of them, setting *n to how many (> 0). */
typedef int (*ep_read_span_fn)(struct ep_disk *d, uint64_t off, uint8_t *p, uint64_t max, uint64_t *n,
			       struct ep_error *err);
/* A read built on read_span: the bounds checked once, then span after span. */
int ep_disk_read_spans(struct ep_disk *d, void *buf, size_t len, uint64_t off, ep_read_span_fn read_span,
		       struct ep_error *err);
/* Stubs for the ops a reader or a writer does not have. */
int ep_disk_no_write(struct ep_disk *d, const void *buf, size_t len, uint64_t off, struct ep_error *err);
int ep_disk_no_extents(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err);
int ep_disk_no_read(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err);
/* Reads n bytes at host from a file of file_size bytes; what lies past its end reads as zeros
 * (the last block of an image may be cut short). */
int ep_pread_or_zero(int fd, void *buf, size_t n, uint64_t host, uint64_t file_size, const char *path,
		     struct ep_error *err);
/* Says whether off holds data, and for how many bytes from off that answer holds. */
typedef int (*ep_classify_fn)(struct ep_disk *d, uint64_t off, bool *data, uint64_t *len, struct ep_error *err);
/* A next_extent built on classify: the first run of data at or after from, neighbouring runs merged. */
int ep_disk_merge_extents(struct ep_disk *d, uint64_t from, ep_classify_fn classify, struct ep_extent *out,
			  struct ep_error *err);
/* Reads [off, off+len) of d, where d's own extents do not cover it: zeros past d's end. */
int ep_disk_read_clipped(struct ep_disk *d, void *buf, size_t len, uint64_t off, struct ep_error *err);
/* Closes and frees d, keeping err's first failure. */
int ep_disk_close(struct ep_disk *d, struct ep_error *err);

/* Writes buf at off into a file created at its full size, leaving all-zero 4 KiB blocks as holes. */
int ep_disk_raw_write_sparse(int fd, const void *buf, size_t len, uint64_t off, const char *path,
			     struct ep_error *err);

extern const struct ep_disk_format ep_disk_raw, ep_disk_qcow2, ep_disk_vhd, ep_disk_vmdk,
	ep_disk_vhdx;

#endif
