#include "formats/image/reference.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool ep_image_repo_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 256)
		return false;
	for (size_t i = 0; i < n;) {
		/* a component: alnum runs joined by one separator ('.', '_', '__' or '-'s) */
		if (!alnum_lower(s[i]))
			return false;
		while (i < n && s[i] != '/') {
			while (i < n && alnum_lower(s[i]))
				i++;
			if (i == n || s[i] == '/')
				break;
			size_t sep = i;
			if (s[i] == '.')
				i++;
			else if (s[i] == '_')
				i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
			else if (s[i] == '-')
				while (i < n && s[i] == '-')
					i++;
			if (i == sep || i == n || !alnum_lower(s[i]))
				return false;
		}
		if (i < n && ++i == n)
			return false; /* a trailing '/' */
	}
	return true;
}

bool ep_image_tag_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(alnum_lower(s[i]) || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

bool ep_image_digest_ok(const char *d)
{
	uint8_t raw[EP_DIGEST_LEN];
	return !strncmp(d, "sha256:", 7) && ep_unhex(d + 7, raw, EP_DIGEST_LEN);
}

bool ep_image_host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n >= 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(alnum_lower(h[i]) || (h[i] >= 'A' && h[i] <= 'Z') || h[i] == '.' || h[i] == '-' || h[i] == ':' ||
		      h[i] == '[' || h[i] == ']'))
			return false;
	return true;
}


/* Docker's rule: the first part of a name is a domain when it has a '.' or ':', is
 * "localhost", or has an upper-case letter (which no path may have). */
static bool looks_like_domain(const char *s, size_t n)
{
	if (n == 9 && !memcmp(s, "localhost", 9))
		return true;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return false;
}

bool ep_image_name_parse(const char *ref, size_t len, struct ep_image_name *out)
{
	char text[600];
	*out = (struct ep_image_name){ 0 };
	if (len == 0 || len >= sizeof text || memchr(ref, '\0', len))
		return false;
	memcpy(text, ref, len);
	text[len] = '\0';
	char *at = strchr(text, '@');
	if (at) {
		*at = '\0';
		if (!ep_image_digest_ok(at + 1))
			return false;
		memcpy(out->digest, at + 1, strlen(at + 1) + 1);
	}
	char *slash = strchr(text, '/'), *colon = strrchr(text, ':');
	if (colon && (!slash || colon > strrchr(text, '/'))) { /* a ':' after the last '/' starts the tag */
		*colon = '\0';
		if (!ep_image_tag_ok(colon + 1))
			return false;
		memcpy(out->tag, colon + 1, strlen(colon + 1) + 1);
	}
	const char *domain = "docker.io", *path = text;
	size_t dlen = 9;
	if (slash && looks_like_domain(text, (size_t)(slash - text))) {
		*slash = '\0';
		if (!ep_image_host_ok(text))
			return false;
		path = slash + 1;
		/* Docker Hub's other names: its old index and its API host */
		if (strcmp(text, "index.docker.io") != 0 && strcmp(text, "registry-1.docker.io") != 0)
			domain = text, dlen = strlen(text);
	}
	bool library = dlen == 9 && !memcmp(domain, "docker.io", 9) && !strchr(path, '/');
	int n = snprintf(out->name, sizeof out->name, "%.*s/%s%s", (int)dlen, domain, library ? "library/" : "", path);
	out->domain_len = dlen;
	return n > 0 && (size_t)n < sizeof out->name && ep_image_repo_ok(out->name + dlen + 1);
}
