/*
 * aws:BUCKET[/PREFIX] — disks imported into EC2 through VM Import: each disk
 * converted in a scratch area to what VM Import reads (streamOptimized VMDK,
 * or -o format=vhd|raw), uploaded to s3://BUCKET/PREFIX/NAME.EXT (never over
 * an existing object), then one ImportImage per machine (its disks boot disk
 * first, BootMode from its firmware, Platform from its OS hint) or per disk
 * outside any machine, or one ImportSnapshot per disk with -o import=snapshot;
 * the tasks are polled until they complete (the AMI or snapshot ids are told)
 * or end deleted (AWS's StatusMessage is the error).
 *
 * Every object goes up before any import starts. Objects this run uploaded
 * are removed when the import that reads them failed or never started (they
 * would block a re-run) and, unless -o keep-objects=true, once it completed
 * (as Packer's amazon-import does); on a timeout they stay, the task still
 * reading them. Each import's ClientToken is a digest of the disks' content
 * and where they lie, so a re-run (or a retried request) finds the task
 * already started instead of starting a second one.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/util.h"
#include "cloud/ec2.h"
#include "cloud/s3.h"
#include "targets/scratch.h"
#include "targets/target.h"

#define MAX_DISKS 256
#define MAX_IMPORTS 256
#define MAX_MACHINE_DISKS 64
#define MAX_TAGS 50 /* EC2's limit per resource */

struct aws_disk {
	const struct ep_component *c;
	struct ep_s3_url url;
	bool uploaded; /* by this run: ours to remove */
	bool imported; /* an import of a machine takes it */
};

struct aws_import {
	const char *item;            /* the machine's or disk's name */
	const struct ep_machine *m;  /* NULL: one disk alone */
	size_t disk[MAX_MACHINE_DISKS]; /* indexes in disks, boot disk first */
	size_t ndisks;
	char task[128];
	bool started, done, failed;
};

struct aws_target {
	struct ep_target base;
	char bucket[64], prefix[900];
	const char *format, *ec2_format; /* "vmdk", "VMDK" */
	bool snapshot, keep_objects, dry_run;
	const char *license, *platform, *arch;
	const char *tags[MAX_TAGS];
	size_t ntags;
	struct ep_ec2_task_settings task_settings;
	struct ep_target_options opt;
	struct ep_s3 *s3;
	struct ep_ec2 *ec2;
	struct ep_sigv4_creds creds;
	struct ep_scratch *scratch;
	struct aws_disk disks[MAX_DISKS];
	size_t ndisks;
	struct aws_import imports[MAX_IMPORTS];
	size_t nimports;
};

static const char *const known[] = { "format", "import", "role-name", "license-type", "platform", "architecture",
				     "tag", "poll-seconds", "timeout-minutes", "keep-objects", NULL };

