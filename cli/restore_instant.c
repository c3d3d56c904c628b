#include "cli/restore_instant.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/store_cli.h"
#include "targets/instant.h"

int cli_instant_begin(struct cli_instant *ci, const char *to, const char *bundle, const struct ep_store *st,
		      const struct ep_trust *trust, const struct ep_s3_options *s3, struct ep_error *err)
{
	const char *colon = strchr(to, ':');
	*ci = (struct cli_instant){ 0 };
	if (!colon || (strncmp(to, "dir:", 4) && strncmp(to, "libvirt:", 8)))
		return ep_fail(err, EP_EINPUT, "--instant restores to dir: or libvirt:, not '%s'", to);
	snprintf(ci->dir, sizeof ci->dir, "%s", colon + 1);
	char name[PATH_MAX + EP_STORE_ID_HEX + 2];
	struct ep_serve_options o = { 0 };
	cli_serve_options(bundle, st, trust, s3, name, sizeof name, &o);
	int rc = ep_instant_begin(ci->dir, &o, &ci->server, ci->socket, sizeof ci->socket, err);
	ci->started = !rc;
	return rc;
}

void cli_instant_end(struct cli_instant *ci, bool restored)
{
	if (!restored && ci->started)
		ep_instant_cancel(ci->dir, &ci->server);
}

json_t *cli_instant_json(const struct cli_instant *ci)
{
	return json_pack("{s:s,s:I,s:s}", "socket", ci->socket, "pid", (json_int_t)ci->server.pid, "log", ci->server.log);
}

int cli_restore_finish(const char *dir, const char *libvirt_uri, bool json, bool quiet)
{
	struct ep_error err = { 0 };
	struct ep_instant_done done;
	int rc = ep_instant_finish(dir, libvirt_uri, &done, &err);
	if (json) {
		json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:s?}", "finished", dir, "ok", !rc, "disks", (json_int_t)done.disks,
				      "pulled_running", (json_int_t)done.running, "error", rc ? err.msg : NULL);
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else if (!rc && !quiet)
		printf("%s: %zu disk%s made whole (%zu while a domain ran on it); the export is stopped\n", dir, done.disks,
		       done.disks == 1 ? "" : "s", done.running);
	return rc ? cli_fail(&err) : 0;
}
