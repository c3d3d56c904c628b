/*
 * Reading chunks back: each chunk's compressed bytes are read from the one
 * open bundle, decompressed into a buffer of exactly its declared size and
 * checked against its SHA-256 before the caller sees a byte of it. Worker
 * threads read ahead; chunks come out in the order they were asked for.
 */
#ifndef EP_CHUNKS_H
#define EP_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/progress.h"
#include "formats/bundle/bundle.h"
#include "formats/bundle/manifest.h"

struct ep_chunk_stream;

int ep_chunk_stream_new(struct ep_chunk_stream **out, const struct ep_bundle *b, unsigned threads,
			struct ep_error *err);
void ep_chunk_stream_free(struct ep_chunk_stream *s);
/* Reports bytes delivered so far, across every stream started, out of total. */
void ep_chunk_stream_progress(struct ep_chunk_stream *s, const struct ep_progress *progress, uint64_t total);
/* Streams refs[0..count) next; refs must stay valid until the stream ends. */
void ep_chunk_stream_start(struct ep_chunk_stream *s, const struct ep_chunk_ref *refs, size_t count);
/* 1 and the next verified chunk (valid until the next call), 0 at the end, or a failure. */
int ep_chunk_stream_next(struct ep_chunk_stream *s, const uint8_t **data, size_t *len, struct ep_error *err);
/* The next verified chunk, which the refs say must be there: 0, or EP_EINTEGRITY when the stream ended. */
int ep_chunk_stream_pull(struct ep_chunk_stream *s, const uint8_t **data, size_t *len, struct ep_error *err);
/* Reads refs[0..count) whole, at most max bytes, into a NUL-terminated heap buffer (free()). */
int ep_chunk_stream_read(struct ep_chunk_stream *s, const struct ep_chunk_ref *refs, size_t count, size_t max,
			 char **out, size_t *len, struct ep_error *err);

#endif
