/*
 * skip_http.c — libmicrohttpd glue for the SKIP API and the metrics page.
 *
 * The raw request-target (with its query) is captured by the URI log
 * callback, before libmicrohttpd splits and decodes it, and parsed by
 * skip_req_parse().  Responses are queued on a later call of the access
 * handler than the first one for a request: queued on the first call,
 * libmicrohttpd closes the connection (docs/DESIGN.md, "Shared code").
 */
#include "skip.h"

#include "http_hdr.h"
#include "api_docs.h"
#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#define SKIP_HTTP_BODY_MAX 16384 /* request bodies are ignored; bounded */

struct skip_http {
	struct skip_api *api;
	struct skip_limits lim;
	struct MHD_Daemon *mhd;
	struct tls_front *tf;
};

/* Per request: made by the URI log callback, freed on completion. */
struct skip_xreq {
	char *target; /* NULL if longer than SKIP_TARGET_MAX */
	bool seen;
	size_t body;
	char buf[]; /* the target, when it fits */
};

static void *
skip_http_uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	size_t len = strnlen(uri, SKIP_TARGET_MAX + 1);
	bool fits = len <= SKIP_TARGET_MAX;
	/* One allocation per request: the record and its copy of the target. */
	struct skip_xreq *x = malloc(sizeof(*x) + (fits ? len + 1 : 0));
	const char *q = strchr(uri, '?');

	(void)cls;
	(void)conn;
	if (x != NULL) {
		x->target = NULL;
		x->seen = false;
		x->body = 0;
		if (fits) {
			memcpy(x->buf, uri, len + 1);
			x->target = x->buf;
		}
	}
	/* skip_req_parse() reads our copy.  libmicrohttpd would store each
	 * query parameter in the connection's memory pool next, and a few
	 * thousand exhaust it and stall the connection without an answer:
	 * its copy (writable, in its read buffer) is emptied. */
	if (q != NULL)
		*(char *)(uintptr_t)(q + 1) = '\0';
	return x;
}

static void
skip_http_done_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
		  enum MHD_RequestTerminationCode toe)
{
	struct skip_xreq *x = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (x != NULL) {
		free(x);
		*con_cls = NULL;
	}
}

/* The body may hold a key: wipe it when libmicrohttpd lets it go. */
static void
skip_http_body_free(void *cls)
{
	char *p = cls;

	secmem_free(p);
}

