/* The parts of SigV4's canonical request, for cloud/sigv4.c. Each returns a
 * new string or fails with EP_EINPUT naming what is malformed. */
#ifndef EP_SIGV4_CANON_H
#define EP_SIGV4_CANON_H

#include "cloud/sigv4.h"

int ep_sigv4_canon_path(const char *path, unsigned flags, char **out, struct ep_error *err);
/* The query's parameters plus `extra` (already canonical "name=value" pairs), sorted. */
int ep_sigv4_canon_query(const char *query, char *const *extra, size_t nextra, char **out,
			 struct ep_error *err);
/* The headers as "name:value\n" lines, sorted, and the ';'-joined list of their names. */
int ep_sigv4_canon_headers(const struct ep_sigv4_header *h, size_t n, const struct ep_sigv4_header *extra,
			   size_t nextra, char **lines, char **names, struct ep_error *err);

#endif
