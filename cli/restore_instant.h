/* restore --instant and restore --finish (targets/instant.h) as the command line uses them. */
#ifndef CLI_RESTORE_INSTANT_H
#define CLI_RESTORE_INSTANT_H

#include <limits.h>
#include <stdbool.h>

#include <jansson.h>

#include "cloud/s3.h"
#include "formats/store/store.h"
#include "serve/server.h"
#include "verify/check.h"

struct cli_instant {
	char dir[PATH_MAX];
	char socket[PATH_MAX];
	struct ep_server server;
	bool started; /* the server runs: a failed restore stops it */
};

/* Starts serving `bundle` (opened, with st when a snapshot) for an instant restore to `to`
 * (dir:DIR or libvirt:DIR); its socket is then ci->socket. */
int cli_instant_begin(struct cli_instant *ci, const char *to, const char *bundle, const struct ep_store *st,
		      const struct ep_trust *trust, const struct ep_s3_options *s3, struct ep_error *err);
/* After the restore: a failed one's server stopped and its directory removed. */
void cli_instant_end(struct cli_instant *ci, bool restored);
/* {"socket", "pid", "log"} for --json. */
json_t *cli_instant_json(const struct cli_instant *ci);
/* restore --finish DIR: the exit code. */
int cli_restore_finish(const char *dir, const char *libvirt_uri, bool json, bool quiet);

#endif
