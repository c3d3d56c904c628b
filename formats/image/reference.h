/*
 * Container image references as Docker and Kubernetes read them
 * (distribution/reference): NAME[:TAG][@DIGEST], NAME being [DOMAIN/]PATH.
 * One image has many spellings (nginx, docker.io/nginx,
 * index.docker.io/library/nginx); normalised, they are one name, so a rule
 * that moves images from one registry to another moves each image to one place.
 */
#ifndef EP_REFERENCE_H
#define EP_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

struct ep_image_name {
	char name[512];    /* DOMAIN/PATH normalised: "docker.io/library/nginx" */
	size_t domain_len; /* name[0..domain_len) is the domain */
	char tag[129];     /* "" when none */
	char digest[140];  /* "sha256:<hex>" (or another algorithm's), "" when none */
};

/* Parses ref[0..len) and normalises it the Docker way: no domain, or
 * index.docker.io or registry-1.docker.io, is docker.io; a one-part path there gains "library/".
 * False when the text is no reference: an expression (var.image), a template
 * ({{ .Values.image }}, ${x}), a placeholder (<image_url>), an upper-case path,
 * a URL, or anything longer than a reference can be. */
bool ep_image_name_parse(const char *ref, size_t len, struct ep_image_name *out);

/* Whether s is a repository path: lowercase components of [a-z0-9] joined by '.', '_', '__' or '-', split by '/'. */
bool ep_image_repo_ok(const char *s);
bool ep_image_tag_ok(const char *s);
/* A registry host: name or address, optionally :PORT ([v6] in brackets). */
bool ep_image_host_ok(const char *s);
/* sha256:<64 lowercase hex>, the only digest registries and runtimes agree on. */
bool ep_image_digest_ok(const char *s);

#endif
