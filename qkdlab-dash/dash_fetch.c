/*
 * dash_fetch.c — a small HTTP/1.0 client for the lab's plain-HTTP
 * listeners (metrics, admin), which may sit in another network namespace.
 *
 * A socket belongs to the namespace it was created in, so the calling
 * thread enters the site's namespace (setns(2), CAP_SYS_ADMIN) only to
 * create the socket and returns to its own at once; connect and I/O then
 * happen from the dashboard's namespace.
 */
#include "dash.h"

#include "http_pages.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DASH_FETCH_MAX (1024 * 1024)
#define DASH_FETCH_TIMEOUT_MS 1500

/* A non-blocking TCP socket of family af in netns ("" = our own). */
static int
dash_socket(const char *netns, int af)
{
	char path[64 + DASH_NAME_MAX];
	int self = -1, ns = -1, fd = -1, saved;

	if (netns[0] == '\0')
		return socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			      0);
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	if ((self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) ==
		-1 ||
	    (ns = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    setns(ns, CLONE_NEWNET) == -1)
		goto out;
	fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	saved = errno;
	if (setns(self, CLONE_NEWNET) == -1) {
		/* Never stay in a site's namespace. */
		log_warn("setns back from %s", netns);
		abort();
	}
	errno = saved;
out:
	saved = errno;
	if (self != -1)
		close(self);
	if (ns != -1)
		close(ns);
	errno = saved;
	return fd;
}

/* Waits for events on fd until the deadline; 0 when ready. */
static int
dash_wait(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n == -1 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/*
 * A host name (a container lab's service name): its first address, looked
 * up in the dashboard's own namespace.
 */
static int
dash_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
	     socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM },
			*res;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	if (res->ai_addrlen > sizeof(*ss) ||
	    (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
		freeaddrinfo(res);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	return 0;
}

static int
dash_connect(const char *netns, const char *addr)
{
	struct sockaddr_storage ss;
	char host[DASH_ADDR_MAX];
	uint16_t port;
	socklen_t len;
	int fd, err = 0;

	if (http_pages_parse_addr(addr, host, sizeof(host), &port) == -1)
		return -1;
	if (sockaddr_from_ip(host, port, &ss, &len) == -1 &&
	    dash_resolve(host, port, &ss, &len) == -1)
		return -1;
	if ((fd = dash_socket(netns, ss.ss_family)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS)
		goto err;
	len = sizeof(err);
	if (dash_wait(fd, POLLOUT, DASH_FETCH_TIMEOUT_MS) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0)
		goto err;
	return fd;
err:
	close(fd);
	return -1;
}

void
dash_reply_free(struct dash_reply *r)
{
	free(r->body);
	r->body = NULL;
}

int
dash_reply_parse(char *buf, size_t len, struct dash_reply *r)
{
	char *body;
	int status = 0;

	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		status = status * 10 + (buf[i] - '0');
	}
	if (status < 100 || (body = strstr(buf, "\r\n\r\n")) == NULL)
		return -1;
	body += 4;
	memmove(buf, body, len - (size_t)(body - buf) + 1);
	r->status = status;
	r->body = buf;
	return 0;
}

int
dash_fetch(const char *netns, const char *addr, const char *method,
	   const char *target, struct dash_reply *r)
{
	char req[512], *buf = NULL;
	size_t len = 0, cap = 0, off = 0;
	int fd, n;

	r->status = 0;
	r->body = NULL;
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.0\r\nHost: %s\r\n"
		     "Content-Length: 0\r\nConnection: close\r\n\r\n",
		     method, target, addr);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	if ((fd = dash_connect(netns, addr)) == -1)
		return -1;
	while (off < (size_t)n) {
		ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		else if (w == -1 && errno == EAGAIN &&
			 dash_wait(fd, POLLOUT, DASH_FETCH_TIMEOUT_MS) == 0)
			continue;
		else
			goto err;
	}
	for (;;) {
		ssize_t got;

		if (cap - len < 4097) {
			char *p;

			if (cap >= DASH_FETCH_MAX)
				goto err;
			cap = cap == 0 ? 16384 : cap * 2;
			if ((p = realloc(buf, cap)) == NULL)
				goto err;
			buf = p;
		}
		got = recv(fd, buf + len, cap - len - 1, 0);
		if (got > 0) {
			len += (size_t)got;
		} else if (got == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (dash_wait(fd, POLLIN, DASH_FETCH_TIMEOUT_MS) == -1)
				goto err;
		} else {
			goto err;
		}
	}
	close(fd);
	fd = -1;
	if (buf == NULL)
		return -1;
	buf[len] = '\0';
	if (dash_reply_parse(buf, len, r) == -1)
		goto err;
	return 0;
err:
	if (fd != -1)
		close(fd);
	free(buf);
	r->status = 0;
	return -1;
}

double
dash_metric_sum(const char *page, const char *name)
{
	size_t n = strlen(name);
	double sum = 0;

	for (const char *l = page; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');

		if (strncmp(l, name, n) == 0 && (l[n] == '{' || l[n] == ' ')) {
			const char *sp = l + n;

			if (*sp == '{')
				sp = strchr(sp, '}');
			if (sp != NULL && (nl == NULL || sp < nl))
				sum += strtod(sp + 1, NULL);
		}
		l = nl != NULL ? nl + 1 : NULL;
	}
	return sum;
}
