/*
 * nbdkit running envpack's plugin (serve/nbdkit_plugin.c) over a bundle's or store
 * snapshot's disks: found beside the program or where `make install` puts it, run in the
 * foreground (`envpack serve`) or in the background until stopped (instant recovery,
 * drills), ready once nbdkit writes its pid file.
 */
#ifndef EP_SERVER_H
#define EP_SERVER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct ep_serve_options {
	const char *bundle; /* a bundle file, a URL, or STORE@ID (a full id: what the plugin opens) */
	const char *pubkey; /* NULL: the trusted-keys directories */
	bool insecure;
	const char *decrypt_key;
	const char *endpoint, *region, *cacert; /* s3:// and URLs */
	const char *only;     /* one disk; NULL: every disk, an export each */
	const char *socket;   /* a unix socket, or */
	unsigned port;        /* a TCP port on 127.0.0.1 */
	uint64_t cache_bytes; /* 0: the plugin's default */
};

struct ep_server {
	pid_t pid;
	char pidfile[PATH_MAX];
	char log[PATH_MAX];    /* nbdkit's stderr; "" when it is ours */
	char socket[PATH_MAX]; /* removed at stop; "" for TCP */
};

/* The plugin's path: $ENVPACK_NBDKIT_PLUGIN, else beside the program, in the build tree
 * under it, or in ../lib/envpack. */
int ep_serve_plugin(char *path, size_t cap, struct ep_error *err);
/* Starts nbdkit, its pid file in dir (and its log there, unless log is false: then its
 * stderr is ours); returns once it serves. tied: it ends when this process does (else it
 * outlives it, until ep_serve_stop or a kill). */
int ep_serve_start(struct ep_server *s, const struct ep_serve_options *o, const char *dir, bool log, bool tied,
		   struct ep_error *err);
/* Whether it still serves. */
bool ep_serve_running(struct ep_server *s);
/* The pid in an nbdkit pid file, 0 when none. */
pid_t ep_serve_pid(const char *pidfile);
/* Stops it (SIGTERM, then SIGKILL after a few seconds) and removes its socket and pid file. */
void ep_serve_stop(struct ep_server *s);

#endif
