#include "verify/bundle_open.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/remote.h"

/* ---- a bundle at a URL: its tar scanned and its chunks read through ranged reads ---- */

static int url_pread(void *ctx, void *buf, size_t len, uint64_t off, struct ep_error *err)
{
	return ep_remote_pread(ctx, buf, len, off, err);
}

static void url_close(void *ctx)
{
	ep_remote_close(ctx);
}

static const struct ep_byte_source_ops url_bytes = { url_pread, url_close };

int ep_bundle_open_url(struct ep_bundle **out, const char *url, const struct ep_s3_options *remote,
		       const struct ep_seal *seal, struct ep_error *err)
{
	struct ep_remote *r;
	uint64_t size;
	int rc = ep_remote_open(&r, url, remote, &size, err);
	return rc ? rc : ep_bundle_open_bytes(out, url, size, &url_bytes, r, seal, err);
}

/* ---- the table ---- */

/* STORE@SNAPSHOT where no file has that name; s3://BUCKET/PREFIX@SNAPSHOT always (SNAPSHOT:
 * an id, a prefix of one, latest), since a bundle's key ends in .envpack. */
static bool is_snapshot(const char *arg)
{
	char location[PATH_MAX];
	const char *ref;
	struct stat sb;
	if (!ep_store_ref_split(arg, location, sizeof location, &ref))
		return false;
	if (!strncmp(arg, "s3://", 5) && !strpbrk(ref, "/."))
		return true;
	return stat(arg, &sb) != 0 && !ep_remote_is_url(arg);
}

static bool is_any(const char *arg)
{
	(void)arg;
	return true;
}

static int open_snapshot(struct ep_bundle **b, struct ep_store **st, const char *arg,
			 const struct ep_bundle_open_options *o, struct ep_error *err)
{
	char location[PATH_MAX], id[EP_STORE_ID_HEX] = "", where[PATH_MAX + 100];
	const char *ref;
	ep_store_ref_split(arg, location, sizeof location, &ref);
	/* chunks/ not listed: the snapshot's chunks are fetched one by one (formats/STORE.md, section 12) */
	int rc = ep_store_open_with(st, location,
				    &(struct ep_store_open_options){ .s3 = o->remote, .seal = o->seal, .lazy_index = true }, err);
	if (!rc)
		rc = o->resolve(o->resolve_ctx, *st, ref, id, err);
	snprintf(where, sizeof where, "%s@%.8s", location, id);
	if (!rc)
		rc = ep_store_snapshot_open(b, *st, id, where, err);
	return rc;
}

static int open_url(struct ep_bundle **b, struct ep_store **st, const char *arg, const struct ep_bundle_open_options *o,
		    struct ep_error *err)
{
	(void)st;
	return ep_bundle_open_url(b, arg, o->remote, o->seal, err);
}

static int open_file(struct ep_bundle **b, struct ep_store **st, const char *arg, const struct ep_bundle_open_options *o,
		     struct ep_error *err)
{
	(void)st;
	return ep_bundle_open_file(b, arg, o->seal, err);
}

static const struct kind {
	unsigned kind;
	bool (*claims)(const char *arg);
	int (*open)(struct ep_bundle **b, struct ep_store **st, const char *arg, const struct ep_bundle_open_options *o,
		    struct ep_error *err);
} kinds[] = {
	{ EP_OPEN_SNAPSHOT, is_snapshot, open_snapshot },
	{ EP_OPEN_URL, ep_remote_is_url, open_url },
	{ EP_OPEN_FILE, is_any, open_file },
};

int ep_bundle_open_named(struct ep_bundle **b, struct ep_store **st, const char *arg,
			 const struct ep_bundle_open_options *o, struct ep_error *err)
{
	*st = NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		if (!(o->kinds & kinds[i].kind) || !kinds[i].claims(arg))
			continue;
		int rc = kinds[i].open(b, st, arg, o, err);
		if (rc) {
			ep_store_close(*st);
			*st = NULL;
		}
		return rc;
	}
	return ep_fail(err, EP_EINPUT, "'%s' names no bundle", arg);
}
