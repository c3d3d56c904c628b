/*
 * vm:aws:AMI_ID — an AMI captured through EC2's ExportImage: the image exported to
 * s3://BUCKET/PREFIX (as --input-option bucket=, prefix= say), the task polled until
 * it completes, then the object AWS wrote (PREFIX + task id + ".vmdk"|".raw"|".vhd")
 * read where it lies through disk:s3://'s ranged reads (format probed) and packed as a
 * bare disk. The object is removed afterwards, whether the pack succeeded or not,
 * unless --keep-export. Credentials, region and endpoints as the aws: target takes them.
 *
 * The AMI's name and boot mode (DescribeImages) are not read: the disk is a bare one
 * that --vcpus, --memory and --firmware describe.
 */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "cloud/ec2.h"
#include "cloud/s3.h"

extern const struct ep_source_ops ep_source_disk;

struct aws_state {
	struct ep_s3 *s3;
	struct ep_ec2 *ec2;
	struct ep_sigv4_creds creds;
	const char *bucket, *prefix, *format;
	struct ep_ec2_task_settings task_settings;
	char task[80];
	struct ep_s3_url u;       /* the exported object, once the task names it */
	bool exported, keep;      /* whether it is there to remove, or to stay */
	char url[1100];           /* s3://BUCKET/KEY, read as disk: reads it */
	char from[1300];          /* "ec2:AMI via s3://BUCKET/KEY" */
	uint64_t ec2_requests;
	struct ep_source disk_src; /* the object, as a disk: source */
	void *disk;                /* its state */
	const char *ami;
	const struct ep_source_sink *sink; /* pack's, while disk: packs through ours */
	ep_source_report_fn report;
	void *report_ctx;
	ep_warn_fn warn;
	void *warn_ctx;
};

/* ami- and 8 or 17 hex digits, as EC2 names images. */
static int aws_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	const char *p = out->path;
	size_t n = strncmp(p, "ami-", 4) ? 0 : strspn(p + 4, "0123456789abcdef");
	if (!n || p[4 + n] || (n != 8 && n != 17))
		return ep_fail(err, EP_EINPUT, "'%s': vm:aws: takes an AMI id (ami- and 8 or 17 hex digits)", spec);
	return 0;
}

static int settings(struct aws_state *s, const struct ep_capture_options *c, struct ep_error *err)
{
	s->bucket = ep_capture_param(c, "bucket");
	if (!s->bucket || !*s->bucket)
		return ep_fail(err, EP_EINPUT, "vm:aws: name the bucket ExportImage writes to: --input-option bucket=BUCKET");
	s->prefix = ep_capture_param(c, "prefix");
	s->prefix = s->prefix ? s->prefix : "envpack-export/";
	s->format = ep_capture_param(c, "format");
	s->format = s->format ? s->format : "VMDK";
	if (strcmp(s->format, "VMDK") && strcmp(s->format, "RAW") && strcmp(s->format, "VHD"))
		return ep_fail(err, EP_EINPUT, "vm:aws: --input-option format= takes VMDK, RAW or VHD, not '%s'", s->format);
	int rc = ep_ec2_task_settings(ep_capture_param(c, "role-name"), ep_capture_param(c, "poll-seconds"),
				      ep_capture_param(c, "timeout-minutes"), "vm:aws: --input-option", &s->task_settings, err);
	if (rc)
		return rc;
	/* the object's URL must be one S3 takes */
	char probe[1100];
	snprintf(probe, sizeof probe, "s3://%s/%sexport-ami-0123456789abcdef0.vmdk", s->bucket, s->prefix);
	if ((rc = ep_s3_url_parse(probe, &s->u, err)))
		ep_error_prefix(err, "vm:aws: --input-option bucket=%s prefix=%s: ", s->bucket, s->prefix);
	return rc;
}

/* Clients as the aws: target makes them: the region named or in the environment, the
 * endpoints from AWS_ENDPOINT_URL_EC2/_S3; a dry run signs with placeholders. */
static int clients(struct aws_state *s, const struct ep_capture_options *c, bool dry, struct ep_error *err)
{
	const char *region = ep_capture_param(c, "region");
	if (!region || !*region)
		region = getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		return ep_fail(err, EP_EINPUT, "vm:aws: name the AMI's region: --input-option region=, AWS_REGION or "
			       "AWS_DEFAULT_REGION");
	static const struct ep_sigv4_creds placeholder = { "AKIAIOSFODNN7EXAMPLE", "DRY-RUN-PLACEHOLDER", NULL };
	struct ep_s3_options o = { .region = region, .creds = dry ? &placeholder : NULL };
	if (c && c->http)
		o.http = *c->http;
	int rc = ep_s3_open(&s->s3, &o, err);
	if (rc)
		return rc;
	ep_s3_creds(s->s3, &s->creds);
	return ep_ec2_open(&s->ec2, &(struct ep_ec2_options){ .http = o.http, .region = region, .creds = &s->creds },
			   err);
}

