/* libFuzzer target: the Kubernetes YAML reader on arbitrary bytes; whatever it
 * accepts stays within its limits and yields an inventory the manifest takes. */
#include <stddef.h>
#include <stdint.h>

#include "formats/iac/k8s.h"
#include "tests/fuzz/inventory_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ep_inventory *inv = ep_inventory_new();
	struct ep_yaml_facts facts;
	struct ep_error err = { 0 };
	if (!inv)
		abort();
	int rc = ep_k8s_read((const char *)data, size, "k/all.yaml", "fuzz.yaml", inv, &facts, &err);
	if ((rc != 0 && rc != EP_EINPUT) || (rc == 0 && facts.objects != inv->nobjects))
		abort();
	inventory_check(inv);
	ep_inventory_free(inv);
	return 0;
}
