/*
 * kme_link_client.c — the client side of the KME link: HTTPS POSTs of
 * JSON messages to the peer's link port over lib/https_client, with a
 * pool of keep-alive handles per peer.  Both sides authenticate with the
 * KME-link CA and the peer must present its own KME ID as certificate
 * CN/SAN.  Reply bodies may carry keys; https_client wipes them.
 */
#include "kme.h"
#include "kme_link_int.h"

#include "etsi014.h"
#include "https_client.h"
#include "secmem.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KME_LINK_HANDLES 16

struct kme_link_client {
	char base[320];
	struct https_client *http;
};

struct kme_link_client *
kme_link_client_new(const struct kme_cfg *cfg, const struct kme_peer_cfg *pc)
{
	struct https_client_cfg hc = {
		.ca_file = cfg->link_ca,
		.cert_file = cfg->link_cert,
		.key_file = cfg->link_key,
		/* The peer is named by KME ID, not by the address it
		 * listens on. */
		.peer_name = pc->id,
		.timeout_ms = cfg->link_timeout_ms,
		.connect_timeout_ms = cfg->link_timeout_ms,
		.body_max = KME_LINK_MAX_RESP,
		.pool = KME_LINK_HANDLES,
	};
	struct kme_link_client *lc = calloc(1, sizeof(*lc));
	bool v6;

	if (lc == NULL)
		return NULL;
	if ((lc->http = https_client_new(&hc)) == NULL) {
		free(lc);
		return NULL;
	}
	v6 = strchr(pc->addr.host, ':') != NULL;
	snprintf(lc->base, sizeof(lc->base), "https://%s%s%s:%u/link/v1/",
		 v6 ? "[" : "", pc->addr.host, v6 ? "]" : "", pc->addr.port);
	return lc;
}

void
kme_link_client_free(struct kme_link_client *lc)
{
	if (lc == NULL)
		return;
	https_client_free(lc->http);
	free(lc);
}

/*
 * POSTs a JSON object to the peer.  Returns the parsed 200 reply, or NULL
 * with a reason in why (the peer's own message when it sent one).
 */
cJSON *
kme_link_call(struct kme *k, struct kme_peer *p, const char *op, cJSON *body,
	      char *why, size_t cap)
{
	struct https_resp r = { 0 };
	char url[400], msg[ETSI014_MSG_MAX], *json = NULL;
	cJSON *reply = NULL;
	uint32_t delay;
	int rc;

	pthread_mutex_lock(&p->lock);
	delay = p->f_delay_ms;
	pthread_mutex_unlock(&p->lock);
	if (delay > 0) /* the "slow" fault: added one-way latency */
		kme_link_sleep_ms(delay);
	json = cJSON_PrintUnformatted(body);
	if (json == NULL) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s", p->client->base, op);
	rc = https_client_call(p->client->http, url, json, &r);
	/* The link's state is the last attempt's: any HTTP answer means
	 * the peer can be reached (kme_link_usable). */
	pthread_mutex_lock(&p->lock);
	p->call_failed = rc == -1;
	if (rc == -1)
		snprintf(p->call_why, sizeof(p->call_why), "%s", r.err);
	pthread_mutex_unlock(&p->lock);
	if (rc == -1) {
		snprintf(why, cap, "KME link to %s failed: %s", p->cfg->id,
			 r.err);
		goto out;
	}
	reply = r.len > 0 ? cJSON_ParseWithLength(r.body, r.len) : NULL;
	if (r.status != 200 || !cJSON_IsObject(reply)) {
		etsi014_parse_error(r.body, r.len, msg, sizeof(msg));
		snprintf(why, cap, "KME link to %s: peer answered %ld: %s",
			 p->cfg->id, r.status, msg);
		cJSON_Delete(reply);
		reply = NULL;
	}
out:
	if (reply != NULL)
		atomic_fetch_add(&k->metrics.link_calls_ok, 1);
	else
		atomic_fetch_add(&k->metrics.link_calls_failed, 1);
	if (json != NULL) {
		secmem_wipe(json, strlen(json));
		cJSON_free(json);
	}
	https_resp_clear(&r);
	return reply;
}
