/*
 * What a drill waits for in a booted backup: a line on its serial console (a POSIX
 * extended regex), a TCP port that accepts and keeps a connection, an HTTP answer with a
 * given status. TCP and HTTP go through the guest's forwarded ports on 127.0.0.1.
 */
#ifndef EP_CHECKS_H
#define EP_CHECKS_H

#include <regex.h>
#include <stdbool.h>

#include "base/error.h"

enum ep_check_kind { EP_CHECK_SERIAL, EP_CHECK_TCP, EP_CHECK_HTTP };

struct ep_check {
	enum ep_check_kind kind;
	const char *spec; /* as given: REGEX, PORT, or [http://HOST][:PORT]/PATH[=STATUS] */
	regex_t re;       /* serial */
	unsigned port;    /* tcp, http: the guest's port */
	char path[512];   /* http */
	long status;      /* http: the status wanted */
	unsigned host_port; /* where the port is forwarded, set by the drill */
};

/* Parses spec into c (kind set by the caller); EP_EINPUT naming what is wrong. */
int ep_check_parse(struct ep_check *c, enum ep_check_kind kind, const char *spec, struct ep_error *err);
void ep_check_release(struct ep_check *c);
/* One try: whether it passes now; detail says what was seen when it does not. serial is
 * the console's text so far. */
bool ep_check_try(const struct ep_check *c, const char *serial, char *detail, size_t cap);
/* A free TCP port on 127.0.0.1 to forward a guest port to. */
int ep_check_free_port(unsigned *port, struct ep_error *err);

#endif
