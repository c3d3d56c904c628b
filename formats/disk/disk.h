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

/* Where an image's bytes lie: a local file, or a byte source read at offsets elsewhere (an
 * object at a URL, which sources/ opens through cloud/remote.c). Readers read only through
 * it. A byte source has no directory: references from it (backing files, extent files) are
 * refused. */
struct ep_disk_file;
/* Reads exactly len bytes at off, within the source's size. */
typedef int (*ep_disk_pread_fn)(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err);

/* How to open an image; its references (backing files, extents) are untrusted. */
struct ep_disk_open_opts {
	const char *format;             /* NULL: probe the first bytes */
	/* the image's bytes, borrowed (a byte source); NULL: the file at the path opened */
	struct ep_disk_file *file;
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
/* For a disk streamed front to back, whose holes are not known ahead: all of it one run of
 * data (pack leaves out the zero blocks it reads); and a close for one its owner frees. */
int ep_disk_all_data(struct ep_disk *d, uint64_t from, struct ep_extent *out, struct ep_error *err);
int ep_disk_no_close(struct ep_disk *d, struct ep_error *err);
/* A local file opened for reading: a regular file, or a block device when block_ok. */
int ep_disk_file_open(struct ep_disk_file **out, const char *path, bool block_ok, struct ep_error *err);
/* A byte source of size bytes, name (a URL without credentials) in messages, read through
 * pread(ctx, ...), which stays the caller's. Reads smaller than 8 MiB are served from a few
 * windows read ahead (256 KiB, doubling up to 8 MiB while reads go forward, then the next
 * four read by threads of their own), so that the many small reads of headers, tables and
 * grains cost few requests and a stream does not wait on each. pread may be called from
 * several threads at once. */
int ep_disk_file_remote(struct ep_disk_file **out, const char *name, uint64_t size, ep_disk_pread_fn pread,
			void *ctx, struct ep_error *err);
/* What a reader reads: opts->file (one more reference to it), or path opened. */
int ep_disk_file_get(struct ep_disk_file **out, const char *path, const struct ep_disk_open_opts *opts, bool block_ok,
		     struct ep_error *err);
uint64_t ep_disk_file_size(const struct ep_disk_file *f);
/* A local file's descriptor (its holes, SEEK_DATA), -1 for a byte source. */
int ep_disk_file_fd(const struct ep_disk_file *f);
/* Reads exactly len bytes at off: a short local file is EP_EINTEGRITY, as ep_pread_full
 * says; a byte source read past its size is EP_EINPUT (the object is truncated). */
int ep_disk_file_pread(struct ep_disk_file *f, void *buf, size_t len, uint64_t off, struct ep_error *err);
/* Reads n bytes at host; what lies past the file's end reads as zeros (the last block of an
 * image may be cut short). */
int ep_disk_file_pread_or_zero(struct ep_disk_file *f, void *buf, size_t n, uint64_t host, struct ep_error *err);
/* The first data run at or after from of a raw image of size bytes in f: a local file's
 * holes are skipped; a byte source tells none, so the rest is one run. */
int ep_disk_file_next_extent(struct ep_disk_file *f, uint64_t from, uint64_t size, struct ep_extent *out,
			     struct ep_error *err);
/* Drops a reference; the last closes it. f may be NULL. */
void ep_disk_file_close(struct ep_disk_file *f);
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
