/*
 * skip_http.c — the SKIP API as the TLS front's request handler, and the
 * metrics page (libmicrohttpd, a listener of its own).
 *
 * The front (lib/tls_front.h, request mode) has checked the framing and
 * split the head (lib/http_req.h); the raw request-target, query
 * included, is parsed by skip_req_parse().  Handlers run on the front's
 * workers (threads = N) and may wait on the KME.
 */
#include "skip.h"

#include "api_docs.h"
#include "http_req.h"
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
	struct tls_front *tf;
};

/* record = PATH: what this request was, over which TLS, and got. */
static void
skip_http_record(struct skip_http *h, const struct tls_front_req *fr,
		 const char *target, const struct skip_req *req,
		 const struct skip_reply *rep)
{
	const struct skip_record_entry e = {
		.method = fr->http->method,
		.target = target,
		.identity =
		    fr->peer != NULL && fr->peer[0] != '\0' ? fr->peer : NULL,
		.tls_version = fr->tls_version,
		.tls_suite = fr->tls_suite,
		.req = req,
		.rep = rep,
	};

	skip_record_request(h->api->rec, &e);
}

/* tls_front_handler_fn: one SKIP request. */
static void
skip_http_serve(const struct tls_front_req *fr, struct tls_front_resp *out,
		void *arg)
{
	struct skip_http *h = arg;
	const char *method = fr->http->method;
	const char *target = fr->http->target;
	struct skip_reply rep = { 0 };
	struct skip_req req;
	struct skip_err err;
	char peer[TLS_PEER_ID_MAX] = "?", shown[160];
	bool fits = strnlen(target, SKIP_TARGET_MAX + 1) <= SKIP_TARGET_MAX;

	/* The identity goes into logs: keep it printable. */
	if (fr->peer != NULL)
		skip_printable(peer, sizeof(peer), fr->peer, strlen(fr->peer));
	memset(&req, 0, sizeof(req));
	if (fr->peer == NULL) {
		/* A certificate without exactly one CN (logged at the handshake). */
		skip_api_error(&rep, 401,
			       "the client certificate names no "
			       "single identity");
	} else if (!fits) {
		skip_api_error(&rep, 400, "request target too long");
	} else if (fr->body_len > SKIP_HTTP_BODY_MAX) {
		/* Such a client gets its answer and the connection ends. */
		out->close = true;
		skip_api_error(&rep, strcmp(method, "GET") == 0 ? 400 : 405,
			       "request body too large");
	} else if (skip_req_parse(method, target, &h->lim, &req, &err) == -1) {
		skip_api_error(&rep, err.status, err.msg);
	} else {
		skip_api_serve(h->api, &req, peer, &rep);
	}
	if (rep.body == NULL)
		skip_api_error(&rep, 500, "out of memory");
	if (h->api->rec != NULL)
		skip_http_record(h, fr, fits ? target : NULL, &req, &rep);
	atomic_fetch_add(&h->api->metrics->requests[req.route], 1);
	skip_metrics_response(h->api->metrics, rep.status);
	if (fits)
		skip_printable(shown, sizeof(shown), target, strlen(target));
	log_debug("%s %s from '%s': %d", method, fits ? shown : "(too long)",
		  peer, rep.status);
	out->status = rep.status;
	out->content_type = "application/json";
	snprintf(out->fields, sizeof(out->fields),
		 "Cache-Control: no-store\r\n%s",
		 rep.allow_get ? "Allow: GET\r\n" : "");
	if (rep.body == NULL)
		out->close = true; /* no memory even for the error body */
	out->body = rep.body; /* may hold a key: the front wipes it */
	out->len = rep.body != NULL ? rep.len : 0;
	rep.body = NULL;
	skip_reply_clear(&rep);
}

struct skip_http *
skip_http_new(struct skip_api *api)
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
	return h;
}

void
skip_http_front_cfg(struct skip_http *h, struct tls_front_cfg *tc)
{
	tc->handler = skip_http_serve;
	tc->handler_arg = h;
}

void
skip_http_set_front(struct skip_http *h, struct tls_front *tf)
{
	h->tf = tf;
}

/* Call after tls_front_free(): the front calls into this. */
void
skip_http_free(struct skip_http *h)
{
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
