/*
 * docker-archive writer (see docker_save.h): the tar is written by hand, as
 * its entries are few and named by digests, so that a layer's header can
 * wait in a reserved block until its decompressed size is known.
 */
#include "formats/image/docker_save.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "base/util.h"

#define BLOCK 512
#define OUT_CAP ((size_t)1 << 20) /* decompressed bytes per write */

enum codec { CODEC_UNKNOWN, CODEC_NONE, CODEC_GZIP, CODEC_ZSTD };
#define MAGIC 4 /* bytes that tell a layer's compression */

struct ep_darchive_writer {
	int fd;
	const char *path;
	int64_t mtime;
	uint64_t at;       /* where the next entry starts */
	json_t *manifest;  /* manifest.json, one entry per image */
	json_t *entries;   /* the names written, each once */
	/* the entry being written: its header block, the size of its data so far */
	uint64_t header_at, size;
	/* the layer being written */
	enum codec codec; /* CODEC_UNKNOWN until MAGIC bytes have come */
	uint8_t head[MAGIC];
	size_t nhead;
	char diff_hex[EP_DIGEST_HEX];
	EVP_MD_CTX *md;
	z_stream z;
	bool z_live, z_ended;
	ZSTD_DStream *zs;
	size_t zs_left; /* ZSTD_decompressStream's last hint: 0 once a frame is whole */
	uint8_t *out;
};

static const uint8_t zeros[2 * BLOCK];

int ep_darchive_writer_new(struct ep_darchive_writer **out, int fd, const char *path, int64_t mtime,
			   struct ep_error *err)
{
	struct ep_darchive_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->manifest = json_array()) || !(w->entries = json_object()) || !(w->md = EVP_MD_CTX_new()) ||
	    !(w->out = malloc(OUT_CAP))) {
		ep_darchive_writer_free(w);
		return ep_oom(err);
	}
	w->fd = fd;
	w->path = path;
	w->mtime = mtime < 0 ? 0 : mtime;
	*out = w;
	return 0;
}

static void end_decoder(struct ep_darchive_writer *w)
{
	if (w->z_live)
		inflateEnd(&w->z);
	w->z_live = false;
	ZSTD_freeDStream(w->zs);
	w->zs = NULL;
}

void ep_darchive_writer_free(struct ep_darchive_writer *w)
{
	if (!w)
		return;
	end_decoder(w);
	EVP_MD_CTX_free(w->md);
	json_decref(w->manifest);
	json_decref(w->entries);
	free(w->out);
	free(w);
}

/* ---- tar entries ---- */

/* A numeric field of n bytes: octal, or base-256 (GNU, read by Go's archive/tar and libarchive) when too large. */
static void put_number(uint8_t *field, size_t n, uint64_t v)
{
	if (v < (uint64_t)1 << (3 * (n - 1))) {
		snprintf((char *)field, n, "%0*llo", (int)n - 1, (unsigned long long)v);
		return;
	}
	memset(field, 0, n);
	for (size_t i = n - 1; i > 0; i--, v >>= 8)
		field[i] = (uint8_t)v;
	field[0] = 0x80;
}

/* A ustar header for a regular file (names here are digests: always under 100 bytes). */
static void tar_header(uint8_t h[BLOCK], const char *name, uint64_t size, int64_t mtime)
{
	memset(h, 0, BLOCK);
	snprintf((char *)h, 100, "%s", name);
	put_number(h + 100, 8, 0644);
	put_number(h + 108, 8, 0);
	put_number(h + 116, 8, 0);
	put_number(h + 124, 12, size);
	put_number(h + 136, 12, (uint64_t)mtime);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum); /* six digits, NUL, and the space left in place */
}

static int put(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	int rc = ep_pwrite_full(w->fd, data, len, w->at, w->path, err);
	w->at += len;
	return rc;
}

/* The header's block is left empty until the entry's size is known. */
static void entry_begin(struct ep_darchive_writer *w)
{
	w->header_at = w->at;
	w->at += BLOCK;
	w->size = 0;
}

static int entry_data(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	w->size += len;
	return put(w, data, len, err);
}

static int entry_end(struct ep_darchive_writer *w, const char *name, struct ep_error *err)
{
	uint8_t h[BLOCK];
	int rc = put(w, zeros, (BLOCK - w->size % BLOCK) % BLOCK, err);
	tar_header(h, name, w->size, w->mtime);
	if (!rc)
		rc = ep_pwrite_full(w->fd, h, BLOCK, w->header_at, w->path, err);
	if (!rc && json_object_set_new(w->entries, name, json_true()))
		rc = ep_oom(err);
	return rc;
}

static int whole_entry(struct ep_darchive_writer *w, const char *name, const void *data, size_t len,
		       struct ep_error *err)
{
	if (json_object_get(w->entries, name))
		return 0;
	entry_begin(w);
	int rc = entry_data(w, data, len, err);
	return rc ? rc : entry_end(w, name, err);
}

/* ---- layers ---- */

