/*
 * kme_admin.c — loopback-only admin interface: metrics and fault injection.
 *
 *   GET  /metrics                                   Prometheus text
 *   GET  /openapi/etsi014.yaml, /openapi/admin.yaml  the OpenAPI documents
 *   GET  /admin/v1/faults                           current faults (JSON)
 *   POST /admin/v1/fault?peer=ID&kind=down
 *   POST /admin/v1/fault?peer=ID&kind=slow&delay_ms=N
 *   POST /admin/v1/fault?peer=ID&kind=starve
 *   POST /admin/v1/fault?peer=ID&kind=eve&fraction=F   link model only:
 *   POST /admin/v1/fault?peer=ID&kind=loss&db=D        physics faults,
 *   POST /admin/v1/fault?peer=ID&kind=cut              at the pool authority
 *   POST /admin/v1/clear?peer=ID[&kind=K]           clears one or all
 *
 * It has no authentication: kme_conf.c refuses a non-loopback address
 * unless admin_allow names the client networks, and kme_admin_accept
 * serves loopback and those networks only.
 */
#include "kme.h"

#include "api_docs.h"
#include "cfg.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 200 page; a heap body (MUST_FREE) is freed here or by MHD. */
static enum MHD_Result
kme_admin_page(struct MHD_Connection *conn, const char *ctype, const char *body,
	       enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (body == NULL)
		return kme_http_error(conn, 503, "out of memory");
	resp = MHD_create_response_from_buffer(strlen(body),
					       (void *)(uintptr_t)body, mode);
	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)(uintptr_t)body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
kme_admin_faults(struct kme *k, struct MHD_Connection *conn)
{
	cJSON *root = cJSON_CreateObject(), *arr;

	arr = root ? cJSON_AddArrayToObject(root, "peers") : NULL;
	for (size_t i = 0; arr != NULL && i < k->cfg.npeers; i++) {
		struct kme_peer *p = &k->peers[i];
		cJSON *o = cJSON_CreateObject();
		char why[KME_ERR_MAX];
		bool up = kme_link_up(k, p, why, sizeof(why));

		if (o == NULL)
			break;
		cJSON_AddItemToArray(arr, o);
		pthread_mutex_lock(&p->lock);
		cJSON_AddStringToObject(o, "peer", p->cfg->id);
		cJSON_AddBoolToObject(o, "authority", p->authority);
		cJSON_AddBoolToObject(o, "link_up", up);
		if (!up)
			cJSON_AddStringToObject(o, "reason", why);
		cJSON_AddBoolToObject(o, "down", p->f_down);
		cJSON_AddBoolToObject(o, "starve", p->f_starve);
		cJSON_AddNumberToObject(o, "delay_ms", p->f_delay_ms);
		cJSON_AddNumberToObject(
		    o, "pool_keys", (double)(p->pool_bits / k->cfg.key_size));
		cJSON_AddNumberToObject(o, "pool_bits", (double)p->pool_bits);
		cJSON_AddNumberToObject(o, "key_rate_bps",
					kme_link_model_rate(p));
		{
			cJSON *q = kme_link_model_json(k, p);

			if (q != NULL)
				cJSON_AddItemToObject(o, "qkd", q);
		}
		pthread_mutex_unlock(&p->lock);
	}
	{
		char *s = root ? cJSON_PrintUnformatted(root) : NULL;
		cJSON_Delete(root);
		return kme_http_json(conn, 200, s);
	}
}

static bool
kme_admin_is_physics(const char *kind)
{
	return kind != NULL &&
	       (strcmp(kind, "eve") == 0 || strcmp(kind, "loss") == 0 ||
		strcmp(kind, "cut") == 0);
}

/*
 * Faults of the QKD link model: an intercept-resend eavesdropper on a
 * fraction of the pulses, added loss, a fibre cut.  They change the
 * rate the pool grows at, so they live where the pool does.
 */
