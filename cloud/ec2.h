/*
 * The EC2 Query API, as aws-cli speaks it through botocore's "ec2" protocol:
 * POST / with a form body "Action=...&Version=2016-11-15&...", signed with
 * SigV4 for the service "ec2", answered in XML. Error answers
 * (<Response><Errors><Error><Code>, <Message>) become messages naming AWS's
 * code and message; the credentials are borrowed (the S3 client's: the
 * environment or ~/.aws/credentials) and never reach a message or a dry run.
 */
#ifndef EP_EC2_H
#define EP_EC2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/http.h"
#include "cloud/sigv4.h"
#include "base/xml.h"

#define EP_EC2_VERSION "2016-11-15"

struct ep_ec2_options {
	struct ep_http_options http;
	/* http(s)://HOST[:PORT]; NULL: AWS_ENDPOINT_URL_EC2, else AWS_ENDPOINT_URL, else https://ec2.REGION.amazonaws.com */
	const char *endpoint;
	const char *region;                 /* required */
	const struct ep_sigv4_creds *creds; /* required; borrowed for the client's life */
};

/* A request's parameters: a form body being built. Out of memory is
 * remembered and reported by the call that sends or plans it. */
struct ep_ec2_form {
	char *text;
	size_t len, cap;
	bool oom;
};

/* Adds NAME=VALUE, the name printed from fmt ("DiskContainer.%zu.Format"), the value form-encoded. */
void ep_ec2_form_add(struct ep_ec2_form *f, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ep_ec2_form_release(struct ep_ec2_form *f);

struct ep_ec2;

int ep_ec2_open(struct ep_ec2 **out, const struct ep_ec2_options *opt, struct ep_error *err);
void ep_ec2_close(struct ep_ec2 *ec2);
/* The endpoint requests go to, for messages. */
const char *ep_ec2_endpoint(const struct ep_ec2 *ec2);
/* The requests ep_ec2_call has sent (retries within one not counted); 0 for NULL. */
uint64_t ep_ec2_requests(const struct ep_ec2 *ec2);

/* Sends action with form's parameters (it may be empty); on success *answer
 * holds the XML answer (root ACTIONResponse), to release with ep_xml_release.
 * EC2's refusals fail with EP_ERUNTIME naming AWS's code and message. */
int ep_ec2_call(struct ep_ec2 *ec2, const char *action, const struct ep_ec2_form *form, struct ep_xml *answer,
		struct ep_error *err);
/* Hands emit the request ep_ec2_call would send, as text with credentials masked; sends nothing. */
int ep_ec2_plan(struct ep_ec2 *ec2, const char *action, const struct ep_ec2_form *form,
		void (*emit)(void *ctx, const char *text), void *ctx, struct ep_error *err);

/* An import task's state, as a Describe*Tasks answer gives it. */
struct ep_ec2_task {
	char status[32];   /* "active", "completed", "deleting", "deleted" */
	char message[400]; /* StatusMessage ("converting", or why it failed), printable; may be "" */
	char made[72];     /* once completed: the image's or snapshot's id ("ami-...", "snap-...") */
};

/* Reads task's state from x, an answer to DescribeImportImageTasks (snapshot
 * false) or DescribeImportSnapshotTasks; fails (EP_ERUNTIME) when the answer
 * does not name the task, or names an id that is not one. task is [a-z0-9-]. */
int ep_ec2_import_task(struct ep_xml *x, bool snapshot, const char *task, struct ep_ec2_task *out,
		       struct ep_error *err);

/* The error an answer of that status and body (untrusted, any bytes) stands for,
 * in err (EP_ERUNTIME); `what` names the request. Public for the fuzz target. */
int ep_ec2_error(long status, const char *body, size_t len, const char *what, struct ep_error *err);

/* How an import or export task is run and waited for: the IAM role VM Import/Export takes
 * (NULL: vmimport) and the polling. */
struct ep_ec2_task_settings {
	const char *role;
	unsigned poll_seconds, timeout_minutes;
};
/* The settings from their texts as the user gave them (each NULL: the default), checked;
 * a bad one is EP_EINPUT naming it as `how` says it is given ("aws: -o"). */
int ep_ec2_task_settings(const char *role, const char *poll_seconds, const char *timeout_minutes, const char *how,
			 struct ep_ec2_task_settings *out, struct ep_error *err);
/* A dry run's note, handed to emit, of how the task would be polled. */
void ep_ec2_task_plan_note(const struct ep_ec2_task_settings *t, void (*emit)(void *ctx, const char *text), void *ctx);

#endif
