/*
 * vm:openstack:SERVER — an OpenStack server (its name or id) captured through a snapshot
 * Nova makes of it: the token and catalog as image:glance: gets them, the server read
 * from Nova (GET /servers/ID; by name GET /servers?name=^NAME$, exactly one) with its
 * flavor embedded (microversion 2.47: vCPUs, memory), then createImage (2.45: the answer
 * names the image), the image polled in Glance until active, and read as image:glance:
 * reads an image (sources/glance.h). The snapshot image is deleted afterwards, whether
 * the pack succeeded or not, unless --keep-export; given up on (timeout-minutes=, Ctrl-C,
 * SIGTERM) too. The machine is named after the server, its vCPUs and memory the
 * flavor's, the rest from the image's properties (which Nova copies from the server's
 * image); pack's machine options by hand win.
 */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "cloud/ec2.h"
#include "cloud/nova.h"
#include "cloud/openstack_api.h"
#include "sources/glance.h"

extern const struct ep_source_ops ep_source_glance;

#define POLL_SECONDS "5" /* a snapshot's upload into Glance takes seconds to minutes */

struct nova_state {
	struct ep_os *os;
	struct ep_nova_server server;
	struct ep_ec2_task_settings wait; /* poll-seconds=, timeout-minutes= */
	char snapshot[EP_OS_ID_MAX];      /* the image createImage made */
	bool made, keep, armed;           /* made: there to delete unless kept */
	char from[400];
	void *glance; /* image:glance:'s state, reading the snapshot */
	ep_warn_fn warn;
	void *warn_ctx;
};

/* "envpack-snapshot-NAME-20261207T235959Z": the image's name, saying whose and when. */
static void snapshot_name(const struct nova_state *s, char *out, size_t cap)
{
	char when[32] = "";
	time_t now = time(NULL);
	struct tm tm;
	if (gmtime_r(&now, &tm))
		strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, cap, "envpack-snapshot-%.150s-%s", s->server.name, when);
}

/* A dry run's notes of the poll and the clean-up, around the requests glance shows. */
static void note(const struct ep_capture_options *c, const char *text)
{
	c->dry_run_request(c->dry_run_ctx, text);
}

/* What becomes of the snapshot image when the capture gives up. */
static const char *fate(const struct nova_state *s)
{
	return s->keep ? "kept (--keep-export)" : "deleted";
}

/* One look at the snapshot image: 1 active, 0 not yet, or its failure. */
static int poll_snapshot(void *ctx, struct ep_error *err)
{
	struct nova_state *s = ctx;
	struct ep_os_image im;
	int rc = ep_os_image_get(s->os, s->snapshot, &im, err);
	if (rc == 0) { /* Nova deletes the image of a snapshot that failed */
		s->made = false;
		return ep_fail(err, EP_ERUNTIME, "vm:openstack: the snapshot of server %s failed: Glance has no image %s any "
						 "more (Nova removes a failed snapshot's image; see openstack server event list %s)",
			       s->server.id, s->snapshot, s->server.id);
	}
	if (rc < 0)
		return rc;
	rc = 0;
	if (!strcmp(im.status, "active"))
		rc = 1;
	else if (!strcmp(im.status, "killed") || !strcmp(im.status, "deleted") || !strcmp(im.status, "pending_delete"))
		rc = ep_fail(err, EP_ERUNTIME, "vm:openstack: the snapshot of server %s failed: Glance says image %s is %s",
			     s->server.id, s->snapshot, im.status);
	ep_os_image_release(&im);
	return rc;
}

static int wait_snapshot(struct nova_state *s, struct ep_error *err)
{
	enum ep_wait_end end;
	int rc = ep_interrupt_wait(poll_snapshot, s, s->wait.poll_seconds, s->wait.timeout_minutes, &end, err);
	if (rc || end == EP_WAIT_DONE)
		return rc;
	if (end == EP_WAIT_TIMED_OUT)
		return ep_fail(err, EP_ERUNTIME, "vm:openstack: the snapshot of server %s was not active within %u min: "
						 "image %s %s", s->server.id, s->wait.timeout_minutes, s->snapshot, fate(s));
	return ep_fail(err, EP_ERUNTIME, "vm:openstack: the snapshot of server %s was interrupted: image %s %s",
		       s->server.id, s->snapshot, fate(s));
}

/* The snapshot read as image:glance: reads an image, named after the server. */
static int open_snapshot(struct nova_state *s, const struct ep_source_options *opt, struct ep_error *err)
{
	snprintf(s->from, sizeof s->from, "server %s, snapshot image %s", s->server.id, s->snapshot);
	struct ep_glance_as as = { .name = s->server.name, .vcpus = s->server.vcpus, .memory_mib = s->server.ram_mib,
				   .what = "vm:openstack:", .from = s->from };
	return ep_glance_open_image(s->os, s->snapshot, &as, opt, &s->glance, err);
}

