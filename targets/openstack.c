/*
 * openstack:PREFIX — each disk becomes a Glance image named PREFIX-DISK
 * (qcow2 by default, container bare), uploaded from a scratch file and
 * checked against what Glance answers; a machine's model becomes properties
 * of its boot disk's image (firmware, OS type, buses where the guest lacks
 * virtio drivers, min_ram). Heat templates of a bundle's IaC tree become a
 * stack, created at commit, only when -o heat-stack=NAME asks for one.
 * Images never replace others: a name already taken fails the plan, before
 * anything is sent. A failure deletes every image this restore created.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/util.h"
#include "cloud/openstack_api.h"
#include "cloud/s3.h"
#include "targets/scratch.h"
#include "targets/target.h"

#define MAX_IMAGES 64
#define NAME_MAX_ 255             /* Glance's limit on image names */
#define HEAT_FILE_MAX ((size_t)512 << 10) /* Heat's own max_template_size */
#define HEAT_FILES_MAX ((size_t)4 << 20)

struct os_image {
	char *component; /* borrowed from the manifest */
	char *name;
	char id[EP_OS_ID_MAX]; /* set once created: abort deletes it */
};

struct os_target {
	struct ep_target base;
	struct ep_os *os;
	struct ep_scratch *scratch;
	const struct ep_target_options *opt;
	const char *prefix, *disk_format, *visibility, *heat_stack, *heat_template;
	bool dry;
	struct os_image images[MAX_IMAGES];
	size_t nimages;
	const char *stack_component; /* the tree the stack comes from */
	char *stack_body;            /* the stack-create request, sent at commit */
};

static const char *const known_params[] = { "cloud", "region", "interface", "image-url", "heat-url", "disk-format",
					    "visibility", "heat-stack", "heat-template", NULL };
static const char *const disk_formats[] = { "qcow2", "raw", "vmdk", "vhd", "vhdx", NULL };
static const char *const visibilities[] = { "private", "shared", "community", "public", NULL };

static bool one_of(const char *v, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(v, list[i]))
			return true;
	return false;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void os_free(struct os_target *t)
{
	ep_os_close(t->os);
	ep_scratch_free(t->scratch);
	for (size_t i = 0; i < t->nimages; i++)
		free(t->images[i].name);
	free(t->stack_body);
	free(t);
}

