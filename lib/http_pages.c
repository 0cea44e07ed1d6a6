/*
 * http_pages.c — read-only pages over libmicrohttpd in the caller's loop.
 */
#include "http_pages.h"

#include "cfg.h"
#include "log.h"
#include "util.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_PAGES_MAX 8

struct http_pages {
	struct MHD_Daemon *mhd;
	int fd;
	struct http_page page[HTTP_PAGES_MAX];
	size_t n;
};

int
http_pages_parse_addr(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = s;
	uint64_t p;
	size_t hlen;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= cap ||
	    cfg_parse_u64(colon + 1, 1, 65535, &p) == -1)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static enum MHD_Result
http_pages_reply(struct MHD_Connection *conn, unsigned status,
		 const char *ctype, char *body)
{
	static const char nf[] = "not found\n", na[] = "method not allowed\n",
			  err[] = "cannot render the page\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (body != NULL) {
		resp = MHD_create_response_from_buffer(strlen(body), body,
						       MHD_RESPMEM_MUST_FREE);
	} else {
		const char *t = status == 404 ? nf : status == 405 ? na : err;

		resp = MHD_create_response_from_buffer(
		    strlen(t), (void *)(uintptr_t)t, MHD_RESPMEM_PERSISTENT);
		ctype = "text/plain";
	}
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
http_pages_access(void *cls, struct MHD_Connection *conn, const char *url,
		  const char *method, const char *version, const char *upload,
		  size_t *upload_size, void **con_cls)
{
	struct http_pages *hp = cls;
	static int marker;

	(void)version;
	(void)upload;
	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	*upload_size = 0; /* a body is read and ignored */
	for (size_t i = 0; i < hp->n; i++) {
		const struct http_page *p = &hp->page[i];
		char *body;

		if (strcmp(url, p->path) != 0)
			continue;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return http_pages_reply(conn, 405, NULL, NULL);
		body = p->render(p->arg);
		return http_pages_reply(conn, body != NULL ? 200 : 500,
					p->content_type, body);
	}
	return http_pages_reply(conn, 404, NULL, NULL);
}

struct http_pages *
http_pages_new(const char *addr, const struct http_page *pages, size_t n)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL;
	const union MHD_DaemonInfo *info;
	struct http_pages *hp;
	char host[64];
	uint16_t port;

	if (n > HTTP_PAGES_MAX ||
	    http_pages_parse_addr(addr, host, sizeof(host), &port) == -1) {
		log_warnx("metrics_listen '%s': want address:port", addr);
		return NULL;
	}
	if (sockaddr_from_ip(host, port, &ss, NULL) == -1) {
		log_warnx("metrics_listen '%s': %s is not an IP address", addr,
			  host);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((hp = calloc(1, sizeof(*hp))) == NULL)
		return NULL;
	memcpy(hp->page, pages, n * sizeof(*pages));
	hp->n = n;
	hp->mhd =
	    MHD_start_daemon(flags, port, NULL, NULL, http_pages_access, hp,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
			     MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_END);
	if (hp->mhd == NULL) {
		log_warnx("cannot serve HTTP on %s", addr);
		free(hp);
		return NULL;
	}
	info = MHD_get_daemon_info(hp->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		log_warnx("libmicrohttpd has no epoll descriptor");
		http_pages_free(hp);
		return NULL;
	}
	hp->fd = info->epoll_fd;
	return hp;
}

void
http_pages_free(struct http_pages *hp)
{
	if (hp == NULL)
		return;
	if (hp->mhd != NULL)
		MHD_stop_daemon(hp->mhd);
	free(hp);
}

int
http_pages_fd(const struct http_pages *hp)
{
	return hp->fd;
}

int
http_pages_timeout_ms(const struct http_pages *hp, int cap)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(hp->mhd, &t) != MHD_YES)
		return cap;
	if (cap >= 0 && t > (MHD_UNSIGNED_LONG_LONG)cap)
		return cap;
	return (int)t;
}

void
http_pages_run(struct http_pages *hp)
{
	MHD_run(hp->mhd);
}
