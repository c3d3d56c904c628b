#include "cli/store_cli.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/util.h"
#include "serve/server.h"
#include "verify/bundle_open.h"
#include "verify/check.h"

int cli_store_option(const char *cmd, int c, const char *arg, struct cli_store_args *a, const char *help)
{
	long v;
	switch (c) {
	case 0x1200:
		if (!cli_number(arg, 0, 86400, &v))
			return a->exit = cli_usage(cmd, "--lock-wait takes seconds, 0 to 86400"), -1;
		a->lock_wait = (unsigned)v;
		return 1;
	case 0x1201: return (a->exit = cli_log_option(cmd, arg)) ? -1 : 1;
	case 'J': a->json = true; return 1;
	case 'q': a->quiet = true; cli_store_quiet(); return 1;
	case 'h': return a->exit = cli_help(help), -1;
	}
	int r = cli_remote_option(cmd, c, arg, &a->net, &a->s3);
	if (r < 0)
		a->exit = 2; /* reported */
	return r;
}

bool cli_store_chatty(const struct cli_store_args *a)
{
	return !a->quiet && !a->json && isatty(STDOUT_FILENO);
}

static int open_with(const char *location, struct ep_store_open_options *o, struct ep_store **st)
{
	struct ep_error err = { 0 };
	return cli_seal(&o->seal, &err) || ep_store_open_with(st, location, o, &err) ? cli_fail(&err) : 0;
}

int cli_store_open(const char *location, bool init, const struct ep_s3_options *s3, struct ep_store **st)
{
	return open_with(location, &(struct ep_store_open_options){ .init = init, .s3 = s3, .lazy_index = true }, st);
}

int cli_store_open_backup(const char *location, bool init, const struct ep_s3_options *s3,
			  const struct ep_store_object_lock *object_lock, struct ep_store **st)
{
	return open_with(location,
			 &(struct ep_store_open_options){ .init = init, .s3 = s3, .object_lock = object_lock, .lazy_index = true },
			 st);
}

int cli_store_open_streamed(const char *location, const struct ep_s3_options *s3, struct ep_store **st)
{
	return open_with(location, &(struct ep_store_open_options){ .s3 = s3, .stream_chunks = true }, st);
}

bool cli_as_of(const char *cmd, const char *arg, int64_t *t)
{
	long long n = -1;
	int used = 0;
	if (arg[0] == '@' && sscanf(arg + 1, "%lld%n", &n, &used) == 1 && !arg[1 + used] && isdigit((unsigned char)arg[1]))
		*t = (int64_t)n;
	else
		*t = ep_utc_time(arg);
	if (*t <= 0)
		cli_usage(cmd, "--as-of '%s' is not a time: write 2026-12-07T10:00:00Z (UTC) or @SECONDS", arg);
	else if (*t > (int64_t)time(NULL))
		cli_usage(cmd, "--as-of '%s' is in the future", arg);
	return *t > 0 && *t <= (int64_t)time(NULL);
}

int cli_store_open_as_of(const char *location, const struct ep_s3_options *s3, int64_t as_of, struct ep_store **st)
{
	return open_with(location, &(struct ep_store_open_options){ .s3 = s3, .as_of = as_of, .lazy_index = true }, st);
}

json_t *cli_store_requests_json(const struct ep_store *st)
{
	struct ep_store_requests r;
	if (!ep_store_counts_requests(st))
		return NULL;
	ep_store_requests(st, &r);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "put", (json_int_t)r.put, "get", (json_int_t)r.get, "head",
			 (json_int_t)r.head, "list", (json_int_t)r.list, "retention", (json_int_t)r.retention, "delete",
			 (json_int_t)r.delete_, "other", (json_int_t)r.other);
}

static bool allow_older, quiet_latest;

void cli_store_quiet(void)
{
	quiet_latest = true;
}