/* The value of -o key among allowed (NULL-terminated), dflt when not given. */
static int choice(const struct ep_target_options *opt, const char *key, const char *const *allowed, const char *dflt,
		  const char **out, struct ep_error *err)
{
	const char *v = ep_target_param(opt, key);
	*out = dflt;
	if (!v)
		return 0;
	for (size_t i = 0; allowed[i]; i++)
		if (!strcmp(v, allowed[i])) {
			*out = allowed[i];
			return 0;
		}
	char list[200] = "";
	for (size_t i = 0; allowed[i]; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
	return ep_fail(err, EP_EINPUT, "aws: -o %s=%s: one of %s", key, v, list);
}

static int read_settings(struct aws_target *t, const struct ep_target_options *opt, struct ep_error *err)
{
	static const char *const formats[] = { "vmdk", "vhd", "raw", NULL }, *const ec2_formats[] = { "VMDK", "VHD", "RAW" };
	static const char *const imports[] = { "image", "snapshot", NULL }, *const licenses[] = { "AWS", "BYOL", NULL };
	static const char *const platforms[] = { "Linux", "Windows", NULL };
	static const char *const arches[] = { "x86_64", "arm64", "i386", NULL }, *const yesno[] = { "true", "false", NULL };
	const char *import, *keep;
	int rc = ep_target_params_check(opt, "aws", known, err);
	if (!rc)
		rc = choice(opt, "format", formats, opt->disk_format ? opt->disk_format : "vmdk", &t->format, err);
	for (size_t i = 0; !rc && i < 3; i++)
		if (!strcmp(t->format, formats[i]))
			t->ec2_format = ec2_formats[i];
	if (!rc && !t->ec2_format)
		rc = ep_fail(err, EP_EINPUT, "aws: EC2 imports vmdk, vhd or raw disks, not '%s'", t->format);
	if (!rc)
		rc = choice(opt, "import", imports, "image", &import, err);
	if (!rc)
		rc = choice(opt, "license-type", licenses, NULL, &t->license, err);
	if (!rc)
		rc = choice(opt, "platform", platforms, NULL, &t->platform, err);
	if (!rc)
		rc = choice(opt, "architecture", arches, NULL, &t->arch, err);
	if (!rc)
		rc = choice(opt, "keep-objects", yesno, "false", &keep, err);
	if (rc)
		return rc;
	t->snapshot = !strcmp(import, "snapshot");
	t->keep_objects = !strcmp(keep, "true");
	if (t->snapshot && (t->license || t->platform || t->arch))
		return ep_fail(err, EP_EINPUT, "aws: -o license-type, platform and architecture are for images, not snapshots");
	rc = ep_ec2_task_settings(ep_target_param(opt, "role-name"), ep_target_param(opt, "poll-seconds"),
				  ep_target_param(opt, "timeout-minutes"), "aws: -o", &t->task_settings, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < opt->nparams; i++) {
		if (strncmp(opt->params[i], "tag=", 4))
			continue;
		const char *kv = opt->params[i] + 4, *eq = strchr(kv, '=');
		if (!eq || eq == kv || eq - kv > 128 || strlen(eq + 1) > 256 || !strncmp(kv, "aws:", 4))
			return ep_fail(err, EP_EINPUT, "aws: -o tag=KEY=VALUE (a key of 1 to 128 characters, not aws:..., a value of 256 at most), not '%s'", kv);
		if (t->ntags == MAX_TAGS)
			return ep_fail(err, EP_EINPUT, "aws: at most %d tags", MAX_TAGS);
		t->tags[t->ntags++] = kv;
	}
	return 0;
}

/* The region VM Import runs in: never guessed, since the AMI lands there. */
static const char *region_of(const struct ep_target_options *opt)
{
	const char *r = opt->s3 && opt->s3->region && *opt->s3->region ? opt->s3->region : getenv("AWS_REGION");
	if (!r || !*r)
		r = getenv("AWS_DEFAULT_REGION");
	return r && *r ? r : NULL;
}

static void aws_free(struct aws_target *t)
{
	ep_ec2_close(t->ec2);
	ep_s3_close(t->s3);
	ep_scratch_free(t->scratch);
	free(t);
}

static int aws_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		    struct ep_error *err)
{
	struct aws_target *t = calloc(1, sizeof *t);
	if (!t)
		return ep_oom(err);
	t->base.ops = &ep_target_aws;
	t->opt = *opt;
	t->dry_run = opt->dry_run_request != NULL;
	size_t n = strcspn(location, "/");
	const char *prefix = location + n + (location[n] == '/');
	size_t plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	int rc = read_settings(t, opt, err);
	struct ep_s3_url probe;
	char uri[1100];
	if (!rc && (n >= sizeof t->bucket || plen >= sizeof t->prefix))
		rc = ep_fail(err, EP_EINPUT, "aws:%s: a bucket of 3 to 63 characters, then a prefix of at most %zu", location,
			     sizeof t->prefix - 1);
	if (!rc) {
		snprintf(t->bucket, sizeof t->bucket, "%.*s", (int)n, location);
		snprintf(t->prefix, sizeof t->prefix, "%.*s", (int)plen, prefix);
		snprintf(uri, sizeof uri, "s3://%s/%s%sdisk", t->bucket, t->prefix, plen ? "/" : "");
		rc = ep_s3_url_parse(uri, &probe, err);
		if (rc)
			ep_error_prefix(err, "aws:%s: ", location);
	}
	const char *region = region_of(opt);
	if (!rc && !region)
		rc = ep_fail(err, EP_EINPUT, "aws: name the region to import into: --region, AWS_REGION or AWS_DEFAULT_REGION");
	/* a dry run needs no credentials: it signs with placeholders, masked when shown */
	static const struct ep_sigv4_creds placeholder = { "AKIAIOSFODNN7EXAMPLE", "DRY-RUN-PLACEHOLDER", NULL };
	struct ep_s3_options s3o = opt->s3 ? *opt->s3 : (struct ep_s3_options){ 0 };
	s3o.region = region;
	if (t->dry_run)
		s3o.creds = &placeholder;
	if (!rc)
		rc = ep_s3_open(&t->s3, &s3o, err);
	if (!rc) {
		ep_s3_creds(t->s3, &t->creds);
		rc = ep_ec2_open(&t->ec2, &(struct ep_ec2_options){ .http = s3o.http, .region = region, .creds = &t->creds },
				 err);
	}
	if (rc) {
		aws_free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* The machine in the manifest whose hard disk c is, or NULL. */
static const struct ep_machine *machine_of(const struct aws_target *t, const struct ep_component *c)
{
	const struct ep_manifest *m = t->opt.manifest;
	for (size_t i = 0; m && i < m->nmachines; i++)
		for (size_t k = 0; k < m->machines[i].ndisks; k++)
			if (!strcmp(m->machines[i].disks[k].component, c->name))
				return &m->machines[i];
	return NULL;
}

static struct aws_disk *disk_named(struct aws_target *t, const char *name)
{
	for (size_t i = 0; i < t->ndisks; i++)
		if (!strcmp(t->disks[i].c->name, name))
			return &t->disks[i];
	return NULL;
}

/* What the dry run says the object's size is: the converted size is only known
 * once converted, so the disk's data and room for the format's tables (a raw
 * image: its whole size). It decides between one PUT and a multipart upload. */
static uint64_t estimated_size(const struct aws_target *t, const struct ep_component *c)
{
	if (!strcmp(t->format, "raw"))
		return c->virtual_size;
	return ep_component_data_size(c) + c->virtual_size / 512 + 65536;
}

/* ---- the import requests ---- */

/* The ClientToken: the disks' content (every chunk's digest, every extent),
 * where the objects lie, and what is asked, so the same import asked twice is
 * one task. EC2 takes 64 characters at most. */
static int client_token(struct aws_target *t, const struct aws_import *im, char out[65], struct ep_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return ep_oom(err);
	}
	char head[300];
	snprintf(head, sizeof head, "envpack aws %s %s %s%c", t->snapshot ? "snapshot" : "image", t->ec2_format, im->item, 0);
	EVP_DigestUpdate(md, head, strlen(head) + 1);
	for (size_t i = 0; i < im->ndisks; i++) {
		const struct aws_disk *d = &t->disks[im->disk[i]];
		EVP_DigestUpdate(md, d->url.bucket, strlen(d->url.bucket) + 1);
		EVP_DigestUpdate(md, d->url.key, strlen(d->url.key) + 1);
		EVP_DigestUpdate(md, &d->c->virtual_size, sizeof d->c->virtual_size);
		for (size_t k = 0; k < d->c->nextents; k++)
			EVP_DigestUpdate(md, &d->c->extents[k].offset, sizeof d->c->extents[k].offset);
		for (size_t k = 0; k < d->c->nchunks; k++)
			EVP_DigestUpdate(md, d->c->chunks[k].digest, EP_DIGEST_LEN);
	}
	uint8_t d[EP_DIGEST_LEN];
	char hex[EP_DIGEST_HEX];
	EVP_DigestFinal_ex(md, d, NULL);
	EVP_MD_CTX_free(md);
	ep_hex(d, EP_DIGEST_LEN, hex);
	snprintf(out, 65, "envpack-%.48s", hex);
	return 0;
}

static void add_tags(struct aws_target *t, struct ep_ec2_form *f, const char *resource)
{
	if (!t->ntags)
		return;
	ep_ec2_form_add(f, resource, "TagSpecification.1.ResourceType");
	for (size_t i = 0; i < t->ntags; i++) {
		const char *eq = strchr(t->tags[i], '=');
		char key[130];
		snprintf(key, sizeof key, "%.*s", (int)(eq - t->tags[i]), t->tags[i]);
		ep_ec2_form_add(f, key, "TagSpecification.1.Tag.%zu.Key", i + 1);
		ep_ec2_form_add(f, eq + 1, "TagSpecification.1.Tag.%zu.Value", i + 1);
	}
}

/* The ImportImage or ImportSnapshot parameters for im; *action names which. */
static int import_form(struct aws_target *t, const struct aws_import *im, struct ep_ec2_form *f, const char **action,
		       struct ep_error *err)
{
	char token[65], text[400];
	const char *bundle = t->opt.manifest && t->opt.manifest->name ? t->opt.manifest->name : "a bundle";
	int rc = client_token(t, im, token, err);
	if (rc)
		return rc;
	*f = (struct ep_ec2_form){ 0 };
	ep_ec2_form_add(f, token, "ClientToken");
	if (t->snapshot) {
		const struct aws_disk *d = &t->disks[im->disk[0]];
		*action = "ImportSnapshot";
		snprintf(text, sizeof text, "envpack: disk %s of %s", d->c->name, bundle);
		ep_ec2_form_add(f, text, "Description");
		ep_ec2_form_add(f, d->c->name, "DiskContainer.Description");
		ep_ec2_form_add(f, t->ec2_format, "DiskContainer.Format");
		ep_ec2_form_add(f, d->url.bucket, "DiskContainer.UserBucket.S3Bucket");
		ep_ec2_form_add(f, d->url.key, "DiskContainer.UserBucket.S3Key");
		if (t->task_settings.role)
			ep_ec2_form_add(f, t->task_settings.role, "RoleName");
		add_tags(t, f, "import-snapshot-task");
		return 0;
	}
	*action = "ImportImage";
	if (im->m)
		snprintf(text, sizeof text, "envpack: machine %s (%u vCPU, %llu MiB) of %s", im->m->name, im->m->vcpus,
			 (unsigned long long)im->m->memory_mib, bundle);
	else
		snprintf(text, sizeof text, "envpack: disk %s of %s", im->item, bundle);
	ep_ec2_form_add(f, text, "Description");
	for (size_t i = 0; i < im->ndisks; i++) {
		const struct aws_disk *d = &t->disks[im->disk[i]];
		ep_ec2_form_add(f, d->c->name, "DiskContainer.%zu.Description", i + 1);
		ep_ec2_form_add(f, t->ec2_format, "DiskContainer.%zu.Format", i + 1);
		ep_ec2_form_add(f, d->url.bucket, "DiskContainer.%zu.UserBucket.S3Bucket", i + 1);
		ep_ec2_form_add(f, d->url.key, "DiskContainer.%zu.UserBucket.S3Key", i + 1);
	}
	if (im->m)
		ep_ec2_form_add(f, !strcmp(im->m->firmware, "uefi") ? "uefi" : "legacy-bios", "BootMode");
	const char *platform = t->platform;
	if (!platform && im->m && im->m->os)
		platform = !strcmp(im->m->os, "linux") ? "Linux" : !strcmp(im->m->os, "windows") ? "Windows" : NULL;
	if (platform)
		ep_ec2_form_add(f, platform, "Platform");
	if (t->arch)
		ep_ec2_form_add(f, t->arch, "Architecture");
	if (t->license)
		ep_ec2_form_add(f, t->license, "LicenseType");
	if (t->task_settings.role)
		ep_ec2_form_add(f, t->task_settings.role, "RoleName");
	add_tags(t, f, "import-image-task");
	return 0;
}

static void describe_form(const struct aws_target *t, const char *task, struct ep_ec2_form *f, const char **action)
{
	*f = (struct ep_ec2_form){ 0 };
	*action = t->snapshot ? "DescribeImportSnapshotTasks" : "DescribeImportImageTasks";
	ep_ec2_form_add(f, task, "ImportTaskId.1");
}

/* Dry run: the import's request, then the poll's, sent nothing. */
static int show_import(struct aws_target *t, const struct aws_import *im, struct ep_error *err)
{
	struct ep_ec2_form f;
	const char *action;
	int rc = import_form(t, im, &f, &action, err);
	if (!rc)
		rc = ep_ec2_plan(t->ec2, action, &f, t->opt.dry_run_request, t->opt.dry_run_ctx, err);
	ep_ec2_form_release(&f);
	if (rc)
		return rc;
	ep_ec2_task_plan_note(&t->task_settings, t->opt.dry_run_request, t->opt.dry_run_ctx);
	describe_form(t, "IMPORT-TASK-ID", &f, &action);
	rc = ep_ec2_plan(t->ec2, action, &f, t->opt.dry_run_request, t->opt.dry_run_ctx, err);
	ep_ec2_form_release(&f);
	return rc;
}

static int add_import(struct aws_target *t, const char *item, const struct ep_machine *m, struct aws_import **out,
		      struct ep_error *err)
{
	if (t->nimports == MAX_IMPORTS)
		return ep_fail(err, EP_EINPUT, "aws: more than %d imports in one restore", MAX_IMPORTS);
	struct aws_import *im = &t->imports[t->nimports++];
	*im = (struct aws_import){ .item = item, .m = m };
	*out = im;
	return 0;
}

/* ---- planning ---- */

static int aws_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct aws_target *t = (struct aws_target *)base;
	if (c->type != EP_COMP_DISK)
		return ep_fail(err, EP_EINPUT, "aws: imports disks and machines only ('%s' is not a disk; restore it to dir:)",
			       c->name);
	if (t->ndisks == MAX_DISKS)
		return ep_fail(err, EP_EINPUT, "aws: more than %d disks in one restore", MAX_DISKS);
	struct aws_disk *d = &t->disks[t->ndisks];
	char uri[1200];
	snprintf(uri, sizeof uri, "s3://%s/%s%s%s.%s", t->bucket, t->prefix, *t->prefix ? "/" : "", c->name, t->format);
	*d = (struct aws_disk){ .c = c };
	int rc = ep_s3_url_parse(uri, &d->url, err);
	if (rc)
		return rc;
	const struct ep_machine *m = machine_of(t, c);
	for (size_t k = 0; m && k < m->ndisks; k++)
		if (!strcmp(m->disks[k].component, c->name) && m->disks[k].device && strcmp(m->disks[k].device, "disk"))
			return ep_fail(err, EP_EINPUT, "aws: '%s' is a %s of machine '%s'; EC2 imports hard disks only (restore the machine to dir: or libvirt:)",
				       c->name, m->disks[k].device, m->name);
	t->ndisks++;
	bool alone = t->snapshot || !m;
	snprintf(dest, cap, "%s (%s, then %s)", uri, !strcmp(t->format, "vmdk") ? "streamOptimized VMDK" : t->format,
		 t->snapshot ? "ImportSnapshot" : alone ? "ImportImage" : "ImportImage with its machine");
	if (t->dry_run) {
		rc = ep_s3_plan_put(t->s3, &d->url, estimated_size(t, c), t->opt.dry_run_request, t->opt.dry_run_ctx, err);
		if (!rc && strcmp(t->format, "raw"))
			t->opt.dry_run_request(t->opt.dry_run_ctx, "(the size is an estimate: the image's own is known once converted)");
		struct aws_import *im = NULL;
		if (!rc && alone && !(rc = add_import(t, c->name, NULL, &im, err))) {
			im->disk[im->ndisks++] = t->ndisks - 1;
			rc = show_import(t, im, err);
		}
		return rc;
	}
	/* refused now rather than after the conversion and the upload of the disks before it */
	rc = ep_s3_head(t->s3, &d->url, NULL, err);
	if (rc == 1)
		rc = ep_fail(err, EP_EINPUT, "aws: %s exists; restore never overwrites (remove it, or restore under another prefix)", uri);
	return rc;
}

