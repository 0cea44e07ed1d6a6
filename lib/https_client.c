/*
 * https_client.c — HTTP/1.1 over OpenSSL with mutual TLS, connections
 * kept alive in a pool.
 *
 * A call on a kept-alive connection costs three system calls: a peek that
 * the peer has not closed it, one write (the whole request is one TLS
 * record) and one read (read-ahead takes whole records).  Connecting and
 * the handshake are non-blocking, every wait a poll() bounded by the
 * deadline; then the socket blocks, bounded by SO_RCVTIMEO/SO_SNDTIMEO
 * set to what is left of the call.
 */
#include "https_client.h"

#include "http_resp.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HTTPS_POOL_MAX 64
#define HTTPS_PATH_MAX 1024
#define HTTPS_HOST_MAX 256
#define HTTPS_KEY_MAX (HTTPS_HOST_MAX + 8)
#define HTTPS_REQ_STACK 4096 /* requests longer than this go to the heap */
#define HTTPS_READ_MAX 16384 /* one TLS record's plaintext */
/* No connect_timeout_ms and no timeout_ms: give up connecting after this. */
#define HTTPS_CONNECT_DEFAULT_MS 300000
/* How much longer than what is left of a call the socket's timeouts may
 * be: 1 ms and 1 % of what is left. */
#define HTTPS_TIMEO_SLACK_US(left) (1000 + (left) / 100)

struct https_conn {
	SSL *ssl;
	int fd;
	uint64_t timeo_us; /* SO_RCVTIMEO and SO_SNDTIMEO; UINT64_MAX: unset */
	char key[HTTPS_KEY_MAX]; /* "host port": what it is connected to */
};

struct https_client {
	char ca_file[HTTPS_PATH_MAX];
	char cert_file[HTTPS_PATH_MAX];
	char key_file[HTTPS_PATH_MAX];
	char peer_name[HTTPS_HOST_MAX]; /* "" when the URL's host is checked */
	struct https_client_cfg cfg; /* its strings point above */

	pthread_mutex_t lock;
	SSL_CTX *ctx; /* NULL until the files could be loaded */
	struct stat files[3]; /* ca, cert, key as ctx was made from them */
	struct https_conn *idle[HTTPS_POOL_MAX];
	size_t n_idle;
};

/* The parts of an https:// URL a request needs. */
struct https_url {
	char host[HTTPS_HOST_MAX]; /* brackets of an IPv6 literal removed */
	char port[6];
	char authority[HTTPS_HOST_MAX + 8]; /* for Host: */
	const char *path; /* path and query; "" means "/" */
	size_t path_len;
	bool ip;
};

/* A failure, and whether it proves the request was never sent. */
struct https_err {
	enum https_fail fail;
	bool unsent;
	char msg[HTTPS_CLIENT_ERR_MAX];
};

static void https_conn_free(struct https_conn *k, bool shutdown);
static SSL_CTX *https_ctx_get(struct https_client *c, struct https_err *e);
static int https_ctx_refresh_locked(struct https_client *c,
				    struct https_err *e);

/* Appends OpenSSL's queued reasons (and clears the queue). */
static void
ssl_reasons(char *buf, size_t cap)
{
	size_t n = strlen(buf);
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		const char *why = ERR_reason_error_string(e);

		if (n + 3 >= cap)
			continue;
		snprintf(buf + n, cap - n, "%s%s", n > 0 ? ": " : "",
			 why != NULL ? why : "unknown OpenSSL error");
		n = strlen(buf);
	}
}

/*
 * The files are read into the context every new connection shares:
 * the client's certificate chain and key, and ca_file as the only trust
 * anchors (no default paths).
 */
