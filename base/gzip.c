#include "base/gzip.h"

#include <stdbool.h>
#include <stdlib.h>

#include <zlib.h>

#include "base/util.h"

#define GZ_OUT ((size_t)256 << 10)

struct ep_gzip {
	int fd;
	const char *path;
	uint64_t at; /* bytes written to the file */
	z_stream z;
	bool zinit;
	uint8_t out[GZ_OUT];
	uint32_t crc;
	uint64_t isize;
	uint8_t *unit; /* EP_GZIP_ZERO_RUN zeros deflated from a fresh state, ended by a full flush */
	size_t unit_len;
	uint32_t unit_crc;
	bool flushed; /* the deflate stream has just been fully flushed: a unit may follow */
};

static int put(struct ep_gzip *g, const void *data, size_t len, struct ep_error *err)
{
	int rc = ep_pwrite_full(g->fd, data, len, g->at, g->path, err);
	g->at += len;
	return rc;
}

static int deflate_out(struct ep_gzip *g, const uint8_t *data, size_t len, int flush, struct ep_error *err)
{
	g->z.next_in = (Bytef *)data;
	g->z.avail_in = (uInt)len;
	do {
		g->z.next_out = g->out;
		g->z.avail_out = sizeof g->out;
		if (deflate(&g->z, flush) == Z_STREAM_ERROR)
			return ep_fail(err, EP_ERUNTIME, "'%s': deflate failed", g->path);
		if (put(g, g->out, sizeof g->out - g->z.avail_out, err))
			return err->code;
	} while (g->z.avail_out == 0 || g->z.avail_in);
	return 0;
}

/* The unit: a run of zeros deflated once, so every later run is a copy. */
static int make_unit(struct ep_gzip *g, struct ep_error *err)
{
	uint8_t *zeros = calloc(1, EP_GZIP_ZERO_RUN);
	z_stream u = { 0 };
	if (!zeros || deflateInit2(&u, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(zeros);
		return ep_oom(err);
	}
	size_t cap = deflateBound(&u, EP_GZIP_ZERO_RUN) + 64;
	int rc = (g->unit = malloc(cap)) ? 0 : ep_oom(err);
	if (!rc) {
		u.next_in = zeros;
		u.avail_in = (uInt)EP_GZIP_ZERO_RUN;
		u.next_out = g->unit;
		u.avail_out = (uInt)cap;
		int zr = deflate(&u, Z_FULL_FLUSH);
		g->unit_len = cap - u.avail_out;
		if (zr != Z_OK || u.avail_in || u.avail_out == 0)
			rc = ep_fail(err, EP_ERUNTIME, "'%s': cannot deflate a run of zeros", g->path);
		g->unit_crc = (uint32_t)crc32(crc32(0, NULL, 0), zeros, (uInt)EP_GZIP_ZERO_RUN);
	}
	deflateEnd(&u);
	free(zeros);
	return rc;
}

int ep_gzip_open(struct ep_gzip **out, int fd, const char *path, struct ep_error *err)
{
	struct ep_gzip *g = calloc(1, sizeof *g);
	if (!g)
		return ep_oom(err);
	g->fd = fd;
	g->path = path;
	g->crc = (uint32_t)crc32(0, NULL, 0);
	g->flushed = true; /* a fresh stream refers back to nothing either */
	int rc = make_unit(g, err);
	if (!rc && deflateInit2(&g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		rc = ep_oom(err);
	g->zinit = !rc;
	/* gzip's header: deflate, no name, no time, Unix */
	static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	if (!rc)
		rc = put(g, head, sizeof head, err);
	if (rc) {
		ep_gzip_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

static int write_some(struct ep_gzip *g, const uint8_t *data, size_t len, struct ep_error *err)
{
	g->isize += len;
	if (len >= EP_GZIP_ZERO_RUN && ep_is_zero(data, len)) {
		/* after a full flush nothing refers back, so the unit decodes the same anywhere */
		if (!g->flushed && deflate_out(g, NULL, 0, Z_FULL_FLUSH, err))
			return err->code;
		g->flushed = true;
		for (size_t n = len / EP_GZIP_ZERO_RUN; n--;) {
			if (put(g, g->unit, g->unit_len, err))
				return err->code;
			g->crc = (uint32_t)crc32_combine(g->crc, g->unit_crc, (z_off_t)EP_GZIP_ZERO_RUN);
		}
		data += len / EP_GZIP_ZERO_RUN * EP_GZIP_ZERO_RUN;
		len %= EP_GZIP_ZERO_RUN;
		if (!len)
			return 0;
	}
	g->flushed = false;
	g->crc = (uint32_t)crc32(g->crc, data, (uInt)len);
	return deflate_out(g, data, len, Z_NO_FLUSH, err);
}

int ep_gzip_write(struct ep_gzip *g, const void *data, size_t len, struct ep_error *err)
{
	for (size_t off = 0; off < len;) { /* zlib counts in uInt */
		size_t n = len - off < ((size_t)1 << 30) ? len - off : (size_t)1 << 30;
		if (write_some(g, (const uint8_t *)data + off, n, err))
			return err->code;
		off += n;
	}
	return 0;
}

int ep_gzip_finish(struct ep_gzip *g, struct ep_error *err)
{
	if (deflate_out(g, NULL, 0, Z_FINISH, err))
		return err->code;
	uint8_t tail[8];
	for (int i = 0; i < 4; i++) {
		tail[i] = (uint8_t)(g->crc >> (8 * i));
		tail[4 + i] = (uint8_t)(g->isize >> (8 * i)); /* ISIZE: the length modulo 2^32 */
	}
	return put(g, tail, sizeof tail, err);
}

void ep_gzip_free(struct ep_gzip *g)
{
	if (!g)
		return;
	if (g->zinit)
		deflateEnd(&g->z);
	free(g->unit);
	free(g);
}