static enum MHD_Result
skip_http_queue(struct MHD_Connection *conn, struct skip_reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (rep->body == NULL)
		skip_api_error(rep, 500, "out of memory");
	if (rep->body == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    rep->len, rep->body, skip_http_body_free, rep->body);
	if (resp == NULL)
		return MHD_NO;
	rep->body = NULL; /* owned by resp now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-store");
	if (rep->allow_get)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(conn, (unsigned)rep->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* record = PATH: what this request was, over which TLS, and got. */
static void
skip_http_record(struct skip_http *h, struct MHD_Connection *conn,
		 const char *method, const char *target, const char *identity,
		 const struct skip_req *req, const struct skip_reply *rep)
{
	char version[32], suite[128];
	bool tls = h->tf != NULL &&
		   tls_front_conn_tls(h->tf, conn, version, sizeof(version),
				      suite, sizeof(suite)) == 0;
	const struct skip_record_entry e = {
		.method = method,
		.target = target,
		.identity = identity[0] != '\0' ? identity : NULL,
		.tls_version = tls ? version : NULL,
		.tls_suite = tls ? suite : NULL,
		.req = req,
		.rep = rep,
	};

	skip_record_request(h->api->rec, &e);
}

static enum MHD_Result
skip_http_access(void *cls, struct MHD_Connection *conn, const char *url,
		 const char *method, const char *version, const char *upload,
		 size_t *upload_size, void **con_cls)
{
	struct skip_http *h = cls;
	struct skip_xreq *x = *con_cls;
	struct skip_reply rep = { 0 };
	struct skip_req req;
	struct skip_err err;
	char peer[TLS_PEER_ID_MAX] = "?", raw[TLS_PEER_ID_MAX] = "", shown[160];
	enum MHD_Result ret;

	(void)url;
	(void)version;
	(void)upload;
	if (x == NULL)
		return MHD_NO; /* out of memory in the URI callback */
	if (!x->seen) {
		const char *cl = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		x->seen = true;
		/*
		 * A body declared too large is refused now, not after it has
		 * arrived (or never arrived): answering on this first call
		 * also closes the connection, which is what such a client gets.
		 */
		if (cl == NULL ||
		    http_content_length_ok(cl, SKIP_HTTP_BODY_MAX))
			return MHD_YES;
		x->body = SKIP_HTTP_BODY_MAX + 1;
	}
	if (*upload_size != 0) {
		x->body += *upload_size;
		*upload_size = 0;
		if (x->body <= SKIP_HTTP_BODY_MAX)
			return MHD_YES;
	}
	/* The identity goes into logs: keep it printable. */
	if (h->tf != NULL &&
	    tls_front_conn_peer(h->tf, conn, raw, sizeof(raw)) == 0)
		skip_printable(peer, sizeof(peer), raw, strlen(raw));
	else if (h->tf != NULL)
		raw[0] = '\0';
	if (h->tf != NULL && raw[0] == '\0') {
		/* A certificate without exactly one CN (logged at the handshake). */
		memset(&req, 0, sizeof(req));
		skip_api_error(&rep, 401,
			       "the client certificate names no "
			       "single identity");
	} else if (x->target == NULL) {
		memset(&req, 0, sizeof(req));
		skip_api_error(&rep, 400, "request target too long");
	} else if (x->body > SKIP_HTTP_BODY_MAX) {
		memset(&req, 0, sizeof(req));
		skip_api_error(&rep, strcmp(method, "GET") == 0 ? 400 : 405,
			       "request body too large");
	} else if (skip_req_parse(method, x->target, &h->lim, &req, &err) ==
		   -1) {
		skip_api_error(&rep, err.status, err.msg);
	} else {
		skip_api_serve(h->api, &req, peer, &rep);
	}
	if (h->api->rec != NULL)
		skip_http_record(h, conn, method, x->target, raw, &req, &rep);
	atomic_fetch_add(&h->api->metrics->requests[req.route], 1);
	skip_metrics_response(h->api->metrics, rep.status);
	if (x->target != NULL)
		skip_printable(shown, sizeof(shown), x->target,
			       strlen(x->target));
	log_debug("%s %s from '%s': %d", method,
		  x->target ? shown : "(too long)", peer, rep.status);
	ret = skip_http_queue(conn, &rep);
	skip_reply_clear(&rep);
	return ret;
}

struct skip_http *
skip_http_new(struct skip_api *api, unsigned threads)
{
	struct skip_http *h = calloc(1, sizeof(*h));
	const struct skip_conf *c = api->conf;

	if (h == NULL)
		return NULL;
	h->api = api;
	h->lim.key_size_default = c->key_size_default;
	h->lim.key_size_max = c->key_size_max;
	h->lim.entropy_default = c->entropy_default;
	h->lim.entropy_max = c->entropy_max;
	h->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
		MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
	    0, NULL, NULL, skip_http_access, h, MHD_OPTION_URI_LOG_CALLBACK,
	    skip_http_uri_cb, h, MHD_OPTION_NOTIFY_COMPLETED, skip_http_done_cb,
	    h, MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(c->idle_timeout_ms / 1000), MHD_OPTION_CONNECTION_LIMIT,
	    c->max_connections, MHD_OPTION_END);
	if (h->mhd == NULL) {
		log_warnx("cannot start the HTTP layer (%u threads)", threads);
		free(h);
		return NULL;
	}
	return h;
}

struct MHD_Daemon *
skip_http_mhd(struct skip_http *h)
{
	return h->mhd;
}

void
skip_http_set_front(struct skip_http *h, struct tls_front *tf)
{
	h->tf = tf;
}

/* Call after tls_front_free(): the front feeds this daemon. */
void
skip_http_free(struct skip_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}

struct skip_metrics_ctx {
	struct skip_metrics *m;
	struct skip_http *h;
};

static enum MHD_Result
skip_metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
		    const char *method, const char *version, const char *upload,
		    size_t *upload_size, void **con_cls)
{
	struct skip_metrics_ctx *mc = cls;
	static int marker;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	unsigned status = 200;

	(void)version;
	(void)upload;
	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	*upload_size = 0;
	if (strcmp(url, "/openapi.yaml") == 0 && strcmp(method, "GET") == 0) {
		resp = MHD_create_response_from_buffer(
		    strlen(api_skip_yaml), (void *)(uintptr_t)api_skip_yaml,
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/yaml");
		ret = MHD_queue_response(conn, 200, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (strcmp(url, "/metrics") != 0)
		status = 404;
	else if (strcmp(method, "GET") != 0)
		status = 405;
	else
		text = skip_metrics_render(
		    mc->m,
		    mc->h && mc->h->tf ? tls_front_conn_count(mc->h->tf) : 0);
	if (text == NULL) {
		static const char nf[] = "not found: GET /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(nf) - 1,
						       (void *)(uintptr_t)nf,
						       MHD_RESPMEM_PERSISTENT);
		if (status == 200)
			status = 500;
	} else {
		resp = MHD_create_response_from_buffer(strlen(text), text,
						       MHD_RESPMEM_MUST_FREE);
	}
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct MHD_Daemon *
skip_metrics_start(const char *addr, uint16_t port, struct skip_metrics *m,
		   struct skip_http *h)
{
	static struct skip_metrics_ctx mc;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
	struct MHD_Daemon *d;

	mc.m = m;
	mc.h = h;
	if (sockaddr_from_ip(addr, port, &ss, NULL) == -1) {
		log_warnx("metrics_listen '%s' is not an IP address", addr);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, port, NULL, NULL, skip_metrics_access, &mc,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_END);
	if (d == NULL)
		log_warnx("cannot serve metrics on %s port %u", addr, port);
	return d;
}