static SSL_CTX *
https_ctx_new(const struct https_client *c, char *why, size_t cap)
{
	const struct https_client_cfg *cfg = &c->cfg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *step = "cannot set up TLS";

	why[0] = '\0';
	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A close-delimited body may end without close_notify: the parser
	 * still checks every framed body for its end. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
				     SSL_OP_NO_RENEGOTIATION);
	/* Whole records per read() instead of header, then body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* The record buffers hold an answer's plaintext (keys) until the
	 * next one: released when empty, they are wiped (secmem) instead of
	 * waiting in an idle connection. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	step = "cannot load the CA file";
	if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1)
		goto fail;
	step = "cannot load the client certificate";
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
		goto fail;
	step = "cannot load the client key";
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) !=
		1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	snprintf(why, cap, "%s", step);
	ssl_reasons(why, cap);
	SSL_CTX_free(ctx);
	return NULL;
}

struct https_client *
https_client_new(const struct https_client_cfg *cfg)
{
	struct https_client *c = calloc(1, sizeof(*c));
	struct https_err e = { .fail = HTTPS_OK };
	struct sigaction sa;

	if (c == NULL)
		return NULL;
	if (str_copy(c->ca_file, sizeof(c->ca_file), cfg->ca_file) == -1 ||
	    str_copy(c->cert_file, sizeof(c->cert_file), cfg->cert_file) ==
		-1 ||
	    str_copy(c->key_file, sizeof(c->key_file), cfg->key_file) == -1 ||
	    str_copy(c->peer_name, sizeof(c->peer_name),
		     cfg->peer_name != NULL ? cfg->peer_name : "") == -1) {
		log_warnx("HTTPS client: a file name or peer name is too long");
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	c->cfg.ca_file = c->ca_file;
	c->cfg.cert_file = c->cert_file;
	c->cfg.key_file = c->key_file;
	c->cfg.peer_name = c->peer_name[0] != '\0' ? c->peer_name : NULL;
	if (c->cfg.pool == 0)
		c->cfg.pool = 1;
	if (c->cfg.pool > HTTPS_POOL_MAX)
		c->cfg.pool = HTTPS_POOL_MAX;
	/* A file that cannot be read yet is tried again on each call, and
	 * its reason is then each call's error. */
	if (https_ctx_refresh_locked(c, &e) == -1)
		log_warnx("HTTPS client: %s", e.msg);
	/* A write to a connection the peer reset must fail, not kill the
	 * process: SIGPIPE is ignored unless the program handles it. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void
https_client_free(struct https_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		https_conn_free(c->idle[i], true);
	SSL_CTX_free(c->ctx);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
https_resp_clear(struct https_resp *r)
{
	secmem_free(r->body);
	r->body = NULL;
	r->len = r->cap = 0;
}

static void https_fail(struct https_err *e, enum https_fail fail, bool unsent,
		       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
https_fail(struct https_err *e, enum https_fail fail, bool unsent,
	   const char *fmt, ...)
{
	va_list ap;

	e->fail = fail;
	e->unsent = unsent;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/*
 * https://host[:port][/path][?query] (RFC 3986; the scheme in any case).
 * host is a name, an IPv4 address or a bracketed IPv6 address.  Octets
 * that could split the request line (controls, SP) are refused.
 */
