/* libFuzzer target: the HCL scanner, through the Terraform reader, on arbitrary
 * bytes read as a .tf file and as a lock file. */
#include <stddef.h>
#include <stdint.h>

#include "formats/iac/terraform.h"
#include "tests/fuzz/inventory_check.h"

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
	return 0;
}
