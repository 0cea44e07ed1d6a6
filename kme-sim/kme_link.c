/*
 * kme_link.c — the simulated QKD link between a pair of KMEs.
 *
 * Model (kme-sim(8), "KME LINK"): of each pair, the KME with the lower ID
 * is the pool authority.  Its pool is a count of secret bits that grows at
 * the configured secret-key rate while the link is up, up to
 * max_key_count keys.  The authority tells its peer the pool size on
 * every sync (sync_interval).  Key bytes are drawn from the OpenSSL RNG
 * when a master takes them and cross the link, inside TLS, to the KME of
 * the slave(s), which records them before the master's response is sent:
 *
 *   master at the authority:  take bits (commit) -> POST reserve to peer
 *                             (peer commits) -> 200 to the master
 *   master at the other KME:  POST alloc to authority (authority takes
 *                             bits and records the keys for its slaves in
 *                             one transaction) -> 200 to the master
 *
 * A failure after the take loses pool bits, never a delivered key, and no
 * key is ever made twice.  Messages are HTTPS+JSON on the link port, both
 * sides authenticated by the KME-link CA; the certificate CN is the KME ID.
 *
 * This file holds a peer's link state and the link's start and stop; the
 * other parts are in the kme_link_*.c files named in kme_link_int.h.
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_linkmsg.h"

#include "log.h"
#include "tls_front.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kme_peer *
kme_peer_by_id(struct kme *k, const char *id)
{
	int i = kme_cfg_peer_index(&k->cfg, id);

	return i == -1 ? NULL : &k->peers[i];
}

void
kme_link_sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

/*
 * The link is usable while our calls reach the peer: the last one got an
 * HTTP answer, and some message went either way within the silence that
 * means the peer or the link is gone.  Every call is an attempt (the
 * authority syncs, the other side pings, every sync_interval), so a link
 * that cannot reconnect is down within one interval, with the HTTPS client's
 * reason.
 */
bool
kme_link_usable(struct kme *k, struct kme_peer *p, char *why, size_t cap)
{
	uint64_t now = mono_ms(), last, dead;
	char call_why[KME_ERR_MAX];
	bool down, failed;

	dead = 3 * k->cfg.sync_interval_ms + k->cfg.link_timeout_ms;
	pthread_mutex_lock(&p->lock);
	down = p->f_down;
	last = p->last_contact_ms;
	failed = p->call_failed;
	memcpy(call_why, p->call_why, sizeof(call_why));
	pthread_mutex_unlock(&p->lock);
	if (down) {
		snprintf(why, cap,
			 "KME link to %s is down (fault injected at %s)",
			 p->cfg->id, k->cfg.kme_id);
		return false;
	}
	if (last == 0 && !failed) {
		snprintf(why, cap, "KME link to %s is not up yet", p->cfg->id);
		return false;
	}
	if (failed) {
		snprintf(why, cap, "KME link to %s is down (%s)", p->cfg->id,
			 call_why);
		return false;
	}
	/* last may be later than now: another thread touched the link. */
	if (last < now && now - last > dead) {
		snprintf(why, cap,
			 "KME link to %s is down (no contact for %llu ms)",
			 p->cfg->id, (unsigned long long)(now - last));
		return false;
	}
	return true;
}

/*
 * Up means both ways: the authority also needs the other side's pings to
 * arrive, else that side's masters get no keys.  A peer that never pinged
 * (before its first ping) is judged by our calls alone.
 */
bool
kme_link_up(struct kme *k, struct kme_peer *p, char *why, size_t cap)
{
	uint64_t now = mono_ms(), ping, dead;

	if (!kme_link_usable(k, p, why, cap))
		return false;
	dead = 3 * k->cfg.sync_interval_ms + k->cfg.link_timeout_ms;
	pthread_mutex_lock(&p->lock);
	ping = p->ping_ms;
	pthread_mutex_unlock(&p->lock);
	if (p->authority && ping != 0 && ping < now && now - ping > dead) {
		snprintf(why, cap,
			 "KME link to %s is down (KME %s has not reached "
			 "KME %s for %llu ms)",
			 p->cfg->id, p->cfg->id, k->cfg.kme_id,
			 (unsigned long long)(now - ping));
		return false;
	}
	return true;
}

cJSON *
kme_link_ids_json(char (*ids)[KME_ID_MAX + 1], size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	return arr;
}

void
kme_link_touch(struct kme_peer *p)
{
	pthread_mutex_lock(&p->lock);
	p->last_contact_ms = mono_ms();
	pthread_mutex_unlock(&p->lock);
}

/* Prefetched keys older than this are not handed out: the peer's copy,
 * recorded with key_ttl when it was made, must outlive the delivery. */
int64_t
kme_link_ready_min_created(struct kme *k)
{
	int64_t age = (int64_t)(k->cfg.key_ttl_ms / 2000);

	return wall_s() - (age > 0 ? age : 1);
}

int64_t
kme_link_expiry(struct kme *k)
{
	return wall_s() + (int64_t)((k->cfg.key_ttl_ms + 999) / 1000);
}

/*
 * Each KME knows its peer's SAEs from its own configuration only.  Syncs
 * carry each side's own SAEs, so that a difference (a KME restarted with
 * a changed configuration) is logged when the link comes up, not found
 * by the first key the peer refuses.  Older peers send none.
 */
