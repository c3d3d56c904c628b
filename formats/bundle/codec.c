#include "formats/bundle/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest window a chunk of EP_BUNDLE_CHUNK_MAX bytes needs; a frame asking
 * for more is refused instead of allocating what it asks. */
#define WINDOW_LOG_MAX 23

ZSTD_CCtx *ep_codec_encoder_new(int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (c && ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level))) {
		ZSTD_freeCCtx(c);
		return NULL;
	}
	return c;
}

void ep_codec_encoder_free(ZSTD_CCtx *enc)
{
	ZSTD_freeCCtx(enc);
}

int ep_codec_encode(ZSTD_CCtx *enc, const struct ep_seal *seal, const uint8_t digest[EP_DIGEST_LEN], const void *in,
		    size_t len, uint8_t *out, size_t cap, size_t *outlen, struct ep_error *err)
{
	size_t at = seal ? EP_SEAL_HEADER : 0; /* sealed in place, the header before the frame */
	size_t room = seal ? cap - EP_SEAL_OVERHEAD : cap;
	size_t n = ZSTD_compress2(enc, out + at, room, in, len);
	if (ZSTD_isError(n))
		return ep_fail(err, EP_ERUNTIME, "zstd: %s", ZSTD_getErrorName(n));
	*outlen = n;
	if (!seal)
		return 0;
	uint8_t oid[EP_DIGEST_LEN];
	ep_seal_object_id(seal, digest, oid);
	*outlen += EP_SEAL_OVERHEAD;
	return ep_seal_wrap(seal, oid, sizeof oid, out, n, err);
}

ZSTD_DCtx *ep_codec_decoder_new(void)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (d && ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX))) {
		ZSTD_freeDCtx(d);
		return NULL;
	}
	return d;
}

void ep_codec_decoder_free(ZSTD_DCtx *dec)
{
	ZSTD_freeDCtx(dec);
}

int ep_codec_decode(ZSTD_DCtx *dec, const struct ep_seal *seal, const uint8_t digest[EP_DIGEST_LEN], uint8_t *in,
		    size_t len, uint8_t *out, uint64_t want, const char *where, struct ep_error *err)
{
	char hex[EP_DIGEST_HEX];
	ep_hex(digest, EP_DIGEST_LEN, hex);
	uint8_t *frame = in;
	size_t flen = len;
	if (seal) {
		uint8_t oid[EP_DIGEST_LEN];
		char *what; /* for messages */
		ep_seal_object_id(seal, digest, oid);
		if (asprintf(&what, "'%s': chunk %s", where, hex) < 0)
			return ep_oom(err);
		int rc = ep_seal_open(seal, oid, sizeof oid, in, len, &frame, &flen, what, err);
		free(what);
		if (rc)
			return rc;
	}
	unsigned long long declared = ZSTD_getFrameContentSize(frame, flen);
	if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN) /* codes, not sizes */
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s %s", where, hex,
			       declared == ZSTD_CONTENTSIZE_ERROR ? "is not a zstd frame"
								   : "is a zstd frame that does not declare its size");
	if (declared != want)
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s declares %llu bytes, the manifest %llu", where, hex,
			       declared, (unsigned long long)want);
	/* the output buffer is exactly the declared size: a chunk can't inflate past it */
	size_t n = ZSTD_decompressDCtx(dec, out, (size_t)want, frame, flen);
	if (ZSTD_isError(n) || n != want)
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s does not decompress to its %llu bytes%s%s", where, hex,
			       (unsigned long long)want, ZSTD_isError(n) ? ": " : "", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "");
	uint8_t actual[EP_DIGEST_LEN];
	ep_sha256(out, n, actual);
	if (memcmp(actual, digest, EP_DIGEST_LEN) != 0)
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s does not match its digest", where, hex);
	return 0;
}

/* ---- a bundle's chunks, fetched and decoded ---- */

int ep_bundle_fetch_chunk(const struct ep_bundle *b, ZSTD_DCtx *dec, const uint8_t digest[EP_DIGEST_LEN], uint64_t want,
			  uint8_t *in, uint8_t *out, size_t *stored, struct ep_error *err)
{
	size_t len = 0;
	int rc = ep_bundle_get_chunk(b, digest, in, EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX), &len, err);
	if (stored)
		*stored = len;
	return rc ? rc : ep_codec_decode(dec, ep_bundle_seal(b), digest, in, len, out, want, ep_bundle_path(b), err);
}

int ep_bundle_load_chunk(void *bundle, const struct ep_chunk_ref *ref, char **data, size_t *len, struct ep_error *err)
{
	ZSTD_DCtx *d = ep_codec_decoder_new();
	uint8_t *in = malloc(EP_BUNDLE_STORED_MAX(EP_BUNDLE_CHUNK_MAX)), *out = malloc((size_t)ref->size + 1);
	int rc = d && in && out ? ep_bundle_fetch_chunk(bundle, d, ref->digest, ref->size, in, out, NULL, err) : ep_oom(err);
	ep_codec_decoder_free(d);
	free(in);
	if (rc) {
		free(out);
		return rc;
	}
	out[ref->size] = '\0';
	*data = (char *)out;
	*len = ref->size;
	return 0;
}
