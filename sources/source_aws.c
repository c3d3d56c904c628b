/*
 * vm:aws:AMI_ID|INSTANCE_ID — an AMI or an instance captured through EC2's VM export:
 * first what EC2 says of it (DescribeImages; an instance: DescribeInstances and its
 * type's DescribeInstanceTypes), then the export to s3://BUCKET/PREFIX (as
 * --input-option bucket=, prefix= say: ExportImage for an AMI, CreateInstanceExportTask
 * for an instance), the task polled until it completes, and the object AWS wrote (PREFIX +
 * task id + ".vmdk"|".raw"|".vhd") read where it lies through disk:s3://'s ranged reads
 * (format probed). The object is removed afterwards, whether the pack succeeded or not,
 * unless --keep-export. Given up on (timeout-minutes=, Ctrl-C, SIGTERM), the task is
 * cancelled (CancelExportTask), unless --keep-export. Credentials, region and endpoints
 * as the aws: target takes them.
 * The disk becomes a machine: the AMI's Name (an instance's Name tag), its boot mode as
 * the firmware, its platform as the OS, an instance's type as vCPUs and memory; pack's
 * machine options by hand win.
 */
#include "sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/interrupt.h"
#include "base/util.h"
#include "cloud/ec2.h"
#include "cloud/ec2_describe.h"
#include "cloud/s3.h"

extern const struct ep_source_ops ep_source_disk;

/* How EC2 exports an AMI or an instance, and how it answers about the task. */
struct export_api {
	const char *start, *poll; /* the actions */
	const char *task_param;   /* the poll's parameter naming the task */
	const char *started;      /* the start's answer: the task id's element, from the root */
	const char *set, *id, *state; /* the poll's answer: the set, an item's id and state elements */
	const char *failed[2];        /* states in which the task has failed */
	const char *cli;              /* the aws ec2 command that shows the task */
};

static const struct export_api image_api = {
	"ExportImage", "DescribeExportImageTasks", "ExportImageTaskId.1", "*[local-name()='exportImageTaskId']",
	"exportImageTaskSet", "exportImageTaskId", "status", { "deleted", "deleting" }, "describe-export-image-tasks",
};
static const struct export_api instance_api = {
	"CreateInstanceExportTask", "DescribeExportTasks", "ExportTaskId.1",
	"*[local-name()='exportTask']/*[local-name()='exportTaskId']",
	"exportTaskSet", "exportTaskId", "state", { "cancelled", "cancelling" }, "describe-export-tasks",
};

struct aws_state {
	struct ep_s3 *s3;
	struct ep_ec2 *ec2;
	struct ep_sigv4_creds creds;
	const char *id;               /* the AMI's or the instance's */
	const struct export_api *api; /* as id is one or the other */
	const char *bucket, *prefix, *format;
	struct ep_ec2_task_settings task_settings;
	struct ep_ec2_machine said;   /* what EC2 says of it */
	char task[80];
	struct ep_s3_url u;       /* the exported object, once the task names it */
	bool exported, keep;      /* whether it is there to remove, or to stay */
	char url[1100];           /* s3://BUCKET/KEY, read as disk: reads it */
	char from[1300];          /* "ec2:ID via s3://BUCKET/KEY" */
	struct ep_source disk_src; /* the object, as a disk: source */
	void *disk;                /* its state */
	const struct ep_capture_options *capture;
	const struct ep_source_sink *sink; /* pack's, while disk: packs through ours */
	char *component;                   /* the disk's, once packed */
	ep_source_report_fn report;
	void *report_ctx;
	ep_warn_fn warn;
	void *warn_ctx;
};

/* ami- or i- and 8 or 17 hex digits, as EC2 names images and instances. */
static int aws_parse(const char *spec, struct ep_source *out, struct ep_error *err)
{
	const char *p = out->path;
	size_t k = !strncmp(p, "ami-", 4) ? 4 : !strncmp(p, "i-", 2) ? 2 : 0;
	size_t n = k ? strspn(p + k, "0123456789abcdef") : 0;
	if (!n || p[k + n] || (n != 8 && n != 17))
		return ep_fail(err, EP_EINPUT, "'%s': vm:aws: takes an AMI id (ami-) or an instance id (i-), each with 8 "
					       "or 17 hex digits", spec);
	return 0;
}