bool ep_darchive_writer_holds(const struct ep_darchive_writer *w, const char *diff_id)
{
	char name[EP_DIGEST_HEX + 4];
	snprintf(name, sizeof name, "%s.tar", strncmp(diff_id, "sha256:", 7) ? diff_id : diff_id + 7);
	return json_object_get(w->entries, name) != NULL;
}

/* Whether a media type names a tar layer (OCI and Docker names, foreign and non-distributable
 * ones alike); not an encrypted one, nor anything unknown. */
static bool tar_layer(const char *media_type)
{
	static const char *const suffixes[] = { ".tar", ".tar+gzip", ".tar.gzip", ".tar+zstd", ".tar.zstd" };
	size_t n = media_type ? strlen(media_type) : 0;
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		size_t k = strlen(suffixes[i]);
		if (n > k && !strcmp(media_type + n - k, suffixes[i]))
			return true;
	}
	return false;
}

int ep_darchive_layer_begin(struct ep_darchive_writer *w, const char *media_type, const char *diff_id,
			    struct ep_error *err)
{
	uint8_t raw[EP_DIGEST_LEN];
	if (!diff_id || strncmp(diff_id, "sha256:", 7) || !ep_unhex(diff_id + 7, raw, EP_DIGEST_LEN))
		return ep_fail(err, EP_EINPUT, "the diff_id '%s' is not sha256: and 64 hex digits", diff_id ? diff_id : "");
	if (!tar_layer(media_type))
		return ep_fail(err, EP_EINPUT, "a layer of media type '%s' is no tar a docker archive can hold",
			       media_type ? media_type : "(none)");
	memcpy(w->diff_hex, diff_id + 7, EP_DIGEST_HEX);
	end_decoder(w);
	w->codec = CODEC_UNKNOWN;
	w->nhead = 0;
	if (!EVP_DigestInit_ex(w->md, EVP_sha256(), NULL))
		return ep_oom(err);
	entry_begin(w);
	return 0;
}

/* The compression the layer's first bytes show, as docker, containerd and skopeo tell it:
 * a media type saying gzip is no proof (skopeo writes uncompressed layers under it). */
static int start_decoder(struct ep_darchive_writer *w, struct ep_error *err)
{
	static const uint8_t gzip[] = { 0x1f, 0x8b, 0x08 }, zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	w->codec = w->nhead >= sizeof gzip && !memcmp(w->head, gzip, sizeof gzip)   ? CODEC_GZIP
		   : w->nhead >= sizeof zstd && !memcmp(w->head, zstd, sizeof zstd) ? CODEC_ZSTD
										    : CODEC_NONE;
	w->z_ended = false;
	w->zs_left = 1;
	if (w->codec == CODEC_GZIP) {
		w->z = (z_stream){ 0 };
		if (inflateInit2(&w->z, 16 + MAX_WBITS) != Z_OK)
			return ep_oom(err);
		w->z_live = true;
	} else if (w->codec == CODEC_ZSTD && !(w->zs = ZSTD_createDStream())) {
		return ep_oom(err);
	}
	return 0;
}

static int layer_out(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	EVP_DigestUpdate(w->md, data, len);
	return entry_data(w, data, len, err);
}

