/*
 * The DR drill report (`envpack drill ... --report FILE.html`, #16): one self-contained
 * HTML5 page (no external assets; a Content-Security-Policy forbids loading any and running
 * scripts) with a summary of each machine's latest drill, a table of every machine of every
 * drill, the RTO over time as an inline SVG chart, the store's snapshot timeline, and the
 * console tails of failed machines.
 *
 * Every string from the records is untrusted: it is HTML-escaped, control bytes and
 * invalid UTF-8 become U+FFFD, so the page holds no markup but its own.
 */
#ifndef EP_DRILL_REPORT_H
#define EP_DRILL_REPORT_H

#include <stddef.h>

#include <jansson.h>

#include "base/error.h"

/* A failed machine's console shows at most its last EP_DRILL_TAIL_BYTES bytes, and only
 * the EP_DRILL_TAILS_MAX newest failures show theirs: the page stays small. */
#define EP_DRILL_TAIL_BYTES 4096
#define EP_DRILL_TAILS_MAX 20

/* Renders the page into *html (heap, NUL-terminated, free()) of *len bytes.
 * snapshots: array of {"id", "time", "name"}, the store's snapshots oldest first;
 * drills: array of drill records ({"kind": "envpack-drill", "version": 1, ...}), in any
 * order (they are shown by "started"); title: the page's title, NULL for a default.
 * A record or snapshot that is not of that shape fails with EP_EINPUT naming it and
 * the field, and *html is left NULL. */
int ep_drill_report_html(const json_t *snapshots, const json_t *drills, const char *title, char **html,
			 size_t *len, struct ep_error *err);

#endif