void cli_store_warn_bad(const struct ep_catalog *cat, const struct ep_store *st, bool be_quiet)
{
	for (size_t i = 0; i < cat->nbad; i++) {
		char msg[1500];
		ep_catalog_bad_message(&cat->bad[i], ep_store_where(st), msg, sizeof msg);
		cli_warn(&be_quiet, msg);
	}
}

void cli_allow_older(void)
{
	allow_older = true;
}

static bool state_path(const struct ep_store *st, const char *suffix, char *path, size_t cap, bool make_dirs)
{
	const char *dir = getenv("ENVPACK_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char base[PATH_MAX], part[PATH_MAX];
	struct ep_error err = { 0 };
	int rc;
	if (dir && *dir)
		rc = ep_path_format(base, sizeof base, &err, "%s", dir);
	else if (xdg && *xdg)
		rc = ep_path_format(base, sizeof base, &err, "%s/envpack", xdg);
	else if (home && *home)
		rc = ep_path_format(base, sizeof base, &err, "%s/.local/state/envpack", home);
	else
		return false;
	if (!rc)
		rc = ep_path_format(part, sizeof part, &err, "%s/stores", base);
	if (!rc)
		rc = ep_path_format(path, cap, &err, "%s/stores/%s%s", base, ep_store_id(st), suffix);
	if (rc) { /* no state kept, said once for each use rather than a truncated path used */
		ep_error_prefix(&err, "the state directory: ");
		cli_warn(NULL, err.msg);
		return false;
	}
	if (make_dirs) { /* each level, as mkdir -p */
		for (char *p = part + 1; *p; p++)
			if (*p == '/') {
				*p = '\0';
				mkdir(part, 0700);
				*p = '/';
			}
		mkdir(part, 0700);
	}
	return true;
}

static bool seen_path(const struct ep_store *st, char *path, size_t cap, bool make_dirs)
{
	return state_path(st, ".json", path, cap, make_dirs);
}

const char *cli_files_cache(const struct ep_store *st, char *buf, size_t cap)
{
	return state_path(st, ".files.json", buf, cap, true) ? buf : NULL;
}

const char *cli_chunk_cache(const struct ep_store *st, char *buf, size_t cap)
{
	return state_path(st, ".chunks", buf, cap, true) ? buf : NULL;
}

uint64_t cli_seen_sequence(const struct ep_store *st)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	struct ep_error ignored = { 0 };
	if (!seen_path(st, path, sizeof path, false) || ep_read_file(path, 4096, &text, &len, &ignored))
		return 0;
	json_t *o = json_loadb(text, len, 0, NULL);
	free(text);
	json_int_t seq = json_integer_value(json_object_get(o, "sequence"));
	json_decref(o);
	return seq > 0 ? (uint64_t)seq : 0;
}

void cli_seen_record(const struct ep_store *st, uint64_t sequence)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32]; /* PATH.tmp-PID */
	if (sequence <= cli_seen_sequence(st) || !seen_path(st, path, sizeof path, true))
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	bool ok = f && fprintf(f, "{\"store\":\"%s\",\"sequence\":%llu}\n", ep_store_id(st), (unsigned long long)sequence) > 0;
	ok = f && !fclose(f) && ok && rename(tmp, path) == 0;
	if (!ok) {
		unlink(tmp);
		cli_warn(NULL, "cannot remember the store's newest snapshot (rollback protection) in the state directory");
	}
}

void cli_seen_verified(const struct ep_store *st, const struct ep_manifest *m, const char *signer)
{
	if (st && m && m->snapshot && signer && *signer)
		cli_seen_record(st, m->snapshot->sequence);
}

json_t *cli_bad_snapshot_json(const struct ep_catalog_bad *b, const struct ep_store *st)
{
	char file[PATH_MAX + 100];
	snprintf(file, sizeof file, "%s/snapshots/%s.json", ep_store_where(st), b->id);
	return json_pack("{s:s,s:b,s:s,s:s}", "id", b->id, "bad", 1, "file", file, "problem", b->why.msg);
}

