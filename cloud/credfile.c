#include "cloud/credfile.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/util.h"

#define CREDFILE_MAX ((size_t)1 << 20)

static char *trimmed(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

void ep_secret_free(char *s)
{
	if (s)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

int ep_ini_secrets(const char *var, const char *home_rel, const char *who, const char *section,
		   const char *const *keys, char **values, size_t n, struct ep_error *err)
{
	const char *file = getenv(var), *home = getenv("HOME");
	char path[PATH_MAX];
	if (!(file && *file) && !(home && *home))
		return 0;
	int rc = file && *file ? ep_path_format(path, sizeof path, err, "%s", file)
			       : ep_path_format(path, sizeof path, err, "%s/%s", home, home_rel);
	if (rc) {
		ep_error_prefix(err, "%s: ", who);
		return rc;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* /dev/null: no file, as the AWS tools read it */
		close(fd);
		return 0;
	}
	if (st.st_mode & 077) {
		close(fd);
		return ep_fail(err, EP_EINPUT, "%s '%s' must be a file only its owner can read (chmod 600)", who, path);
	}
	char *text = NULL, current[128] = "";
	size_t len = 0;
	rc = ep_read_fd(fd, CREDFILE_MAX, path, &text, &len, err);
	close(fd);
	for (char *line = text, *next; !rc && line && *line; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		char *l = trimmed(line), *eq = strchr(l, '=');
		if (*l == '[') {
			snprintf(current, sizeof current, "%.*s", (int)strcspn(l + 1, "]"), l + 1);
			continue;
		}
		if (!eq || strcmp(current, section))
			continue;
		*eq = '\0';
		char *k = trimmed(l), *v = trimmed(eq + 1);
		for (size_t i = 0; !rc && i < n; i++)
			if (!strcmp(k, keys[i]) && !values[i] && *v && !(values[i] = strdup(v)))
				rc = ep_oom(err);
	}
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}