static int
https_url_parse(const char *url, struct https_url *u)
{
	const char *a, *end, *hend, *port = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	size_t hlen, plen = 0;

	if (strncasecmp(url, "https://", 8) != 0)
		return -1;
	a = url + 8;
	end = a + strcspn(a, "/?#");
	if (a[0] == '[') {
		hend = memchr(a, ']', (size_t)(end - a));
		if (hend == NULL)
			return -1;
		a++;
		if (hend + 1 < end && hend[1] != ':')
			return -1;
		port = hend + 1 < end ? hend + 2 : NULL;
	} else {
		hend = memchr(a, ':', (size_t)(end - a));
		if (hend != NULL)
			port = hend + 1;
		else
			hend = end;
	}
	hlen = (size_t)(hend - a);
	if (hlen == 0 || hlen >= sizeof(u->host))
		return -1;
	memcpy(u->host, a, hlen);
	u->host[hlen] = '\0';
	for (size_t i = 0; i < hlen; i++)
		if (u->host[i] <= ' ' || u->host[i] == 0x7f ||
		    strchr("@%\\", u->host[i]) != NULL)
			return -1;
	if (url[8] == '[') {
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return -1;
		u->ip = true;
	} else {
		u->ip = inet_pton(AF_INET, u->host, &a4) == 1;
	}
	if (port != NULL) {
		unsigned long v = 0;

		plen = (size_t)(end - port);
		if (plen == 0 || plen > 5)
			return -1;
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9')
				return -1;
			v = v * 10 + (unsigned long)(port[i] - '0');
		}
		if (v == 0 || v > 65535)
			return -1;
		snprintf(u->port, sizeof(u->port), "%lu", v);
	} else {
		snprintf(u->port, sizeof(u->port), "443");
	}
	snprintf(u->authority, sizeof(u->authority), "%s%s%s%s%s",
		 url[8] == '[' ? "[" : "", u->host, url[8] == '[' ? "]" : "",
		 port != NULL ? ":" : "", port != NULL ? u->port : "");
	u->path = end;
	u->path_len = strcspn(end, "#");
	for (size_t i = 0; i < u->path_len; i++)
		if ((unsigned char)end[i] <= ' ' || end[i] == 0x7f)
			return -1;
	return 0;
}

static uint64_t
deadline_after(uint64_t ms)
{
	return ms > 0 ? mono_us() + ms * 1000 : 0;
}

/* Waits for events on fd until deadline (0: none): 0, or -1 with errno
 * (ETIMEDOUT at the deadline). */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int ms = -1, n;

		if (deadline != 0) {
			uint64_t now = mono_us();

			if (now >= deadline) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = (int)((deadline - now + 999) / 1000);
		}
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* One TCP connection to one of host's addresses, within deadline. */
static int
tcp_connect(const struct https_url *u, uint64_t deadline, struct https_err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV },
			*res, *ai;
	int rc, fd = -1, err = 0, one = 1;

	if (u->ip)
		hints.ai_flags |= AI_NUMERICHOST;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		https_fail(e, HTTPS_UNREACHABLE, true, "cannot resolve %s: %s",
			   u->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		/* Requests are single writes: nothing to coalesce. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (err == EINPROGRESS) {
			if (wait_fd(fd, POLLOUT, deadline) == -1)
				err = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					    &len) == -1)
				err = errno;
			if (err == 0)
				break;
		}
		close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break; /* the deadline holds for every address */
	}
	freeaddrinfo(res);
	if (fd == -1 && err == ETIMEDOUT)
		https_fail(e, HTTPS_UNREACHABLE, true,
			   "connecting to %s port %s: timed out", u->host,
			   u->port);
	else if (fd == -1)
		https_fail(e, HTTPS_UNREACHABLE, true,
			   "cannot connect to %s port %s: %s", u->host, u->port,
			   strerror(err));
	return fd;
}

/*
 * Drives a TLS operation on a non-blocking socket: waits for what OpenSSL
 * wants.  Returns the operation's result (> 0), or <= 0 with *ssl_err.
 */
static int
ssl_wait(SSL *ssl, int n, uint64_t deadline, int *ssl_err)
{
	*ssl_err = SSL_get_error(ssl, n);
	if (*ssl_err == SSL_ERROR_WANT_READ)
		return wait_fd(SSL_get_fd(ssl), POLLIN, deadline);
	if (*ssl_err == SSL_ERROR_WANT_WRITE)
		return wait_fd(SSL_get_fd(ssl), POLLOUT, deadline);
	return -1;
}

