/*
 * The bundle file: a POSIX pax tar of zstd-compressed chunks named by the
 * SHA-256 of their content, then manifest.json and manifest.sig
 * (formats/BUNDLE.md). Written atomically; read through a byte source (a file
 * here, an object at a URL), its chunks through a chunk source (its tar index,
 * or a store's chunks for a snapshot read as a bundle).
 */
#ifndef EP_BUNDLE_H
#define EP_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "base/error.h"
#include "base/util.h"
#include "formats/bundle/seal.h"

#define EP_BUNDLE_MANIFEST_NAME "manifest.json"
#define EP_BUNDLE_SIGNATURE_NAME "manifest.sig"
/* The most a chunk's entry can hold: the zstd frame of a largest chunk, sealed. */
#define EP_BUNDLE_STORED_MAX(chunk_max) (ZSTD_COMPRESSBOUND(chunk_max) + EP_SEAL_OVERHEAD)

struct ep_bundle_writer;

/* Starts a temporary file beside path; nothing appears at path before commit. */
int ep_bundle_writer_open(struct ep_bundle_writer **out, const char *path, int64_t mtime, struct ep_error *err);
/* An encrypted bundle (formats/bundle/seal.h): chunks named by their object ids, and the
 * manifest and signature sealed as they are added. seal is borrowed; set it first. */
struct ep_seal;
void ep_bundle_writer_seal(struct ep_bundle_writer *w, const struct ep_seal *seal);
/* A chunk's bytes as they are stored: its zstd frame, sealed already in an encrypted bundle. */
int ep_bundle_writer_add_chunk(struct ep_bundle_writer *w, const uint8_t digest[EP_DIGEST_LEN], const void *zdata,
			       size_t zlen, struct ep_error *err);
/* The manifest or its signature (sealed here in an encrypted bundle). */
int ep_bundle_writer_add(struct ep_bundle_writer *w, const char *name, const void *data, size_t len,
			 struct ep_error *err);
/* Finishes the tar, fsyncs and renames it into place; frees w either way. */
int ep_bundle_writer_commit(struct ep_bundle_writer *w, struct ep_error *err);
/* Removes the temporary file and frees w. */
void ep_bundle_writer_abort(struct ep_bundle_writer *w);

struct ep_bundle;

/* Where a bundle's chunks are read from, the read-side twin of struct ep_pack_dest
 * (packer/pack.h): a bundle file's tar index, or a store's chunks (formats/store/). */
struct ep_chunk_source_ops {
	/* Whether the source holds the chunk named digest, and its stored size. Thread-safe. */
	bool (*has)(void *ctx, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size);
	/* Exactly size stored bytes of it. Thread-safe. */
	int (*read)(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size, struct ep_error *err);
	void (*close)(void *ctx); /* NULL: nothing to release */
	/* NULL, or the chunk's stored bytes, however many (at most cap), into buf and their count
	 * into *size: one request where has, then read, take two (a store's object, whose length
	 * comes with it). 1 when the source does not hold it. Thread-safe. */
	int (*fetch)(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap, size_t *size,
		     struct ep_error *err);
	/* NULL, or has for n chunks at once (sizes[i]: 0 when not held), where has would ask a
	 * store chunk by chunk, each waiting for the last: many asked at a time. */
	int (*has_many)(void *ctx, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, uint64_t *sizes,
			struct ep_error *err);
};
/* The bytes of a bundle file, for its tar scan and its chunks: a file here, or an object at a URL. */
struct ep_byte_source_ops {
	/* Exactly len bytes at off. Thread-safe. */
	int (*pread)(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err);
	void (*close)(void *ctx);
};

/* Opens and indexes a bundle file here; rejects any entry that is not a chunk, the manifest or its signature. */
int ep_bundle_open(struct ep_bundle **out, const char *path, struct ep_error *err);
/* The same, an encrypted bundle opened with seal's private key (borrowed; NULL: left sealed,
 * see ep_bundle_encrypted_to). */
int ep_bundle_open_file(struct ep_bundle **out, const char *path, const struct ep_seal *seal, struct ep_error *err);
/* The same over size bytes read through ops (a bundle at a URL): ctx is b's, closed with it
 * (or at once when this fails). path names it in messages. */
int ep_bundle_open_bytes(struct ep_bundle **out, const char *path, uint64_t size, const struct ep_byte_source_ops *ops,
			 void *ctx, const struct ep_seal *seal, struct ep_error *err);
/* A bundle whose chunks come from ops (a store's snapshot read as the bundle it would export
 * to), with its manifest and signature (heap, handed over; NULL: the chunks alone, and no
 * signature). seal: what the chunks are sealed with (borrowed), NULL for plain ones. ctx is
 * b's, closed with it (or at once when this fails). */
int ep_bundle_open_source(struct ep_bundle **out, const char *path, const struct ep_chunk_source_ops *ops, void *ctx,
			  const struct ep_seal *seal, char *manifest, size_t manifest_len, char *signature,
			  size_t signature_len, struct ep_error *err);
/* An encrypted bundle opened without its key: the recipient key's id; else NULL. */
const char *ep_bundle_encrypted_to(const struct ep_bundle *b);
/* An encrypted bundle's (or store's) seal, once opened; NULL for a plain one. */
const struct ep_seal *ep_bundle_seal(const struct ep_bundle *b);
void ep_bundle_close(struct ep_bundle *b);
const char *ep_bundle_path(const struct ep_bundle *b);
const char *ep_bundle_manifest(const struct ep_bundle *b, size_t *len);
/* NULL when the bundle is unsigned. */
const char *ep_bundle_signature(const struct ep_bundle *b, size_t *len);
/* Whether the bundle holds a chunk, and its compressed size. */
bool ep_bundle_chunk_size(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size);
/* The same for n chunks (sizes[i]: 0 when not held), many asked at once of a store. */
#define EP_BUNDLE_ASK_BATCH 1024 /* chunks a reader asks about together: bounds what it holds meanwhile */
int ep_bundle_chunk_sizes(const struct ep_bundle *b, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, uint64_t *sizes,
			  struct ep_error *err);
/* Reads a chunk's stored bytes (its zstd frame, sealed in an encrypted bundle), exactly size of them, wherever they lie. Thread-safe. */
int ep_bundle_read_chunk(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size,
			 struct ep_error *err);
/* A chunk's stored bytes into buf (cap bytes), *size their count, without asking its size first
 * where the source can (a store): EP_EINTEGRITY naming the chunk when it is missing or larger
 * than cap. Thread-safe. */
int ep_bundle_get_chunk(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap,
			size_t *size, struct ep_error *err);
/* Whether each chunk is asked of the source one at a time (a store's snapshot: a HEAD or stat to
 * know it is there, a GET to read it), where a bundle file's index says at once what it holds. */
bool ep_bundle_asks_per_chunk(const struct ep_bundle *b);
uint64_t ep_bundle_stored_bytes(const struct ep_bundle *b); /* all chunk entries */
uint64_t ep_bundle_file_size(const struct ep_bundle *b);

#endif
