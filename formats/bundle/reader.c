#include "formats/bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/digestmap.h"
#include "formats/bundle/manifest.h"
#include "formats/bundle/seal.h"

#define SIGNATURE_MAX 4096

struct chunk_loc {
	uint64_t off, size;
};

struct ep_bundle {
	/* where the chunks are: the tar index below (tar_source), or another source (a store's) */
	const struct ep_chunk_source_ops *source;
	void *source_ctx;
	/* a bundle file's bytes (a local file, an object at a URL), else NULL */
	const struct ep_byte_source_ops *bytes;
	void *bytes_ctx;
	const struct ep_seal *seal;        /* an encrypted bundle, opened (borrowed), else NULL */
	char sealed_to[EP_KEY_ID_HEX];     /* an encrypted bundle not opened: its recipient key, else "" */
	char *path;
	uint64_t file_size;
	char *manifest, *signature;
	size_t manifest_len, signature_len;
	struct ep_digestmap *chunks; /* digest -> index into locs */
	struct chunk_loc *locs;
	size_t nlocs, cap_locs;
	uint64_t stored;
	/* scan state for libarchive's callbacks */
	uint64_t pos;
	uint8_t buf[64 << 10];
	struct ep_error io_err;
};

static la_ssize_t read_cb(struct archive *ar, void *ctx, const void **out)
{
	(void)ar;
	struct ep_bundle *b = ctx;
	size_t want = b->file_size - b->pos < sizeof b->buf ? (size_t)(b->file_size - b->pos) : sizeof b->buf;
	if (want && b->bytes->pread(b->bytes_ctx, b->buf, want, b->pos, &b->io_err))
		return -1;
	b->pos += want;
	*out = b->buf;
	return (la_ssize_t)want;
}

/* Skipping entry data costs no reads: scanning a bundle reads only its headers. */
static la_int64_t skip_cb(struct archive *ar, void *ctx, la_int64_t request)
{
	(void)ar;
	struct ep_bundle *b = ctx;
	uint64_t left = b->pos < b->file_size ? b->file_size - b->pos : 0;
	uint64_t n = (uint64_t)request < left ? (uint64_t)request : left;
	b->pos += n;
	return (la_int64_t)n;
}

enum entry_kind { ENTRY_CHUNK, ENTRY_MANIFEST, ENTRY_SIGNATURE };

static int classify(struct ep_bundle *b, const char *name, enum entry_kind *kind, uint8_t digest[EP_DIGEST_LEN],
		    struct ep_error *err)
{
	if (!strcmp(name, EP_BUNDLE_MANIFEST_NAME)) {
		*kind = ENTRY_MANIFEST;
		return 0;
	}
	if (!strcmp(name, EP_BUNDLE_SIGNATURE_NAME)) {
		*kind = ENTRY_SIGNATURE;
		return 0;
	}
	char hex[EP_DIGEST_HEX];
	size_t n = strlen(name);
	if (n == 7 + 64 + 4 && !strncmp(name, "chunks/", 7) && !strcmp(name + 71, ".zst")) {
		memcpy(hex, name + 7, 64);
		hex[64] = '\0';
		if (ep_unhex(hex, digest, EP_DIGEST_LEN)) {
			*kind = ENTRY_CHUNK;
			return 0;
		}
	}
	bool unsafe = name[0] == '/' || strstr(name, "..") != NULL;
	return ep_fail(err, EP_EINTEGRITY, "'%s': %s entry '%s'", b->path,
		       unsafe ? "unsafe path in" : "unexpected", name);
}

/* len bytes at off of the bundle file. */
static int read_at(const struct ep_bundle *b, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	if (off > b->file_size || len > b->file_size - off)
		return ep_fail(err, EP_EINTEGRITY, "'%s' is shorter than its index says", b->path);
	return b->bytes->pread(b->bytes_ctx, buf, len, off, err);
}

static int load_small(struct ep_bundle *b, const char *what, uint64_t off, uint64_t size, size_t max, char **out,
		      size_t *len, struct ep_error *err)
{
	if (*out)
		return ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' appears twice", b->path, what);
	if (size > max)
		return ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' is larger than %zu bytes", b->path, what, max);
	char *buf = malloc(size + 1);
	if (!buf)
		return ep_oom(err);
	int rc = read_at(b, buf, size, off, err);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[size] = '\0';
	*out = buf;
	*len = size;
	return 0;
}

