#include "targets/instant.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/endian.h"
#include "base/libvirt_util.h"
#include "base/util.h"
#include "base/xml.h"

/* The server's directory and socket for dir, absolute (qemu opens the socket from anywhere). */
static int instant_paths(const char *dir, char *serve_dir, char *socket, size_t cap, struct ep_error *err)
{
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return ep_fail_errno(err, EP_EINPUT, "cannot resolve '%s'", dir);
	if (ep_path_format(serve_dir, PATH_MAX, err, "%s/" EP_INSTANT_DIR, real) ||
	    ep_path_format(socket, cap, err, "%s/nbd.sock", serve_dir))
		return err->code;
	if (strlen(socket) > 107) /* a unix socket's path is at most 107 bytes */
		return ep_fail(err, EP_EINPUT, "the socket path '%s' is too long: restore into a shorter path", socket);
	return 0;
}

static void remove_serve_dir(const char *serve_dir)
{
	const char *const files[] = { "nbd.sock", "nbdkit.pid", "nbdkit.log" };
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (snprintf(path, sizeof path, "%s/%s", serve_dir, files[i]) < (int)sizeof path)
			unlink(path);
	rmdir(serve_dir);
}

int ep_instant_begin(const char *dir, struct ep_serve_options *o, struct ep_server *s, char *socket, size_t cap,
		     struct ep_error *err)
{
	char serve_dir[PATH_MAX];
	*s = (struct ep_server){ 0 };
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", dir);
	int rc = instant_paths(dir, serve_dir, socket, cap, err);
	if (!rc && mkdir(serve_dir, 0700) != 0)
		return errno == EEXIST ? ep_fail(err, EP_EINPUT, "'%s' holds an instant restore not finished: "
							  "'envpack restore --finish %s' first", dir, dir)
				       : ep_fail_errno(err, EP_ERUNTIME, "cannot create '%s'", serve_dir);
	o->socket = socket;
	o->port = 0;
	if (!rc && (rc = ep_serve_start(s, o, serve_dir, true, false, err)))
		remove_serve_dir(serve_dir);
	return rc;
}

void ep_instant_cancel(const char *dir, struct ep_server *s)
{
	char serve_dir[PATH_MAX], socket[PATH_MAX];
	struct ep_error ignored = { 0 };
	ep_serve_stop(s);
	if (!instant_paths(dir, serve_dir, socket, sizeof socket, &ignored))
		remove_serve_dir(serve_dir);
}

/* The backing file a qcow2 names, "" when none or not a qcow2. */
static void backing_of(const char *path, char *out, size_t cap)
{
	uint8_t h[4096];
	out[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd < 0 ? -1 : pread(fd, h, sizeof h, 0);
	if (fd >= 0)
		close(fd);
	if (n < 20 || memcmp(h, "QFI\xfb", 4))
		return;
	uint64_t off = ep_be64(h + 8);
	uint32_t len = ep_be32(h + 16);
	if (off && len && len < cap && off + len <= (uint64_t)n) {
		memcpy(out, h + off, len);
		out[len] = 0;
	}
}

/* A running domain with a disk at path: its target device into dev; NULL when none. */
static virDomainPtr running_on(virConnectPtr conn, const char *path, char *dev, size_t cap)
{
	virDomainPtr *doms = NULL, found = NULL;
	int n = conn && !strchr(path, '\'') ? virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE) : 0;
	char expr[PATH_MAX + 64];
	snprintf(expr, sizeof expr, "/domain/devices/disk[source/@file='%s']/target/@dev", path);
	for (int i = 0; i < n; i++) {
		char *xml = found ? NULL : virDomainGetXMLDesc(doms[i], 0);
		struct ep_xml x = { 0 };
		struct ep_error ignored = { 0 };
		char *target = xml && !ep_xml_parse(&x, xml, strlen(xml), "domain", "libvirt XML", "domain", NULL, &ignored)
				       ? ep_xml_get(&x, NULL, expr)
				       : NULL;
		ep_xml_release(&x);
		if (target) {
			snprintf(dev, cap, "%s", target);
			found = doms[i];
		} else
			virDomainFree(doms[i]);
		free(target);
		free(xml);
	}
	free(doms);
	return found;
}

