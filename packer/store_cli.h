/* What the store commands share: opening a store, STORE@SNAPSHOT wherever a bundle
 * is read, and the options every one of them takes. */
#ifndef EP_STORE_CLI_H
#define EP_STORE_CLI_H

#include <getopt.h>

#include "cli.h"
#include "formats/bundle/bundle.h"
#include "formats/store/catalog.h"
#include "formats/store/s3.h"

/* --lock-wait, --log, --json, -q, -h, and for s3:// stores --endpoint, --region (CLI_S3_OPTIONS);
 * backup takes --cacert, --timeout, --retries with its CLI_PACK_OPTIONS, the others with
 * CLI_STORE_NET_OPTIONS */
#define CLI_STORE_OPTIONS                                                                               \
	{ "lock-wait", required_argument, NULL, 0x1200 }, { "log", required_argument, NULL, 0x1201 },   \
		{ "json", no_argument, NULL, 'J' }, { "quiet", no_argument, NULL, 'q' },                \
		{ "help", no_argument, NULL, 'h' }, CLI_S3_OPTIONS
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
	CLI_STORE_S3_HELP_(http)
#define CLI_STORE_HELP CLI_STORE_HELP_(CLI_HTTP_HELP)

struct cli_store_args {
	unsigned lock_wait;
	bool json, quiet;
	struct cli_net net;      /* --cacert, --timeout, --retries ... */
	struct ep_s3_options s3; /* --endpoint, --region; its http kept equal to net's */
};
/* 1 when c was one of CLI_STORE_OPTIONS (taken into a), 0 when not, -1 on a bad value (reported);
 * 2 when it asked for help (print it). */
int cli_store_option(const char *cmd, int c, const char *arg, struct cli_store_args *a);

/* Opens a store (s3:// ones reached with s3, NULL: defaults), reporting a failure: 0 or an
 * exit code. init: make a new store there when there is none (the place absent or empty). */
int cli_store_open(const char *location, bool init, const struct ep_s3_options *s3, struct ep_store **st);
/* A bundle file, a bundle at a URL, or STORE@SNAPSHOT (an id, a unique prefix of one, or
 * latest) read as the bundle it exports to; *st is the store to close after *b, or NULL. */
int cli_bundle_open(const char *arg, const struct ep_s3_options *remote, struct ep_bundle **b, struct ep_store **st,
		    struct ep_error *err);
/* Opens STORE@SNAPSHOT and resolves the snapshot into id; 0 or an exit code (reported). */
int cli_snapshot_open(const char *ref, const struct ep_s3_options *s3, struct ep_store **st, char id[EP_STORE_ID_HEX]);

#endif
