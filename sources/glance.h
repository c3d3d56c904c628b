/*
 * image:glance:'s token and reading of one image, for vm:openstack: (sources/source_nova.c),
 * which captures a server's snapshot image through it: over a token it already holds, the
 * image named by id, and the component and machine named after the server, its
 * flavor's vCPUs and memory winning over the image's properties.
 */
#ifndef EP_SOURCE_GLANCE_H
#define EP_SOURCE_GLANCE_H

#include "sources/source.h"

struct ep_os;

struct ep_glance_as {
	const char *name;     /* the component's and the machine's */
	unsigned vcpus;       /* 0: the image's properties say */
	uint64_t memory_mib;  /* 0: likewise */
	const char *what;     /* the source in messages: "vm:openstack:" */
	const char *from;     /* the report's "from" (no credential in it) */
};

/* A token for the capture's --input-option settings (cloud, region, interface,
 * image-url, compute-url) and credentials, as the openstack: target reads them. */
int ep_glance_connect(const struct ep_capture_options *c, struct ep_os **os, struct ep_error *err);
/* Opens image id over os (authenticated; borrowed: it must outlive the state) as
 * ep_source_glance opens its image, which its size, pack, published and close then take. */
int ep_glance_open_image(struct ep_os *os, const char *id, const struct ep_glance_as *as,
			 const struct ep_source_options *opt, void **state, struct ep_error *err);

#endif