static int os_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		   struct ep_error *err)
{
	int rc = ep_target_params_check(opt, "openstack", known_params, err);
	if (rc)
		return rc;
	json_t *utf8 = json_string(location); /* image names travel in JSON */
	json_decref(utf8);
	if (!text_ok(location, 200) || !utf8)
		return ep_fail(err, EP_EINPUT, "openstack: the image name prefix must be 1 to 200 printable UTF-8 characters");
	struct os_target *t = calloc(1, sizeof *t);
	if (!t)
		return ep_oom(err);
	t->base.ops = &ep_target_openstack;
	t->opt = opt;
	t->prefix = location;
	t->dry = opt->dry_run_request != NULL;
	t->disk_format = ep_target_param(opt, "disk-format");
	if (!t->disk_format)
		t->disk_format = opt->disk_format ? opt->disk_format : "qcow2";
	t->visibility = ep_target_param(opt, "visibility");
	if (!t->visibility)
		t->visibility = "private";
	t->heat_stack = ep_target_param(opt, "heat-stack");
	t->heat_template = ep_target_param(opt, "heat-template");
	if (!one_of(t->disk_format, disk_formats))
		rc = ep_fail(err, EP_EINPUT, "openstack: -o disk-format takes qcow2, raw, vmdk, vhd or vhdx, not '%s'", t->disk_format);
	else if (!one_of(t->visibility, visibilities))
		rc = ep_fail(err, EP_EINPUT, "openstack: -o visibility takes private, shared, community or public");
	else if (t->heat_stack && !text_ok(t->heat_stack, 255))
		rc = ep_fail(err, EP_EINPUT, "openstack: -o heat-stack takes a stack name");
	struct ep_os_options oo = { .cloud = ep_target_param(opt, "cloud"),
				    .image_url = ep_target_param(opt, "image-url"),
				    .heat_url = ep_target_param(opt, "heat-url"),
				    .region = ep_target_param(opt, "region"),
				    .interface = ep_target_param(opt, "interface"),
				    .emit = opt->dry_run_request,
				    .emit_ctx = opt->dry_run_ctx };
	if (opt->s3)
		oo.http = opt->s3->http;
	if (!rc)
		rc = ep_os_open(&t->os, &oo, err);
	if (!rc) /* a wrong password fails here, before anything is created */
		rc = ep_os_auth(t->os, err);
	if (rc) {
		os_free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

static struct os_image *image_of(struct os_target *t, const char *component)
{
	for (size_t i = 0; i < t->nimages; i++)
		if (!strcmp(t->images[i].component, component))
			return &t->images[i];
	return NULL;
}

/* POST /v2/images: the name, formats and the smallest root disk the image fits. */
static char *create_body(const struct os_target *t, const struct ep_component *c, const char *name)
{
	json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", name, "disk_format", t->disk_format, "container_format",
				"bare", "visibility", t->visibility, "min_disk",
				(json_int_t)((c->virtual_size + (1ull << 30) - 1) >> 30));
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	return s;
}

static int plan_disk(struct os_target *t, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	if (t->nimages == MAX_IMAGES)
		return ep_fail(err, EP_EINPUT, "openstack: at most %d disks in one restore", MAX_IMAGES);
	struct os_image *im = &t->images[t->nimages];
	if (asprintf(&im->name, "%s-%s", t->prefix, c->name) < 0)
		return ep_oom(err);
	im->component = c->name;
	t->nimages++;
	if (strlen(im->name) > NAME_MAX_)
		return ep_fail(err, EP_EINPUT, "openstack: the image name '%s' is longer than %d bytes", im->name, NAME_MAX_);
	struct ep_os_image_info found;
	int rc = ep_os_image_named(t->os, im->name, &found, err);
	if (rc == 1 && found.status[0] && strcmp(found.status, "active"))
		return ep_fail(err, EP_EINPUT, "openstack: an image named '%s' exists already (%s, status %s: perhaps left "
					       "by a restore that failed; 'openstack image delete %s' if so); restore never "
					       "replaces or duplicates one", im->name, found.id, found.status, found.id);
	if (rc == 1)
		return ep_fail(err, EP_EINPUT, "openstack: an image named '%s' exists already; restore never replaces or "
					       "duplicates one (choose another prefix: openstack:PREFIX)", im->name);
	if (!rc && t->dry) { /* what put_disk will send */
		char *body = create_body(t, c, im->name), id[EP_OS_ID_MAX], what[300];
		rc = body ? ep_os_image_create(t->os, body, id, err) : ep_oom(err);
		free(body);
		snprintf(what, sizeof what, "disk '%s' as %s, streamed from a scratch file", c->name, t->disk_format);
		if (!rc)
			rc = ep_os_image_upload(t->os, id, NULL, what, NULL, err);
	}
	if (!rc)
		snprintf(dest, cap, "image '%s' (%s, bare) in Glance at %s", im->name, t->disk_format, ep_os_image_endpoint(t->os));
	return rc;
}

/* The heat templates of tree c: how many, and the one named (or the only one). */
static size_t heat_files(const struct ep_component *c, const char *wanted, const struct ep_file_rec **main_)
{
	size_t n = 0;
	*main_ = NULL;
	for (size_t i = 0; i < c->nfiles; i++) {
		if (c->files[i].type != EP_FILE_REG || c->files[i].kind != EP_KIND_HEAT)
			continue;
		n++;
		if (wanted ? !strcmp(c->files[i].path, wanted) : !*main_)
			*main_ = &c->files[i];
	}
	return n;
}

/* The stack-create body. Without a chunk stream (a dry run) each file stands as "[PATH, N bytes]". */
static int stack_body(struct os_target *t, const struct ep_component *c, const struct ep_file_rec *main_,
		      struct ep_chunk_stream *s, char **out, struct ep_error *err)
{
	json_t *files = json_object(), *doc = NULL;
	size_t total = 0;
	int rc = files ? 0 : ep_oom(err);
	json_t *template = NULL;
	const char *slash = strrchr(main_->path, '/');
	size_t dirlen = slash ? (size_t)(slash - main_->path) + 1 : 0; /* "heat/" of "heat/stack.yaml" */
	for (size_t i = 0; !rc && i < c->nfiles; i++) {
		const struct ep_file_rec *f = &c->files[i];
		char *text = NULL, note[EP_RELPATH_MAX + 32]; /* "[PATH, N bytes]" */
		size_t len = 0;
		/* Heat finds nested templates and get_file contents by the path the template
		 * names them with, relative to its own directory: only files under it go */
		if (f->type != EP_FILE_REG || strncmp(f->path, main_->path, dirlen))
			continue;
		if (f->size > HEAT_FILE_MAX || (total += f->size) > HEAT_FILES_MAX) {
			rc = ep_fail(err, EP_EINPUT, "openstack: '%s' in '%s' is too large to send to Heat (%zu KiB a file, "
						     "%zu MiB in all)", f->path, c->name, HEAT_FILE_MAX >> 10, HEAT_FILES_MAX >> 20);
			break;
		}
		if (s) {
			if ((rc = ep_chunk_stream_read(s, c->chunks + f->first, f->count, HEAT_FILE_MAX, &text, &len, err)))
				break;
		} else {
			snprintf(note, sizeof note, "[%s, %llu bytes]", f->path, (unsigned long long)f->size);
		}
		json_t *v = s ? json_stringn(text, len) : json_string(note);
		free(text);
		if (!v) {
			if (f == main_)
				rc = ep_fail(err, EP_EINPUT, "openstack: the Heat template '%s' is not UTF-8 text", f->path);
			continue; /* binary files cannot travel in Heat's files map */
		}
		if (f == main_)
			template = v;
		else
			json_object_set_new(files, f->path + dirlen, v);
	}
	if (!rc && !(doc = json_pack("{s:s,s:o,s:o}", "stack_name", t->heat_stack, "template", template, "files", files)))
		rc = ep_oom(err);
	if (!rc) {
		template = files = NULL; /* doc holds them */
		if (!(*out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)))
			rc = ep_oom(err);
	}
	json_decref(template);
	json_decref(files);
	json_decref(doc);
	return rc;
}

