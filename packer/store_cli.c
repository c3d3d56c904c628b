#include "store_cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/store/remote.h"

int cli_store_option(const char *cmd, int c, const char *arg, struct cli_store_args *a)
{
	long v;
	switch (c) {
	case 0x1200:
		if (!cli_number(arg, 0, 86400, &v))
			return cli_usage(cmd, "--lock-wait takes seconds, 0 to 86400"), -1;
		a->lock_wait = (unsigned)v;
		return 1;
	case 0x1201: return cli_log_option(cmd, arg) ? -1 : 1;
	case 'J': a->json = true; return 1;
	case 'q': a->quiet = true; return 1;
	case 'h': return 2;
	}
	return cli_remote_option(cmd, c, arg, &a->net, &a->s3);
}

int cli_store_open(const char *location, bool init, const struct ep_s3_options *s3, struct ep_store **st)
{
	struct ep_error err = { 0 };
	struct ep_store_open_options o = { .init = init, .s3 = s3 };
	return ep_store_open_with(st, location, &o, &err) ? cli_fail(&err) : 0;
}

/* The snapshot ref names in st, into id. */
static int resolve(struct ep_store *st, const char *ref, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	const struct ep_catalog_entry *e = ep_catalog_find(&cat, ref, ep_store_where(st), err);
	if (e)
		memcpy(id, e->id, EP_STORE_ID_HEX);
	else
		rc = err->code;
	ep_catalog_release(&cat);
	return rc;
}

int cli_bundle_open(const char *arg, const struct ep_s3_options *remote, struct ep_bundle **b, struct ep_store **st,
		    struct ep_error *err)
{
	char location[4096], id[EP_STORE_ID_HEX], where[4200];
	const char *ref;
	struct stat sb;
	*st = NULL;
	/* a file by that name wins: STORE@SNAPSHOT is only tried where there is none */
	bool split = ep_store_ref_split(arg, location, sizeof location, &ref);
	/* s3://BUCKET/PREFIX@SNAPSHOT is a store's snapshot (SNAPSHOT: an id, a prefix of one, latest);
	 * a bundle's key ends in .envpack */
	bool s3_store = split && !strncmp(arg, "s3://", 5) && !strpbrk(ref, "/.");
	if (!s3_store && (stat(arg, &sb) == 0 || ep_remote_is_url(arg) || !split))
		return ep_bundle_open_remote(b, arg, remote, err);
	int rc = ep_store_open_with(st, location, &(struct ep_store_open_options){ .s3 = remote }, err);
	if (!rc)
		rc = resolve(*st, ref, id, err);
	snprintf(where, sizeof where, "%s@%.8s", location, id);
	if (!rc)
		rc = ep_bundle_open_snapshot(b, *st, id, where, err);
	if (rc) {
		ep_store_close(*st);
		*st = NULL;
	}
	return rc;
}

int cli_snapshot_open(const char *ref, const struct ep_s3_options *s3, struct ep_store **st, char id[EP_STORE_ID_HEX])
{
	char location[4096];
	const char *snap;
	struct ep_error err = { 0 };
	if (!ep_store_ref_split(ref, location, sizeof location, &snap)) {
		ep_fail(&err, EP_EINPUT, "'%s' names no snapshot: write STORE@ID or STORE@latest", ref);
		return cli_fail(&err);
	}
	int rc = ep_store_open_with(st, location, &(struct ep_store_open_options){ .s3 = s3 }, &err);
	if (!rc && (rc = resolve(*st, snap, id, &err))) {
		ep_store_close(*st);
		*st = NULL;
	}
	return rc ? cli_fail(&err) : 0;
}
