/* libFuzzer target: the HCL scanner, through the Terraform reader, on arbitrary
 * bytes read as a .tf file and as a lock file, and through --rewrite-registry's
 * rewriter, whose result must read back (it refuses one that does not: a bug here)
 * and hold nothing more to move. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/iac/terraform.h"
#include "targets/rewrite.h"
#include "tests/fuzz/inventory_check.h"

static void rewrite(const uint8_t *data, size_t size)
{
	/* no NEW under another rule's OLD: a second pass over the result changes nothing */
	static const struct ep_rewrite rules[] = { { "docker.io", "mirror.example/hub" }, { "quay.io", "reg.example:5000/q" } };
	struct ep_error err = { 0 };
	char *out = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	if (ep_rewrite_file(EP_KIND_TERRAFORM, (const char *)data, size, "fuzz.tf", rules, 2, &out, &len, &err) != 0)
		abort();
	if (out && (ep_rewrite_file(EP_KIND_TERRAFORM, out, len, "fuzz.tf", rules, 2, &again, &again_len, &err) != 0 || again))
		abort();
	free(again);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_terraform *tf = NULL;
	struct ep_error err = { 0 };
	if (!inv || ep_terraform_new(&tf, inv, &err) != 0)
		abort();
	/* not NUL-terminated: the scanner must stay within size */
	int rc = ep_terraform_read_hcl(tf, "d/main.tf", (const char *)data, size, "fuzz.tf", &err);
	if (rc != 0 && rc != EP_EINPUT)
		abort();
	rc = ep_terraform_read_lock(tf, (const char *)data, size, "fuzz.lock.hcl", &err);
	if ((rc != 0 && rc != EP_EINPUT) || ep_terraform_finish(tf, &err) != 0)
		abort();
	inventory_check(inv);
	ep_terraform_free(tf);
	ep_inventory_free(inv);
	rewrite(data, size);
	return 0;
}