/* Dry run: the server's GETs, createImage, the poll and the download, the DELETE; nothing sent. */
static int plan(struct nova_state *s, const struct ep_source_options *opt, struct ep_error *err)
{
	const struct ep_capture_options *c = opt->capture;
	char name[256], text[300];
	snapshot_name(s, name, sizeof name);
	int rc = ep_nova_create_image(s->os, s->server.id, name, s->snapshot, err);
	snprintf(text, sizeof text, "(then every %u s, for %u min at most, until the snapshot image is active; then its "
				    "data, as image:glance: reads an image:)", s->wait.poll_seconds, s->wait.timeout_minutes);
	if (!rc) {
		note(c, text);
		rc = open_snapshot(s, opt, err);
	}
	snprintf(text, sizeof text, "(once packed, failed, timed out or interrupted: the snapshot image %s)",
		 s->keep ? "is kept, --keep-export" : "deleted, unless --keep-export");
	if (!rc)
		note(c, text);
	return rc || s->keep ? rc : ep_os_image_delete(s->os, s->snapshot, err);
}

static int nova_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		     struct ep_error *err)
{
	struct nova_state *s = calloc(1, sizeof *s);
	if (!(*state = s))
		return ep_oom(err);
	const struct ep_capture_options *c = opt->capture;
	const char *poll = ep_capture_param(c, "poll-seconds");
	s->keep = c && c->keep_export;
	s->warn = opt->warn, s->warn_ctx = opt->warn_ctx;
	int rc = ep_ec2_task_settings(NULL, poll ? poll : POLL_SECONDS, ep_capture_param(c, "timeout-minutes"),
				      "vm:openstack: --input-option", &s->wait, err);
	if (!rc)
		rc = ep_glance_connect(c, &s->os, err);
	if (!rc)
		rc = ep_nova_server_find(s->os, src->path, &s->server, err);
	if (rc || ep_os_dry_run(s->os))
		return rc ? rc : plan(s, opt, err);
	ep_interrupt_arm(); /* from createImage on, Ctrl-C and SIGTERM fail the capture and delete the image */
	s->armed = true;
	char name[256];
	snapshot_name(s, name, sizeof name);
	if ((rc = ep_nova_create_image(s->os, s->server.id, name, s->snapshot, err)))
		return rc;
	s->made = true;
	rc = wait_snapshot(s, err);
	return rc ? rc : open_snapshot(s, opt, err);
}

static uint64_t nova_size(const void *state)
{
	const struct nova_state *s = state;
	return s->glance ? ep_source_glance.size(s->glance) : 0;
}

static void disarm(struct nova_state *s)
{
	if (s->armed)
		ep_interrupt_disarm();
	s->armed = false;
}

static int nova_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink,
		     struct ep_error *err)
{
	struct nova_state *s = state;
	int rc = ep_source_glance.pack(src, s->glance, sink, err);
	/* a scratch file's disk does not look while it is packed: the signal is seen here,
	 * before anything is published */
	if (!rc && ep_interrupted())
		rc = ep_fail(err, EP_ERUNTIME, "vm:openstack: the capture of server %s was interrupted: image %s %s",
			     s->server.id, s->snapshot, fate(s));
	disarm(s); /* the other sources' packs take Ctrl-C as they always have */
	return rc;
}

static void nova_published(void *state, bool yes)
{
	struct nova_state *s = state;
	if (s && s->glance)
		ep_source_glance.published(s->glance, yes);
}

/* The snapshot image goes, unless kept; a deletion that fails is said, and the capture stands. */
static void nova_close(void *state)
{
	struct nova_state *s = state;
	if (!s)
		return;
	ep_source_glance.close(s->glance);
	struct ep_error e = { 0 };
	if (s->made && !s->keep && ep_os_image_delete(s->os, s->snapshot, &e) && s->warn) {
		char msg[sizeof e.msg + 300];
		snprintf(msg, sizeof msg, "vm:openstack: could not delete the snapshot image %s (openstack image delete %s): %s",
			 s->snapshot, s->snapshot, e.msg);
		s->warn(s->warn_ctx, msg);
	}
	disarm(s);
	ep_os_close(s->os);
	free(s);
}

const struct ep_source_ops ep_source_vm_openstack = {
	.prefix = "vm:openstack:",
	.usage = "vm:openstack:SERVER",
	.input_options = "cloud region interface image-url compute-url poll-seconds timeout-minutes",
	.machine_options = true,
	.open = nova_open,
	.size = nova_size,
	.pack = nova_pack,
	.published = nova_published,
	.close = nova_close,
};
