#include "serve/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define PLUGIN "nbdkit-envpack-plugin.so"
#define ARGS_MAX 32
#define READY_SECONDS 60

int ep_serve_plugin(char *path, size_t cap, struct ep_error *err)
{
	const char *env = getenv("ENVPACK_NBDKIT_PLUGIN");
	if (env && *env)
		return snprintf(path, cap, "%s", env) < (int)cap ? 0 : ep_fail(err, EP_EINPUT, "ENVPACK_NBDKIT_PLUGIN is too long");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot find this program's path");
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	*slash = 0;
	const char *const beside[] = { "", "/build/release", "/../lib/envpack" };
	for (size_t i = 0; i < sizeof beside / sizeof *beside; i++)
		if (snprintf(path, cap, "%s%s/" PLUGIN, exe, beside[i]) < (int)cap && access(path, R_OK) == 0)
			return 0;
	return ep_fail(err, EP_ERUNTIME, "cannot find " PLUGIN " beside %s ('make' builds it, 'make install' installs it; "
		       "or set ENVPACK_NBDKIT_PLUGIN)", exe);
}

/* key=value as one argument, heap; NULL when value is. */
static char *param(const char *key, const char *value)
{
	char *out = NULL;
	if (value && asprintf(&out, "%s=%s", key, value) < 0)
		out = NULL;
	return out;
}

/* A local path made absolute (heap), STORE@ID's store part too; NULL for a URL or what is
 * not here (passed on as it is). */
static char *absolute(const char *value)
{
	char real[PATH_MAX], *out = NULL;
	if (value[0] == '/' || strstr(value, "://"))
		return NULL;
	if (realpath(value, real))
		return strdup(real);
	const char *at = strrchr(value, '@');
	char store[PATH_MAX];
	if (!at || (size_t)(at - value) >= sizeof store)
		return NULL;
	memcpy(store, value, (size_t)(at - value));
	store[at - value] = 0;
	if (realpath(store, real) && asprintf(&out, "%s%s", real, at) < 0)
		out = NULL;
	return out;
}

/* nbdkit's argument list (heap strings from `owned`, which frees them). */
static int build_argv(const struct ep_serve_options *o, const char *plugin, const char *pidfile, bool tied,
		      const char **argv, char **owned, struct ep_error *err)
{
	char port[16], cache[32];
	size_t n = 0, k = 0;
	argv[n++] = "nbdkit";
	argv[n++] = "--readonly";
	argv[n++] = "--log=stderr";
	/* in the foreground nbdkit ends with its parent whatever it is told; to outlive
	 * this process it runs as a daemon (which works from /: paths are absolute) */
	if (tied) {
		argv[n++] = "--foreground";
		argv[n++] = "--exit-with-parent";
	}
	if (pidfile) {
		argv[n++] = "-P";
		argv[n++] = pidfile;
	}
	if (o->socket) {
		argv[n++] = "--unix";
		argv[n++] = o->socket;
	} else {
		snprintf(port, sizeof port, "%u", o->port);
		argv[n++] = "--ipaddr";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = port;
	}
	argv[n++] = plugin;
	snprintf(cache, sizeof cache, "%llu", (unsigned long long)o->cache_bytes);
	const char *keys[] = { "bundle", "pubkey", "insecure", "decrypt-key", "endpoint", "region", "cacert", "only", "cache" };
	const char *vals[] = { o->bundle,      o->pubkey,   o->insecure ? "1" : NULL, o->decrypt_key, o->endpoint,
			       o->region,      o->cacert,   o->only,                  o->cache_bytes ? cache : NULL };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		if (!vals[i])
			continue;
		bool path = i == 0 || i == 1 || i == 3 || i == 6; /* bundle, pubkey, decrypt-key, cacert */
		char *abs = path ? absolute(vals[i]) : NULL;
		owned[k] = param(keys[i], abs ? abs : vals[i]);
		free(abs);
		if (!owned[k])
			return ep_oom(err);
		argv[n++] = owned[k++];
	}
	argv[n] = NULL;
	return 0;
}

/* What the sanitizer build's plugin needs loaded first into nbdkit. */
static void sanitizer_env(void)
{
#ifdef EP_SANITIZER_RUNTIME
	setenv("LD_PRELOAD", EP_SANITIZER_RUNTIME, 1);
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1); /* nbdkit's own allocations are not ours to judge */
#endif
}

/* The last line nbdkit logged, for a message. */
static void last_line(const char *log, char *out, size_t cap)
{
	char *text = NULL;
	size_t len;
	struct ep_error ignored = { 0 };
	out[0] = 0;
	if (ep_read_file(log, 1 << 20, &text, &len, &ignored))
		return;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = 0;
	const char *line = strrchr(text, '\n');
	snprintf(out, cap, "%s", line ? line + 1 : text);
	free(text);
}

