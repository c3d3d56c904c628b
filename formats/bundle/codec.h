/*
 * Format v1's chunk codec, both halves in one place: a chunk is named by the
 * SHA-256 of its bytes (ep_sha256), stored as their zstd frame, and in an
 * encrypted bundle or store that frame is sealed under the chunk's object id
 * (formats/bundle/seal.h). Pack encodes; verify, restore and the catalog decode.
 */
#ifndef EP_CODEC_H
#define EP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "base/error.h"
#include "base/util.h"
#include "formats/bundle/bundle.h"
#include "formats/bundle/manifest.h"
#include "formats/bundle/seal.h"

/* One thread's compression context at a zstd level; NULL when out of memory or the level is refused. */
ZSTD_CCtx *ep_codec_encoder_new(int level);
void ep_codec_encoder_free(ZSTD_CCtx *enc);
/* A chunk of len bytes named digest, into out (cap bytes, EP_BUNDLE_STORED_MAX(len) suffice):
 * its zstd frame, sealed when seal is set. *outlen: the bytes stored. */
int ep_codec_encode(ZSTD_CCtx *enc, const struct ep_seal *seal, const uint8_t digest[EP_DIGEST_LEN], const void *in,
		    size_t len, uint8_t *out, size_t cap, size_t *outlen, struct ep_error *err);

/* One thread's decompression context, refusing a window larger than a largest chunk needs. */
ZSTD_DCtx *ep_codec_decoder_new(void);
void ep_codec_decoder_free(ZSTD_DCtx *dec);
/* The stored bytes in[0..len) of chunk digest back into its want bytes at out, checked
 * against the digest before anything uses them: opened in place when seal is set, then
 * decompressed into exactly want bytes (a frame can't inflate past them). where names
 * the bundle or store in messages. */
int ep_codec_decode(ZSTD_DCtx *dec, const struct ep_seal *seal, const uint8_t digest[EP_DIGEST_LEN], uint8_t *in,
		    size_t len, uint8_t *out, uint64_t want, const char *where, struct ep_error *err);

/* A bundle's chunk of want bytes into out: its stored bytes read through in
 * (EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX) bytes; *stored their count, stored may be NULL),
 * then decoded as above. Thread-safe. */
int ep_bundle_fetch_chunk(const struct ep_bundle *b, ZSTD_DCtx *dec, const uint8_t digest[EP_DIGEST_LEN], uint64_t want,
			  uint8_t *in, uint8_t *out, size_t *stored, struct ep_error *err);
/* One chunk of a bundle (a struct ep_bundle *), checked, into a NUL-terminated heap buffer
 * (free()): an ep_chunk_load_fn, for ep_manifest_resolve. */
int ep_bundle_load_chunk(void *bundle, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err);

#endif
