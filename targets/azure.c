/*
 * azure:CONTAINER[/PREFIX] — each disk goes up as a page blob PREFIX/NAME.vhd
 * holding a fixed VHD (its virtual size rounded up to a whole MiB, as Azure
 * imports it): written out locally first (targets/scratch.c), then the blob
 * created only if the name is free, its allocated ranges written with Put
 * Page, and marked complete (metadata envpack_state=complete) at commit. A
 * failed restore deletes the blobs it created.
 *
 * What comes next in Azure, a managed disk imported from each blob and an
 * image of each machine, is the business of Azure Resource Manager, which
 * takes an Azure AD token, not a storage key: a dry run shows those requests
 * (from -o subscription=, resource-group=, location=) for the user to send
 * (az rest, or az disk create --source URL); a real run sends only the blob
 * requests.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "base/http.h"
#include "base/interrupt.h"
#include "base/util.h"
#include "cloud/azure_blob.h"
#include "cloud/s3.h"
#include "targets/scratch.h"
#include "targets/target.h"

#define MAX_DISKS 64
#define MIB ((uint64_t)1 << 20)
#define ARM "https://management.azure.com"
#define DISKS_API "2023-04-02"
#define IMAGES_API "2023-09-01"
#define VHD_MAX ((uint64_t)2040 << 30) /* the VHD format's limit */

struct azure_disk {
	char *component;
	char *blob; /* PREFIX/NAME.vhd */
	uint64_t size; /* the blob's: the fixed VHD's file size */
	bool created;  /* ours to delete on failure */
};

struct azure_target {
	struct ep_target base;
	struct ep_azure *az;
	const struct ep_target_options *opt;
	struct ep_scratch *sc;
	char container[64];
	char prefix[900];
	const char *subscription, *group, *storage_group, *location;
	struct azure_disk disks[MAX_DISKS];
	size_t ndisks;
	bool armed; /* a signal now asks for the blobs to be deleted (base/interrupt.h) */
};

static const char *const known[] = { "endpoint", "jobs", "subscription", "resource-group", "storage-resource-group",
				     "location", NULL };
static const char *const meta_uploading[] = { "envpack_state: uploading", "envpack_upload: UPLOAD-ID", NULL };
static const char *const meta_complete[] = { "envpack_state: complete", NULL };

static void azure_free(struct azure_target *t)
{
	if (t->armed)
		ep_interrupt_disarm();
	for (size_t i = 0; i < t->ndisks; i++) {
		free(t->disks[i].component);
		free(t->disks[i].blob);
	}
	ep_scratch_free(t->sc);
	ep_azure_close(t->az);
	free(t);
}

