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
 */
#include "kme.h"
#include "kme_linkmsg.h"

#include "log.h"
#include "secmem.h"
#include "tls_front.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KME_LINK_HANDLES 16
#define KME_DELIVERED_MAX KME_LINKMSG_DELIVERED_MAX	/* a sync's share */
#define KME_PREFETCH_PER_TICK 1024	/* per (master, slave) pair */
#define KME_PREFETCH_CHUNK 64		/* keys per reserve message */
#define KME_LINK_MAX_RESP (4 * 1024 * 1024)

struct kme_link_client {
	pthread_mutex_t lock;
	CURL *idle[KME_LINK_HANDLES];	/* keep-alive connections */
	size_t nidle;
	char base[320];
	const char *peer_id;
	const struct kme_cfg *cfg;
};

struct kme_link_resp {
	char *buf;		/* wiped when freed: alloc replies hold keys */
	size_t len, cap;
	bool overflow;
};

struct kme_peer *
kme_peer_by_id(struct kme *k, const char *id)
{
	int i = kme_cfg_peer_index(&k->cfg, id);

	return i < 0 ? NULL : &k->peers[i];
}

static void
kme_link_sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* ------------------------------------------------------------- client */

static size_t
kme_link_write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct kme_link_resp *r = arg;
	size_t n = sz * nm;

	if (r->len + n > KME_LINK_MAX_RESP) {
		r->overflow = true;
		return 0;
	}
	/* Not realloc(): an alloc reply carries keys, and realloc() frees
	 * a block it moves unwiped (docs/SECURITY.md, S-20). */
	if (secmem_reserve(&r->buf, &r->cap, r->len + n + 1) < 0)
		return 0;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/* Makes the TLS layer accept only the peer's own certificate CN/SAN. */
static CURLcode
kme_link_sslctx_cb(CURL *c, void *sslctx, void *arg)
{
	struct kme_link_client *lc = arg;

	(void)c;
	if (X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(sslctx),
					lc->peer_id, 0) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static CURL *
kme_link_handle(struct kme_link_client *lc)
{
	CURL *c = NULL;

	pthread_mutex_lock(&lc->lock);
	if (lc->nidle > 0)
		c = lc->idle[--lc->nidle];
	pthread_mutex_unlock(&lc->lock);
	if (c != NULL)
		return c;
	c = curl_easy_init();
	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_SSLCERT, lc->cfg->link_cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, lc->cfg->link_key);
	curl_easy_setopt(c, CURLOPT_CAINFO, lc->cfg->link_ca);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	/* The peer is named by KME ID (checked in kme_link_sslctx_cb), not
	 * by the address it listens on. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, kme_link_sslctx_cb);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, lc);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)lc->cfg->link_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)lc->cfg->link_timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kme_link_write_cb);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	return c;
}

static void
kme_link_release(struct kme_link_client *lc, CURL *c, bool ok)
{
	pthread_mutex_lock(&lc->lock);
	if (ok && lc->nidle < KME_LINK_HANDLES) {
		lc->idle[lc->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&lc->lock);
	if (c != NULL)
		curl_easy_cleanup(c);
}

static struct kme_link_client *
kme_link_client_new(const struct kme_cfg *cfg, const struct kme_peer_cfg *pc)
{
	struct kme_link_client *lc = calloc(1, sizeof(*lc));
	bool v6;

	if (lc == NULL)
		return NULL;
	pthread_mutex_init(&lc->lock, NULL);
	lc->cfg = cfg;
	lc->peer_id = pc->id;
	v6 = strchr(pc->addr.host, ':') != NULL;
	snprintf(lc->base, sizeof(lc->base), "https://%s%s%s:%u/link/v1/",
		 v6 ? "[" : "", pc->addr.host, v6 ? "]" : "", pc->addr.port);
	return lc;
}

static void
kme_link_client_free(struct kme_link_client *lc)
{
	if (lc == NULL)
		return;
	for (size_t i = 0; i < lc->nidle; i++)
		curl_easy_cleanup(lc->idle[i]);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
}

/*
 * POSTs a JSON object to the peer.  Returns the parsed 200 reply, or NULL
 * with a reason in why (the peer's own message when it sent one).
 */
static cJSON *
kme_link_call(struct kme *k, struct kme_peer *p, const char *op, cJSON *body,
	      char *why, size_t cap)
{
	struct kme_link_resp r = { 0 };
	struct curl_slist *hdr = NULL;
	char url[400], *json = NULL;
	cJSON *reply = NULL;
	long status = 0;
	uint32_t delay;
	CURLcode cc;
	CURL *c;

	pthread_mutex_lock(&p->lock);
	delay = p->f_delay_ms;
	pthread_mutex_unlock(&p->lock);
	if (delay > 0)	/* the "slow" fault: added one-way latency */
		kme_link_sleep_ms(delay);
	c = kme_link_handle(p->client);
	json = cJSON_PrintUnformatted(body);
	if (c == NULL || json == NULL) {
		snprintf(why, cap, "out of memory");
		if (c != NULL)
			kme_link_release(p->client, c, false);
		goto out;
	}
	snprintf(url, sizeof(url), "%s%s", p->client->base, op);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	kme_link_release(p->client, c, cc == CURLE_OK);
	if (cc != CURLE_OK) {
		snprintf(why, cap, "KME link to %s failed: %s", p->cfg->id,
			 cc == CURLE_OPERATION_TIMEDOUT ? "timed out" :
			 curl_easy_strerror(cc));
		goto out;
	}
	reply = r.len > 0 ? cJSON_ParseWithLength(r.buf, r.len) : NULL;
	if (status != 200 || !cJSON_IsObject(reply)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "message");
		snprintf(why, cap, "KME link to %s: peer answered %ld: %s",
			 p->cfg->id, status,
			 cJSON_IsString(m) ? m->valuestring : "no message");
		cJSON_Delete(reply);
		reply = NULL;
	}
out:
	if (reply != NULL)
		atomic_fetch_add(&k->metrics.link_calls_ok, 1);
	else
		atomic_fetch_add(&k->metrics.link_calls_failed, 1);
	curl_slist_free_all(hdr);
	if (json != NULL) {
		secure_wipe(json, strlen(json));
		cJSON_free(json);
	}
	secmem_free(r.buf);
	return reply;
}

