/* What the store commands share: opening a store, STORE@SNAPSHOT wherever a bundle
 * is read, and the options every one of them takes. */
#ifndef EP_STORE_CLI_H
#define EP_STORE_CLI_H

#include <getopt.h>

#include <jansson.h>

#include "cli/cli.h"
#include "formats/bundle/bundle.h"
#include "formats/store/catalog.h"
#include "cloud/s3.h"

/* --lock-wait, --log, --json, -q, -h, and for s3:// stores --endpoint, --region (CLI_S3_OPTIONS);
 * backup takes --cacert, --timeout, --retries with its CLI_PACK_OPTIONS, the others with
 * CLI_STORE_NET_OPTIONS */
#define CLI_STORE_OPTIONS                                                                               \
	{ "lock-wait", required_argument, NULL, 0x1200 }, { "log", required_argument, NULL, 0x1201 },   \
		{ "json", no_argument, NULL, 'J' }, { "quiet", no_argument, NULL, 'q' },                \
		{ "help", no_argument, NULL, 'h' }, CLI_DECRYPT_OPTION, CLI_S3_OPTIONS
#define CLI_STORE_NET_OPTIONS CLI_NET_OPTIONS
/* What a store command says of s3:// stores (shared: the store commands and diff); http: what
 * it says of --cacert, --timeout, --retries (CLI_HTTP_HELP), or "" where its help says it already. */
#define CLI_STORE_S3_HELP_(http)                                                                        \
	"STORE may be s3://BUCKET/PREFIX, its objects under PREFIX/ (formats/STORE.md):\n"              \
	"      --endpoint URL   an S3-compatible store, http(s)://HOST[:PORT], path-style\n"           \
	"                       (default AWS, or AWS_ENDPOINT_URL)\n"                                 \
	"      --region NAME    the region to sign for (default AWS_REGION or us-east-1)\n"          \
	http                                                                                             \
	"S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and\n"                 \
	"AWS_SESSION_TOKEN), else from ~/.aws/credentials (mode 600).\n"
#define CLI_STORE_S3_HELP CLI_STORE_S3_HELP_(CLI_HTTP_HELP)
#define CLI_STORE_HELP_(http)                                                                           \
	"      --lock-wait SECS wait this long for a store another run holds (default 0:\n"             \
	"                       fail at once, naming the holder)\n"                                      \
	"      --log syslog     report failures and warnings (and the summary) to syslog too\n"         \
	"      --json           print the result as JSON on stdout\n"                                    \
	"  -q, --quiet          no progress bar, no output on success\n"                                 \
	"  -h, --help           this help\n"                                                            \
	"An encrypted store (formats/STORE.md, section 8) is read with its private key:\n"          \
	CLI_DECRYPT_HELP                                                                                 \
	CLI_STORE_S3_HELP_(http)
#define CLI_STORE_HELP CLI_STORE_HELP_(CLI_HTTP_HELP)

struct cli_store_args {
	unsigned lock_wait;
	bool json, quiet;
	int exit; /* when cli_store_option says to stop: 0 after --help, 2 after a bad value */
	struct cli_net net;      /* --cacert, --timeout, --retries ... */
	struct ep_s3_options s3; /* --endpoint, --region; its http kept equal to net's */
};
/* 1 when c was one of CLI_STORE_OPTIONS (taken into a), 0 when not, -1 when the command
 * is to exit with a->exit (help printed, or a bad value reported). */
int cli_store_option(const char *cmd, int c, const char *arg, struct cli_store_args *a, const char *help);

/* Whether to print a human account of what was done: not with -q or --json, and only on
 * a terminal, so that backup, forget, prune and check are silent under cron. */
bool cli_store_chatty(const struct cli_store_args *a);

/* Opens a store (s3:// ones reached with s3, NULL: defaults), its chunks not listed (lazy_index),
 * reporting a failure: 0 or an exit code. init: make a new store there when there is none (the
 * place absent or empty). */
int cli_store_open(const char *location, bool init, const struct ep_s3_options *s3, struct ep_store **st);
/* The same for a backup: its chunks not listed (lazy_index), a new store made with Object Lock
 * (object_lock; NULL: none). */
int cli_store_open_backup(const char *location, bool init, const struct ep_s3_options *s3,
			  const struct ep_store_object_lock *object_lock, struct ep_store **st);