void
kme_link_check_saes(struct kme *k, struct kme_peer *p,
		    const struct kme_linkmsg_saes *s)
{
	char unlisted[KME_ERR_MAX] = "", gone[KME_ERR_MAX] = "";
	bool differ, was;

	if (!s->has)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (kme_cfg_peer_of_sae(&k->cfg, s->ids[i]) != p->cfg)
			kme_linkmsg_list_add(unlisted, sizeof(unlisted),
					     s->ids[i]);
	}
	for (size_t i = 0; i < p->cfg->nsaes; i++) {
		size_t j = 0;

		while (j < s->n && strcmp(s->ids[j], p->cfg->saes[i]) != 0)
			j++;
		if (j == s->n)
			kme_linkmsg_list_add(gone, sizeof(gone),
					     p->cfg->saes[i]);
	}
	differ = unlisted[0] != '\0' || gone[0] != '\0';
	pthread_mutex_lock(&p->lock);
	was = p->saes_differ;
	p->saes_differ = differ;
	pthread_mutex_unlock(&p->lock);
	if (differ && !was)
		log_warnx(
		    "link: the SAEs of KME %s differ from [peer %s] in the "
		    "configuration of KME %s: served there but not listed "
		    "here (their keys are refused here): [%s]; listed here "
		    "but not served there: [%s]; make both configurations "
		    "agree",
		    p->cfg->id, p->cfg->id, k->cfg.kme_id, unlisted, gone);
	else if (!differ && was)
		log_info("link: the SAEs of KME %s agree with [peer %s] again",
			 p->cfg->id, p->cfg->id);
}

/* ------------------------------------------------------------- lifecycle */

int
kme_link_start(struct kme *k)
{
	struct tls_front_cfg tc = { 0 };
	SSL_CTX *ctx = NULL;
	int rc = -1;

	for (size_t i = 0; i < k->cfg.npeers; i++) {
		struct kme_peer *p = &k->peers[i];

		p->cfg = &k->cfg.peers[i];
		pthread_mutex_init(&p->lock, NULL);
		pthread_mutex_init(&p->rq_lock, NULL);
		pthread_cond_init(&p->rq_cond, NULL);
		/* The lower ID of a pair holds the pool (kme-sim.8). */
		p->authority = strcmp(k->cfg.kme_id, p->cfg->id) < 0;
		p->max_bits = p->cfg->max_key_count * k->cfg.key_size;
		kme_link_model_update(p);
		if (p->authority && kme_store_pool_get(k->store, p->cfg->id,
						       &p->pool_bits) == -1)
			goto out;
		p->client = kme_link_client_new(&k->cfg, p->cfg);
		if (p->client == NULL)
			goto out;
	}
	ctx = tls_server_ctx_new(k->cfg.link_cert, k->cfg.link_key,
				 k->cfg.link_ca);
	if (ctx == NULL) {
		log_err(
		    "link: cannot set up TLS from link_cert/link_key/link_ca");
		goto out;
	}
	k->link_mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
		MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
	    0, NULL, NULL, kme_link_handler, k, MHD_OPTION_THREAD_POOL_SIZE, 4,
	    MHD_OPTION_NOTIFY_COMPLETED, kme_http_completed, NULL,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
	    MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_END);
	if (k->link_mhd == NULL) {
		log_err("link: cannot start the HTTP layer");
		goto out;
	}
	tc.ssl_ctx = ctx;
	tc.mhd = k->link_mhd;
	tc.peer_id = tls_peer_subject_cn;
	tc.name = "kme-link";
	tc.handshake_timeout_ms = (unsigned)k->cfg.handshake_timeout_ms;
	tc.request_timeout_ms = (unsigned)k->cfg.request_timeout_ms;
	/* Few peers: each KME gets its own slots (per source), one loop. */
	tc.threads = 1;
	tc.max_per_source = 16;
	tc.max_body = KME_LINK_MAX_RESP;
	k->link_tf = tls_front_new(&tc);
	if (k->link_tf == NULL ||
	    tls_front_listen(k->link_tf, k->cfg.link_listen.host,
			     k->cfg.link_listen.port) == -1 ||
	    tls_front_start(k->link_tf) == -1)
		goto out;
	if (pthread_create(&k->ticker, NULL, kme_link_ticker, k) != 0) {
		log_err("link: cannot start the ticker thread");
		goto out;
	}
	k->ticker_started = true;
	rc = 0;
out:
	SSL_CTX_free(ctx);
	return rc;
}

void
kme_link_stop(struct kme *k)
{
	if (k->ticker_started) {
		pthread_mutex_lock(&k->stop_lock);
		atomic_store(&k->stopping, true);
		pthread_cond_broadcast(&k->stop_cond);
		pthread_mutex_unlock(&k->stop_lock);
		pthread_join(k->ticker, NULL);
		k->ticker_started = false;
	}
	tls_front_free(k->link_tf);
	k->link_tf = NULL;
	if (k->link_mhd != NULL)
		MHD_stop_daemon(k->link_mhd);
	k->link_mhd = NULL;
	for (size_t i = 0; i < k->cfg.npeers; i++) {
		kme_link_client_free(k->peers[i].client);
		k->peers[i].client = NULL;
		free(k->peers[i].delivered);
		k->peers[i].delivered = NULL;
		if (k->peers[i].cfg != NULL) {
			kme_link_claims_clear(&k->peers[i], true);
			pthread_mutex_destroy(&k->peers[i].lock);
			pthread_mutex_destroy(&k->peers[i].rq_lock);
			pthread_cond_destroy(&k->peers[i].rq_cond);
		}
	}
}
