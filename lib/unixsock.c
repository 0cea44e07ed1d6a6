/*
 * unixsock.c — listen on a Unix socket path without stealing a live one.
 */
#include "unixsock.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
unixsock_new(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd == -1)
		log_warn("unix socket");
	return fd;
}

int
unixsock_listen(const char *path, unsigned mode, int backlog, const char *who)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) == -1) {
		log_warnx("socket path too long (at most %zu characters): %s",
			  sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	if ((fd = unixsock_new()) == -1)
		return -1;
	/*
	 * A live listener accepts (or its backlog is full: EAGAIN on a
	 * non-blocking socket).  ECONNREFUSED means a stale file, ENOENT no
	 * file at all; both are ours to (re)create.
	 */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN) {
		log_err("%s: another %s is listening there; stop it first or "
			"give this one another socket path",
			path, who);
		close(fd);
		return -1;
	}
	close(fd);
	if ((fd = unixsock_new()) == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", path);
		goto err;
	}
	old = umask((mode_t)(~mode & 0777));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("bind %s", path);
		goto err;
	}
	umask(old);
	if (chmod(path, (mode_t)mode) == -1 || listen(fd, backlog) == -1) {
		log_warn("listen %s", path);
		unlink(path);
		goto err;
	}
	return fd;
err:
	close(fd);
	return -1;
}