static const char *extension(const char *format)
{
	return !strcmp(format, "VMDK") ? "vmdk" : !strcmp(format, "RAW") ? "raw" : "vhd";
}

static int settings(struct aws_state *s, const struct ep_capture_options *c, struct ep_error *err)
{
	s->bucket = ep_capture_param(c, "bucket");
	if (!s->bucket || !*s->bucket)
		return ep_fail(err, EP_EINPUT, "vm:aws: name the bucket %s writes to: --input-option bucket=BUCKET",
			       s->api->start);
	s->prefix = ep_capture_param(c, "prefix");
	s->prefix = s->prefix ? s->prefix : "envpack-export/";
	s->format = ep_capture_param(c, "format");
	s->format = s->format ? s->format : "VMDK";
	if (strcmp(s->format, "VMDK") && strcmp(s->format, "RAW") && strcmp(s->format, "VHD"))
		return ep_fail(err, EP_EINPUT, "vm:aws: --input-option format= takes VMDK, RAW or VHD, not '%s'", s->format);
	const char *role = ep_capture_param(c, "role-name");
	if (role && s->api == &instance_api) /* AWS's own account writes an instance's export */
		return ep_fail(err, EP_EINPUT, "vm:aws: role-name= is ExportImage's (an AMI); CreateInstanceExportTask takes "
					       "no role: the bucket's ACL grants AWS's export account");
	int rc = ep_ec2_task_settings(role, ep_capture_param(c, "poll-seconds"), ep_capture_param(c, "timeout-minutes"),
				      "vm:aws: --input-option", &s->task_settings, err);
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
		return ep_fail(err, EP_EINPUT, "vm:aws: name the region of %s: --input-option region=, AWS_REGION or "
			       "AWS_DEFAULT_REGION", s->id);
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

/* The start's parameters. An instance's target environment names the hypervisor whose
 * drivers the export prepares: VMware's for a VMDK (and a RAW image, which has none of
 * its own), Microsoft's for a VHD. */
static void export_form(const struct aws_state *s, struct ep_ec2_form *f)
{
	*f = (struct ep_ec2_form){ 0 };
	if (s->api == &instance_api) {
		ep_ec2_form_add(f, s->format, "ExportToS3.DiskImageFormat");
		ep_ec2_form_add(f, s->bucket, "ExportToS3.S3Bucket");
		ep_ec2_form_add(f, s->prefix, "ExportToS3.S3Prefix");
		ep_ec2_form_add(f, s->id, "InstanceId");
		ep_ec2_form_add(f, !strcmp(s->format, "VHD") ? "microsoft" : "vmware", "TargetEnvironment");
		return;
	}
	ep_ec2_form_add(f, s->format, "DiskImageFormat");
	ep_ec2_form_add(f, s->id, "ImageId");
	ep_ec2_form_add(f, s->bucket, "S3ExportLocation.S3Bucket");
	ep_ec2_form_add(f, s->prefix, "S3ExportLocation.S3Prefix");
	if (s->task_settings.role)
		ep_ec2_form_add(f, s->task_settings.role, "RoleName");
}

/* One request shown: action with value as its one parameter (NULL: the export's form). */
static int plan_one(struct aws_state *s, const char *action, const char *param, const char *value,
		    const struct ep_capture_options *c, struct ep_error *err)
{
	struct ep_ec2_form f = { 0 };
	if (param)
		ep_ec2_form_add(&f, value, "%s", param);
	else
		export_form(s, &f);
	int rc = ep_ec2_plan(s->ec2, action, &f, c->dry_run_request, c->dry_run_ctx, err);
	ep_ec2_form_release(&f);
	return rc;
}

/* Dry run: the describe calls, the export, the poll, and a note of the reads; nothing sent. */
static int plan(struct aws_state *s, const struct ep_capture_options *c, struct ep_error *err)
{
	bool instance = s->api == &instance_api;
	int rc = plan_one(s, instance ? "DescribeInstances" : "DescribeImages", instance ? "InstanceId.1" : "ImageId.1",
			  s->id, c, err);
	if (!rc && instance)
		rc = plan_one(s, "DescribeInstanceTypes", "InstanceType.1", "INSTANCE-TYPE", c, err);
	if (!rc)
		rc = plan_one(s, s->api->start, NULL, NULL, c, err);
	if (rc)
		return rc;
	ep_ec2_task_plan_note(&s->task_settings, c->dry_run_request, c->dry_run_ctx);
	rc = plan_one(s, s->api->poll, s->api->task_param, "EXPORT-TASK-ID", c, err);
	char note[1400];
	snprintf(note, sizeof note, "(given up on, at the timeout or on Ctrl-C: %s)",
		 c->keep_export ? "the task is left running, --keep-export" : "CancelExportTask, unless --keep-export");
	if (!rc)
		c->dry_run_request(c->dry_run_ctx, note);
	if (!rc && !c->keep_export)
		rc = plan_one(s, "CancelExportTask", "ExportTaskId", "EXPORT-TASK-ID", c, err);
	snprintf(note, sizeof note, "(then a HEAD and ranged GETs of s3://%s/%sEXPORT-TASK-ID.%s, removed afterwards%s)",
		 s->bucket, s->prefix, extension(s->format), c->keep_export ? ": no, --keep-export" : " unless --keep-export");
	if (!rc)
		c->dry_run_request(c->dry_run_ctx, note);
	return rc;
}

/* What EC2 says of the AMI or instance; one envpack's machines cannot run is refused
 * before anything is exported (the machine model and its targets are x86). */
static int describe(struct aws_state *s, struct ep_error *err)
{
	int rc = s->api == &instance_api ? ep_ec2_describe_instance(s->ec2, s->id, &s->said, err)
					 : ep_ec2_describe_image(s->ec2, s->id, &s->said, err);
	const char *arch = s->said.architecture;
	if (!rc && *arch && strcmp(arch, "x86_64") && strcmp(arch, "i386"))
		rc = ep_fail(err, EP_EINPUT, "vm:aws: %s is %s, and envpack's machines are x86 (x86_64, i386): nothing "
					     "exported", s->id, arch);
	return rc;
}

static int start_export(struct aws_state *s, struct ep_error *err)
{
	struct ep_ec2_form f;
	struct ep_xml x = { 0 };
	export_form(s, &f);
	int rc = ep_ec2_call(s->ec2, s->api->start, &f, &x, err);
	ep_ec2_form_release(&f);
	/* an id EC2 does not know (or may not be read) is the user's to fix */
	if (rc && (strstr(err->msg, "InvalidAMIID") || strstr(err->msg, "InvalidInstanceID") ||
		   strstr(err->msg, "InvalidParameter")))
		err->code = rc = EP_EINPUT;
	char expr[120];
	snprintf(expr, sizeof expr, "/*/%s", s->api->started);
	char *task = rc ? NULL : ep_xml_get(&x, NULL, expr);
	if (!rc && (!task || !*task || strlen(task) >= sizeof s->task ||
		    strspn(task, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(task)))
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: %s of %s: the answer names no export task", s->api->start, s->id);
	if (!rc)
		snprintf(s->task, sizeof s->task, "%s", task);
	free(task);
	ep_xml_release(&x);
	return rc;
}

/* One look at the task: 1 completed, 0 not yet, or its failure. */
static int poll_export(void *ctx, struct ep_error *err)
{
	struct aws_state *s = ctx;
	struct ep_ec2_form f = { 0 };
	struct ep_xml x = { 0 };
	ep_ec2_form_add(&f, s->task, "%s", s->api->task_param);
	int rc = ep_ec2_call(s->ec2, s->api->poll, &f, &x, err);
	ep_ec2_form_release(&f);
	if (rc)
		return rc;
	char e1[300], e2[300];
#define TASK_FIELD "/*/*[local-name()='%s']/*[*[local-name()='%s' and text()='%s']]/*[local-name()='%s']"
	snprintf(e1, sizeof e1, TASK_FIELD, s->api->set, s->api->id, s->task, s->api->state);
	snprintf(e2, sizeof e2, TASK_FIELD, s->api->set, s->api->id, s->task, "statusMessage");
	char *state = ep_xml_get(&x, NULL, e1), *msg = ep_xml_get(&x, NULL, e2);
	ep_xml_release(&x);
	if (!state)
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: %s does not name task %s", s->api->poll, s->task);
	else if (!strcmp(state, "completed"))
		rc = 1;
	else if (!strcmp(state, s->api->failed[0]) || !strcmp(state, s->api->failed[1]))
		rc = ep_fail(err, EP_ERUNTIME, "vm:aws: the export of %s failed (task %s %s): %s", s->id, s->task,
			     ep_printable(state), msg && *msg ? ep_printable(msg) : "no reason given");
	free(state);
	free(msg);
	return rc;
}

/* Gives up on the task (why: "did not finish within N min", "was interrupted"): it is
 * cancelled unless kept. A cancel EC2 refuses is said, and the failure stands; a task
 * that completed meanwhile cannot be cancelled, and its object goes as on any failure. */
static int give_up(struct aws_state *s, const char *why, struct ep_error *err)
{
	const char *left = "still running";
	bool running = true;
	if (s->keep)
		left = "left running";
	else {
		struct ep_ec2_form f = { 0 };
		struct ep_xml x = { 0 };
		struct ep_error e = { 0 }, e2 = { 0 };
		ep_ec2_form_add(&f, s->task, "ExportTaskId");
		int rc = ep_ec2_call(s->ec2, "CancelExportTask", &f, &x, &e);
		ep_ec2_form_release(&f);
		ep_xml_release(&x);
		if (!rc)
			left = "cancelled", running = false;
		else if (poll_export(s, &e2) == 1)
			left = "completed meanwhile: its object is removed", running = false, s->exported = true;
		else if (s->warn) {
			char msg[1500];
			snprintf(msg, sizeof msg, "vm:aws: could not cancel export task %s (aws ec2 cancel-export-task "
						  "--export-task-id %s): %s", s->task, s->task, e.msg);
			s->warn(s->warn_ctx, msg);
		}
	}
	char where[600] = "";
	if (running)
		snprintf(where, sizeof where, " (%slook with aws ec2 %s; its object will land in s3://%s/%s)",
			 s->keep ? "--keep-export; " : "", s->api->cli, s->bucket, s->prefix);
	return ep_fail(err, EP_ERUNTIME, "vm:aws: the export of %s %s: task %s %s%s", s->id, why, s->task, left, where);
}

static int wait_export(struct aws_state *s, struct ep_error *err)
{
	enum ep_wait_end end;
	int rc = ep_interrupt_wait(poll_export, s, s->task_settings.poll_seconds, s->task_settings.timeout_minutes, &end,
				   err);
	if (rc || end == EP_WAIT_DONE)
		return rc;
	char why[80] = "was interrupted";
	if (end == EP_WAIT_TIMED_OUT)
		snprintf(why, sizeof why, "did not finish within %u min", s->task_settings.timeout_minutes);
	return give_up(s, why, err);
}

/* The capture's summary as disk: reports it, told where it came from and what EC2 cost too. */
static void report(void *ctx, const struct ep_source_disk_report *r)
{
	struct aws_state *s = ctx;
	struct ep_source_disk_report mine = *r;
	mine.from = s->from;
	mine.requests += ep_ec2_requests(s->ec2);
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
	s->id = src->path;
	s->api = !strncmp(s->id, "i-", 2) ? &instance_api : &image_api;
	s->capture = c;
	s->keep = c && c->keep_export;
	s->warn = opt->warn, s->warn_ctx = opt->warn_ctx;
	int rc = settings(s, c, err);
	if (!rc)
		rc = clients(s, c, dry, err);
	if (!rc && dry)
		return plan(s, c, err);
	if (!rc)
		rc = describe(s, err);
	if (rc)
		return rc;
	ep_interrupt_arm(); /* Ctrl-C from the start on cancels the task */
	if ((rc = start_export(s, err))) {
		ep_interrupt_disarm();
		return rc;
	}
	/* the object lands under the name AWS gives it: PREFIX + task id + the format's extension */
	snprintf(s->u.key, sizeof s->u.key, "%s%s.%s", s->prefix, s->task, extension(s->format));
	snprintf(s->url, sizeof s->url, "s3://%s/%s", s->bucket, s->u.key);
	snprintf(s->from, sizeof s->from, "ec2:%s via %s", s->id, s->url);
	rc = wait_export(s, err);
	ep_interrupt_disarm(); /* the reads do not look: Ctrl-C ends them at once, as before */
	if (rc)
		return rc;
	s->exported = true; /* from here it is removed, even when the pack fails */
	if (ep_interrupted()) /* during the poll that saw it complete: too late to cancel */
		return ep_fail(err, EP_ERUNTIME, "vm:aws: the export of %s was interrupted: task %s completed, its object %s",
			       s->id, s->task, s->keep ? "kept (--keep-export)" : "is removed");
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

/* The disk is named after the AMI or instance, not after the export's object (a new task id each time). */
static int add_disk(void *ctx, struct ep_disk *d, const struct ep_component *base, const char *path,
		    struct ep_component **out, struct ep_error *err)
{
	(void)path;
	struct aws_state *s = ctx;
	int rc = s->sink->add_disk(s->sink->ctx, d, base, s->id, out, err);
	if (!rc && !(s->component = strdup((*out)->name)))
		rc = ep_oom(err);
	return rc;
}

/* The machine EC2 describes: a UEFI boot mode (uefi-preferred too: the image boots
 * either way) as uefi, Windows by its platform, Linux by PlatformDetails' names. */
static int add_machine(struct aws_state *s, struct ep_manifest *manifest, struct ep_error *err)
{
	const struct ep_ec2_machine *m = &s->said;
	const char *p = m->platform;
	struct ep_capture_machine said = { .name = m->name, .fallback = s->id, .vcpus = m->vcpus,
					   .memory_mib = m->memory_mib };
	said.firmware = !strncmp(m->boot_mode, "uefi", 4) ? "uefi" : "bios";
	said.os = !strncasecmp(p, "windows", 7)	? "windows"
		  : strstr(p, "Linux") || strstr(p, "Ubuntu") || strstr(p, "Red Hat") || strstr(p, "SUSE") ? "linux"
		  : "other";
	return ep_capture_machine_add(s->capture, &said, manifest, s->component, "vm:aws:", err);
}

static int aws_pack(const struct ep_source *src, void *state, const struct ep_source_sink *sink, struct ep_error *err)
{
	(void)src;
	struct aws_state *s = state;
	/* disk: packs through add_disk alone */
	struct ep_source_sink mine = { .ctx = s, .manifest = sink->manifest, .whole_max = sink->whole_max,
				       .add_disk = add_disk };
	s->sink = sink;
	int rc = ep_source_disk.pack(&s->disk_src, s->disk, &mine, err);
	return rc ? rc : add_machine(s, sink->manifest, err);
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
	free(s->component);
	free(s);
}

const struct ep_source_ops ep_source_vm_aws = {
	.prefix = "vm:aws:",
	.usage = "vm:aws:AMI_ID|INSTANCE_ID",
	.input_options = "bucket prefix format role-name region poll-seconds timeout-minutes",
	.machine_options = true,
	.parse = aws_parse,
	.open = aws_open,
	.size = aws_size,
	.pack = aws_pack,
	.published = aws_published,
	.close = aws_close,
};