static int aws_plan_machine(struct ep_target *base, const struct ep_machine *m, char *dest, size_t cap,
			    struct ep_error *err)
{
	struct aws_target *t = (struct aws_target *)base;
	if (t->snapshot) { /* its disks were planned one snapshot each */
		snprintf(dest, cap, "one EBS snapshot a disk (ImportSnapshot); the machine definition is not kept");
		return 0;
	}
	if (m->ndisks > MAX_MACHINE_DISKS)
		return ep_fail(err, EP_EINPUT, "aws: machine '%s' has %zu disks; one import takes %d", m->name, m->ndisks,
			       MAX_MACHINE_DISKS);
	struct aws_import *im = NULL;
	int rc = add_import(t, m->name, m, &im, err);
	/* the boot disk first (EC2 boots the image from its first disk): by boot
	 * order, the disks without one after, each group in the machine's order */
	size_t order[MAX_MACHINE_DISKS];
	for (size_t k = 0; !rc && k < m->ndisks; k++) {
		size_t j = k;
		unsigned key = m->disks[k].boot ? m->disks[k].boot : UINT_MAX;
		for (; j > 0 && (m->disks[order[j - 1]].boot ? m->disks[order[j - 1]].boot : UINT_MAX) > key; j--)
			order[j] = order[j - 1];
		order[j] = k;
	}
	for (size_t k = 0; !rc && k < m->ndisks; k++) {
		struct aws_disk *d = disk_named(t, m->disks[order[k]].component);
		if (!d)
			rc = ep_fail(err, EP_EINPUT, "aws: disk '%s' of machine '%s' is not being restored",
				     m->disks[order[k]].component, m->name);
		else if (!d->imported) {
			d->imported = true;
			im->disk[im->ndisks++] = (size_t)(d - t->disks);
		}
	}
	if (rc)
		return rc;
	snprintf(dest, cap, "an AMI (ImportImage of %zu disk%s, %s, in %s)", im->ndisks, im->ndisks == 1 ? "" : "s",
		 !strcmp(m->firmware, "uefi") ? "uefi" : "legacy-bios", ep_s3_region(t->s3));
	return t->dry_run ? show_import(t, im, err) : 0;
}