/* Pulls a running domain's disk whole from its backing, through libvirt, and waits. */
static int block_pull(virDomainPtr dom, const char *dev, const char *path, struct ep_error *err)
{
	if (virDomainBlockPull(dom, dev, 0, 0) < 0)
		return ep_fail(err, EP_ERUNTIME, "libvirt: cannot pull '%s' into %s: %s", path, dev, ep_libvirt_error());
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	for (;;) {
		virDomainBlockJobInfo info;
		int r = virDomainGetBlockJobInfo(dom, dev, &info, 0);
		if (r < 0)
			return ep_fail(err, EP_ERUNTIME, "libvirt: pulling '%s': %s", path, ep_libvirt_error());
		if (r == 0)
			return 0; /* done: the job is gone and the disk has no backing left */
		nanosleep(&tick, NULL);
	}
}

/* qemu-img rebase onto nothing copies in all the overlay reads from its backing. */
static int rebase(const char *path, const char *log, struct ep_error *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot run qemu-img");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("qemu-img", "qemu-img", "rebase", "-q", "-f", "qcow2", "-b", "", path, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *text = NULL;
	size_t len = 0;
	struct ep_error ignored = { 0 };
	ep_read_file(log, 4096, &text, &len, &ignored);
	while (len && text[len - 1] == '\n')
		text[--len] = 0;
	int rc = ep_fail(err, EP_ERUNTIME, "cannot make '%s' whole: %s", path,
			 WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "cannot run qemu-img (apt-get install qemu-utils)"
			 : text && *text					  ? text
										  : "qemu-img failed");
	free(text);
	return rc;
}

/* Stops the nbdkit whose pid file the directory holds, if it is that nbdkit. */
static void stop_server(const char *serve_dir, const char *socket)
{
	struct ep_server s = { 0 };
	struct ep_error ignored = { 0 };
	char path[PATH_MAX], cmd[1 << 14];
	if (ep_path_format(s.pidfile, sizeof s.pidfile, &ignored, "%s/nbdkit.pid", serve_dir) ||
	    ep_path_format(s.socket, sizeof s.socket, &ignored, "%s", socket))
		return;
	pid_t pid = ep_serve_pid(s.pidfile);
	/* /proc files tell no size: read as much as there is */
	snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
	int fd = pid ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n = fd < 0 ? -1 : read(fd, cmd, sizeof cmd - 1);
	if (fd >= 0)
		close(fd);
	if (n > 0)
		cmd[n] = 0;
	if (n > 0 && !strcmp(cmd, "nbdkit") && memmem(cmd, (size_t)n, socket, strlen(socket)))
		s.pid = pid;
	ep_serve_stop(&s);
}

int ep_instant_finish(const char *dir, const char *libvirt_uri, struct ep_instant_done *done, struct ep_error *err)
{
	char serve_dir[PATH_MAX], socket[PATH_MAX], want[PATH_MAX + 32];
	struct stat st;
	*done = (struct ep_instant_done){ 0 };
	int rc = instant_paths(dir, serve_dir, socket, sizeof socket, err);
	if (rc)
		return rc;
	if (stat(serve_dir, &st) != 0)
		return ep_fail(err, EP_EINPUT, "'%s' holds no instant restore to finish", dir);
	snprintf(want, sizeof want, "?socket=%s", socket);
	char log[PATH_MAX];
	if (ep_path_format(log, sizeof log, err, "%s/rebase.log", serve_dir))
		return err->code;
	DIR *top = opendir(dir);
	if (!top)
		return ep_fail_errno(err, EP_ERUNTIME, "cannot read '%s'", dir);
	ep_libvirt_quiet();
	virConnectPtr conn = virConnectOpen(libvirt_uri);
	struct dirent *e;
	while (!rc && (e = readdir(top))) {
		char path[PATH_MAX], backing[1100], dev[64];
		size_t n = strlen(e->d_name);
		if (n < 7 || strcmp(e->d_name + n - 6, ".qcow2") || ep_path_format(path, sizeof path, err, "%s/%s", dir, e->d_name))
			continue;
		if (!realpath(path, backing) || ep_path_format(path, sizeof path, err, "%s", backing))
			continue;
		backing_of(path, backing, sizeof backing);
		size_t bn = strlen(backing), wn = strlen(want);
		if (strncmp(backing, "nbd+unix:///", 12) || bn < wn || strcmp(backing + bn - wn, want))
			continue;
		virDomainPtr dom = running_on(conn, path, dev, sizeof dev);
		rc = dom ? block_pull(dom, dev, path, err) : rebase(path, log, err);
		done->disks += !rc;
		done->running += !rc && dom;
		if (dom)
			virDomainFree(dom);
	}
	closedir(top);
	if (conn)
		virConnectClose(conn);
	unlink(log);
	if (!rc) {
		stop_server(serve_dir, socket);
		remove_serve_dir(serve_dir);
	}
	return rc;
}
