/* The gcp: target's settings and dry-run plan, without a network: a dry run
 * signs with placeholder keys and sends nothing. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "targets/target.h"
#include "tests/unit/unit.h"

struct seen {
	char *text[8];
	size_t n;
};

static void collect(void *ctx, const char *text)
{
	struct seen *s = ctx;
	if (s->n < 8)
		s->text[s->n++] = strdup(text);
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->text[i]);
	s->n = 0;
}

/* Opens gcp:uri for a dry run with params; the target (NULL on failure) and err's code. */
static int open_dry(struct ep_target **t, const char *uri, const char *const *params, size_t n, struct seen *s,
		    const struct ep_manifest *m, struct ep_error *err)
{
	struct ep_target_options opt = { .params = params, .nparams = n, .dry_run_request = collect, .dry_run_ctx = s,
					 .manifest = m };
	*t = NULL;
	*err = (struct ep_error){ 0 };
	return ep_target_open(t, uri, &opt, err);
}

TEST(gcp_refuses_bad_settings)
{
	struct ep_target *t;
	struct ep_error err;
	struct seen s = { 0 };
	EXPECT(open_dry(&t, "gcp:bucket", NULL, 0, &s, NULL, &err) == EP_EINPUT && strstr(err.msg, "-o project="));
	const char *bad_image[] = { "project=demo-project", "image=Web_1" };
	EXPECT(open_dry(&t, "gcp:bucket", bad_image, 2, &s, NULL, &err) == EP_EINPUT && strstr(err.msg, "must match"));
	const char *bad_project[] = { "project=x" };
	EXPECT(open_dry(&t, "gcp:bucket", bad_project, 1, &s, NULL, &err) == EP_EINPUT);
	const char *unknown[] = { "project=demo-project", "zone=us-east1-b" };
	EXPECT(open_dry(&t, "gcp:bucket", unknown, 2, &s, NULL, &err) == EP_EINPUT && strstr(err.msg, "-o zone"));
	const char *bad_labels[] = { "project=demo-project", "labels=Env=x" };
	EXPECT(open_dry(&t, "gcp:bucket", bad_labels, 2, &s, NULL, &err) == EP_EINPUT);
	const char *ok[] = { "project=demo-project" };
	EXPECT(open_dry(&t, "gcp:Bucket", ok, 1, &s, NULL, &err) == EP_EINPUT && strstr(err.msg, "bucket name"));
	EXPECT(open_dry(&t, "gcp:ab", ok, 1, &s, NULL, &err) == EP_EINPUT);
	EXPECT(open_dry(&t, "gcp:my_bucket.example/a/b/", ok, 1, &s, NULL, &err) == 0 && t);
	if (t)
		t->ops->abort(t);
	EXPECT(s.n == 0); /* opening sends and shows nothing */
}

TEST(gcp_dry_run_plans_upload_and_images_insert)
{
	struct ep_manifest man = { 0 };
	struct ep_vm_disk vd = { .component = "web" };
	struct ep_machine vm = { .name = "web", .firmware = "uefi", .disks = &vd, .ndisks = 1 };
	man.machines = &vm;
	man.nmachines = 1;
	struct ep_component web = { .type = EP_COMP_DISK, .name = "web", .virtual_size = (uint64_t)3 << 29 };
	struct ep_component db = { .type = EP_COMP_DISK, .name = "db", .virtual_size = 1 << 20 };
	struct ep_component tree = { .type = EP_COMP_FILES, .name = "tree" };
	const char *params[] = { "project=demo-project", "family=web", "labels=env=test" };
	struct ep_target *t;
	struct ep_error err;
	struct seen s = { 0 };
	char dest[PATH_MAX];
	EXPECT(open_dry(&t, "gcp:bucket/imgs/", params, 3, &s, &man, &err) == 0);
	if (!t)
		return;
	EXPECT(t->ops->plan(t, &tree, dest, sizeof dest, &err) == EP_EINPUT && strstr(err.msg, "disks only"));
	EXPECT(t->ops->plan(t, &web, dest, sizeof dest, &err) == 0);
	EXPECT(strstr(dest, "gs://bucket/imgs/web.tar.gz") && strstr(dest, "UEFI"));
	EXPECT(s.n == 3); /* the PUT, a note on the archive's size, images.insert */
	EXPECT(s.n >= 1 && strstr(s.text[0], "PUT https://storage.googleapis.com/bucket/imgs/web.tar.gz\n"));
	EXPECT(s.n >= 1 && strstr(s.text[0], "AWS4-HMAC-SHA256 ****") && !strstr(s.text[0], "GOOG1"));
	EXPECT(s.n >= 2 && strstr(s.text[1], "2147483648")); /* 1.5 GiB goes up as 2 GiB */
	const char *body = s.n >= 3 ? strstr(s.text[2], "\n\n") : NULL;
	EXPECT(s.n >= 3 && strstr(s.text[2], "POST https://compute.googleapis.com/compute/v1/projects/demo-project/global/images\n"));
	json_t *j = body ? json_loads(body + 2, 0, NULL) : NULL;
	EXPECT(j != NULL);
	EXPECT(!strcmp(json_string_value(json_object_get(j, "name")), "web"));
	EXPECT(!strcmp(json_string_value(json_object_get(json_object_get(j, "rawDisk"), "source")),
		       "https://storage.googleapis.com/bucket/imgs/web.tar.gz"));
	EXPECT(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "guestOsFeatures"), 0), "type")),
		       "UEFI_COMPATIBLE"));
	EXPECT(!strcmp(json_string_value(json_object_get(json_object_get(j, "labels"), "env")), "test"));
	json_decref(j);
	seen_free(&s);
	/* a disk of no machine: no UEFI_COMPATIBLE */
	EXPECT(t->ops->plan(t, &db, dest, sizeof dest, &err) == 0);
	EXPECT(s.n == 3 && !strstr(s.text[2], "UEFI") && strstr(s.text[2], "\"name\": \"db\""));
	seen_free(&s);
	t->ops->abort(t);
}

TEST(gcp_image_names_one_disk)
{
	struct ep_component a = { .type = EP_COMP_DISK, .name = "a", .virtual_size = 1 << 20 };
	struct ep_component b = { .type = EP_COMP_DISK, .name = "b", .virtual_size = 1 << 20 };
	struct ep_component bad = { .type = EP_COMP_DISK, .name = "Disk_1", .virtual_size = 1 << 20 };
	const char *named[] = { "project=demo-project", "image=web-2" }, *plain[] = { "project=demo-project" };
	struct ep_target *t;
	struct ep_error err;
	struct seen s = { 0 };
	char dest[PATH_MAX];
	EXPECT(open_dry(&t, "gcp:bucket", named, 2, &s, NULL, &err) == 0);
	if (t) {
		EXPECT(t->ops->plan(t, &a, dest, sizeof dest, &err) == 0 && strstr(dest, "gs://bucket/web-2.tar.gz"));
		EXPECT(t->ops->plan(t, &b, dest, sizeof dest, &err) == EP_EINPUT && strstr(err.msg, "--only"));
		t->ops->abort(t);
	}
	seen_free(&s);
	EXPECT(open_dry(&t, "gcp:bucket", plain, 1, &s, NULL, &err) == 0);
	if (t) {
		EXPECT(t->ops->plan(t, &bad, dest, sizeof dest, &err) == EP_EINPUT && strstr(err.msg, "-o image="));
		t->ops->abort(t);
	}
	seen_free(&s);
}