static void export_form(const struct aws_state *s, const char *ami, struct ep_ec2_form *f)
{
	*f = (struct ep_ec2_form){ 0 };
	ep_ec2_form_add(f, s->format, "DiskImageFormat");
	ep_ec2_form_add(f, ami, "ImageId");
	ep_ec2_form_add(f, s->bucket, "S3ExportLocation.S3Bucket");
	ep_ec2_form_add(f, s->prefix, "S3ExportLocation.S3Prefix");
	if (s->task_settings.role)
		ep_ec2_form_add(f, s->task_settings.role, "RoleName");
}

/* Dry run: ExportImage, the poll, and a note of the reads that follow; nothing sent. */
static int plan(struct aws_state *s, const char *ami, const struct ep_capture_options *c, struct ep_error *err)
{
	struct ep_ec2_form f;
	export_form(s, ami, &f);
	int rc = ep_ec2_plan(s->ec2, "ExportImage", &f, c->dry_run_request, c->dry_run_ctx, err);
	ep_ec2_form_release(&f);
	if (rc)
		return rc;
	ep_ec2_task_plan_note(&s->task_settings, c->dry_run_request, c->dry_run_ctx);
	f = (struct ep_ec2_form){ 0 };
	ep_ec2_form_add(&f, "EXPORT-TASK-ID", "ExportImageTaskId.1");
	rc = ep_ec2_plan(s->ec2, "DescribeExportImageTasks", &f, c->dry_run_request, c->dry_run_ctx, err);
	ep_ec2_form_release(&f);
	char note[1400];
	snprintf(note, sizeof note, "(then a HEAD and ranged GETs of s3://%s/%sEXPORT-TASK-ID.%s, removed afterwards%s)",
		 s->bucket, s->prefix, s->format[1] == 'M' ? "vmdk" : s->format[1] == 'A' ? "raw" : "vhd",
		 c->keep_export ? ": no, --keep-export" : " unless --keep-export");
	if (!rc)
		c->dry_run_request(c->dry_run_ctx, note);
	return rc;
}

static int call(struct aws_state *s, const char *action, const struct ep_ec2_form *f, struct ep_xml *x,
		struct ep_error *err)
{
	s->ec2_requests++;
	return ep_ec2_call(s->ec2, action, f, x, err);
}

static int start_export(struct aws_state *s, const char *ami, struct ep_error *err)
{
	struct ep_ec2_form f;
	struct ep_xml x = { 0 };
	export_form(s, ami, &f);
	int rc = call(s, "ExportImage", &f, &x, err);
	ep_ec2_form_release(&f);
	/* an AMI EC2 does not know (or may not be read) is the user's to fix */
	if (rc && (strstr(err->msg, "InvalidAMIID") || strstr(err->msg, "InvalidParameter")))
		err->code = rc = EP_EINPUT;
	char *task = rc ? NULL : ep_xml_get(&x, NULL, "/*/*[local-name()='exportImageTaskId']");
	if (!rc && (!task || !*task || strlen(task) >= sizeof s->task ||
		    strspn(task, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(task)))
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: ExportImage of %s: the answer names no export task", ami);
	if (!rc)
		snprintf(s->task, sizeof s->task, "%s", task);
	free(task);
	ep_xml_release(&x);
	return rc;
}

/* One look at the task: 1 completed, 0 not yet, or its failure. */
static int poll_export(struct aws_state *s, const char *ami, struct ep_error *err)
{
	struct ep_ec2_form f = { 0 };
	struct ep_xml x = { 0 };
	ep_ec2_form_add(&f, s->task, "ExportImageTaskId.1");
	int rc = call(s, "DescribeExportImageTasks", &f, &x, err);
	ep_ec2_form_release(&f);
	if (rc)
		return rc;
	char e1[240], e2[240];
#define TASK_FIELD "/*/*[local-name()='exportImageTaskSet']/*[*[local-name()='exportImageTaskId' and text()='%s']]/*[local-name()='%s']"
	snprintf(e1, sizeof e1, TASK_FIELD, s->task, "status");
	snprintf(e2, sizeof e2, TASK_FIELD, s->task, "statusMessage");
	char *status = ep_xml_get(&x, NULL, e1), *msg = ep_xml_get(&x, NULL, e2);
	ep_xml_release(&x);
	if (!status)
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: DescribeExportImageTasks does not name task %s", s->task);
	else if (!strcmp(status, "completed"))
		rc = 1;
	else if (!strcmp(status, "deleted") || !strcmp(status, "deleting"))
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: the export of %s failed (task %s %s): %s", ami, s->task,
			     ep_printable(status), msg && *msg ? ep_printable(msg) : "no reason given");
	free(status);
	free(msg);
	return rc;
}

