/*
 * A DR drill: each machine of a backup booted from it at once (instant recovery: qcow2
 * overlays over the disks nbdkit serves, in a private directory), its checks waited for,
 * its recovery time measured (from the start of its drill to its last check passing),
 * then everything it made stopped and removed. One machine at a time, each with its own
 * server, so what it read from the store is its own.
 */
#ifndef EP_DRILL_H
#define EP_DRILL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "drill/checks.h"
#include "formats/bundle/manifest.h"
#include "serve/server.h"

struct ep_drill_options {
	struct ep_serve_options serve; /* what is served (its socket set per machine) */
	const struct ep_manifest *manifest; /* verified; every disk in a machine */
	const char *only;                   /* one machine; NULL: all */
	struct ep_check *checks;
	size_t nchecks;
	unsigned timeout_s;
	const char *tmpdir;
	void (*say)(void *ctx, const char *line); /* what happens, for a terminal; may be NULL */
	void *say_ctx;
};

struct ep_drill_result {
	json_t *machines; /* the drill record's "machines" */
	bool passed;      /* every check of every machine */
	bool integrity;   /* a chunk failed its check: the data is damaged */
	char integrity_detail[256];
};

/* Runs the drill: 0 once it ran (passed or not, as res says), else why it could not. */
int ep_drill_run(const struct ep_drill_options *o, struct ep_drill_result *res, struct ep_error *err);

#endif