static int plan_tree(struct os_target *t, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	const struct ep_file_rec *main_;
	size_t n = heat_files(c, t->heat_template, &main_);
	if (c->type == EP_COMP_IMAGE || !n)
		return ep_fail(err, EP_EINPUT, "openstack: takes disks, machines and Heat templates; '%s' holds no Heat "
					       "template (restore it to dir:, or leave it out with --only)", c->name);
	if (!t->heat_stack)
		return ep_fail(err, EP_EINPUT, "openstack: '%s' holds Heat templates; give -o heat-stack=NAME to create a "
					       "stack from them, or leave it out with --only", c->name);
	if (t->stack_component)
		return ep_fail(err, EP_EINPUT, "openstack: one stack per restore ('%s' and '%s' both hold Heat templates; "
					       "pick one with --only)", t->stack_component, c->name);
	if (!main_)
		return ep_fail(err, EP_EINPUT, "openstack: '%s' has no Heat template '%s'", c->name, t->heat_template);
	if (n > 1 && !t->heat_template)
		return ep_fail(err, EP_EINPUT, "openstack: '%s' holds %zu Heat templates; say which is the stack's with "
					       "-o heat-template=PATH (the others go along as nested templates)", c->name, n);
	if (!*ep_os_heat_endpoint(t->os)) /* known now, rather than after the uploads */
		return ep_fail(err, EP_EINPUT, "openstack: the catalog has no orchestration endpoint for a stack (give "
					       "-o heat-url=URL)");
	t->stack_component = c->name;
	int rc = 0;
	if (t->dry) {
		char *body = NULL;
		rc = stack_body(t, c, main_, NULL, &body, err);
		if (!rc)
			rc = ep_os_stack_create(t->os, body, err);
		free(body);
	}
	if (!rc)
		snprintf(dest, cap, "Heat stack '%s' from %s/%s, created once the images are up", t->heat_stack, c->name,
			 main_->path);
	return rc;
}

