/*
 * dash_http.c — the page, its snapshot, and the fault buttons.
 *
 *   GET  /                      the page
 *   GET  /api/state             the latest snapshot (JSON; {"waiting":true}
 *                               before the first)
 *   POST /api/fault?site=S&kind=down|slow|starve[&delay_ms=N]
 *   POST /api/clear?site=S[&kind=K]
 *
 * The POSTs are forwarded to the site's KME admin API.  They must carry
 * the header X-Qkdlab-Dash: a page of another origin cannot add it without
 * a CORS preflight, which is never granted, so no other web page the
 * presenter has open can press the buttons.
 */
#include "dash.h"

#include "cfg.h"
#include "http_pages.h"
#include "log.h"
#include "util.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dash_http {
	struct MHD_Daemon *mhd;
	struct dash *d;
};

static enum MHD_Result
dash_reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
	   const char *body, bool copy)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	    strlen(body), (void *)(uintptr_t)body,
	    copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		if (!copy)
			free((void *)(uintptr_t)body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
dash_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"message\":\"%s\"}", msg);
	return dash_reply(conn, status, "application/json", body, true);
}

/* Forwards a fault or clear to the site's KME and answers with its reply. */
static enum MHD_Result
dash_fault(struct dash *d, struct MHD_Connection *conn, bool set)
{
	const char *site =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "site");
	const char *kind =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "kind");
	const char *dl = MHD_lookup_connection_value(
	    conn, MHD_GET_ARGUMENT_KIND, "delay_ms");
	const struct dash_site_conf *s =
	    site != NULL ? dash_site(d, site) : NULL;
	struct dash_reply r;
	char target[256], text[160], dq[32] = "";
	uint64_t delay = 0;
	enum MHD_Result ret;

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					"X-Qkdlab-Dash") == NULL)
		return dash_error(conn, 403,
				  "the X-Qkdlab-Dash header is required");
	if (s == NULL || s->kme_admin[0] == '\0' || s->kme_peer[0] == '\0')
		return dash_error(
		    conn, 400,
		    "site=<a configured site with kme_admin and kme_peer>");
	if (kind != NULL && strcmp(kind, "down") != 0 &&
	    strcmp(kind, "slow") != 0 && strcmp(kind, "starve") != 0)
		return dash_error(conn, 400,
				  "kind must be down, slow or starve");
	if (set && kind == NULL)
		return dash_error(conn, 400, "kind= is required");
	if (set && strcmp(kind, "slow") == 0 &&
	    (dl == NULL || cfg_parse_u64(dl, 1, 600000, &delay) == -1))
		return dash_error(conn, 400, "slow needs delay_ms=1..600000");
	if (delay != 0)
		snprintf(dq, sizeof(dq), "&delay_ms=%llu",
			 (unsigned long long)delay);
	snprintf(target, sizeof(target), "/admin/v1/%s?peer=%s%s%s%s",
		 set ? "fault" : "clear", s->kme_peer, kind ? "&kind=" : "",
		 kind ? kind : "", dq);
	if (dash_fetch(s->netns, s->kme_admin, "POST", target, &r) == -1)
		return dash_error(conn, 502,
				  "the KME's admin API does not answer");
	snprintf(text, sizeof(text),
		 "%s %s pressed on the page (KME answered %d)",
		 set ? "fault" : "heal", kind ? kind : "all", r.status);
	dash_event(d, s->name, "fault", text);
	ret = dash_reply(conn, r.status == 200 ? 200 : 502, "application/json",
			 r.body, false);
	r.body = NULL;
	return ret;
}

static enum MHD_Result
dash_access(void *cls, struct MHD_Connection *conn, const char *url,
	    const char *method, const char *version, const char *upload,
	    size_t *upload_size, void **con_cls)
{
	struct dash_http *h = cls;
	static int marker;
	bool get = strcmp(method, "GET") == 0,
	     post = strcmp(method, "POST") == 0;

	(void)version;
	(void)upload;
	if (*con_cls == NULL) {
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0; /* bodies are not used: discarded */
		return MHD_YES;
	}
	if (get && strcmp(url, "/") == 0)
		return dash_reply(conn, 200, "text/html; charset=utf-8",
				  dash_page_html, true);
	if (get && strcmp(url, "/api/state") == 0) {
		char *s = dash_snapshot(h->d);

		/* Before the first reading: an empty lab, not an error. */
		if (s == NULL)
			return dash_reply(conn, 200, "application/json",
					  "{\"waiting\":true}", true);
		return dash_reply(conn, 200, "application/json", s, false);
	}
	if (post && strcmp(url, "/api/fault") == 0)
		return dash_fault(h->d, conn, true);
	if (post && strcmp(url, "/api/clear") == 0)
		return dash_fault(h->d, conn, false);
	return dash_error(conn, 404, "not found");
}

struct dash_http *
dash_http_start(struct dash *d, const char *listen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
	struct dash_http *h;
	char host[DASH_ADDR_MAX];
	uint16_t port;

	if (http_pages_parse_addr(listen, host, sizeof(host), &port) == -1) {
		log_warnx("listen '%s': want address:port", listen);
		return NULL;
	}
	if (sockaddr_from_ip(host, port, &ss, NULL) == -1) {
		log_warnx("listen '%s': %s is not an IP address", listen, host);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->d = d;
	h->mhd =
	    MHD_start_daemon(flags, port, NULL, NULL, dash_access, h,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
	if (h->mhd == NULL) {
		log_warnx("cannot listen on %s", listen);
		free(h);
		return NULL;
	}
	return h;
}

void
dash_http_stop(struct dash_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