static int add_entry(struct ep_bundle *b, struct archive_entry *e, uint64_t off, struct ep_error *err)
{
	const char *name = archive_entry_pathname(e);
	if (!name)
		return ep_fail(err, EP_EINTEGRITY, "'%s': an entry has no name", b->path);
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) || archive_entry_sparse_count(e) > 0)
		return ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' is not a plain file (links and special files are refused)",
			       b->path, name);
	enum entry_kind kind = ENTRY_CHUNK;
	uint8_t digest[EP_DIGEST_LEN];
	int rc = classify(b, name, &kind, digest, err);
	if (rc)
		return rc;
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
		return ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' has no size", b->path, name);
	uint64_t size = (uint64_t)archive_entry_size(e), end;
	if (ep_add_overflows(off, size, &end) || end > b->file_size)
		return ep_fail(err, EP_EINTEGRITY, "'%s' is truncated: entry '%s' declares %llu bytes past the end",
			       b->path, name, (unsigned long long)(end - b->file_size));
	if (kind == ENTRY_MANIFEST)
		return load_small(b, name, off, size, EP_BUNDLE_MANIFEST_MAX, &b->manifest, &b->manifest_len, err);
	if (kind == ENTRY_SIGNATURE)
		return load_small(b, name, off, size, SIGNATURE_MAX, &b->signature, &b->signature_len, err);
	if (ep_digestmap_get(b->chunks, digest, NULL))
		return ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' appears twice", b->path, name);
	if (!ep_grow((void **)&b->locs, &b->cap_locs, b->nlocs + 1, sizeof *b->locs))
		return ep_oom(err);
	b->locs[b->nlocs] = (struct chunk_loc){ off, size };
	if (!ep_digestmap_put(b->chunks, digest, b->nlocs++))
		return ep_oom(err);
	b->stored += size;
	return 0;
}

/* After the last entry only zeros may follow: the end-of-archive marker and the padding of
 * the last record, which writers keep under 64 KiB (libarchive and tar: 10 KiB). Anything
 * else, such as a second archive a reader other than envpack might see, is refused. One
 * read at most, so a bundle at a URL costs one more ranged request. */
static int check_tail(struct ep_bundle *b, uint64_t end, struct ep_error *err)
{
	uint64_t n = end < b->file_size ? b->file_size - end : 0;
	size_t look = n < sizeof b->buf ? (size_t)n : sizeof b->buf, at = 0;
	int rc = read_at(b, b->buf, look, end, err);
	while (!rc && at < look && !b->buf[at])
		at++;
	if (!rc && at < look)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s': data follows the end-of-archive marker (at offset %llu)", b->path,
			     (unsigned long long)(end + at));
	else if (!rc && n > look)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s': %llu bytes follow the end-of-archive marker, more than its padding",
			     b->path, (unsigned long long)n);
	return rc;
}

static int scan(struct ep_bundle *b, struct ep_error *err)
{
	struct archive *ar = archive_read_new();
	if (!ar)
		return ep_oom(err);
	int rc = 0;
	if (archive_read_support_format_tar(ar) != ARCHIVE_OK ||
	    archive_read_set_callback_data(ar, b) != ARCHIVE_OK ||
	    archive_read_set_read_callback(ar, read_cb) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(ar, skip_cb) != ARCHIVE_OK || archive_read_open1(ar) != ARCHIVE_OK) {
		rc = b->io_err.code ? ep_fail(err, b->io_err.code, "%s", b->io_err.msg)
				    : ep_fail(err, EP_EINTEGRITY, "'%s' is not a bundle (not a tar archive): %s",
					      b->path, archive_error_string(ar));
		archive_read_free(ar);
		return rc;
	}
	uint64_t expect_next = 0; /* where the previous entry's data and padding end */
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			rc = b->io_err.code ? ep_fail(err, b->io_err.code, "%s", b->io_err.msg)
					    : ep_fail(err, EP_EINTEGRITY, "'%s' is damaged or truncated: %s", b->path,
						      archive_error_string(ar));
			break;
		}
		/* The data starts where libarchive stopped consuming the header; it must also
		 * start right after the previous entry, so the bytes we read are this entry's. */
		uint64_t off = (uint64_t)archive_filter_bytes(ar, 0);
		if ((uint64_t)archive_read_header_position(ar) != expect_next || off % 512 != 0) {
			rc = ep_fail(err, EP_EINTEGRITY, "'%s': entry '%s' is not where the archive says", b->path,
				     archive_entry_pathname(e) ? archive_entry_pathname(e) : "?");
			break;
		}
		if ((rc = add_entry(b, e, off, err)))
			break;
		expect_next = off + (((uint64_t)archive_entry_size(e) + 511) & ~(uint64_t)511);
	}
	archive_read_free(ar);
	if (!rc && !b->manifest)
		rc = ep_fail(err, EP_EINTEGRITY, "'%s' has no %s (truncated, or not an envpack bundle)", b->path,
			     EP_BUNDLE_MANIFEST_NAME);
	if (!rc)
		rc = check_tail(b, expect_next, err);
	return rc;
}