static int os_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct os_target *t = (struct os_target *)base;
	return c->type == EP_COMP_DISK ? plan_disk(t, c, dest, cap, err) : plan_tree(t, c, dest, cap, err);
}

static int os_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
		       struct ep_error *err)
{
	struct os_target *t = (struct os_target *)base;
	struct os_image *im = image_of(t, c->name);
	const char *path = NULL;
	char *body = NULL, what[300];
	if (!im)
		return ep_fail(err, EP_EINPUT, "openstack: disk '%s' was not planned", c->name);
	int rc = t->scratch ? 0 : ep_scratch_new(&t->scratch, err);
	/* Glance's "raw", "vhd" and the rest are envpack's names too */
	if (!rc)
		rc = ep_scratch_disk(t->scratch, c, s, t->disk_format, NULL, &path, err);
	if (!rc && !(body = create_body(t, c, im->name)))
		rc = ep_oom(err);
	if (!rc)
		rc = ep_os_image_create(t->os, body, im->id, err);
	free(body);
	snprintf(what, sizeof what, "disk '%s' as %s", c->name, t->disk_format);
	if (!rc)
		rc = ep_os_image_upload(t->os, im->id, path, what, t->opt->progress, err);
	if (path)
		unlink(path); /* the scratch area may hold one disk at a time */
	struct ep_error derr = { 0 };
	size_t n = strlen(err->msg);
	if (rc && im->id[0] && ep_os_image_delete(t->os, im->id, &derr) && n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n, "; the half-made image %s could not be deleted (%.300s): delete it "
							    "with 'openstack image delete %s'", im->id, derr.msg, im->id);
	else if (rc && im->id[0])
		im->id[0] = '\0'; /* gone: abort has nothing more to do */
	return rc;
}

static int os_put_files(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			struct ep_error *err)
{
	struct os_target *t = (struct os_target *)base;
	const struct ep_file_rec *main_;
	heat_files(c, t->heat_template, &main_);
	if (!main_ || !t->stack_component || strcmp(t->stack_component, c->name))
		return ep_fail(err, EP_EINPUT, "openstack: tree '%s' was not planned", c->name);
	free(t->stack_body);
	t->stack_body = NULL;
	return stack_body(t, c, main_, s, &t->stack_body, err);
}

/* The disk a machine boots from: the lowest boot order, else its first. */
static const struct ep_vm_disk *boot_disk(const struct ep_machine *m)
{
	const struct ep_vm_disk *best = m->ndisks ? &m->disks[0] : NULL;
	for (size_t i = 0; i < m->ndisks; i++)
		if (m->disks[i].boot && (!best->boot || m->disks[i].boot < best->boot))
			best = &m->disks[i];
	return best;
}

/* What Nova reads from an image to start the machine as it ran: firmware (Secure Boot too), machine
 * type, OS, the buses a guest without virtio drivers needs, and its memory. */