static int wait_export(struct aws_state *s, const char *ami, struct ep_error *err)
{
	time_t deadline = time(NULL) + (time_t)s->task_settings.timeout_minutes * 60;
	for (;;) {
		int rc = poll_export(s, ami, err);
		if (rc)
			return rc < 0 || rc > 1 ? rc : 0;
		if (time(NULL) + (time_t)s->task_settings.poll_seconds > deadline)
			return ep_fail(err, EP_ERUNTIME, "vm:aws: the export of %s did not finish within %u min: task %s still "
				       "running (look with aws ec2 describe-export-image-tasks; its object will land in s3://%s/%s)",
				       ami, s->task_settings.timeout_minutes, s->task, s->bucket, s->prefix);
		nanosleep(&(struct timespec){ .tv_sec = s->task_settings.poll_seconds }, NULL);
	}
}

/* The capture's summary as disk: reports it, told where it came from and what EC2 cost too. */
static void report(void *ctx, const struct ep_source_disk_report *r)
{
	struct aws_state *s = ctx;
	struct ep_source_disk_report mine = *r;
	mine.from = s->from;
	mine.requests += s->ec2_requests;
	s->report(s->report_ctx, &mine);
}

static int aws_open(const struct ep_source *src, const struct ep_source_options *opt, void **state,
		    struct ep_error *err)
{
	struct aws_state *s = calloc(1, sizeof *s);
	*state = s;
	if (!s)
		return ep_oom(err);
	const struct ep_capture_options *c = opt->capture;
	bool dry = c && c->dry_run_request;
	s->keep = c && c->keep_export;
	s->warn = opt->warn, s->warn_ctx = opt->warn_ctx;
	int rc = settings(s, c, err);
	if (!rc)
		rc = clients(s, c, dry, err);
	if (!rc && dry)
		return plan(s, src->path, c, err);
	if (!rc)
		rc = start_export(s, src->path, err);
	if (rc)
		return rc;
	/* the object lands under the name AWS gives it: PREFIX + task id + the format's extension */
	const char *ext = !strcmp(s->format, "VMDK") ? "vmdk" : !strcmp(s->format, "RAW") ? "raw" : "vhd";
	snprintf(s->u.key, sizeof s->u.key, "%s%s.%s", s->prefix, s->task, ext);
	snprintf(s->url, sizeof s->url, "s3://%s/%s", s->bucket, s->u.key);
	snprintf(s->from, sizeof s->from, "ec2:%s via %s", src->path, s->url);
	rc = wait_export(s, src->path, err);
	if (rc)
		return rc;
	s->exported = true; /* from here it is removed, even when the pack fails */
	struct ep_source_options o = *opt;
	if (opt->report) {
		s->report = opt->report, s->report_ctx = opt->report_ctx;
		o.report = report, o.report_ctx = s;
	}
	s->disk_src = (struct ep_source){ .ops = &ep_source_disk, .path = s->url, .format = src->format };
	return ep_source_disk.open(&s->disk_src, &o, &s->disk, err);
}

static uint64_t aws_size(const void *state)
{
	const struct aws_state *s = state;
	return s->disk ? ep_source_disk.size(s->disk) : 0;
}

/* The disk is named after the AMI, not after the export's object (a new task id each time). */
static int add_disk(void *ctx, struct ep_disk *d, const struct ep_component *base, const char *path,
		    struct ep_component **out, struct ep_error *err)
{
	(void)path;
	struct aws_state *s = ctx;
	return s->sink->add_disk(s->sink->ctx, d, base, s->ami, out, err);
}

static int aws_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink, struct ep_error *err)
{
	struct aws_state *s = state;
	/* disk: packs through add_disk alone */
	struct ep_source_sink mine = { .ctx = s, .manifest = sink->manifest, .whole_max = sink->whole_max,
				       .add_disk = add_disk };
	s->sink = sink;
	s->ami = src->path;
	return ep_source_disk.pack(&s->disk_src, s->disk, &mine, err);
}

static void aws_published(void *state, bool yes)
{
	struct aws_state *s = state;
	if (s && s->disk)
		ep_source_disk.published(s->disk, yes);
}

/* The export goes, unless kept; a removal that fails is said, and the capture stands. */
static void remove_export(struct aws_state *s)
{
	struct ep_error e = { 0 };
	if (!ep_s3_delete(s->s3, &s->u, &e) || !s->warn)
		return;
	char msg[2500];
	snprintf(msg, sizeof msg, "vm:aws: could not remove the export %s (remove it yourself): %s", s->url, e.msg);
	s->warn(s->warn_ctx, msg);
}

static void aws_close(void *state)
{
	struct aws_state *s = state;
	if (!s)
		return;
	ep_source_disk.close(s->disk);
	if (s->exported && !s->keep)
		remove_export(s);
	ep_ec2_close(s->ec2);
	ep_s3_close(s->s3);
	free(s);
}

const struct ep_source_ops ep_source_vm_aws = {
	.prefix = "vm:aws:",
	.usage = "vm:aws:AMI_ID",
	.bare_disk = true,
	.input_options = "bucket prefix format role-name region poll-seconds timeout-minutes",
	.parse = aws_parse,
	.open = aws_open,
	.size = aws_size,
	.pack = aws_pack,
	.published = aws_published,
	.close = aws_close,
};