/* ---- writing ---- */

static int aws_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct aws_target *t = (struct aws_target *)base;
	struct aws_disk *d = disk_named(t, c->name);
	if (!d)
		return ep_fail(err, EP_EINPUT, "aws: disk '%s' was not planned", c->name);
	const char *path;
	int rc = t->scratch ? 0 : ep_scratch_new(&t->scratch, err);
	if (!rc)
		rc = ep_scratch_disk(t->scratch, c, s, t->format, NULL, &path, err);
	if (rc)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "aws: cannot open '%s'", path);
	struct ep_s3_put_stats stats;
	if (!rc)
		rc = ep_s3_put_file(t->s3, &d->url, fd, (uint64_t)st.st_size, t->opt.progress, &stats, err);
	if (!rc)
		d->uploaded = true;
	if (fd >= 0)
		close(fd);
	unlink(path); /* scratch space for the next disk */
	return rc;
}

/* Removes the objects of im (or of every disk when im is NULL) this run uploaded. */
static void remove_objects(struct aws_target *t, const struct aws_import *im)
{
	size_t n = im ? im->ndisks : t->ndisks;
	for (size_t i = 0; i < n; i++) {
		struct aws_disk *d = &t->disks[im ? im->disk[i] : i];
		struct ep_error ignored;
		if (d->uploaded && ep_s3_delete(t->s3, &d->url, &ignored) == 0)
			d->uploaded = false;
	}
}