/* ------------------------------------------------------------ master side */

bool
kme_link_up(struct kme *k, struct kme_peer *p, char *why, size_t cap)
{
	uint64_t now = mono_ms(), last, dead;
	bool down;

	/* Silence for this long means the peer or the link is gone. */
	dead = 3 * k->cfg.sync_interval_ms + k->cfg.link_timeout_ms;
	pthread_mutex_lock(&p->lock);
	down = p->f_down;
	last = p->last_contact_ms;
	pthread_mutex_unlock(&p->lock);
	if (down) {
		snprintf(why, cap, "KME link to %s is down (fault injected at %s)",
			 p->cfg->id, k->cfg.kme_id);
		return false;
	}
	if (last == 0) {
		snprintf(why, cap, "KME link to %s is not up yet", p->cfg->id);
		return false;
	}
	if (now - last > dead) {
		snprintf(why, cap, "KME link to %s is down (no contact for %llu ms)",
			 p->cfg->id, (unsigned long long)(now - last));
		return false;
	}
	return true;
}

static cJSON *
kme_link_ids_json(char (*ids)[KME_ID_MAX + 1], size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
	return arr;
}

static void
kme_link_touch(struct kme_peer *p)
{
	pthread_mutex_lock(&p->lock);
	p->last_contact_ms = mono_ms();
	pthread_mutex_unlock(&p->lock);
}

/* A reservation waiting for the next batch to the peer. */
struct kme_link_resv {
	const char *master;
	char (*slaves)[KME_ID_MAX + 1];
	size_t nslaves;
	const struct kme_key *keys;
	size_t n;
	bool done;
	int rc;
	char why[KME_ERR_MAX];
	struct kme_link_resv *next;
};

/* At least the largest thread pool, so that no waiter is left behind;
 * at most what the peer takes in one reserve. */
#define KME_LINK_BATCH_MAX KME_LINKMSG_BATCH_MAX

/* Authority: takes bits from the pool, which lives in memory while we run
 * (the ticker persists it).  A crash may forget the last takes; key bytes
 * are drawn fresh for every key, so that only flatters the pool count. */