/* An encrypted bundle: its manifest and signature opened with seal's private key, or
 * left sealed (push and pull carry it as it is; reading it says which key it needs). */
static int open_sealed(struct ep_bundle *b, const struct ep_seal *seal, struct ep_error *err)
{
	if (!ep_sealed(b->manifest, b->manifest_len, b->sealed_to))
		return 0;
	if (!seal || !ep_seal_can_open(seal))
		return 0;
	if (strcmp(b->sealed_to, ep_seal_key_id(seal)))
		return ep_fail(err, EP_EINPUT, "'%s' is encrypted to key %s, not to key %s (--decrypt-key)", b->path,
			       b->sealed_to, ep_seal_key_id(seal));
	b->seal = seal;
	b->sealed_to[0] = '\0';
	char *where; /* for messages */
	if (asprintf(&where, "'%s'", b->path) < 0)
		return ep_oom(err);
	int rc = ep_seal_open_named(seal, EP_BUNDLE_MANIFEST_NAME, b->manifest, &b->manifest_len, where, err);
	if (!rc && b->signature)
		rc = ep_seal_open_named(seal, EP_BUNDLE_SIGNATURE_NAME, b->signature, &b->signature_len, where, err);
	free(where);
	return rc;
}

static const struct ep_chunk_source_ops tar_source;

static struct ep_bundle *bundle_new(const char *path)
{
	struct ep_bundle *b = calloc(1, sizeof *b);
	if (b && !(b->path = strdup(path))) {
		free(b);
		return NULL;
	}
	return b;
}