/* The same for prune, check and forget: chunks/ never held in memory, only streamed (stream_chunks). */
int cli_store_open_streamed(const char *location, const struct ep_s3_options *s3, struct ep_store **st);
/* --as-of TIME: "2026-12-07T10:00:00Z" (RFC 3339, UTC) or "@1765100000" (seconds since the
 * epoch), not in the future, into *t; else reported (naming the option), false. */
bool cli_as_of(const char *cmd, const char *arg, int64_t *t);
#define CLI_AS_OF_HELP                                                                                   \
	"      --as-of TIME     the store as it was at TIME: 2026-12-07T10:00:00Z (RFC 3339,\n"             \
	"                       UTC, to the second) or @SECONDS (a Unix time); an s3:// store\n"          \
	"                       in a versioned bucket only (formats/STORE.md, section 11)\n"
/* Opens a store read as it was at as_of (> 0: through the versions of its bucket; 0: now),
 * reporting a failure: 0 or an exit code. */
int cli_store_open_as_of(const char *location, const struct ep_s3_options *s3, int64_t as_of, struct ep_store **st);
/* A store's requests by kind, as --json shows them ({"put": N, ...}); NULL for a store whose
 * backend does not count them (dir:). */
json_t *cli_store_requests_json(const struct ep_store *st);
/* A bundle file, a bundle at a URL, or STORE@SNAPSHOT (an id, a unique prefix of one, or
 * latest) read as the bundle it exports to; *st is the store to close after *b, or NULL. */
int cli_bundle_open(const char *arg, const struct ep_s3_options *remote, struct ep_bundle **b, struct ep_store **st,
		    struct ep_error *err);
/* The full id of the snapshot the last cli_bundle_open of STORE@SNAPSHOT opened; "" if none. */
const char *cli_resolved_snapshot(void);
/* What nbdkit is to serve for arg, which cli_bundle_open opened (st: its store, if a
 * snapshot): a snapshot by its full id, so that what was checked is what is served (the
 * name into name, cap bytes), with the keys and remote options given; o's other fields
 * (where and what to serve) are left as they are. */
struct ep_trust;
struct ep_serve_options;
void cli_serve_options(const char *arg, const struct ep_store *st, const struct ep_trust *trust,
		       const struct ep_s3_options *s3, char *name, size_t cap, struct ep_serve_options *o);
/* Opens STORE@SNAPSHOT and resolves the snapshot into id; 0 or an exit code (reported). */
int cli_snapshot_open(const char *ref, const struct ep_s3_options *s3, struct ep_store **st, char id[EP_STORE_ID_HEX]);

/* Rollback protection (TUF's rollback attack): this host remembers, per store id, the
 * highest snapshot sequence it has written or seen signed, in
 * ${ENVPACK_STATE_DIR:-${XDG_STATE_HOME:-~/.local/state}/envpack}/stores/ID.json, and
 * `latest` must not resolve to a lower one unless --allow-older. */
#define CLI_ALLOW_OLDER_OPTION { "allow-older", no_argument, NULL, 0x1210 }
#define CLI_ALLOW_OLDER_HELP                                                                         \
	"      --allow-older          accept a STORE@latest older than a snapshot this host\n"          \
	"                             has seen before (a store rolled back on purpose)\n"
void cli_allow_older(void);
/* -q: STORE@latest passes over the snapshots that cannot be used without a warning. */
void cli_store_quiet(void);
/* Warns of each snapshot of cat that cannot be used, naming its file (not when quiet). */
void cli_store_warn_bad(const struct ep_catalog *cat, const struct ep_store *st, bool quiet);
/* A snapshot that cannot be used, as --json lists it: {"id", "bad": true, "file", "problem"}. */
json_t *cli_bad_snapshot_json(const struct ep_catalog_bad *b, const struct ep_store *st);
/* Where this host keeps st's files cache (see ep_backup), in buf; NULL when there is no
 * state directory. */
const char *cli_files_cache(const struct ep_store *st, char *buf, size_t cap);
/* The same for its chunk cache (packer/chunk_cache.h). */
const char *cli_chunk_cache(const struct ep_store *st, char *buf, size_t cap);
/* The highest sequence remembered for st (0: none). */
uint64_t cli_seen_sequence(const struct ep_store *st);
/* Remembers a sequence for st if it is higher; failures only warn (the run succeeded). */
void cli_seen_record(const struct ep_store *st, uint64_t sequence);
/* The same for a manifest verified by its signature (nothing when unsigned or no snapshot). */
void cli_seen_verified(const struct ep_store *st, const struct ep_manifest *m, const char *signer);

#endif
