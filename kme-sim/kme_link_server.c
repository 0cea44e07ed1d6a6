/*
 * kme_link_server.c — the KME-link messages a KME answers on its link
 * port: sync (pool figures, delivered prefetched keys, SAE lists),
 * reserve (record these keys for our slaves) and alloc (take, record and
 * send keys).  Bodies are parsed and validated by kme_linkmsg.c; the
 * handlers here only act on what it accepts.
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_linkmsg.h"
#include "kme_relay_int.h"

#include "log.h"
#include "tls_front.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result
kme_link_finish(struct MHD_Connection *conn, cJSON *reply)
{
	char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;

	cJSON_Delete(reply);
	return kme_http_json(conn, 200, s);
}

static enum MHD_Result
kme_link_on_sync(struct kme *k, struct kme_peer *p, struct MHD_Connection *conn,
		 const struct kme_linkmsg_sync *s)
{
	cJSON *reply;
	bool starve;

	/* Prefetched keys the authority gave to masters: key_ttl starts now. */
	if (s->ndelivered > 0 &&
	    kme_store_extend(k->store, (const uint8_t(*)[UUID_LEN])s->delivered,
			     s->ndelivered, kme_link_expiry(k)) == -1)
		return kme_http_error(conn, 400,
				      "delivered must be a list of key IDs");
	kme_link_check_saes(k, p, &s->saes);
	pthread_mutex_lock(&p->lock);
	p->pool_bits = s->pool_bits;
	p->max_bits = s->max_bits;
	if (s->has_faults && p->cfg->model) {
		p->qf = s->faults;
		kme_link_model_update(p);
	}
	p->last_contact_ms = mono_ms();
	starve = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	reply = cJSON_CreateObject();
	if (reply != NULL) {
		cJSON_AddBoolToObject(reply, "starve", starve);
		cJSON_AddItemToObject(reply, "saes",
				      kme_link_ids_json(k->cfg.saes,
							k->cfg.nsaes));
	}
	return kme_link_finish(conn, reply);
}

/* Records every item of the batch in one transaction. */
static enum MHD_Result
kme_link_on_reserve(struct kme *k, struct kme_peer *p,
		    struct MHD_Connection *conn, struct kme_linkmsg *m)
{
	struct kme_store_resv items[KME_LINKMSG_BATCH_MAX];
	size_t n = m->u.reserve.nitems, nkeys = 0;

	for (size_t i = 0; i < n; i++) {
		struct kme_linkmsg_resv *r = &m->u.reserve.items[i];

		items[i] = (struct kme_store_resv){
			.master = r->parties.master,
			.slaves = r->parties.slaves,
			.nslaves = r->parties.nslaves,
			.keys = r->keys,
			.n = r->n,
		};
		nkeys += r->n;
	}
	switch (kme_store_reserve_batch(k->store, p->cfg->id, items, n,
					kme_link_expiry(k))) {
	case 0:
		break;
	case 1: /* the peer's mistake or a replay: nothing recorded */
		return kme_http_error(conn, 400,
				      "a key_ID is already recorded "
				      "or repeats in the reservation");
	default:
		return kme_http_error(conn, 503, "key store error");
	}
	kme_link_touch(p);
	log_debug("link: %zu key(s) in %zu reservation(s) from %s recorded",
		  nkeys, n, p->cfg->id);
	return kme_link_finish(conn, cJSON_CreateObject());
}