static char *machine_patch(const struct ep_machine *m, char *summary, size_t cap)
{
	json_t *ops = json_array();
	bool q35 = ep_machine_q35(m); /* Nova's Secure Boot needs q35 too */
	const char *props[6][2];
	size_t n = 0;
	if (!strcmp(m->firmware, "uefi"))
		props[n][0] = "hw_firmware_type", props[n++][1] = "uefi";
	if (m->secure_boot) /* Nova's libvirt driver: required, disabled or optional */
		props[n][0] = "os_secure_boot", props[n++][1] = m->secure_boot == EP_SECURE_BOOT_ON ? "required" : "disabled";
	if (q35)
		props[n][0] = "hw_machine_type", props[n++][1] = "q35";
	if (m->os && (!strcmp(m->os, "linux") || !strcmp(m->os, "windows")))
		props[n][0] = "os_type", props[n++][1] = m->os;
	if (!ep_machine_virtio_ok(m)) { /* Nova's default is virtio, which such a guest cannot boot from */
		props[n][0] = "hw_disk_bus", props[n++][1] = q35 ? "sata" : "ide";
		props[n][0] = "hw_vif_model", props[n++][1] = "e1000";
	}
	size_t at = 0;
	summary[0] = '\0';
	for (size_t i = 0; ops && i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/%s", props[i][0]);
		json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "op", "add", "path", path, "value", props[i][1]));
		at += (size_t)snprintf(summary + at, at < cap ? cap - at : 0, "%s=%s, ", props[i][0], props[i][1]);
	}
	json_array_append_new(ops, json_pack("{s:s,s:s,s:I}", "op", "replace", "path", "/min_ram", "value",
					     (json_int_t)m->memory_mib));
	if (at < cap)
		snprintf(summary + at, cap - at, "min_ram=%llu", (unsigned long long)m->memory_mib);
	char *s = ops ? json_dumps(ops, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(ops);
	return s;
}

static int os_plan_machine(struct ep_target *base, const struct ep_machine *m, char *dest, size_t cap,
			   struct ep_error *err)
{
	struct os_target *t = (struct os_target *)base;
	const struct ep_vm_disk *d = boot_disk(m);
	struct os_image *im = d ? image_of(t, d->component) : NULL;
	if (!im)
		return ep_fail(err, EP_EINPUT, "openstack: machine '%s' has no planned boot disk", m->name);
	char summary[400];
	char *patch = machine_patch(m, summary, sizeof summary);
	if (!patch)
		return ep_oom(err);
	int rc = t->dry ? ep_os_image_patch(t->os, "{id}", patch, err) : 0;
	free(patch);
	if (!rc)
		snprintf(dest, cap, "properties of image '%s': %s", im->name, summary);
	return rc;
}

static int os_put_machine(struct ep_target *base, const struct ep_manifest *manifest, const struct ep_machine *m,
			  struct ep_error *err)
{
	(void)manifest;
	struct os_target *t = (struct os_target *)base;
	const struct ep_vm_disk *d = boot_disk(m);
	struct os_image *im = d ? image_of(t, d->component) : NULL;
	if (!im || !im->id[0])
		return ep_fail(err, EP_EINPUT, "openstack: machine '%s': its boot disk was not uploaded", m->name);
	char summary[400];
	char *patch = machine_patch(m, summary, sizeof summary);
	int rc = patch ? ep_os_image_patch(t->os, im->id, patch, err) : ep_oom(err);
	free(patch);
	return rc;
}

/* Deletes what this restore created; a failure to is only logged by the server. */
static void delete_images(struct os_target *t)
{
	for (size_t i = 0; !t->dry && i < t->nimages; i++) {
		struct ep_error ignored = { 0 };
		if (t->images[i].id[0])
			ep_os_image_delete(t->os, t->images[i].id, &ignored);
	}
}

static int os_commit(struct ep_target *base, struct ep_error *err)
{
	struct os_target *t = (struct os_target *)base;
	int rc = t->stack_body ? ep_os_stack_create(t->os, t->stack_body, err) : 0;
	if (rc)
		delete_images(t);
	os_free(t);
	return rc;
}

static void os_abort(struct ep_target *base)
{
	struct os_target *t = (struct os_target *)base;
	delete_images(t);
	os_free(t);
}

const struct ep_target_ops ep_target_openstack = {
	.scheme = "openstack",
	.summary = "disks as Glance images PREFIX-DISK, machines as their properties, Heat stacks (OS_* or clouds.yaml)",
	.location = "PREFIX",
	.open = os_open,
	.plan = os_plan,
	.put_disk = os_put_disk,
	.put_files = os_put_files,
	.plan_machine = os_plan_machine,
	.put_machine = os_put_machine,
	.commit = os_commit,
	.abort = os_abort,
};
