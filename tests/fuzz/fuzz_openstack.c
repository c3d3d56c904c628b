/* libFuzzer target: a Keystone token answer, untrusted, searched for endpoints. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/openstack_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[EP_OS_URL_MAX];
	struct ep_error err;
	const char *regions[] = { NULL, "RegionOne" };
	for (int i = 0; i < 2; i++)
		if (ep_os_catalog_endpoint((const char *)data, size, "image", "public", regions[i], url, sizeof url, &err) == 0 &&
		    ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strlen(url) >= sizeof url ||
		     strpbrk(url, " ?#\r\n")))
			abort(); /* what is found must be a URL requests can be built on */
	return 0;
}