static enum MHD_Result
kme_link_on_alloc(struct kme *k, struct kme_peer *p,
		  struct MHD_Connection *conn, struct kme_linkmsg_alloc *a)
{
	char why[KME_ERR_MAX];
	struct kme_key *keys = NULL;
	cJSON *reply = NULL;
	uint32_t n = a->number, bits = a->size;
	uint64_t have = 0;
	bool starved;

	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	if (starved) {
		snprintf(why, sizeof(why),
			 "key pool for KME %s is starved (fault "
			 "injected at %s)",
			 p->cfg->id, k->cfg.kme_id);
		return kme_http_error(conn, 503, why);
	}
	if (kme_link_pool_take(p, (uint64_t)n * bits, &have) == -1) {
		bool halted;

		pthread_mutex_lock(&p->lock);
		halted = kme_link_model_halted(k, p, why, sizeof(why));
		pthread_mutex_unlock(&p->lock);
		if (!halted)
			snprintf(why, sizeof(why),
				 "not enough key material for KME %s: "
				 "%llu bits requested, %llu in the pool",
				 k->cfg.kme_id, (unsigned long long)n * bits,
				 (unsigned long long)have);
		return kme_http_error(conn, 503, why);
	}
	keys = kme_keys_new_random(n, bits / 8);
	/* Recorded for our slaves before the keys leave for the master. */
	if (keys == NULL ||
	    kme_store_reserve(k->store, p->cfg->id, 0, a->parties.master,
			      a->parties.slaves, a->parties.nslaves, keys, n,
			      kme_link_expiry(k)) != 0) {
		kme_keys_free(keys, n);
		kme_link_pool_give(p, (uint64_t)n * bits);
		return kme_http_error(conn, 503, "key store error");
	}
	pthread_mutex_lock(&p->lock);
	have = p->pool_bits;
	pthread_mutex_unlock(&p->lock);
	kme_link_touch(p);
	reply = kme_http_key_container(keys, n);
	kme_keys_free(keys, n);
	if (reply != NULL)
		cJSON_AddNumberToObject(reply, "pool_bits", (double)have);
	return kme_link_finish(conn, reply);
}

enum MHD_Result
kme_link_handler(void *cls, struct MHD_Connection *conn, const char *url,
		 const char *method, const char *version, const char *upload,
		 size_t *upload_size, void **con_cls)
{
	struct kme *k = cls;
	struct kme_http_req *r;
	char peer_id[TLS_PEER_ID_MAX], why[KME_ERR_MAX];
	struct kme_linkmsg_ctx ctx;
	struct kme_linkmsg *m;
	struct kme_peer *p;
	enum MHD_Result ret;
	uint32_t delay;
	bool down;

	(void)version;
	if (!kme_http_gather(conn, con_cls, upload, upload_size,
			     KME_LINK_MAX_RESP))
		return MHD_YES;
	r = *con_cls;
	if (tls_front_conn_peer(k->link_tf, conn, peer_id, sizeof(peer_id)) <
		0 ||
	    (p = kme_peer_by_id(k, peer_id)) == NULL)
		return kme_http_empty(conn, 401);
	pthread_mutex_lock(&p->lock);
	down = p->f_down;
	delay = p->f_delay_ms;
	pthread_mutex_unlock(&p->lock);
	if (down)
		return kme_http_error(conn, 503,
				      "KME link is down (fault injected)");
	if (delay > 0)
		kme_link_sleep_ms(delay);
	if (strcmp(method, "POST") != 0 || r->too_large)
		return kme_http_error(conn, 400,
				      "link messages are POSTed JSON");
	/* Parse and validate (kme_linkmsg.c), then act.  On the heap: a
	 * sync may carry KME_LINKMSG_DELIVERED_MAX key IDs. */
	m = malloc(sizeof(*m));
	if (m == NULL)
		return kme_http_error(conn, 503, "out of memory");
	ctx = (struct kme_linkmsg_ctx){
		.cfg = &k->cfg,
		.peer = p->cfg,
		.authority = p->authority,
		.lim = &k->limits,
	};
	if (kme_linkmsg_parse(url, r->body, r->len, &ctx, m, why, sizeof(why)) <
	    0) {
		if (m->log_refusal) {
			if (strlen(why) + 1 == sizeof(why))
				log_debug(
				    "link: the refusal below is cut to %zu "
				    "bytes",
				    sizeof(why) - 1);
			log_warnx("link: %s", why);
		}
		ret = kme_http_error(conn, 400, why);
	} else if (m->type == KME_LINKMSG_SYNC) {
		ret = kme_link_on_sync(k, p, conn, &m->u.sync);
	} else if (m->type == KME_LINKMSG_RESERVE) {
		ret = kme_link_on_reserve(k, p, conn, m);
	} else if (m->type == KME_LINKMSG_PING) {
		pthread_mutex_lock(&p->lock);
		p->ping_ms = p->last_contact_ms = mono_ms();
		pthread_mutex_unlock(&p->lock);
		ret = kme_link_finish(conn, cJSON_CreateObject());
	} else if (m->type == KME_LINKMSG_RELAY_PAD) {
		ret = kme_relay_on_pad(k, p, conn, &m->u.pad);
	} else if (m->type == KME_LINKMSG_RELAY) {
		ret = kme_relay_on_relay(k, p, conn, &m->u.relay);
	} else {
		ret = kme_link_on_alloc(k, p, conn, &m->u.alloc);
	}
	kme_linkmsg_clear(m);
	free(m);
	return ret;
}
