/*
 * nbdkit-envpack-plugin.so: nbdkit serves a bundle's or store snapshot's disks, read-only,
 * one export per disk component (serve/export.c reads them, checking every chunk), so that
 * qemu, qemu-img and nbdcopy read a backup where it lies. Started by `envpack serve`
 * (serve/server.c), or by hand:
 *   nbdkit --unix SOCK nbdkit-envpack-plugin.so bundle=STORE@ID [pubkey=K.pub] [insecure=1]
 *          [decrypt-key=R.key] [endpoint=URL] [region=R] [cacert=PEM] [cache=256M] [only=DISK]
 * A chunk that fails its check fails the read with EIO and a logged line naming it.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

/* nbdkit before 1.33.10 (1.34 stable) aborts ("connections.c: raw_send_socket: Assertion
 * `sock >= 0' failed") when a client hangs up while two or more worker threads of its
 * connection still hold replies: the first to send gets EPIPE and closes the socket, the
 * next asserts. Clients do hang up so after a read fails with EIO (a damaged chunk), and
 * the abort ends the server for every client. Upstream fixed it in commit 9d82aa4f
 * ("server: Don't assert on send if client hangs up early", RHBZ#2173054). Before that,
 * each connection serves one request at a time (nbdkit then runs no worker threads for
 * it); connections still run side by side (nbdcopy opens several: multi-conn), and the
 * export's read-ahead thread decodes ahead of a sequential reader. */
#if NBDKIT_VERSION_MAJOR == 1 && (NBDKIT_VERSION_MINOR < 33 || (NBDKIT_VERSION_MINOR == 33 && NBDKIT_VERSION_MICRO < 10))
#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS
#else
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/s3.h"
#include "formats/bundle/seal.h"
#include "formats/store/catalog.h"
#include "serve/export.h"
#include "verify/bundle_open.h"
#include "verify/check.h"

static struct {
	const char *bundle, *pubkey, *decrypt_key, *only;
	bool insecure;
	struct ep_s3_options s3;
	int64_t cache;
	struct ep_seal *seal;
	struct ep_store *st;
	struct ep_bundle *b;
	struct ep_manifest *m;
	struct ep_export **exports; /* one per component, NULL for those not served */
} plug = { .cache = 256 << 20 };

