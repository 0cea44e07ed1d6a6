/*
 * http_pages.h — a few read-only HTTP pages (GET /metrics and the like)
 * served from a single-threaded daemon's own poll loop.
 *
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL): the
 * daemon polls one descriptor and calls http_pages_run() when it is
 * readable, so every page is rendered on the daemon's thread and reads its
 * state without locks.
 */
#ifndef QKDLAB_HTTP_PAGES_H
#define QKDLAB_HTTP_PAGES_H

#include <stddef.h>
#include <stdint.h>

struct http_page {
	const char *path; /* exact match, e.g. "/metrics" */
	const char *content_type;
	/* A heap string the server frees, or NULL (answered 500). */
	char *(*render)(void *arg);
	void *arg;
};

struct http_pages;

/*
 * Parses "host:port" or "[v6]:port" (an IP literal, port 1..65535) into
 * host (cap octets) and *port; -1 on anything else.
 */
int http_pages_parse_addr(const char *s, char *host, size_t cap,
			  uint16_t *port);
/*
 * Listens on addr ("127.0.0.1:9102"); pages is copied.  NULL after
 * logging why.
 */
struct http_pages *http_pages_new(const char *addr,
				  const struct http_page *pages, size_t n);
/* NULL-safe. */
void http_pages_free(struct http_pages *hp);
/* The descriptor to poll for POLLIN. */
int http_pages_fd(const struct http_pages *hp);
/* The poll timeout the server needs (ms), never above cap; cap if none. */
int http_pages_timeout_ms(const struct http_pages *hp, int cap);
/* Accepts, reads and answers whatever is ready; never blocks. */
void http_pages_run(struct http_pages *hp);

#endif