static int
kme_link_pool_take(struct kme_peer *p, uint64_t need, uint64_t *have)
{
	int rc = -1;

	pthread_mutex_lock(&p->lock);
	*have = p->pool_bits;
	if (p->pool_bits >= need) {
		p->pool_bits -= need;
		rc = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static void
kme_link_pool_give(struct kme_peer *p, uint64_t bits)
{
	pthread_mutex_lock(&p->lock);
	p->pool_bits += bits;
	if (p->pool_bits > p->max_bits)
		p->pool_bits = p->max_bits;
	pthread_mutex_unlock(&p->lock);
}

/* Sends one batch of reservations in one message; sets rc/why of each. */
static void
kme_link_send_batch(struct kme *k, struct kme_peer *p, struct kme_link_resv *b)
{
	cJSON *msg = cJSON_CreateObject(), *arr, *reply = NULL;
	char why[KME_ERR_MAX] = "out of memory";

	arr = msg ? cJSON_AddArrayToObject(msg, "batch") : NULL;
	for (struct kme_link_resv *r = b; arr != NULL && r != NULL; r = r->next) {
		cJSON *it = kme_http_key_container(r->keys, r->n);
		if (it == NULL) {
			arr = NULL;
			break;
		}
		cJSON_AddItemToArray(arr, it);
		if (cJSON_AddStringToObject(it, "master", r->master) == NULL ||
		    !cJSON_AddItemToObject(it, "slaves",
					   kme_link_ids_json(r->slaves, r->nslaves)))
			arr = NULL;
	}
	if (arr != NULL)
		reply = kme_link_call(k, p, "reserve", msg, why, sizeof(why));
	if (reply != NULL)
		kme_link_touch(p);
	for (struct kme_link_resv *r = b; r != NULL; r = r->next) {
		r->rc = reply != NULL ? 0 : -1;
		snprintf(r->why, sizeof(r->why), "%s", why);
	}
	cJSON_Delete(msg);
	cJSON_Delete(reply);
}

/*
 * Has the peer record the keys before we answer the master.  Concurrent
 * requests share one link message: whoever finds the link idle sends
 * everything queued so far (group commit); the others wait for it.
 */
static int
kme_link_reserve(struct kme *k, struct kme_peer *p, struct kme_link_resv *me)
{
	pthread_mutex_lock(&p->rq_lock);
	me->next = p->rq_head;
	p->rq_head = me;
	while (!me->done) {
		struct kme_link_resv *batch, **pp;
		size_t n = 0;

		if (p->rq_busy) {
			pthread_cond_wait(&p->rq_cond, &p->rq_lock);
			continue;
		}
		/* Take up to KME_LINK_BATCH_MAX, oldest last (list is LIFO). */
		for (pp = &p->rq_head; *pp != NULL && n < KME_LINK_BATCH_MAX; n++)
			pp = &(*pp)->next;
		batch = p->rq_head;
		p->rq_head = *pp;
		*pp = NULL;
		p->rq_busy = true;
		pthread_mutex_unlock(&p->rq_lock);
		kme_link_send_batch(k, p, batch);
		pthread_mutex_lock(&p->rq_lock);
		for (struct kme_link_resv *r = batch, *nx; r != NULL; r = nx) {
			nx = r->next;
			r->done = true;
		}
		p->rq_busy = false;
		pthread_cond_broadcast(&p->rq_cond);
	}
	pthread_mutex_unlock(&p->rq_lock);
	return me->rc;
}

/* Authority side: take from our pool, then have the peer record them. */
static int
kme_link_keys_here(struct kme *k, struct kme_peer *p, const char *master,
		   char (*slaves)[KME_ID_MAX + 1], size_t nslaves, uint32_t n,
		   uint32_t bits, struct kme_key **out, char *why, size_t cap)
{
	struct kme_link_resv r = { 0 };
	struct kme_key *keys = NULL;
	uint64_t need = (uint64_t)n * bits, have;
	int rc = -1;
	bool starved;

	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	if (starved) {
		snprintf(why, cap, "key pool for KME %s is starved (fault injected)",
			 p->cfg->id);
		return -1;
	}
	if (kme_link_pool_take(p, need, &have) < 0) {
		snprintf(why, cap, "not enough key material for KME %s: %llu bits "
			 "requested, %llu in the pool", p->cfg->id,
			 (unsigned long long)need, (unsigned long long)have);
		return -1;
	}
	keys = kme_keys_new_random(n, bits / 8);
	if (keys == NULL) {
		kme_link_pool_give(p, need);
		snprintf(why, cap, "out of memory");
		return -1;
	}
	r.master = master;
	r.slaves = slaves;
	r.nslaves = nslaves;
	r.keys = keys;
	r.n = n;
	if (kme_link_reserve(k, p, &r) < 0) {
		/* The peer may have recorded them before the reply was lost:
		 * the bits are spent, the keys never leave. */
		snprintf(why, cap, "%s", r.why);
		log_warnx("link: %u key(s) for %s not recorded at %s; their %llu "
			  "bits are discarded: %s", n, master, p->cfg->id,
			  (unsigned long long)need, why);
		goto out;
	}
	*out = keys;
	keys = NULL;
	rc = 0;
out:
	kme_keys_free(keys, n);
	return rc;
}

/* Other side: the authority takes, records and hands the keys to us. */
static int
kme_link_keys_there(struct kme *k, struct kme_peer *p, const char *master,
		    char (*slaves)[KME_ID_MAX + 1], size_t nslaves, uint32_t n,
		    uint32_t bits, struct kme_key **out, char *why, size_t cap)
{
	cJSON *msg = cJSON_CreateObject(), *reply = NULL;
	const cJSON *pool;
	struct kme_key *keys;
	uint64_t bits_left;
	int rc = -1;
	bool starved;

	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	if (starved) {
		snprintf(why, cap, "key pool for KME %s is starved (fault injected)",
			 p->cfg->id);
		goto out;
	}
	if (msg == NULL ||
	    cJSON_AddStringToObject(msg, "master", master) == NULL ||
	    !cJSON_AddItemToObject(msg, "slaves", kme_link_ids_json(slaves, nslaves)) ||
	    cJSON_AddNumberToObject(msg, "number", n) == NULL ||
	    cJSON_AddNumberToObject(msg, "size", bits) == NULL) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	reply = kme_link_call(k, p, "alloc", msg, why, cap);
	if (reply == NULL)
		goto out;
	kme_link_touch(p);
	keys = kme_http_parse_keys(cJSON_GetObjectItemCaseSensitive(reply, "keys"),
				   n, bits / 8);
	if (keys == NULL) {
		snprintf(why, cap, "KME %s sent a malformed key allocation",
			 p->cfg->id);
		log_warnx("link: %s", why);
		goto out;
	}
	pool = cJSON_GetObjectItemCaseSensitive(reply, "pool_bits");
	if (kme_linkmsg_bits(pool, &bits_left) == 0) {
		pthread_mutex_lock(&p->lock);
		p->pool_bits = bits_left;
		pthread_mutex_unlock(&p->lock);
	}
	*out = keys;
	rc = 0;
out:
	cJSON_Delete(msg);
	cJSON_Delete(reply);
	return rc;
}

/* Prefetched keys older than this are not handed out: the peer's copy,
 * recorded with key_ttl when it was made, must outlive the delivery. */
static int64_t
kme_link_ready_min_created(struct kme *k)
{
	int64_t age = (int64_t)(k->cfg.key_ttl_ms / 2000);

	return wall_s() - (age > 0 ? age : 1);
}

int64_t
kme_link_ready_count(struct kme *k, struct kme_peer *p, const char *master,
		     const char *slave)
{
	int64_t n;

	if (!p->authority || k->cfg.prefetch_keys == 0)
		return 0;
	n = kme_store_ready_count(k->store, master, slave,
				  kme_link_ready_min_created(k));
	return n > 0 ? n : 0;
}

/*
 * The fast path (prefetch_keys): keys already recorded at the peer for
 * this pair are taken in one local transaction.  The peer learns of the
 * delivery with the next sync, which starts their key_ttl there.
 */
static int
kme_link_keys_ready(struct kme *k, struct kme_peer *p, const char *master,
		    const char *slave, uint32_t n, struct kme_key **out)
{
	struct kme_key *keys = kme_keys_new(n);

	if (keys == NULL)
		return -1;
	if (kme_store_ready_take(k->store, master, slave,
				 kme_link_ready_min_created(k), keys, n) != 0) {
		kme_keys_free(keys, n);
		return -1;
	}
	atomic_fetch_add(&k->metrics.keys_prefetched, n);
	pthread_mutex_lock(&p->lock);
	if (p->ready_keys >= n)
		p->ready_keys -= n;
	if (p->delivered == NULL)
		p->delivered = calloc(KME_DELIVERED_MAX, UUID_LEN);
	/* Beyond the cap a key keeps the expiry it was recorded with. */
	for (uint32_t i = 0; p->delivered != NULL && i < n &&
	     p->ndelivered < KME_DELIVERED_MAX; i++)
		memcpy(p->delivered[p->ndelivered++], keys[i].id, UUID_LEN);
	pthread_mutex_unlock(&p->lock);
	*out = keys;
	return 0;
}

int
kme_link_get_keys(struct kme *k, struct kme_peer *p, const char *master,
		  char (*slaves)[KME_ID_MAX + 1], size_t nslaves, uint32_t n,
		  uint32_t bits, struct kme_key **out, char *why, size_t cap)
{
	bool starved;

	if (!kme_link_up(k, p, why, cap))
		return -1;
	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	if (p->authority && !starved && k->cfg.prefetch_keys > 0 &&
	    nslaves == 1 && bits == k->cfg.key_size &&
	    kme_link_keys_ready(k, p, master, slaves[0], n, out) == 0)
		return 0;
	if (p->authority)
		return kme_link_keys_here(k, p, master, slaves, nslaves, n, bits,
					  out, why, cap);
	return kme_link_keys_there(k, p, master, slaves, nslaves, n, bits, out,
				   why, cap);
}

/* ------------------------------------------------------------ link server */

static int64_t
kme_link_expiry(struct kme *k)
{
	return wall_s() + (int64_t)((k->cfg.key_ttl_ms + 999) / 1000);
}

static enum MHD_Result
kme_link_finish(struct MHD_Connection *conn, cJSON *reply)
{
	char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;

	cJSON_Delete(reply);
	return kme_http_json(conn, 200, s);
}

/*
 * Each KME knows its peer's SAEs from its own configuration only.  Syncs
 * carry each side's own SAEs, so that a difference (a KME restarted with
 * a changed configuration) is logged when the link comes up, not found
 * by the first key the peer refuses.  Older peers send none.
 */
static void
kme_link_check_saes(struct kme *k, struct kme_peer *p,
		    const struct kme_linkmsg_saes *s)
{
	char unlisted[KME_ERR_MAX] = "", gone[KME_ERR_MAX] = "";
	bool differ, was;

	if (!s->has)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (kme_cfg_peer_of_sae(&k->cfg, s->ids[i]) != p->cfg)
			kme_linkmsg_list_add(unlisted, sizeof(unlisted), s->ids[i]);
	}
	for (size_t i = 0; i < p->cfg->nsaes; i++) {
		size_t j = 0;

		while (j < s->n && strcmp(s->ids[j], p->cfg->saes[i]) != 0)
			j++;
		if (j == s->n)
			kme_linkmsg_list_add(gone, sizeof(gone), p->cfg->saes[i]);
	}
	differ = unlisted[0] != '\0' || gone[0] != '\0';
	pthread_mutex_lock(&p->lock);
	was = p->saes_differ;
	p->saes_differ = differ;
	pthread_mutex_unlock(&p->lock);
	if (differ && !was)
		log_warnx("link: the SAEs of KME %s differ from [peer %s] in the "
			  "configuration of KME %s: served there but not listed "
			  "here (their keys are refused here): [%s]; listed here "
			  "but not served there: [%s]; make both configurations "
			  "agree", p->cfg->id, p->cfg->id, k->cfg.kme_id, unlisted,
			  gone);
	else if (!differ && was)
		log_info("link: the SAEs of KME %s agree with [peer %s] again",
			 p->cfg->id, p->cfg->id);
}

static enum MHD_Result
kme_link_on_sync(struct kme *k, struct kme_peer *p, struct MHD_Connection *conn,
		 const struct kme_linkmsg_sync *s)
{
	cJSON *reply;
	bool starve;

	/* Prefetched keys the authority gave to masters: key_ttl starts now. */
	if (s->ndelivered > 0 &&
	    kme_store_extend(k->store, (const uint8_t (*)[UUID_LEN])s->delivered,
			     s->ndelivered, kme_link_expiry(k)) < 0)
		return kme_http_error(conn, 400, "delivered must be a list of key IDs");
	kme_link_check_saes(k, p, &s->saes);
	pthread_mutex_lock(&p->lock);
	p->pool_bits = s->pool_bits;
	p->max_bits = s->max_bits;
	p->last_contact_ms = mono_ms();
	starve = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	reply = cJSON_CreateObject();
	if (reply != NULL) {
		cJSON_AddBoolToObject(reply, "starve", starve);
		cJSON_AddItemToObject(reply, "saes",
				      kme_link_ids_json(k->cfg.saes, k->cfg.nsaes));
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
			.master = r->parties.master, .slaves = r->parties.slaves,
			.nslaves = r->parties.nslaves, .keys = r->keys, .n = r->n,
		};
		nkeys += r->n;
	}
	switch (kme_store_reserve_batch(k->store, p->cfg->id, items, n,
					kme_link_expiry(k))) {
	case 0:
		break;
	case 1:		/* the peer's mistake or a replay: nothing recorded */
		return kme_http_error(conn, 400, "a key_ID is already recorded "
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
kme_link_on_alloc(struct kme *k, struct kme_peer *p, struct MHD_Connection *conn,
		  struct kme_linkmsg_alloc *a)
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
		snprintf(why, sizeof(why), "key pool for KME %s is starved (fault "
			 "injected at %s)", p->cfg->id, k->cfg.kme_id);
		return kme_http_error(conn, 503, why);
	}
	if (kme_link_pool_take(p, (uint64_t)n * bits, &have) < 0) {
		snprintf(why, sizeof(why), "not enough key material for KME %s: "
			 "%llu bits requested, %llu in the pool", k->cfg.kme_id,
			 (unsigned long long)n * bits, (unsigned long long)have);
		return kme_http_error(conn, 503, why);
	}
	keys = kme_keys_new_random(n, bits / 8);
	/* Recorded for our slaves before the keys leave for the master. */
	if (keys == NULL || kme_store_reserve(k->store, p->cfg->id, 0,
					      a->parties.master, a->parties.slaves,
					      a->parties.nslaves, keys, n,
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

static enum MHD_Result
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
	if (!kme_http_gather(conn, con_cls, upload, upload_size, KME_LINK_MAX_RESP))
		return MHD_YES;
	r = *con_cls;
	if (tls_front_conn_peer(k->link_tf, conn, peer_id, sizeof(peer_id)) < 0 ||
	    (p = kme_peer_by_id(k, peer_id)) == NULL)
		return kme_http_empty(conn, 401);
	pthread_mutex_lock(&p->lock);
	down = p->f_down;
	delay = p->f_delay_ms;
	pthread_mutex_unlock(&p->lock);
	if (down)
		return kme_http_error(conn, 503, "KME link is down (fault injected)");
	if (delay > 0)
		kme_link_sleep_ms(delay);
	if (strcmp(method, "POST") != 0 || r->too_large)
		return kme_http_error(conn, 400, "link messages are POSTed JSON");
	/* Parse and validate (kme_linkmsg.c), then act.  On the heap: a
	 * sync may carry KME_LINKMSG_DELIVERED_MAX key IDs. */
	m = malloc(sizeof(*m));
	if (m == NULL)
		return kme_http_error(conn, 503, "out of memory");
	ctx = (struct kme_linkmsg_ctx){
		.cfg = &k->cfg, .peer = p->cfg, .authority = p->authority,
		.lim = &k->limits,
	};
	if (kme_linkmsg_parse(url, r->body, r->len, &ctx, m, why,
			      sizeof(why)) < 0) {
		if (m->log_refusal) {
			if (strlen(why) + 1 == sizeof(why))
				log_debug("link: the refusal below is cut to %zu "
					  "bytes", sizeof(why) - 1);
			log_warnx("link: %s", why);
		}
		ret = kme_http_error(conn, 400, why);
	} else if (m->type == KME_LINKMSG_SYNC) {
		ret = kme_link_on_sync(k, p, conn, &m->u.sync);
	} else if (m->type == KME_LINKMSG_RESERVE) {
		ret = kme_link_on_reserve(k, p, conn, m);
	} else {
		ret = kme_link_on_alloc(k, p, conn, &m->u.alloc);
	}
	kme_linkmsg_clear(m);
	free(m);
	return ret;
}

/* ---------------------------------------------------------------- ticker */

/* Adds the IDs of delivered prefetched keys to a sync; returns how many. */
static size_t
kme_link_add_delivered(struct kme_peer *p, cJSON *msg)
{
	char id[UUID_STR_LEN + 1];
	cJSON *arr;
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->ndelivered;
	arr = n > 0 ? cJSON_AddArrayToObject(msg, "delivered") : NULL;
	for (size_t i = 0; arr != NULL && i < n; i++) {
		uuid_format(id, p->delivered[i]);
		cJSON_AddItemToArray(arr, cJSON_CreateString(id));
	}
	pthread_mutex_unlock(&p->lock);
	return arr != NULL ? n : 0;
}

/* After a successful sync: forgets the first n (more may have come). */
static void
kme_link_drop_delivered(struct kme_peer *p, size_t n)
{
	pthread_mutex_lock(&p->lock);
	if (n > 0 && n <= p->ndelivered) {
		memmove(p->delivered, p->delivered + n,
			(p->ndelivered - n) * UUID_LEN);
		p->ndelivered -= n;
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * Authority with prefetch_keys: tops up, for every (our SAE, peer's SAE)
 * pair, the keys already recorded at the peer, from the pool.
 */
static void
kme_link_prefetch(struct kme *k, struct kme_peer *p)
{
	int64_t min_created = kme_link_ready_min_created(k), now = wall_s();
	uint32_t bits = k->cfg.key_size;
	uint64_t total = 0;

	kme_store_ready_purge(k->store, p->cfg->id, min_created);
	for (size_t i = 0; i < k->cfg.nsaes; i++) {
		for (size_t j = 0; j < p->cfg->nsaes; j++) {
			char slave[1][KME_ID_MAX + 1];
			struct kme_link_resv r = { 0 };
			struct kme_key *keys;
			int64_t have = kme_store_ready_count(k->store, k->cfg.saes[i],
							     p->cfg->saes[j], min_created);
			uint64_t need, avail;

			if (have < 0)
				continue;
			total += (uint64_t)have;
			if (have >= (int64_t)k->cfg.prefetch_keys)
				continue;
			need = k->cfg.prefetch_keys - (uint64_t)have;
			if (need > KME_PREFETCH_PER_TICK)
				need = KME_PREFETCH_PER_TICK;
			snprintf(slave[0], sizeof(slave[0]), "%s", p->cfg->saes[j]);
			/* In chunks: each is one transaction at either end, and
			 * requests wait for the store while one is written. */
			while (need > 0) {
				uint64_t n = need < KME_PREFETCH_CHUNK ?
					     need : KME_PREFETCH_CHUNK;

				pthread_mutex_lock(&p->lock);
				avail = p->pool_bits / bits;
				if (n > avail)
					n = avail;
				p->pool_bits -= n * bits;
				pthread_mutex_unlock(&p->lock);
				if (n == 0)
					goto out;
				keys = kme_keys_new_random(n, bits / 8);
				if (keys == NULL)
					goto out;
				memset(&r, 0, sizeof(r));
				r.master = k->cfg.saes[i];
				r.slaves = slave;
				r.nslaves = 1;
				r.keys = keys;
				r.n = n;
				/* Recorded at the peer first, then ready here. */
				if (kme_link_reserve(k, p, &r) < 0 ||
				    kme_store_ready_add(k->store, p->cfg->id, r.master,
							slave[0], keys, n, now) < 0) {
					kme_keys_free(keys, n);
					goto out;
				}
				kme_keys_free(keys, n);
				total += n;
				need -= n;
			}
		}
	}
out:
	pthread_mutex_lock(&p->lock);
	p->ready_keys = total;
	pthread_mutex_unlock(&p->lock);
}

/* Authority: heartbeat to the peer, then grow the pool for the time the
 * link was up.  No contact, no key: QKD needs the link. */
static void
kme_link_tick_authority(struct kme *k, struct kme_peer *p, uint64_t dt_ms)
{
	char why[KME_ERR_MAX];
	cJSON *msg = cJSON_CreateObject(), *reply;
	struct kme_linkmsg_saes saes;
	const cJSON *st;
	uint64_t bits, max, add, now_bits;
	size_t ndel;
	bool starve, down;
	double want;

	pthread_mutex_lock(&p->lock);
	bits = p->pool_bits;
	max = p->max_bits;
	down = p->f_down;
	pthread_mutex_unlock(&p->lock);
	if (msg == NULL || down) {
		cJSON_Delete(msg);
		return;
	}
	cJSON_AddNumberToObject(msg, "pool_bits", (double)bits);
	cJSON_AddNumberToObject(msg, "max_bits", (double)max);
	cJSON_AddItemToObject(msg, "saes", kme_link_ids_json(k->cfg.saes,
							     k->cfg.nsaes));
	ndel = kme_link_add_delivered(p, msg);
	reply = kme_link_call(k, p, "sync", msg, why, sizeof(why));
	cJSON_Delete(msg);
	if (reply == NULL) {
		log_debug("link: sync with %s: %s", p->cfg->id, why);
		return;
	}
	kme_link_drop_delivered(p, ndel);
	kme_linkmsg_saes(cJSON_GetObjectItemCaseSensitive(reply, "saes"), &saes);
	kme_link_check_saes(k, p, &saes);
	st = cJSON_GetObjectItemCaseSensitive(reply, "starve");
	starve = cJSON_IsTrue(st);
	cJSON_Delete(reply);

	pthread_mutex_lock(&p->lock);
	if (p->last_contact_ms == 0)
		log_info("link: KME %s is up", p->cfg->id);
	p->last_contact_ms = mono_ms();
	starve = starve || p->f_starve;
	want = p->carry_bits + (double)p->cfg->key_rate * (double)dt_ms / 1000.0;
	add = (uint64_t)want;
	p->carry_bits = want - (double)add;
	/* Prefetched keys count against max_key_count too. */
	max = max > p->ready_keys * k->cfg.key_size ?
	      max - p->ready_keys * k->cfg.key_size : 0;
	if (starve) {
		p->pool_bits = 0;
		p->carry_bits = 0;
		p->ready_keys = 0;
	} else if (p->pool_bits < max) {
		p->pool_bits = p->pool_bits + add > max ? max : p->pool_bits + add;
	}
	now_bits = p->pool_bits;
	pthread_mutex_unlock(&p->lock);
	if (k->cfg.prefetch_keys > 0) {
		if (starve)
			kme_store_ready_purge(k->store, p->cfg->id, INT64_MAX);
		else
			kme_link_prefetch(k, p);
	}
	pthread_mutex_lock(&p->lock);
	now_bits = p->pool_bits;
	pthread_mutex_unlock(&p->lock);
	kme_store_pool_set(k->store, p->cfg->id, now_bits);
}

void *
kme_link_ticker(void *arg)
{
	struct kme *k = arg;
	uint64_t last = mono_ms(), last_expire = last;

	while (!atomic_load(&k->stopping)) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(k->cfg.sync_interval_ms % 1000) * 1000000L;
		ts.tv_sec += (time_t)(k->cfg.sync_interval_ms / 1000) +
			     ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&k->stop_lock);
		if (!atomic_load(&k->stopping))
			pthread_cond_timedwait(&k->stop_cond, &k->stop_lock, &ts);
		pthread_mutex_unlock(&k->stop_lock);
		if (atomic_load(&k->stopping))
			break;
		now = mono_ms();
		for (size_t i = 0; i < k->cfg.npeers; i++) {
			if (k->peers[i].authority)
				kme_link_tick_authority(k, &k->peers[i], now - last);
		}
		last = now;
		if (now - last_expire >= 1000) {
			int64_t n = kme_store_expire(k->store, wall_s(),
						     (int64_t)(k->cfg.key_ttl_ms / 1000) + 1);
			if (n > 0) {
				atomic_fetch_add(&k->metrics.keys_expired, (uint64_t)n);
				log_info("%lld reserved key(s) expired unfetched",
					 (long long)n);
			}
			last_expire = now;
		}
	}
	return NULL;
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
		if (p->authority &&
		    kme_store_pool_get(k->store, p->cfg->id, &p->pool_bits) < 0)
			goto out;
		p->client = kme_link_client_new(&k->cfg, p->cfg);
		if (p->client == NULL)
			goto out;
	}
	ctx = tls_server_ctx_new(k->cfg.link_cert, k->cfg.link_key, k->cfg.link_ca);
	if (ctx == NULL) {
		log_warnx("link: cannot set up TLS from link_cert/link_key/link_ca");
		goto out;
	}
	k->link_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
				       MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL,
				       0, NULL, NULL, kme_link_handler, k,
				       MHD_OPTION_THREAD_POOL_SIZE, 4,
				       MHD_OPTION_NOTIFY_COMPLETED, kme_http_completed, NULL,
				       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
				       MHD_OPTION_END);
	if (k->link_mhd == NULL) {
		log_warnx("link: cannot start the HTTP layer");
		goto out;
	}
	tc.ssl_ctx = ctx;
	tc.mhd = k->link_mhd;
	tc.peer_id = tls_peer_subject_cn;
	tc.name = "kme-link";
	k->link_tf = tls_front_new(&tc);
	if (k->link_tf == NULL ||
	    tls_front_listen(k->link_tf, k->cfg.link_listen.host,
			     k->cfg.link_listen.port) < 0 ||
	    tls_front_start(k->link_tf) < 0)
		goto out;
	if (pthread_create(&k->ticker, NULL, kme_link_ticker, k) != 0) {
		log_warnx("link: cannot start the ticker thread");
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
			pthread_mutex_destroy(&k->peers[i].lock);
			pthread_mutex_destroy(&k->peers[i].rq_lock);
			pthread_cond_destroy(&k->peers[i].rq_cond);
		}
	}
}
