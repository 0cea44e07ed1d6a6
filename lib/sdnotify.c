/*
 * sdnotify.c — readiness and stopping notices for Type=notify units.
 */
#include "sdnotify.h"

#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
sdnotify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	ssize_t sent;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	/* systemd names only a path or an abstract socket. */
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_debug("NOTIFY_SOCKET %s: not a socket address", path);
		return -1;
	}
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_debug("NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		      (struct sockaddr *)&sun, len);
	if (sent == -1)
		log_debug("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
	return sent == (ssize_t)strlen(state) ? 0 : -1;
}
