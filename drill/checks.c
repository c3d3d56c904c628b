#include "drill/checks.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool port_number(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535)
		return false;
	*out = (unsigned)v;
	return true;
}

/* [http://HOST][:PORT]/PATH[=STATUS]: the host is the guest's, so only port and path matter. */
static int parse_http(struct ep_check *c, const char *spec, struct ep_error *err)
{
	char text[600];
	if (snprintf(text, sizeof text, "%s", spec) >= (int)sizeof text)
		return ep_fail(err, EP_EINPUT, "--expect-http '%.40s...': too long", spec);
	c->status = 200;
	c->port = 80;
	char *eq = strrchr(text, '=');
	if (eq && strspn(eq + 1, "0123456789") == strlen(eq + 1) && eq[1]) {
		c->status = strtol(eq + 1, NULL, 10);
		*eq = 0;
	}
	char *p = !strncmp(text, "http://", 7) ? text + 7 : text;
	char *slash = strchr(p, '/'), *colon = strchr(p, ':');
	if (colon && (!slash || colon < slash)) {
		char port[8] = "";
		size_t n = (size_t)((slash ? slash : p + strlen(p)) - colon - 1);
		if (n < sizeof port)
			memcpy(port, colon + 1, n);
		if (n >= sizeof port || !port_number(port, &c->port))
			return ep_fail(err, EP_EINPUT, "--expect-http '%s': the port is not a number from 1 to 65535", spec);
	}
	snprintf(c->path, sizeof c->path, "%s", slash ? slash : "/");
	if (c->status < 100 || c->status > 599)
		return ep_fail(err, EP_EINPUT, "--expect-http '%s': a status is 100 to 599", spec);
	return 0;
}

int ep_check_parse(struct ep_check *c, enum ep_check_kind kind, const char *spec, struct ep_error *err)
{
	*c = (struct ep_check){ .kind = kind, .spec = spec };
	if (kind == EP_CHECK_SERIAL) {
		int r = regcomp(&c->re, spec, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
		if (r) {
			char why[200];
			regerror(r, &c->re, why, sizeof why);
			return ep_fail(err, EP_EINPUT, "--expect-serial '%s': %s", spec, why);
		}
		return 0;
	}
	if (kind == EP_CHECK_TCP)
		return port_number(spec, &c->port) ? 0
						    : ep_fail(err, EP_EINPUT, "--expect-tcp '%s': a port is 1 to 65535", spec);
	return parse_http(c, spec, err);
}

void ep_check_release(struct ep_check *c)
{
	if (c->kind == EP_CHECK_SERIAL && c->spec)
		regfree(&c->re);
}

/* Accepted, and not closed at once: slirp accepts every connection to a forwarded port and
 * closes it when the guest does not, so a closed port reads as end of file straight away. */
static bool tcp_try(const struct ep_check *c, char *detail, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->host_port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (ok) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char byte;
		int r = poll(&p, 1, 500);
		ok = r == 0 || (r == 1 && recv(fd, &byte, 1, MSG_PEEK) == 1);
	}
	if (!ok)
		snprintf(detail, cap, "guest port %u does not accept connections", c->port);
	if (fd >= 0)
		close(fd);
	return ok;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p, (void)ctx;
	return size * n;
}

static bool http_try(const struct ep_check *c, char *detail, size_t cap)
{
	char url[700];
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", c->host_port, c->path);
	CURL *h = curl_easy_init();
	long status = 0;
	CURLcode r = CURLE_FAILED_INIT;
	if (h) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
		if ((r = curl_easy_perform(h)) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(h);
	}
	if (r != CURLE_OK)
		snprintf(detail, cap, "guest port %u: %s", c->port, curl_easy_strerror(r));
	else if (status != c->status)
		snprintf(detail, cap, "GET %s on guest port %u answered %ld, not %ld", c->path, c->port, status, c->status);
	return r == CURLE_OK && status == c->status;
}

bool ep_check_try(const struct ep_check *c, const char *serial, char *detail, size_t cap)
{
	detail[0] = 0;
	if (c->kind == EP_CHECK_SERIAL) {
		bool ok = regexec(&c->re, serial, 0, NULL, 0) == 0;
		if (!ok)
			snprintf(detail, cap, "no line on the serial console matches '%s'", c->spec);
		return ok;
	}
	return c->kind == EP_CHECK_TCP ? tcp_try(c, detail, cap) : http_try(c, detail, cap);
}

int ep_check_free_port(unsigned *port, struct ep_error *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		  getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok)
		return ep_fail_errno(err, EP_ERUNTIME, "no free port on 127.0.0.1");
	*port = ntohs(sa.sin_port);
	return 0;
}