static int config(const char *key, const char *value)
{
	if (!strcmp(key, "bundle"))
		plug.bundle = value;
	else if (!strcmp(key, "pubkey"))
		plug.pubkey = value;
	else if (!strcmp(key, "insecure"))
		plug.insecure = nbdkit_parse_bool(value) == 1;
	else if (!strcmp(key, "decrypt-key"))
		plug.decrypt_key = value;
	else if (!strcmp(key, "only"))
		plug.only = value;
	else if (!strcmp(key, "endpoint"))
		plug.s3.endpoint = value;
	else if (!strcmp(key, "region"))
		plug.s3.region = value;
	else if (!strcmp(key, "cacert"))
		plug.s3.http.cacert = value;
	else if (!strcmp(key, "cache")) {
		if ((plug.cache = nbdkit_parse_size(value)) < (1 << 20)) {
			nbdkit_error("cache=%s: at least 1M", value);
			return -1;
		}
	} else {
		nbdkit_error("unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

static int config_complete(void)
{
	if (!plug.bundle) {
		nbdkit_error("bundle= names what to serve: a bundle file, a URL or STORE@SNAPSHOT");
		return -1;
	}
	return 0;
}

/* STORE@SNAPSHOT: a full id as it is, else whatever the catalog finds for it (latest, a prefix). */
static int resolve(void *ctx, struct ep_store *st, const char *snapshot, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	(void)ctx;
	if (strlen(snapshot) == EP_STORE_ID_HEX - 1 && strspn(snapshot, "0123456789abcdef") == EP_STORE_ID_HEX - 1) {
		memcpy(id, snapshot, EP_STORE_ID_HEX);
		return 0;
	}
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	const struct ep_catalog_entry *e = rc ? NULL : ep_catalog_find(&cat, snapshot, ep_store_where(st), err);
	if (e)
		memcpy(id, e->id, EP_STORE_ID_HEX);
	else if (!rc)
		rc = err->code;
	ep_catalog_release(&cat);
	return rc;
}

static int fail(const struct ep_error *err)
{
	nbdkit_error("%s", err->msg);
	return -1;
}

/* Opened and verified before nbdkit serves anything, so that a bad bundle stops it at once. */
static int get_ready(void)
{
	struct ep_error err = { 0 };
	char signer[EP_KEY_ID_HEX];
	const struct ep_trust trust = { .pubkey = plug.pubkey, .insecure = plug.insecure };
	struct ep_bundle_open_options o = { .kinds = EP_OPEN_ANY, .remote = &plug.s3, .resolve = resolve };
	if (plug.decrypt_key && ep_seal_new(&plug.seal, NULL, plug.decrypt_key, &err))
		return fail(&err);
	o.seal = plug.seal;
	if (ep_bundle_open_named(&plug.b, &plug.st, plug.bundle, &o, &err) ||
	    ep_bundle_load(plug.b, &trust, &plug.m, signer, &err))
		return fail(&err);
	bool any = false;
	for (size_t i = 0; i < plug.m->ncomponents; i++)
		any |= plug.m->components[i].type == EP_COMP_DISK &&
		       (!plug.only || !strcmp(plug.only, plug.m->components[i].name));
	if (!any) {
		nbdkit_error("'%s' holds no disk%s%s", plug.bundle, plug.only ? " named " : "", plug.only ? plug.only : "");
		return -1;
	}
	return 0;
}

/* The exports' read-ahead threads start in the process that serves. */
static int after_fork(void)
{
	struct ep_error err = { 0 };
	if (!(plug.exports = calloc(plug.m->ncomponents, sizeof *plug.exports)))
		return fail(&(struct ep_error){ .msg = "out of memory" });
	for (size_t i = 0; i < plug.m->ncomponents; i++) {
		const struct ep_component *c = &plug.m->components[i];
		if (c->type == EP_COMP_DISK && (!plug.only || !strcmp(plug.only, c->name)) &&
		    ep_export_open(&plug.exports[i], plug.b, c, (size_t)plug.cache, &err))
			return fail(&err);
	}
	return 0;
}

/* The last line of the log says what was read, for drills (drill/drill.c reads it). */
static void cleanup(void)
{
	uint64_t chunks = 0, bytes = 0;
	for (size_t i = 0; plug.exports && i < plug.m->ncomponents; i++) {
		uint64_t b = 0;
		chunks += plug.exports[i] ? ep_export_fetched(plug.exports[i], &b) : 0;
		bytes += b;
		ep_export_close(plug.exports[i]);
	}
	if (plug.exports)
		fprintf(stderr, "envpack: fetched %llu chunks, %llu stored bytes\n", (unsigned long long)chunks,
			(unsigned long long)bytes);
	free(plug.exports);
	ep_manifest_free(plug.m);
	if (plug.b)
		ep_bundle_close(plug.b);
	if (plug.st)
		ep_store_close(plug.st);
	ep_seal_free(plug.seal);
}

static int list_exports(int readonly, int is_tls, struct nbdkit_exports *exports)
{
	(void)readonly, (void)is_tls;
	for (size_t i = 0; i < plug.m->ncomponents; i++)
		if (plug.exports[i] && nbdkit_add_export(exports, plug.m->components[i].name, NULL) == -1)
			return -1;
	return 0;
}

static const char *default_export(int readonly, int is_tls)
{
	(void)readonly, (void)is_tls;
	for (size_t i = 0; i < plug.m->ncomponents; i++)
		if (plug.exports[i])
			return plug.m->components[i].name;
	return NULL;
}

static void *open_export(int readonly)
{
	(void)readonly;
	const char *name = nbdkit_export_name();
	for (size_t i = 0; name && i < plug.m->ncomponents; i++)
		if (plug.exports[i] && (!*name || !strcmp(name, plug.m->components[i].name)))
			return plug.exports[i];
	nbdkit_error("no disk named '%s' here", name ? name : "");
	return NULL;
}

static int64_t get_size(void *handle)
{
	return (int64_t)ep_export_size(handle);
}

static int pread_export(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	(void)flags;
	struct ep_error err = { 0 };
	if (!ep_export_read(handle, buf, count, offset, &err))
		return 0;
	nbdkit_error("%s", err.msg);
	nbdkit_set_error(EIO);
	return -1;
}

static int can_extents(void *handle)
{
	(void)handle;
	return 1;
}

static int can_multi_conn(void *handle)
{
	(void)handle;
	return 1; /* read-only: every connection sees the same bytes */
}

static int extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags, struct nbdkit_extents *out)
{
	uint64_t end = offset + count, size = ep_export_size(handle);
	do {
		bool data;
		uint64_t len;
		ep_export_run(handle, offset, size - offset, &data, &len);
		if (nbdkit_add_extent(out, offset, len, data ? 0 : NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
			return -1;
		offset += len;
	} while (!(flags & NBDKIT_FLAG_REQ_ONE) && offset < end && offset < size);
	return 0;
}

static struct nbdkit_plugin plugin = {
	.name = "envpack",
	.longname = "envpack: a bundle's or store snapshot's disks, read-only",
	.version = EP_VERSION,
	.description = "Serves each disk of an envpack bundle or store snapshot, every chunk checked.",
	.config = config,
	.config_complete = config_complete,
	.config_help = "bundle=<FILE|URL|STORE@SNAPSHOT> (required)  pubkey=<KEY.pub>  insecure=1  decrypt-key=<KEY>\n"
		       "endpoint=<URL>  region=<R>  cacert=<PEM>  cache=<SIZE> (default 256M)  only=<DISK>",
	.magic_config_key = "bundle",
	.get_ready = get_ready,
	.after_fork = after_fork,
	.cleanup = cleanup,
	.list_exports = list_exports,
	.default_export = default_export,
	.open = open_export,
	.get_size = get_size,
	.pread = pread_export,
	.can_extents = can_extents,
	.extents = extents,
	.can_multi_conn = can_multi_conn,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
