/* What the IaC readers put in an inventory must pass the manifest's validator
 * and serialise back to the same JSON: a packer never writes a bundle its own
 * readers refuse. Shared by the fuzz targets of those readers. */
#ifndef EP_FUZZ_INVENTORY_CHECK_H
#define EP_FUZZ_INVENTORY_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "formats/bundle/inventory.h"

static bool any_file(void *ctx, const char *path)
{
	(void)ctx;
	(void)path;
	return true;
}

static void inventory_check(const struct ep_inventory *inv)
{
	json_t *j = ep_inventory_to_json(inv);
	struct ep_inventory *back = NULL;
	struct ep_error err = { 0 };
	if (!j || ep_inventory_parse(j, any_file, NULL, "fuzz", "tree", &back, &err) != 0)
		abort();
	json_t *again = ep_inventory_to_json(back);
	char *a = json_dumps(j, JSON_COMPACT), *b = json_dumps(again, JSON_COMPACT);
	if (!a || !b || strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	json_decref(j);
	json_decref(again);
	ep_inventory_free(back);
}

#endif