pid_t ep_serve_pid(const char *pidfile)
{
	char *text = NULL;
	size_t len;
	struct ep_error ignored = { 0 };
	long pid = ep_read_file(pidfile, 64, &text, &len, &ignored) ? 0 : strtol(text, NULL, 10);
	free(text);
	return pid > 1 ? (pid_t)pid : 0;
}

/* Waits until nbdkit has written its pid file (it serves) or has ended (it failed). Untied,
 * it becomes a daemon: its first process ends with 0 once it forked, and the daemon's pid
 * is the pid file's. */
static int wait_ready(struct ep_server *s, bool tied, struct ep_error *err)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	bool forked = false;
	for (int i = 0; i < READY_SECONDS * 50; i++) {
		int status;
		pid_t daemon = access(s->pidfile, F_OK) == 0 ? ep_serve_pid(s->pidfile) : 0;
		if (daemon && (tied || forked || waitpid(s->pid, &status, 0) == s->pid)) {
			s->pid = daemon;
			return 0;
		}
		if (!forked && waitpid(s->pid, &status, WNOHANG) == s->pid) {
			if (!tied && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				forked = true;
				continue;
			}
			char why[512] = "";
			s->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				snprintf(why, sizeof why, "cannot run nbdkit (apt-get install nbdkit)");
			else if (s->log[0])
				last_line(s->log, why, sizeof why);
			return ep_fail(err, EP_ERUNTIME, "nbdkit stopped before it served%s%s", why[0] ? ": " : "", why);
		}
		nanosleep(&tick, NULL);
	}
	return ep_fail(err, EP_ERUNTIME, "nbdkit did not serve within %d s", READY_SECONDS);
}

int ep_serve_start(struct ep_server *s, const struct ep_serve_options *o, const char *dir, bool log, bool tied,
		   struct ep_error *err)
{
	char plugin[PATH_MAX], *owned[ARGS_MAX] = { 0 };
	const char *argv[ARGS_MAX];
	*s = (struct ep_server){ 0 };
	int rc = ep_serve_plugin(plugin, sizeof plugin, err);
	if (!rc && (ep_path_format(s->pidfile, sizeof s->pidfile, err, "%s/nbdkit.pid", dir) ||
		    (log && ep_path_format(s->log, sizeof s->log, err, "%s/nbdkit.log", dir)) ||
		    (o->socket && ep_path_format(s->socket, sizeof s->socket, err, "%s", o->socket))))
		rc = err->code;
	if (!rc)
		rc = build_argv(o, plugin, s->pidfile, tied, argv, owned, err);
	int logfd = rc || !log ? -1 : open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!rc && log && logfd < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", s->log);
	if (!rc && (s->pid = fork()) < 0)
		rc = ep_fail_errno(err, EP_ERUNTIME, "cannot start nbdkit");
	if (!rc && s->pid == 0) {
		if (logfd >= 0) {
			dup2(logfd, STDERR_FILENO);
			dup2(logfd, STDOUT_FILENO);
		}
		setsid(); /* not in the terminal's process group: Ctrl-C there is ours to handle */
		sanitizer_env();
		execvp("nbdkit", (char *const *)argv);
		_exit(127);
	}
	if (logfd >= 0)
		close(logfd);
	if (!rc && (rc = wait_ready(s, tied, err)))
		ep_serve_stop(s);
	for (size_t i = 0; i < ARGS_MAX; i++)
		free(owned[i]);
	return rc;
}

bool ep_serve_running(struct ep_server *s)
{
	if (s->pid > 0 && (waitpid(s->pid, NULL, WNOHANG) == s->pid || kill(s->pid, 0) != 0))
		s->pid = 0;
	return s->pid > 0;
}

/* SIGTERM, then SIGKILL if it has not ended within a few seconds (an exit handler of a
 * library it loaded can hang), reaping it when it is our child. */
void ep_serve_stop(struct ep_server *s)
{
	const struct timespec tick = { 0, 20 * 1000 * 1000 };
	if (s->pid > 0 && kill(s->pid, SIGTERM) == 0) {
		bool gone = false;
		for (int i = 0; i < 250 && !gone; i++) {
			gone = waitpid(s->pid, NULL, WNOHANG) == s->pid || kill(s->pid, 0) != 0;
			if (!gone)
				nanosleep(&tick, NULL);
		}
		if (!gone) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
	}
	s->pid = 0;
	if (s->pidfile[0])
		unlink(s->pidfile);
	if (s->socket[0])
		unlink(s->socket);
}