/* gzip, member after member, as Go's reader (docker's) takes them. */
static int feed_gzip(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	w->z.next_in = (Bytef *)data;
	w->z.avail_in = (uInt)len;
	int rc = 0;
	do {
		if (w->z_ended && w->z.avail_in) {
			inflateReset(&w->z);
			w->z_ended = false;
		}
		w->z.next_out = w->out;
		w->z.avail_out = (uInt)OUT_CAP;
		int r = inflate(&w->z, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			w->z_ended = true;
		else if (r != Z_OK && r != Z_BUF_ERROR)
			return ep_fail(err, EP_EINTEGRITY, "it does not decompress as gzip: %s",
				       w->z.msg ? w->z.msg : "damaged data");
		if ((rc = layer_out(w, w->out, OUT_CAP - w->z.avail_out, err)) || r == Z_BUF_ERROR)
			break;
	} while (w->z.avail_in || w->z.avail_out == 0);
	return rc;
}

static int feed_zstd(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	ZSTD_inBuffer in = { data, len, 0 };
	for (;;) {
		ZSTD_outBuffer out = { w->out, OUT_CAP, 0 };
		size_t r = ZSTD_decompressStream(w->zs, &out, &in);
		if (ZSTD_isError(r))
			return ep_fail(err, EP_EINTEGRITY, "it does not decompress as zstd: %s", ZSTD_getErrorName(r));
		w->zs_left = r;
		int rc = layer_out(w, w->out, out.pos, err);
		if (rc || (in.pos == in.size && out.pos < out.size))
			return rc;
	}
}

static int decode(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	uInt most = (uInt)-1;
	switch (w->codec) {
	case CODEC_GZIP:
		for (size_t at = 0; at < len; at += most) { /* avail_in is 32 bits wide */
			int rc = feed_gzip(w, (const uint8_t *)data + at, len - at < most ? len - at : most, err);
			if (rc)
				return rc;
		}
		return 0;
	case CODEC_ZSTD: return feed_zstd(w, data, len, err);
	default: return layer_out(w, data, len, err);
	}
}

/* The first MAGIC bytes wait until they say how the rest is compressed. */
static int take_head(struct ep_darchive_writer *w, const uint8_t **data, size_t *len, struct ep_error *err)
{
	size_t n = MAGIC - w->nhead < *len ? MAGIC - w->nhead : *len;
	memcpy(w->head + w->nhead, *data, n);
	w->nhead += n;
	*data += n;
	*len -= n;
	if (w->nhead < MAGIC)
		return 0;
	int rc = start_decoder(w, err);
	return rc ? rc : decode(w, w->head, w->nhead, err);
}

int ep_darchive_layer_feed(struct ep_darchive_writer *w, const void *data, size_t len, struct ep_error *err)
{
	const uint8_t *p = data;
	int rc = w->codec == CODEC_UNKNOWN ? take_head(w, &p, &len, err) : 0;
	return rc || !len ? rc : decode(w, p, len, err);
}

int ep_darchive_layer_end(struct ep_darchive_writer *w, struct ep_error *err)
{
	int rc = 0;
	if (w->codec == CODEC_UNKNOWN && !(rc = start_decoder(w, err))) /* a blob shorter than MAGIC */
		rc = decode(w, w->head, w->nhead, err);
	enum codec codec = w->codec;
	bool whole = codec == CODEC_NONE || (codec == CODEC_GZIP ? w->z_ended : w->zs_left == 0);
	end_decoder(w);
	if (rc)
		return rc;
	if (!whole)
		return ep_fail(err, EP_EINTEGRITY, "its %s stream is cut short", codec == CODEC_GZIP ? "gzip" : "zstd");
	uint8_t sha[EP_DIGEST_LEN];
	char got[EP_DIGEST_HEX], name[EP_DIGEST_HEX + 4];
	EVP_DigestFinal_ex(w->md, sha, NULL);
	ep_hex(sha, EP_DIGEST_LEN, got);
	if (strcmp(got, w->diff_hex) != 0)
		return ep_fail(err, EP_EINTEGRITY, "%s, it hashes to sha256:%s, not to the diff_id sha256:%s its config names",
			       codec == CODEC_NONE ? "uncompressed" : "decompressed", got, w->diff_hex);
	snprintf(name, sizeof name, "%s.tar", w->diff_hex);
	return entry_end(w, name, err);
}

/* ---- images and manifest.json ---- */

static json_t *find_image(json_t *manifest, const char *config, json_t *layers)
{
	size_t i;
	json_t *img;
	json_array_foreach(manifest, i, img)
	{
		if (!strcmp(json_string_value(json_object_get(img, "Config")), config) &&
		    json_equal(json_object_get(img, "Layers"), layers))
			return img;
	}
	return NULL;
}

int ep_darchive_add_image(struct ep_darchive_writer *w, const char *config, size_t config_len,
			  const char *config_hex, const char *const *diff_ids, size_t nlayers, const char *const *tags,
			  size_t ntags, struct ep_error *err)
{
	char name[EP_DIGEST_HEX + 5];
	snprintf(name, sizeof name, "%s.json", config_hex);
	int rc = whole_entry(w, name, config, config_len, err);
	json_t *layers = json_array();
	if (!rc && !layers)
		rc = ep_oom(err);
	for (size_t i = 0; !rc && i < nlayers; i++) {
		char layer[EP_DIGEST_HEX + 4];
		snprintf(layer, sizeof layer, "%s.tar", strncmp(diff_ids[i], "sha256:", 7) ? diff_ids[i] : diff_ids[i] + 7);
		if (!json_object_get(w->entries, layer))
			rc = ep_fail(err, EP_EINPUT, "layer %s was not written", diff_ids[i]);
		else if (json_array_append_new(layers, json_string(layer)))
			rc = ep_oom(err);
	}
	json_t *img = rc ? NULL : find_image(w->manifest, name, layers);
	if (!rc && !img) {
		img = json_pack("{s:s,s:[],s:O}", "Config", name, "RepoTags", "Layers", layers);
		if (!img || json_array_append_new(w->manifest, img)) {
			img = NULL;
			rc = ep_oom(err);
		}
	}
	json_t *repo_tags = json_object_get(img, "RepoTags");
	for (size_t i = 0; !rc && img && i < ntags; i++) {
		bool have = false;
		for (size_t k = 0; !have && k < json_array_size(repo_tags); k++)
			have = !strcmp(json_string_value(json_array_get(repo_tags, k)), tags[i]);
		if (!have && json_array_append_new(repo_tags, json_string(tags[i])))
			rc = ep_oom(err);
	}
	json_decref(layers);
	return rc;
}

int ep_darchive_writer_finish(struct ep_darchive_writer *w, struct ep_error *err)
{
	char *text = json_dumps(w->manifest, JSON_COMPACT);
	int rc = text ? whole_entry(w, "manifest.json", text, strlen(text), err) : ep_oom(err);
	free(text);
	return rc ? rc : put(w, zeros, sizeof zeros, err);
}
