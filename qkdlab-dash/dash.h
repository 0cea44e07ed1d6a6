/*
 * dash.h — qkdlab-dash: one web page showing a running lab live.
 *
 * A poller thread reads each site's daemons through their own interfaces
 * (kme-sim's admin listener, the metrics listeners of skip-proxy,
 * mka-agent and macsec-sw) every interval, from inside the site's network
 * namespace when one is configured, and keeps one JSON snapshot of the
 * whole lab plus the events it noticed between snapshots.  The HTTP side
 * (libmicrohttpd) serves the page, that snapshot, and the fault buttons,
 * which it forwards to the KME's admin API.
 */
#ifndef QKDLAB_DASH_H
#define QKDLAB_DASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DASH_MAX_SITES 4
#define DASH_NAME_MAX 32
#define DASH_ADDR_MAX 64
#define DASH_HISTORY 240 /* samples of pool level kept */
#define DASH_EVENTS 200

struct dash_site_conf {
	char name[DASH_NAME_MAX];
	char netns[DASH_NAME_MAX]; /* "" = the dashboard's own */
	char kme_admin[DASH_ADDR_MAX]; /* kme-sim admin_listen */
	char kme_peer[DASH_NAME_MAX]; /* the peer KME the faults are for */
	char skip[DASH_ADDR_MAX]; /* skip-proxy metrics_listen */
	char mka[DASH_ADDR_MAX]; /* mka-agent metrics_listen */
	char secy[DASH_ADDR_MAX]; /* macsec-sw metrics_listen */
};

struct dash_conf {
	char listen[DASH_ADDR_MAX];
	uint64_t interval_ms;
	struct dash_site_conf sites[DASH_MAX_SITES];
	size_t nsites;
};

/* dash_conf.c */
void dash_conf_defaults(struct dash_conf *c);
int dash_conf_load(const char *path, struct dash_conf *c);

/* dash_fetch.c — one HTTP/1.0 request to addr ("host:port") in netns. */
struct dash_reply {
	int status;
	char *body; /* NUL-terminated, heap; NULL on failure */
};
int dash_fetch(const char *netns, const char *addr, const char *method,
	       const char *target, struct dash_reply *r);
void dash_reply_free(struct dash_reply *r);
/*
 * Splits a whole HTTP/1.x response (buf, len octets plus a NUL at
 * buf[len]) into r: the status code and the body moved to the front of
 * buf, which r then owns.  -1 (buf untouched) when it is not a response.
 */
int dash_reply_parse(char *buf, size_t len, struct dash_reply *r);
/* The sum of every sample of family name in a Prometheus text page. */
double dash_metric_sum(const char *page, const char *name);

/* dash_poll.c */
struct dash;
struct dash *dash_new(const struct dash_conf *c);
void dash_free(struct dash *d);
int dash_start(struct dash *d);
/* The latest snapshot as JSON (heap), or NULL before the first one. */
char *dash_snapshot(struct dash *d);
/* Notes an event (e.g. a fault the page asked for). */
void dash_event(struct dash *d, const char *site, const char *kind,
		const char *text);
const struct dash_site_conf *dash_site(const struct dash *d, const char *name);

/* dash_http.c */
struct dash_http;
struct dash_http *dash_http_start(struct dash *d, const char *listen);
void dash_http_stop(struct dash_http *h);

/* dash_page.c (generated from dash.html) */
extern const char dash_page_html[];

#endif
