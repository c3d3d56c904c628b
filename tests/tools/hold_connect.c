/*
 * LD_PRELOAD shim for tests: a connect() to a unix socket named ".../nbd.sock" waits
 * while the file $HOLD_CONNECT exists, so that a test can look at a live backup job's
 * export (nbdcopy, nbdinfo) and write to the guest before envpack reads a byte, however
 * short the job would otherwise be.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	const char *hold = getenv("HOLD_CONNECT");
	if (hold && addr && addr->sa_family == AF_UNIX) {
		const char *path = ((const struct sockaddr_un *)addr)->sun_path;
		size_t n = strnlen(path, sizeof ((const struct sockaddr_un *)addr)->sun_path);
		const struct timespec tick = { 0, 10 * 1000 * 1000 };
		if (n >= 9 && !memcmp(path + n - 9, "/nbd.sock", 9))
			while (access(hold, F_OK) == 0)
				nanosleep(&tick, NULL);
	}
	return real(fd, addr, len);
}
