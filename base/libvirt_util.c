#include "base/libvirt_util.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stddef.h>

static void quiet(void *ctx, virErrorPtr e)
{
	(void)ctx, (void)e;
}

void ep_libvirt_quiet(void)
{
	virSetErrorFunc(NULL, quiet);
}

const char *ep_libvirt_error(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown error";
}
