/*
 * Nova (OpenStack Compute v2.1), the little vm:openstack: asks of it: a server found by
 * id or by its exact name, with its flavor's vCPUs and memory (microversion 2.47, which
 * embeds the flavor in the server), and an image of it made (createImage, 2.45 and
 * later answering with the image's id). Over the token and catalog of an ep_os
 * (cloud/openstack_api.h); on its dry run each request is shown, nothing sent.
 */
#ifndef EP_NOVA_H
#define EP_NOVA_H

#include <stdint.h>

#include "base/error.h"
#include "cloud/openstack_api.h"

/* The microversion every call asks for. */
#define EP_NOVA_VERSION "OpenStack-API-Version: compute 2.47"

struct ep_nova_server {
	char id[EP_OS_ID_MAX];
	char name[256], status[32], flavor[128]; /* made printable */
	unsigned vcpus;    /* 0: not said */
	uint64_t ram_mib;  /* 0: not said */
};

/* The server of id ref, else the one named ref exactly (none, or several: EP_EINPUT naming
 * them). On a dry run the GETs are shown and *s names "{server_id}" (ref, when an id). */
int ep_nova_server_find(struct ep_os *os, const char *ref, struct ep_nova_server *s, struct ep_error *err);
/* POST /servers/ID/action createImage named name: image_id gets the new image's id
 * ("{snapshot_id}" on a dry run). A refusal is EP_ERUNTIME naming createImage. */
int ep_nova_create_image(struct ep_os *os, const char *server_id, const char *name, char image_id[EP_OS_ID_MAX],
			 struct ep_error *err);

#endif