static enum MHD_Result
kme_admin_physics(struct kme *k, struct MHD_Connection *conn,
		  struct kme_peer *p, const char *kind, bool set)
{
	const char *fr = MHD_lookup_connection_value(
	    conn, MHD_GET_ARGUMENT_KIND, "fraction");
	const char *db =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "db");
	char msg[KME_ERR_MAX];
	double x = 0;

	if (!p->cfg->model) {
		snprintf(msg, sizeof(msg),
			 "the link to %s has no link model "
			 "(kme-sim.conf(5) link_model = decoy-bb84)",
			 p->cfg->id);
		return kme_http_error(conn, 409, msg);
	}
	if (!p->authority) {
		snprintf(msg, sizeof(msg),
			 "physics faults go to KME %s, which "
			 "holds the pool of this link",
			 p->cfg->id);
		return kme_http_error(conn, 409, msg);
	}
	if (set && strcmp(kind, "eve") == 0 &&
	    (fr == NULL || cfg_parse_double(fr, 0, 1, &x) == -1))
		return kme_http_error(conn, 400, "eve needs fraction=0..1");
	if (set && strcmp(kind, "loss") == 0 &&
	    (db == NULL || cfg_parse_double(db, 0, 100, &x) == -1))
		return kme_http_error(conn, 400, "loss needs db=0..100");
	pthread_mutex_lock(&p->lock);
	if (kind == NULL || strcmp(kind, "eve") == 0)
		p->qf.eve_fraction = set ? x : 0;
	if (kind == NULL || strcmp(kind, "loss") == 0)
		p->qf.added_loss_db = set ? x : 0;
	if (kind == NULL || strcmp(kind, "cut") == 0)
		p->qf.cut = set;
	kme_link_model_update(p);
	pthread_mutex_unlock(&p->lock);
	LOG_EV(LOG_LVL_INFO, set ? "fault_set" : "fault_cleared",
	       LOG_FIELDS(LOG_S("peer", p->cfg->id),
			  LOG_S("kind", kind ? kind : "all")),
	       "admin: %s fault %s on the QKD link to %s",
	       set ? "set" : "cleared", kind ? kind : "all", p->cfg->id);
	return kme_admin_faults(k, conn);
}

static enum MHD_Result
kme_admin_set(struct kme *k, struct MHD_Connection *conn, bool set)
{
	const char *peer =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "peer");
	const char *kind =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "kind");
	const char *dl = MHD_lookup_connection_value(
	    conn, MHD_GET_ARGUMENT_KIND, "delay_ms");
	struct kme_peer *p = peer ? kme_peer_by_id(k, peer) : NULL;
	uint64_t delay = 0;

	if (p == NULL)
		return kme_http_error(
		    conn, 400, "peer=<configured peer KME ID> is required");
	if (kme_admin_is_physics(kind))
		return kme_admin_physics(k, conn, p, kind, set);
	if ((set && kind == NULL) ||
	    (kind != NULL && strcmp(kind, "down") != 0 &&
	     strcmp(kind, "slow") != 0 && strcmp(kind, "starve") != 0))
		return kme_http_error(conn, 400,
				      "kind must be down, slow, starve, "
				      "eve, loss or cut");
	if (set && strcmp(kind, "slow") == 0 &&
	    (dl == NULL || cfg_parse_u64(dl, 1, 600000, &delay) == -1))
		return kme_http_error(conn, 400,
				      "slow needs delay_ms=1..600000");
	pthread_mutex_lock(&p->lock);
	if (set) {
		if (strcmp(kind, "down") == 0)
			p->f_down = true;
		else if (strcmp(kind, "starve") == 0)
			p->f_starve = true;
		else
			p->f_delay_ms = (uint32_t)delay;
	} else {
		if (kind == NULL || strcmp(kind, "down") == 0)
			p->f_down = false;
		if (kind == NULL || strcmp(kind, "starve") == 0)
			p->f_starve = false;
		if (kind == NULL || strcmp(kind, "slow") == 0)
			p->f_delay_ms = 0;
		if (kind == NULL) {
			memset(&p->qf, 0, sizeof(p->qf));
			kme_link_model_update(p);
		}
	}
	pthread_mutex_unlock(&p->lock);
	LOG_EV(LOG_LVL_INFO, set ? "fault_set" : "fault_cleared",
	       LOG_FIELDS(LOG_S("peer", p->cfg->id),
			  LOG_S("kind", kind ? kind : "all"),
			  LOG_N("delay_ms", delay)),
	       "admin: %s fault %s on the link to %s", set ? "set" : "cleared",
	       kind ? kind : "all", p->cfg->id);
	return kme_admin_faults(k, conn);
}