int ep_bundle_open_bytes(struct ep_bundle **out, const char *path, uint64_t size, const struct ep_byte_source_ops *ops,
			 void *ctx, const struct ep_seal *seal, struct ep_error *err)
{
	struct ep_bundle *b = bundle_new(path);
	if (!b || !(b->chunks = ep_digestmap_new())) {
		ep_bundle_close(b);
		ops->close(ctx);
		return ep_oom(err);
	}
	b->bytes = ops;
	b->bytes_ctx = ctx;
	b->source = &tar_source;
	b->source_ctx = b;
	b->file_size = size;
	int rc = scan(b, err);
	if (!rc)
		rc = open_sealed(b, seal, err);
	if (rc) {
		ep_bundle_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

int ep_bundle_open_source(struct ep_bundle **out, const char *path, const struct ep_chunk_source_ops *ops, void *ctx,
			  const struct ep_seal *seal, char *manifest, size_t manifest_len, char *signature,
			  size_t signature_len, struct ep_error *err)
{
	struct ep_bundle *b = bundle_new(path);
	if (!b) {
		if (ops->close)
			ops->close(ctx);
		free(manifest);
		free(signature);
		return ep_oom(err);
	}
	b->source = ops;
	b->source_ctx = ctx;
	b->seal = seal;
	b->manifest = manifest, b->manifest_len = manifest_len;
	b->signature = signature, b->signature_len = signature_len;
	*out = b;
	return 0;
}

/* ---- a bundle file on this machine ---- */

struct local_file {
	int fd;
	char *path;
};

static int local_pread(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	struct local_file *f = ctx;
	return ep_pread_full(f->fd, buf, len, off, f->path, err);
}

static void local_close(void *ctx)
{
	struct local_file *f = ctx;
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

static const struct ep_byte_source_ops local_bytes = { local_pread, local_close };

int ep_bundle_open_file(struct ep_bundle **out, const char *path, const struct ep_seal *seal, struct ep_error *err)
{
	struct local_file *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return ep_oom(err);
	}
	struct stat st;
	int rc = 0;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		rc = ep_fail_errno(err, errno == ENOENT ? EP_EINPUT : EP_ERUNTIME, "cannot open '%s'", path);
	else if (fstat(f->fd, &st) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot stat '%s'", path);
	else if (!S_ISREG(st.st_mode))
		rc = ep_fail(err, EP_EINPUT, "'%s' is not a regular file", path);
	if (rc) {
		local_close(f);
		return rc;
	}
	return ep_bundle_open_bytes(out, path, (uint64_t)st.st_size, &local_bytes, f, seal, err);
}

int ep_bundle_open(struct ep_bundle **out, const char *path, struct ep_error *err)
{
	return ep_bundle_open_file(out, path, NULL, err);
}

void ep_bundle_close(struct ep_bundle *b)
{
	if (!b)
		return;
	if (b->source && b->source != &tar_source && b->source->close)
		b->source->close(b->source_ctx);
	if (b->bytes)
		b->bytes->close(b->bytes_ctx);
	ep_digestmap_free(b->chunks);
	free(b->locs);
	free(b->manifest);
	free(b->signature);
	free(b->path);
	free(b);
}

const char *ep_bundle_path(const struct ep_bundle *b)
{
	return b->path;
}

const char *ep_bundle_encrypted_to(const struct ep_bundle *b)
{
	return *b->sealed_to ? b->sealed_to : NULL;
}

const struct ep_seal *ep_bundle_seal(const struct ep_bundle *b)
{
	return b->seal;
}

const char *ep_bundle_manifest(const struct ep_bundle *b, size_t *len)
{
	*len = b->manifest_len;
	return b->manifest;
}

const char *ep_bundle_signature(const struct ep_bundle *b, size_t *len)
{
	*len = b->signature_len;
	return b->signature;
}

/* ---- the chunks of a bundle file: its tar index ---- */

/* Where a chunk lies in a bundle file: by its object id. */
static bool find(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], uint64_t *i)
{
	uint8_t oid[EP_DIGEST_LEN];
	if (b->seal)
		ep_seal_object_id(b->seal, digest, oid);
	return ep_digestmap_get(b->chunks, b->seal ? oid : digest, i);
}

static bool tar_has(void *ctx, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size)
{
	const struct ep_bundle *b = ctx;
	uint64_t i;
	if (!find(b, digest, &i))
		return false;
	*size = b->locs[i].size;
	return true;
}

static int tar_read(void *ctx, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size, struct ep_error *err)
{
	const struct ep_bundle *b = ctx;
	uint64_t i;
	char hex[EP_DIGEST_HEX];
	if (!find(b, digest, &i) || b->locs[i].size != size) {
		ep_hex(digest, EP_DIGEST_LEN, hex);
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s is missing", b->path, hex);
	}
	return read_at(b, buf, size, b->locs[i].off, err);
}

static const struct ep_chunk_source_ops tar_source = { tar_has, tar_read, NULL, NULL, NULL };

bool ep_bundle_chunk_size(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], uint64_t *size)
{
	return b->source->has(b->source_ctx, digest, size);
}

int ep_bundle_chunk_sizes(const struct ep_bundle *b, const uint8_t (*digests)[EP_DIGEST_LEN], size_t n, uint64_t *sizes,
			  struct ep_error *err)
{
	if (b->source->has_many)
		return b->source->has_many(b->source_ctx, digests, n, sizes, err);
	for (size_t i = 0; i < n; i++)
		if (!b->source->has(b->source_ctx, digests[i], &sizes[i]))
			sizes[i] = 0;
	return 0;
}

int ep_bundle_read_chunk(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t size,
			 struct ep_error *err)
{
	return b->source->read(b->source_ctx, digest, buf, size, err);
}

static int missing(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], struct ep_error *err)
{
	char hex[EP_DIGEST_HEX];
	ep_hex(digest, EP_DIGEST_LEN, hex);
	return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s is missing", b->path, hex);
}

int ep_bundle_get_chunk(const struct ep_bundle *b, const uint8_t digest[EP_DIGEST_LEN], void *buf, size_t cap,
			size_t *size, struct ep_error *err)
{
	uint64_t stored = 0;
	*size = 0;
	if (b->source->fetch) {
		int rc = b->source->fetch(b->source_ctx, digest, buf, cap, size, err);
		return rc == 1 ? missing(b, digest, err) : rc;
	}
	if (!b->source->has(b->source_ctx, digest, &stored))
		return missing(b, digest, err);
	if (stored == 0 || stored > cap) {
		char hex[EP_DIGEST_HEX];
		ep_hex(digest, EP_DIGEST_LEN, hex);
		return ep_fail(err, EP_EINTEGRITY, "'%s': chunk %s has an impossible size (%llu bytes)", b->path, hex,
			       (unsigned long long)stored);
	}
	*size = (size_t)stored;
	return b->source->read(b->source_ctx, digest, buf, *size, err);
}

bool ep_bundle_asks_per_chunk(const struct ep_bundle *b)
{
	return b->source->fetch != NULL;
}

uint64_t ep_bundle_stored_bytes(const struct ep_bundle *b)
{
	return b->stored;
}

uint64_t ep_bundle_file_size(const struct ep_bundle *b)
{
	return b->file_size;
}