/* The reason of a failed TLS operation, OpenSSL's when it has one. */
static void
ssl_failure(SSL *ssl, int ssl_err, char *buf, size_t cap)
{
	long vr = SSL_get_verify_result(ssl);

	buf[0] = '\0';
	if (errno == ETIMEDOUT && (ssl_err == SSL_ERROR_WANT_READ ||
				   ssl_err == SSL_ERROR_WANT_WRITE)) {
		snprintf(buf, cap, "timed out");
		return;
	}
	ssl_reasons(buf, cap);
	if (vr != X509_V_OK) {
		size_t n = strlen(buf);

		snprintf(buf + n, cap - n, "%s%s", n > 0 ? ": " : "",
			 X509_verify_cert_error_string(vr));
	}
	if (buf[0] == '\0')
		snprintf(buf, cap, "%s",
			 ssl_err == SSL_ERROR_SYSCALL && errno != 0
			     ? strerror(errno)
			     : "connection closed by the server");
}

static struct https_conn *
https_conn_open(struct https_client *c, struct https_url *u, const char *key,
		uint64_t deadline, struct https_err *e)
{
	const struct https_client_cfg *cfg = &c->cfg;
	uint64_t cdl = cfg->connect_timeout_ms > 0
			   ? deadline_after(cfg->connect_timeout_ms)
		       : deadline == 0
			   ? deadline_after(HTTPS_CONNECT_DEFAULT_MS)
			   : deadline;
	struct https_conn *k;
	SSL_CTX *ctx;
	char why[200];
	int n, ssl_err = SSL_ERROR_NONE;
	bool ok;

	if (deadline != 0 && deadline < cdl)
		cdl = deadline;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		https_fail(e, HTTPS_LOCAL, true, "out of memory");
		return NULL;
	}
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->timeo_us = UINT64_MAX;
	/* No connection while the files cannot be loaded. */
	ERR_clear_error();
	if ((ctx = https_ctx_get(c, e)) == NULL) {
		free(k);
		return NULL;
	}
	k->fd = tcp_connect(u, cdl, e);
	if (k->fd == -1) {
		SSL_CTX_free(ctx);
		free(k);
		return NULL;
	}
	k->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* k->ssl holds its own reference */
	ok = k->ssl != NULL && SSL_set_fd(k->ssl, k->fd) == 1;
	/* SNI names a host, never an address (RFC 6066 3).  u is not const:
	 * OpenSSL's macro casts the name to void *. */
	if (ok && !u->ip)
		ok = SSL_set_tlsext_host_name(k->ssl, u->host) == 1;
	/* The certificate must name peer_name, whatever the address, or
	 * else the URL's host (CN or subjectAltName, as OpenSSL checks). */
	if (ok && cfg->peer_name != NULL)
		ok = SSL_set1_host(k->ssl, cfg->peer_name) == 1;
	else if (ok && cfg->verify_host && u->ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl),
						   u->host) == 1;
	else if (ok && cfg->verify_host)
		ok = SSL_set1_host(k->ssl, u->host) == 1;
	if (!ok) {
		https_fail(e, HTTPS_LOCAL, true, "cannot set up TLS");
		https_conn_free(k, false);
		return NULL;
	}
	while ((n = SSL_connect(k->ssl)) != 1) {
		if (ssl_wait(k->ssl, n, cdl, &ssl_err) == -1) {
			ssl_failure(k->ssl, ssl_err, why, sizeof(why));
			https_fail(e, HTTPS_UNREACHABLE, true,
				   "TLS handshake with %s port %s failed: %s",
				   u->host, u->port, why);
			https_conn_free(k, false);
			return NULL;
		}
	}
	n = 0;
	if (ioctl(k->fd, FIONBIO, &n) == -1) {
		https_fail(e, HTTPS_LOCAL, true, "cannot set up the socket: %s",
			   strerror(errno));
		https_conn_free(k, true);
		return NULL;
	}
	return k;
}

/*
 * Bounds the next blocking read or write by the call's deadline: -1 with
 * errno ETIMEDOUT once it has passed.  The socket's timeouts are set
 * again only when they would outlast the deadline by more than the slack,
 * or are under half of what is left (a read that ends early is tried
 * again), so calls on a kept-alive connection do not pay a setsockopt().
 */