static int start_import(struct aws_target *t, struct aws_import *im, struct ep_error *err)
{
	struct ep_ec2_form f;
	const char *action;
	struct ep_xml x = { 0 };
	int rc = import_form(t, im, &f, &action, err);
	if (!rc)
		rc = ep_ec2_call(t->ec2, action, &f, &x, err);
	ep_ec2_form_release(&f);
	char *task = rc ? NULL : ep_xml_get(&x, NULL, "/*/*[local-name()='importTaskId']");
	if (!rc && (!task || !*task || strlen(task) >= sizeof im->task || strspn(task, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(task)))
		rc = ep_fail(err, EP_ERUNTIME, "aws: %s for '%s': the answer names no import task", action, im->item);
	if (!rc) {
		snprintf(im->task, sizeof im->task, "%s", task);
		im->started = true;
	}
	free(task);
	ep_xml_release(&x);
	return rc;
}

/* One look at im's task: done (with the id made), failed (with AWS's reason), or neither yet. */
static int poll_import(struct aws_target *t, struct aws_import *im, struct ep_error *err)
{
	struct ep_ec2_form f;
	const char *action;
	struct ep_xml x = { 0 };
	describe_form(t, im->task, &f, &action);
	int rc = ep_ec2_call(t->ec2, action, &f, &x, err);
	ep_ec2_form_release(&f);
	if (rc)
		return rc;
	struct ep_ec2_task st;
	rc = ep_ec2_import_task(&x, t->snapshot, im->task, &st, err);
	ep_xml_release(&x);
	if (rc)
		return rc;
	if (!strcmp(st.status, "completed")) {
		if (!*st.made)
			return ep_fail(err, EP_ERUNTIME, "aws: import task %s of '%s' completed without naming its %s", im->task,
				       im->item, t->snapshot ? "snapshot" : "image");
		im->done = true;
		if (t->opt.created)
			t->opt.created(t->opt.created_ctx, im->item, t->snapshot ? "snapshot" : "image", st.made);
	} else if (!strcmp(st.status, "deleted") || !strcmp(st.status, "deleting")) {
		im->failed = im->done = true;
		return ep_fail(err, EP_ERUNTIME, "aws: import of '%s' failed (task %s %s): %s", im->item, im->task, st.status,
			       *st.message ? st.message : "no reason given");
	}
	return 0;
}

static int aws_commit(struct ep_target *base, struct ep_error *err)
{
	struct aws_target *t = (struct aws_target *)base;
	int rc = 0;
	/* disks no planned machine takes (--only a disk, snapshots): imported alone */
	for (size_t i = 0; i < t->ndisks; i++) {
		struct aws_import *im = NULL;
		if (!t->disks[i].imported && !(rc = add_import(t, t->disks[i].c->name, NULL, &im, err))) {
			t->disks[i].imported = true;
			im->disk[im->ndisks++] = i;
		}
	}
	for (size_t i = 0; !rc && i < t->nimports; i++)
		rc = start_import(t, &t->imports[i], err);
	if (rc) {
		/* what started reads its objects; the rest are removed, for a clean re-run */
		char started[600] = "";
		for (size_t i = 0; i < t->nimports; i++)
			if (t->imports[i].started)
				snprintf(started + strlen(started), sizeof started - strlen(started), "%s %s (%s)",
					 *started ? "," : "; started already and still running:", t->imports[i].task,
					 t->imports[i].item);
			else
				remove_objects(t, &t->imports[i]);
		if (*started)
			strncat(err->msg, started, sizeof err->msg - strlen(err->msg) - 1);
		aws_free(t);
		return rc;
	}
	struct ep_error first = { 0 };
	size_t failed = 0, pending = t->nimports;
	time_t deadline = time(NULL) + (time_t)t->task_settings.timeout_minutes * 60;
	while (pending) {
		for (size_t i = 0; i < t->nimports; i++) {
			struct aws_import *im = &t->imports[i];
			struct ep_error e = { 0 };
			if (im->done)
				continue;
			int prc = poll_import(t, im, &e);
			if (prc && !im->failed) { /* EC2 could not be asked: say so, and stop asking */
				if (!first.code)
					first = e;
				failed++;
				im->done = true;
				pending--;
				continue;
			}
			if (!im->done)
				continue;
			pending--;
			if (im->failed) {
				failed++;
				if (!first.code)
					first = e;
			}
			if (im->failed || !t->keep_objects)
				remove_objects(t, im);
		}
		if (pending && time(NULL) + (time_t)t->task_settings.poll_seconds > deadline) {
			char left[600] = "";
			for (size_t i = 0; i < t->nimports; i++)
				if (!t->imports[i].done)
					snprintf(left + strlen(left), sizeof left - strlen(left), "%s%s (%s)", *left ? ", " : "",
						 t->imports[i].task, t->imports[i].item);
			rc = ep_fail(err, EP_ERUNTIME, "aws: the import did not finish within %u min; still running: %s (look with "
				     "aws ec2 %s; its objects stay in s3://%s)", t->task_settings.timeout_minutes, left,
				     t->snapshot ? "describe-import-snapshot-tasks" : "describe-import-image-tasks", t->bucket);
			break;
		}
		if (pending)
			nanosleep(&(struct timespec){ .tv_sec = t->task_settings.poll_seconds }, NULL);
	}
	if (!rc && failed) {
		*err = first;
		if (failed > 1 || t->nimports > 1) {
			char more[120];
			snprintf(more, sizeof more, " (%zu of %zu imports failed)", failed, t->nimports);
			strncat(err->msg, more, sizeof err->msg - strlen(err->msg) - 1);
		}
		rc = err->code ? err->code : EP_ERUNTIME;
	}
	aws_free(t);
	return rc;
}

static void aws_abort(struct ep_target *base)
{
	struct aws_target *t = (struct aws_target *)base;
	remove_objects(t, NULL); /* nothing was imported: what this run uploaded goes */
	aws_free(t);
}

const struct ep_target_ops ep_target_aws = {
	.scheme = "aws",
	.summary = "disks uploaded to S3 and imported into EC2 (VM Import): AMIs, or snapshots",
	.location = "BUCKET[/PREFIX]",
	.open = aws_open,
	.plan = aws_plan,
	.put_disk = aws_put_disk,
	.plan_machine = aws_plan_machine,
	.commit = aws_commit,
	.abort = aws_abort,
};
