/* libvirt's error reporting, as envpack wants it: libvirt prints nothing itself (only the
 * CLI prints), and its last error's message goes into ours. */
#ifndef EP_LIBVIRT_UTIL_H
#define EP_LIBVIRT_UTIL_H

/* Replaces libvirt's default error handler, which prints to stderr, by one that does nothing. */
void ep_libvirt_quiet(void);
/* libvirt's last error message, "unknown error" when it has none. */
const char *ep_libvirt_error(void);

#endif
