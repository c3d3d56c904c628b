/*
 * A disk of a bundle or store snapshot read at any offset: what `envpack serve` exports
 * over NBD. Offsets map to chunks through the disk's extents; holes read as zeros without
 * a fetch; each chunk is fetched once, checked against its SHA-256 before a byte of it is
 * handed out, and kept in a cache of bounded size; reads that follow on from the last
 * one have the next chunks fetched ahead by threads of the export's own.
 */
#ifndef EP_EXPORT_H
#define EP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/bundle/bundle.h"
#include "formats/bundle/manifest.h"

/* Chunks fetched ahead of a reader reading on (~8 MiB): enough to keep a core per thread
 * decoding while the reader sends what it has. */
#define EP_EXPORT_READ_AHEAD 8

struct ep_export;

/* disk (a component of b's manifest, extents resolved) and b are borrowed until close;
 * cache_bytes bounds the buffers of the chunks kept (at least one chunk is); evicted
 * chunks' buffers are kept for later chunks, up to a quarter of that more (one always). */
int ep_export_open(struct ep_export **out, const struct ep_bundle *b, const struct ep_component *disk,
		   size_t cache_bytes, struct ep_error *err);
uint64_t ep_export_size(const struct ep_export *x);
/* len bytes at off into buf; a chunk that fails its check fails the read (EP_EINTEGRITY,
 * naming it) and is never handed out. Thread-safe. */
int ep_export_read(struct ep_export *x, void *buf, size_t len, uint64_t off, struct ep_error *err);
/* The run at off: whether it holds data (else it reads as zeros), and how far it goes,
 * at most max bytes. */
void ep_export_run(const struct ep_export *x, uint64_t off, uint64_t max, bool *data, uint64_t *len);
/* Chunks fetched from the bundle so far (a chunk evicted and fetched again counts twice),
 * and their stored bytes into *stored_bytes (may be NULL). */
uint64_t ep_export_fetched(const struct ep_export *x, uint64_t *stored_bytes);
/* What it allocated so far: buffers for chunks (the other loads reused an evicted chunk's)
 * and decoders (one for each load running at once, at most). */
void ep_export_allocated(const struct ep_export *x, uint64_t *buffers, uint64_t *decoders);
void ep_export_close(struct ep_export *x);

#endif