/* The snapshot ref names in st, into id; `latest` no older than what this host has seen. */
static int resolve(struct ep_store *st, const char *ref, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	struct ep_catalog cat;
	int rc = ep_catalog_load(st, &cat, err);
	if (rc)
		return rc;
	if (!strcmp(ref, "latest")) /* the newest of the others is latest: say what was passed over */
		cli_store_warn_bad(&cat, st, quiet_latest);
	const struct ep_catalog_entry *e = ep_catalog_find(&cat, ref, ep_store_where(st), err);
	uint64_t seen = e && !strcmp(ref, "latest") && !allow_older ? cli_seen_sequence(st) : 0;
	if (!e)
		rc = err->code;
	else if (e->sequence < seen)
		rc = ep_fail(err, EP_EINTEGRITY,
			     "store '%s' serves snapshot %.8s (sequence %llu) as latest, but this host has seen sequence %llu: "
			     "snapshots were removed or the store rolled back; --allow-older accepts it",
			     ep_store_where(st), e->id, (unsigned long long)e->sequence, (unsigned long long)seen);
	else
		memcpy(id, e->id, EP_STORE_ID_HEX);
	ep_catalog_release(&cat);
	return rc;
}

static char resolved[EP_STORE_ID_HEX]; /* what the last STORE@SNAPSHOT opened named */

static int resolve_cb(void *ctx, struct ep_store *st, const char *ref, char id[EP_STORE_ID_HEX], struct ep_error *err)
{
	(void)ctx;
	int rc = resolve(st, ref, id, err);
	if (!rc)
		memcpy(resolved, id, EP_STORE_ID_HEX);
	return rc;
}

const char *cli_resolved_snapshot(void)
{
	return resolved;
}

void cli_serve_options(const char *arg, const struct ep_store *st, const struct ep_trust *trust,
		       const struct ep_s3_options *s3, char *name, size_t cap, struct ep_serve_options *o)
{
	char location[PATH_MAX];
	const char *ref;
	if (st && ep_store_ref_split(arg, location, sizeof location, &ref))
		snprintf(name, cap, "%s@%s", location, resolved);
	else
		snprintf(name, cap, "%s", arg);
	o->bundle = name;
	o->pubkey = trust->pubkey;
	o->insecure = trust->insecure;
	o->decrypt_key = cli_decrypt_key();
	o->endpoint = s3->endpoint;
	o->region = s3->region;
	o->cacert = s3->http.cacert;
}

int cli_bundle_open(const char *arg, const struct ep_s3_options *remote, struct ep_bundle **b, struct ep_store **st,
		    struct ep_error *err)
{
	struct ep_bundle_open_options o = { .kinds = EP_OPEN_ANY, .remote = remote, .resolve = resolve_cb };
	*st = NULL;
	int rc = cli_seal(&o.seal, err);
	return rc ? rc : ep_bundle_open_named(b, st, arg, &o, err);
}

int cli_snapshot_open(const char *ref, const struct ep_s3_options *s3, struct ep_store **st, char id[EP_STORE_ID_HEX])
{
	char location[PATH_MAX];
	const char *snap;
	struct ep_error err = { 0 };
	if (!ep_store_ref_split(ref, location, sizeof location, &snap)) {
		ep_fail(&err, EP_EINPUT, "'%s' names no snapshot: write STORE@ID or STORE@latest", ref);
		return cli_fail(&err);
	}
	struct ep_store_open_options o = { .s3 = s3, .lazy_index = true };
	int rc = cli_seal(&o.seal, &err);
	if (!rc)
		rc = ep_store_open_with(st, location, &o, &err);
	if (!rc && (rc = resolve(*st, snap, id, &err))) {
		ep_store_close(*st);
		*st = NULL;
	}
	return rc ? cli_fail(&err) : 0;
}