static enum MHD_Result
kme_admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
		  const char *method, const char *version, const char *upload,
		  size_t *upload_size, void **con_cls)
{
	struct kme *k = cls;
	bool get = strcmp(method, "GET") == 0,
	     post = strcmp(method, "POST") == 0;

	(void)version;
	if (!kme_http_gather(conn, con_cls, upload, upload_size, 4096))
		return MHD_YES;
	if (((struct kme_http_req *)*con_cls)->too_large)
		return kme_http_error(conn, 400, "request body too large");
	if (get && strcmp(url, "/metrics") == 0)
		return kme_admin_page(conn, "text/plain; version=0.0.4",
				      kme_metrics_render(k),
				      MHD_RESPMEM_MUST_FREE);
	if (get && strcmp(url, "/openapi/etsi014.yaml") == 0)
		return kme_admin_page(conn, "application/yaml",
				      api_etsi014_yaml, MHD_RESPMEM_PERSISTENT);
	if (get && strcmp(url, "/openapi/admin.yaml") == 0)
		return kme_admin_page(conn, "application/yaml", api_admin_yaml,
				      MHD_RESPMEM_PERSISTENT);
	if (get && strcmp(url, "/admin/v1/faults") == 0)
		return kme_admin_faults(k, conn);
	if (post && strcmp(url, "/admin/v1/fault") == 0)
		return kme_admin_set(k, conn, true);
	if (post && strcmp(url, "/admin/v1/clear") == 0)
		return kme_admin_set(k, conn, false);
	return kme_http_error(conn, 404, "unknown admin path (see kme-sim(8))");
}

/*
 * Loopback clients, and those in admin_allow: the listener has no
 * authentication, so who may connect is the whole of its access control.
 */
static enum MHD_Result
kme_admin_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	const struct kme *k = cls;
	const uint8_t *a6;

	(void)len;
	if (sa->sa_family == AF_INET &&
	    ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 ==
		127)
		return MHD_YES;
	if (sa->sa_family == AF_INET6) {
		a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(
			(const struct in6_addr *)(const void *)a6) ||
		    (IN6_IS_ADDR_V4MAPPED(
			 (const struct in6_addr *)(const void *)a6) &&
		     a6[12] == 127))
			return MHD_YES;
	}
	for (size_t i = 0; i < k->cfg.nadmin_allow; i++)
		if (cidr_contains(&k->cfg.admin_allow[i], sa))
			return MHD_YES;
	log_debug("admin: refused a client outside admin_allow");
	return MHD_NO;
}

int
kme_admin_start(struct kme *k)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;

	if (!k->cfg.has_admin)
		return 0;
	if (sockaddr_from_ip(k->cfg.admin_listen.host, k->cfg.admin_listen.port,
			     &ss, NULL) == -1) {
		log_err("admin: bad address %s", k->cfg.admin_listen.host);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	k->admin_mhd =
	    MHD_start_daemon(flags, k->cfg.admin_listen.port, kme_admin_accept,
			     k, kme_admin_handler, k, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&ss,
			     MHD_OPTION_NOTIFY_COMPLETED, kme_http_completed,
			     NULL, MHD_OPTION_END);
	if (k->admin_mhd == NULL) {
		log_err("admin: cannot listen on %s port %u",
			k->cfg.admin_listen.host, k->cfg.admin_listen.port);
		return -1;
	}
	return 0;
}

void
kme_admin_stop(struct kme *k)
{
	if (k->admin_mhd != NULL)
		MHD_stop_daemon(k->admin_mhd);
	k->admin_mhd = NULL;
}