static int
https_conn_arm(struct https_conn *k, uint64_t deadline)
{
	uint64_t left = 0;
	struct timeval tv;

	if (deadline != 0) {
		uint64_t now = mono_us();

		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		left = deadline - now;
	}
	if (k->timeo_us != UINT64_MAX &&
	    (left == 0 ? k->timeo_us == 0
		       : k->timeo_us != 0 &&
			     k->timeo_us <= left + HTTPS_TIMEO_SLACK_US(left) &&
			     k->timeo_us >= left / 2))
		return 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	if (setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	k->timeo_us = left;
	return 0;
}

static void
https_conn_free(struct https_conn *k, bool shutdown)
{
	if (k == NULL)
		return;
	/* close_notify only on a healthy connection; never waited for. */
	if (shutdown)
		SSL_shutdown(k->ssl);
	SSL_free(k->ssl);
	if (k->fd != -1)
		close(k->fd);
	free(k);
	ERR_clear_error();
}

/*
 * An idle connection to key, if one is still open.  The peer may have
 * closed it while it waited (its idle timeout): then the kernel holds the
 * FIN (or an alert), and a non-blocking peek sees it.  Such a connection
 * is dropped; the request has not been sent on it.
 */
static struct https_conn *
https_pool_take(struct https_client *c, const char *key)
{
	for (;;) {
		struct https_conn *k = NULL;
		char b;

		pthread_mutex_lock(&c->lock);
		for (size_t i = c->n_idle; i-- > 0;) {
			if (strcmp(c->idle[i]->key, key) == 0) {
				k = c->idle[i];
				c->idle[i] = c->idle[--c->n_idle];
				break;
			}
		}
		pthread_mutex_unlock(&c->lock);
		if (k == NULL)
			return NULL;
		if (recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return k;
		https_conn_free(k, false);
	}
}

static void
https_pool_put(struct https_client *c, struct https_conn *k)
{
	pthread_mutex_lock(&c->lock);
	if (c->n_idle < c->cfg.pool) {
		c->idle[c->n_idle++] = k;
		k = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	https_conn_free(k, true);
}

/* The request line and fields, then the body, in buf (cap octets). */
static size_t
https_request(char *buf, size_t cap, const struct https_url *u,
	      const char *json, size_t json_len)
{
	int n;

	if (json == NULL)
		n = snprintf(buf, cap,
			     "GET %s%.*s HTTP/1.1\r\nHost: %s\r\n\r\n",
			     u->path[0] == '/' ? "" : "/", (int)u->path_len,
			     u->path, u->authority);
	else
		n = snprintf(buf, cap,
			     "POST %s%.*s HTTP/1.1\r\nHost: %s\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     u->path[0] == '/' ? "" : "/", (int)u->path_len,
			     u->path, u->authority, json_len);
	if (n < 0 || (size_t)n + json_len >= cap)
		return 0;
	if (json != NULL)
		memcpy(buf + n, json, json_len);
	return (size_t)n + json_len;
}

/*
 * Sends the request and reads one answer into p.  Whatever fails here
 * happens after the request may have reached the server.  *reuse: the
 * connection ended clean and may carry the next request.
 */
static int
https_exchange(struct https_conn *k, const char *req, size_t len,
	       uint64_t deadline, struct http_resp *p, bool *reuse,
	       struct https_err *e)
{
	char buf[HTTPS_READ_MAX], why[200];
	size_t used, wiped = 0;
	enum http_resp_rc rc = HTTP_RESP_MORE;
	int n, ssl_err;

	*reuse = false;
	ERR_clear_error();
	/* One SSL_write: one record, one write() for requests up to 16 KiB.
	 * A timeout (SO_SNDTIMEO) shows as WANT_WRITE: the deadline says. */
	for (;;) {
		if (https_conn_arm(k, deadline) == -1) {
			https_fail(e, HTTPS_UNREACHABLE, false,
				   "sending the request failed: %s",
				   errno == ETIMEDOUT ? "timed out"
						      : strerror(errno));
			return -1;
		}
		if ((n = SSL_write(k->ssl, req, (int)len)) > 0)
			break;
		ssl_err = SSL_get_error(k->ssl, n);
		if (ssl_err != SSL_ERROR_WANT_WRITE &&
		    ssl_err != SSL_ERROR_WANT_READ) {
			ssl_failure(k->ssl, ssl_err, why, sizeof(why));
			https_fail(e, HTTPS_UNREACHABLE, false,
				   "sending the request failed: %s", why);
			return -1;
		}
	}
	while (rc == HTTP_RESP_MORE) {
		if (https_conn_arm(k, deadline) == -1) {
			https_fail(e, HTTPS_UNREACHABLE, false, "%s",
				   errno == ETIMEDOUT
				       ? "timed out waiting for the answer"
				       : strerror(errno));
			goto out;
		}
		n = SSL_read(k->ssl, buf, sizeof(buf));
		if (n > 0) {
			if ((size_t)n > wiped)
				wiped = (size_t)n;
			rc = http_resp_feed(p, buf, (size_t)n, &used);
			if (rc == HTTP_RESP_DONE)
				*reuse = p->keep_alive && used == (size_t)n &&
					 !SSL_has_pending(k->ssl);
			continue;
		}
		/* WANT_*: SO_RCVTIMEO ran out; the deadline says. */
		ssl_err = SSL_get_error(k->ssl, n);
		if (ssl_err == SSL_ERROR_WANT_READ ||
		    ssl_err == SSL_ERROR_WANT_WRITE)
			continue;
		if (ssl_err == SSL_ERROR_ZERO_RETURN) {
			rc = http_resp_eof(p);
			break;
		}
		ssl_failure(k->ssl, ssl_err, why, sizeof(why));
		https_fail(e, HTTPS_UNREACHABLE, false,
			   "reading the answer failed: %s", why);
		goto out;
	}
	if (rc == HTTP_RESP_TOO_LARGE)
		https_fail(e, HTTPS_TOO_LARGE, false, "answer too large");
	else if (rc != HTTP_RESP_DONE)
		https_fail(e, HTTPS_UNREACHABLE, false, "bad HTTP answer: %s",
			   p->why);
out:
	secmem_wipe(buf, wiped);
	return rc == HTTP_RESP_DONE ? 0 : -1;
}

static void
https_client_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

/* Whether a file is, by identity and time, what st was. */
static bool
https_file_same(const char *path, const struct stat *st)
{
	struct stat now;

	return stat(path, &now) == 0 && now.st_dev == st->st_dev &&
	       now.st_ino == st->st_ino && now.st_size == st->st_size &&
	       now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/*
 * The shared context, made now if the files could not be read before, or
 * made again when one of them changed since (a renewed certificate is
 * used from the next new connection on; kept-alive ones keep theirs).
 * Under c->lock.  A changed file that does not load leaves the context
 * as it was (logged).
 */
static int
https_ctx_refresh_locked(struct https_client *c, struct https_err *e)
{
	const char *paths[3] = { c->ca_file, c->cert_file, c->key_file };
	char why[HTTPS_CLIENT_ERR_MAX - 32];
	struct stat files[3];
	SSL_CTX *ctx;

	if (c->ctx != NULL && https_file_same(paths[0], &c->files[0]) &&
	    https_file_same(paths[1], &c->files[1]) &&
	    https_file_same(paths[2], &c->files[2]))
		return 0;
	for (size_t i = 0; i < 3; i++) {
		if (stat(paths[i], &files[i]) == -1)
			memset(&files[i], 0, sizeof(files[i]));
	}
	ctx = https_ctx_new(c, why, sizeof(why));
	if (ctx == NULL && c->ctx == NULL) {
		https_fail(e, HTTPS_UNREACHABLE, true, "%s", why);
		return -1;
	}
	if (ctx == NULL) {
		log_warnx("HTTPS client: %s; the files loaded before stay in "
			  "use",
			  why);
	} else {
		SSL_CTX_free(c->ctx);
		c->ctx = ctx;
	}
	memcpy(c->files, files, sizeof(files));
	return 0;
}

/* A reference to the context for a new connection (SSL_CTX_free it). */
static SSL_CTX *
https_ctx_get(struct https_client *c, struct https_err *e)
{
	SSL_CTX *ctx = NULL;

	pthread_mutex_lock(&c->lock);
	if (https_ctx_refresh_locked(c, e) == 0 && SSL_CTX_up_ref(c->ctx) == 1)
		ctx = c->ctx;
	pthread_mutex_unlock(&c->lock);
	if (ctx == NULL && e->fail == HTTPS_OK)
		https_fail(e, HTTPS_LOCAL, true, "cannot set up TLS");
	return ctx;
}

int
https_client_call(struct https_client *c, const char *url, const char *json,
		  struct https_resp *r)
{
	struct https_err e = { .fail = HTTPS_OK };
	struct https_url u;
	struct https_conn *k = NULL;
	struct http_resp *p = NULL;
	char stackreq[HTTPS_REQ_STACK], *req = stackreq, key[HTTPS_KEY_MAX];
	size_t json_len = json != NULL ? strlen(json) : 0, len = 0;
	uint64_t deadline = 0;
	bool reuse = false;

	https_resp_clear(r);
	r->fail = HTTPS_OK;
	r->status = 0;
	r->attempts = 0;
	r->err[0] = '\0';
	if (https_url_parse(url, &u) == -1) {
		https_fail(&e, HTTPS_LOCAL, true, "bad URL");
		goto out;
	}
	snprintf(key, sizeof(key), "%s %s", u.host, u.port);
	if (json_len + HTTPS_PATH_MAX * 2 + 256 > sizeof(stackreq) &&
	    (req = malloc(json_len + HTTPS_PATH_MAX * 2 + 256)) == NULL) {
		https_fail(&e, HTTPS_LOCAL, true, "out of memory");
		goto out;
	}
	len =
	    https_request(req,
			  req == stackreq ? sizeof(stackreq)
					  : json_len + HTTPS_PATH_MAX * 2 + 256,
			  &u, json, json_len);
	if (len == 0 || (p = malloc(sizeof(*p))) == NULL) {
		https_fail(&e, HTTPS_LOCAL, true,
			   len == 0 ? "bad URL" : "out of memory");
		goto out;
	}
	/* Attempts end when a connection is ready; only a failure to
	 * connect or to shake hands is tried again. */
	for (;;) {
		r->attempts++;
		deadline = deadline_after(c->cfg.timeout_ms);
		if ((k = https_pool_take(c, key)) != NULL ||
		    (k = https_conn_open(c, &u, key, deadline, &e)) != NULL)
			break;
		if (r->attempts > c->cfg.retries || !e.unsent)
			goto out;
		log_debug("HTTPS %s: %s; retrying", url, e.msg);
		https_client_sleep_ms(c->cfg.retry_delay_ms);
	}
	http_resp_init(p, c->cfg.body_max);
	if (https_exchange(k, req, len, deadline, p, &reuse, &e) == 0) {
		r->status = p->status;
		r->body = p->body;
		r->len = p->len;
		r->cap = p->cap;
		p->body = NULL;
	}
	http_resp_clear(p);
	if (reuse)
		https_pool_put(c, k);
	else
		https_conn_free(k, false);
out:
	free(p);
	secmem_wipe(req, len);
	if (req != stackreq)
		free(req);
	if (e.fail == HTTPS_OK)
		return 0;
	r->fail = e.fail;
	snprintf(r->err, sizeof(r->err), "%s", e.msg);
	https_resp_clear(r);
	return -1;
}
