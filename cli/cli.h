/* What the commands share: messages, exit codes, sizes, the progress bar. The
 * CLI layer is the only place that prints or chooses an exit code. */
#ifndef EP_CLI_H
#define EP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "base/progress.h"
#include "formats/image/distribution.h"

#ifndef EP_VERSION
#define EP_VERSION "0.0.0"
#endif

struct cli_bar {
	const char *label;
	bool enabled;
	bool drawn;
	struct timespec start, last;
};

/* Prints "envpack: MESSAGE" (to syslog too under --log syslog) and returns the exit code for err. */
int cli_fail(const struct ep_error *err);
/* --log syslog|stderr: failures and warnings go to syslog as well, and cli_log_info
 * lines (a command's one-line summary) too. 0, or 2 for a bad value (reported). */
int cli_log_option(const char *cmd, const char *arg);
void cli_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage problem with a pointer to --help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(void *ctx, const char *msg);
/* A bar on stderr only when it is a terminal and not quiet; silent under cron. */
void cli_bar_init(struct cli_bar *bar, struct ep_progress *progress, const char *label, bool quiet);
void cli_bar_finish(struct cli_bar *bar);
void cli_human(uint64_t bytes, char *buf, size_t cap);
/* Parses a whole number in [min, max]. */
bool cli_number(const char *s, long min, long max, long *out);
/* Prints the command's help for -h/--help. */
int cli_help(const char *text);

/* Options for reaching registries and other servers, shared by every command that does. */
struct cli_net {
	const char *insecure[16];
	struct ep_registry_options registry;
};
#define CLI_NET_OPTIONS                                                                            \
	{ "insecure-registry", required_argument, NULL, 0x1001 }, { "cacert", required_argument, NULL, 0x1002 }, \
		{ "timeout", required_argument, NULL, 0x1003 }, { "retries", required_argument, NULL, 0x1004 }, \
		{ "chunk-size", required_argument, NULL, 0x1005 }
/* What any command that reaches a server says of --cacert, --timeout, --retries ... */
#define CLI_HTTP_HELP                                                                            \
	"      --cacert FILE    trust this CA too (PEM), besides the system's\n"                   \
	"      --timeout SECS   give up on a connection idle this long (default 60)\n"             \
	"      --retries N      tries per request on dropped connections, 429 and 5xx (default 5)\n"
/* ... and what the registry commands say besides. */
#define CLI_NET_HELP                                                                             \
	"      --insecure-registry HOST[:PORT]  speak plain HTTP to this registry (repeatable);\n"    \
	"                       every other one is reached over verified TLS\n"                      \
	CLI_HTTP_HELP                                                                            \
	"      --chunk-size MIB push blobs larger than this in chunks (PATCH) of this size,\n"    \
	"                       for registries behind proxies that cap request bodies\n"         \
	"Registry credentials come from the file REGISTRY_AUTH_FILE names (else\n"                  \
	"$XDG_RUNTIME_DIR/containers/auth.json, else ~/.docker/config.json), as\n"                  \
	"'skopeo login' writes it; it must be readable by its owner only.\n"
/* 1 when c was one of CLI_NET_OPTIONS (taken into net), 0 when not, -1 on a bad value (reported). */
int cli_net_option(const char *cmd, int c, const char *arg, struct cli_net *net);

/* Options for S3-compatible stores (push, pull), besides CLI_NET_OPTIONS. */
#define CLI_S3_OPTIONS                                                                              \
	{ "endpoint", required_argument, NULL, 0x1010 }, { "region", required_argument, NULL, 0x1011 }, \
		{ "part-size", required_argument, NULL, 0x1012 }
#define CLI_S3_HELP                                                                                \
	"      --endpoint URL   an S3-compatible store, http(s)://HOST[:PORT], path-style\n"           \
	"                       (default AWS, or AWS_ENDPOINT_URL)\n"                                 \
	"      --region NAME    the region to sign for (default AWS_REGION or us-east-1)\n"          \
	"      --part-size MIB  objects larger than this go up in parts of it (default: one\n"      \
	"                       PUT up to 16 MiB, else 16 MiB, 1024 parts past 16 GiB)\n"    \
	"Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and\n"                 \
	"AWS_SESSION_TOKEN), else from ~/.aws/credentials (or AWS_SHARED_CREDENTIALS_FILE,\n"       \
	"profile AWS_PROFILE), which must be readable by its owner only.\n"
struct ep_s3_options;
/* 1 when c was one of CLI_S3_OPTIONS (taken into s3), 0 when not, -1 on a bad value (reported). */
int cli_s3_option(const char *cmd, int c, const char *arg, struct ep_s3_options *s3);
/* What verify, inspect and restore say of bundles read where they lie. */
#define CLI_REMOTE_HELP                                                                               \
	"BUNDLE may be s3://BUCKET/KEY or http(s)://URL, read where it lies with range\n"                 \
	"requests (no local copy):\n"                                                                      \
	"      --endpoint URL   the S3-compatible store, path-style (default AWS, or\n"                    \
	"                       AWS_ENDPOINT_URL)\n"                                                        \
	"      --region NAME    the region to sign for (default AWS_REGION or us-east-1)\n"               \
	CLI_HTTP_HELP
/* CLI_NET_OPTIONS and CLI_S3_OPTIONS together, for commands that read remote bundles: 1 when c
 * was one of them (taken into net and s3, s3->http kept equal to net's), 0 when not, -1 on a bad value. */
int cli_remote_option(const char *cmd, int c, const char *arg, struct cli_net *net, struct ep_s3_options *s3);

/* Encryption at rest (formats/STORE.md, section 8), for the whole run: --encrypt-to
 * RECIPIENT.pub seals what is written, --decrypt-key RECIPIENT.key opens what is read
 * (and seals to the same recipient). */
#define CLI_ENCRYPT_OPTION { "encrypt-to", required_argument, NULL, 0x1020 }
#define CLI_DECRYPT_OPTION { "decrypt-key", required_argument, NULL, 0x1021 }
#define CLI_DECRYPT_HELP                                                                          \
	"      --decrypt-key FILE  the private X25519 key of an encrypted bundle or store\n"           \
	"                          ('envpack keygen --x25519')\n"
#define CLI_ENCRYPT_HELP                                                                          \
	"      --encrypt-to FILE   encrypt to this X25519 public key ('envpack keygen --x25519'):\n" \
	"                          chunks, manifest and signature, named by keyed hashes\n"
/* 1 when c was one of them (taken), 0 when not. */
int cli_seal_option(int c, const char *arg);
/* The key they named, loaded at the first call (NULL: none given). */
struct ep_seal;
int cli_seal(const struct ep_seal **out, struct ep_error *err);
/* Whether the run was asked to encrypt (either option). */
/* The --decrypt-key given, or NULL. */
const char *cli_decrypt_key(void);
bool cli_seal_wanted(void);
void cli_seal_release(void);

int cmd_push(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_drill(int argc, char **argv);

#endif