static int azure_open(struct ep_target **out, const char *location, const struct ep_target_options *opt,
		      struct ep_error *err)
{
	int rc = ep_target_params_check(opt, "azure", known, err);
	if (rc)
		return rc;
	if (opt->disk_format && strcmp(opt->disk_format, "vhd"))
		return ep_fail(err, EP_EINPUT, "azure: disks go up as fixed VHDs; --format %s does not apply", opt->disk_format);
	struct azure_target *t = calloc(1, sizeof *t);
	if (!t)
		return ep_oom(err);
	t->base.ops = &ep_target_azure;
	t->opt = opt;
	size_t n = strcspn(location, "/");
	const char *prefix = location[n] == '/' ? location + n + 1 : "";
	size_t plen = strlen(prefix);
	while (plen && prefix[plen - 1] == '/')
		plen--;
	if (n >= sizeof t->container || plen >= sizeof t->prefix)
		rc = ep_fail(err, EP_EINPUT, "azure: '%s' is too long for CONTAINER[/PREFIX]", location);
	else {
		snprintf(t->container, sizeof t->container, "%.*s", (int)n, location);
		snprintf(t->prefix, sizeof t->prefix, "%.*s", (int)plen, prefix);
	}
	if (!rc && !ep_azure_container_ok(t->container))
		rc = ep_fail(err, EP_EINPUT, "azure: '%s' is not a container name (3 to 63 lowercase letters, digits and "
					     "single hyphens)", t->container);
	if (!rc && t->prefix[0] && !ep_azure_blob_name_ok(t->prefix))
		rc = ep_fail(err, EP_EINPUT, "azure: the prefix '%s' takes letters, digits, '.', '_', '-' and '/'", t->prefix);
	unsigned jobs = 0;
	if (!rc)
		rc = ep_azure_jobs_parse(ep_target_param(opt, "jobs"), "azure: -o", &jobs, err);
	t->subscription = ep_target_param(opt, "subscription");
	t->group = ep_target_param(opt, "resource-group");
	t->storage_group = ep_target_param(opt, "storage-resource-group");
	t->location = ep_target_param(opt, "location");
	struct ep_azure_options ao = { .endpoint = ep_target_param(opt, "endpoint"), .jobs = jobs };
	if (opt->s3)
		ao.http = opt->s3->http;
	if (!rc)
		rc = ep_azure_open(&t->az, &ao, err);
	if (rc) {
		azure_free(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* ---- Azure Resource Manager requests, shown on dry runs ---- */

static const char *or_placeholder(const char *v, const char *placeholder)
{
	return v && *v ? v : placeholder;
}

static void arm_id(const struct azure_target *t, const char *type, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s",
		 or_placeholder(t->subscription, "SUBSCRIPTION_ID"), or_placeholder(t->group, "RESOURCE_GROUP"), type, name);
}

/* Hands the dry run a PUT of resource id with body, as ep_http_request_text shows it. */
static int show_arm_put(struct azure_target *t, const char *id, const char *api, json_t *body, struct ep_error *err)
{
	char url[1400];
	snprintf(url, sizeof url, ARM "%s?api-version=%s", id, api);
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (!text)
		return ep_oom(err);
	/* the token is the user's (az account get-access-token); it is masked whatever it is */
	const char *headers[] = { "Authorization: Bearer AZURE_AD_TOKEN", "Content-Type: application/json", NULL };
	char *req = ep_http_request_text(&(struct ep_http_request){ .method = "PUT", .url = url, .headers = headers,
								    .data = text, .data_len = strlen(text) });
	free(text);
	if (!req)
		return ep_oom(err);
	t->opt->dry_run_request(t->opt->dry_run_ctx, req);
	free(req);
	return 0;
}

static int show_managed_disk(struct azure_target *t, const struct azure_disk *d, struct ep_error *err)
{
	char url[1600], id[1000], account_id[1000];
	ep_azure_blob_url(t->az, t->container, d->blob, url, sizeof url);
	snprintf(account_id, sizeof account_id, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s",
		 or_placeholder(t->subscription, "SUBSCRIPTION_ID"),
		 or_placeholder(t->storage_group, or_placeholder(t->group, "RESOURCE_GROUP")),
		 or_placeholder(ep_azure_account(t->az), "STORAGE_ACCOUNT"));
	arm_id(t, "Microsoft.Compute/disks", d->component, id, sizeof id);
	json_t *body = json_pack("{s:s,s:{s:{s:s,s:s,s:s}}}", "location", or_placeholder(t->location, "LOCATION"),
				 "properties", "creationData", "createOption", "Import", "sourceUri", url,
				 "storageAccountId", account_id);
	if (!body)
		return ep_oom(err);
	int rc = show_arm_put(t, id, DISKS_API, body, err);
	if (!rc && !(t->subscription && t->group && t->location))
		t->opt->dry_run_request(t->opt->dry_run_ctx,
					"(fill in SUBSCRIPTION_ID, RESOURCE_GROUP and LOCATION with -o subscription=, "
					"-o resource-group= and -o location=)");
	return rc;
}

/* ---- the target ---- */

static struct azure_disk *find_disk(struct azure_target *t, const char *component)
{
	for (size_t i = 0; i < t->ndisks; i++)
		if (!strcmp(t->disks[i].component, component))
			return &t->disks[i];
	return NULL;
}

static int azure_plan(struct ep_target *base, const struct ep_component *c, char *dest, size_t cap, struct ep_error *err)
{
	struct azure_target *t = (struct azure_target *)base;
	if (c->type != EP_COMP_DISK)
		return ep_fail(err, EP_EINPUT, "azure: takes disks only ('%s' is not a disk; restore it to dir:)", c->name);
	if (c->virtual_size == 0 || c->virtual_size % 512 || c->virtual_size > VHD_MAX)
		return ep_fail(err, EP_EINPUT, "azure: disk '%s': a fixed VHD holds a multiple of 512 bytes up to 2040 GiB, "
					       "not %llu", c->name, (unsigned long long)c->virtual_size);
	if (t->ndisks == MAX_DISKS)
		return ep_fail(err, EP_EINPUT, "azure: more than %d disks", MAX_DISKS);
	if (find_disk(t, c->name))
		return ep_fail(err, EP_EINPUT, "azure: two disks named '%s'", c->name);
	struct azure_disk *d = &t->disks[t->ndisks];
	if (asprintf(&d->blob, "%s%s%s.vhd", t->prefix, t->prefix[0] ? "/" : "", c->name) < 0 ||
	    !(d->component = strdup(c->name))) {
		if (d->blob)
			free(d->blob);
		d->blob = NULL;
		return ep_oom(err);
	}
	t->ndisks++;
	if (!ep_azure_blob_name_ok(d->blob))
		return ep_fail(err, EP_EINPUT, "azure: '%s' is not a blob name envpack writes", d->blob);
	/* Azure imports fixed VHDs of a whole number of MiB: the VHD writer pads to one */
	d->size = ((c->virtual_size + MIB - 1) & ~(MIB - 1)) + 512;
	char url[1600];
	ep_azure_blob_url(t->az, t->container, d->blob, url, sizeof url);
	snprintf(dest, cap, "%s (page blob, fixed VHD of %llu bytes)", url, (unsigned long long)d->size);
	if (t->opt->dry_run_request) {
		int rc = ep_azure_plan_page_blob(t->az, t->container, d->blob, d->size, ep_component_data_size(c),
						 meta_uploading, meta_complete, t->opt->dry_run_request,
						 t->opt->dry_run_ctx, err);
		return rc ? rc : show_managed_disk(t, d, err);
	}
	/* refused now rather than after the disk is written out */
	int rc = ep_azure_blob_exists(t->az, t->container, d->blob, err);
	if (rc == 1)
		rc = ep_fail(err, EP_EINPUT, "azure: %s exists; restore never overwrites", url);
	return rc;
}

static int azure_put_disk(struct ep_target *base, const struct ep_component *c, struct ep_chunk_stream *s,
			  struct ep_error *err)
{
	struct azure_target *t = (struct azure_target *)base;
	struct azure_disk *d = find_disk(t, c->name);
	if (!d)
		return ep_fail(err, EP_EINPUT, "azure: disk '%s' was not planned", c->name);
	const char *path = NULL;
	int rc = t->sc ? 0 : ep_scratch_new(&t->sc, err);
	if (!rc)
		rc = ep_scratch_disk(t->sc, c, s, "vhd", "fixed", &path, err);
	int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (!rc && (fd < 0 || fstat(fd, &st) != 0))
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot open '%s'", path);
	if (!rc && (uint64_t)st.st_size != d->size)
		rc = ep_fail(err, EP_ERUNTIME, "azure: the fixed VHD of '%s' is %llu bytes, not %llu", c->name,
			     (unsigned long long)st.st_size, (unsigned long long)d->size);
	if (!rc && !t->armed) { /* from the first blob on, Ctrl-C and SIGTERM delete what was created */
		ep_interrupt_arm();
		t->armed = true;
	}
	if (!rc && ep_interrupted())
		rc = ep_fail(err, EP_ERUNTIME, "azure: interrupted");
	/* a token of this upload's own: a Put Blob retried after its answer was lost finds it */
	uint8_t token[16];
	char hex[33], upload[64];
	if (!rc && RAND_bytes(token, sizeof token) != 1)
		rc = ep_fail(err, EP_ERUNTIME, "azure: no random bytes for the upload's token");
	ep_hex(token, sizeof token, hex);
	snprintf(upload, sizeof upload, "envpack_upload: %s", hex);
	const char *meta[] = { meta_uploading[0], upload, NULL };
	if (!rc && !(rc = ep_azure_page_blob_create(t->az, t->container, d->blob, d->size, meta, err)))
		d->created = true;
	struct ep_azure_put_stats stats;
	if (!rc)
		rc = ep_azure_put_pages(t->az, t->container, d->blob, fd, d->size, t->opt->progress, &stats, err);
	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path); /* uploaded or not, its space is needed for the next disk */
	return rc;
}

static int azure_plan_machine(struct ep_target *base, const struct ep_machine *m, char *dest, size_t cap,
			      struct ep_error *err)
{
	struct azure_target *t = (struct azure_target *)base;
	char id[1000], disk_id[1000];
	arm_id(t, "Microsoft.Compute/images", m->name, id, sizeof id);
	if (!t->opt->dry_run_request) {
		snprintf(dest, cap, "its disks' blobs (the image %s is for Azure Resource Manager to make: --dry-run shows "
				    "the requests)", m->name);
		return 0;
	}
	snprintf(dest, cap, "image %s (Microsoft.Compute/images, from the managed disks of its blobs)", m->name);
	/* the first disk in boot order is the OS disk; the others are data disks in their order */
	size_t os = m->ndisks;
	for (size_t i = 0; i < m->ndisks; i++)
		if (m->disks[i].boot && (os == m->ndisks || m->disks[i].boot < m->disks[os].boot) &&
		    (!m->disks[i].device || strcmp(m->disks[i].device, "cdrom")))
			os = i;
	for (size_t i = 0; os == m->ndisks && i < m->ndisks; i++)
		if (!m->disks[i].device || strcmp(m->disks[i].device, "cdrom"))
			os = i;
	if (os == m->ndisks)
		return ep_fail(err, EP_EINPUT, "azure: machine '%s' has no disk to boot from", m->name);
	bool windows = m->os && !strncmp(m->os, "windows", 7);
	arm_id(t, "Microsoft.Compute/disks", m->disks[os].component, disk_id, sizeof disk_id);
	json_t *data = json_array();
	int lun = 0;
	for (size_t i = 0; data && i < m->ndisks; i++) {
		char did[1000];
		if (i == os || (m->disks[i].device && !strcmp(m->disks[i].device, "cdrom")))
			continue;
		arm_id(t, "Microsoft.Compute/disks", m->disks[i].component, did, sizeof did);
		json_array_append_new(data, json_pack("{s:i,s:{s:s}}", "lun", lun++, "managedDisk", "id", did));
	}
	/* UEFI machines boot in Azure as generation 2 */
	json_t *body = data ? json_pack("{s:s,s:{s:s,s:{s:{s:s,s:s,s:{s:s}},s:o}}}", "location",
					or_placeholder(t->location, "LOCATION"), "properties", "hyperVGeneration",
					m->firmware && !strcmp(m->firmware, "uefi") ? "V2" : "V1", "storageProfile",
					"osDisk", "osType", windows ? "Windows" : "Linux", "osState", "Generalized",
					"managedDisk", "id", disk_id, "dataDisks", data)
			    : NULL;
	if (!body)
		return ep_oom(err);
	return show_arm_put(t, id, IMAGES_API, body, err);
}

static int azure_commit(struct ep_target *base, struct ep_error *err)
{
	struct azure_target *t = (struct azure_target *)base;
	int rc = ep_interrupted() ? ep_fail(err, EP_ERUNTIME, "azure: interrupted") : 0;
	/* complete only now: until this metadata is set a blob is an upload under way */
	for (size_t i = 0; !rc && i < t->ndisks; i++)
		if (t->disks[i].created)
			rc = ep_azure_set_metadata(t->az, t->container, t->disks[i].blob, meta_complete, err);
	for (size_t i = 0; rc && i < t->ndisks; i++) {
		struct ep_error ignored;
		if (t->disks[i].created)
			ep_azure_delete(t->az, t->container, t->disks[i].blob, &ignored);
	}
	azure_free(t);
	return rc;
}

static void azure_abort(struct ep_target *base)
{
	struct azure_target *t = (struct azure_target *)base;
	for (size_t i = 0; i < t->ndisks; i++) {
		struct ep_error ignored;
		if (t->disks[i].created)
			ep_azure_delete(t->az, t->container, t->disks[i].blob, &ignored);
	}
	azure_free(t);
}

const struct ep_target_ops ep_target_azure = {
	.scheme = "azure",
	.summary = "disks as fixed-VHD page blobs in Azure Storage (managed disk and image requests: --dry-run)",
	.location = "CONTAINER[/PREFIX]",
	.open = azure_open,
	.plan = azure_plan,
	.put_disk = azure_put_disk,
	.plan_machine = azure_plan_machine,
	.commit = azure_commit,
	.abort = azure_abort,
};
