/*
 * kme_link_keys.c — the master side of enc_keys over the KME link
 * (kme-sim(8), "KME LINK"):
 *
 *   master at the authority:  take bits (commit) -> POST reserve to peer
 *                             (peer commits) -> 200 to the master
 *   master at the other KME:  POST alloc to authority (authority takes
 *                             bits and records the keys for its slaves in
 *                             one transaction) -> 200 to the master
 *
 * plus the fast path of prefetched keys at the authority.  Concurrent
 * reservations to one peer share a link message (group commit).
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_linkmsg.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KME_DELIVERED_MAX KME_LINKMSG_DELIVERED_MAX /* a sync's share */

/* At least the largest thread pool, so that no waiter is left behind;
 * at most what the peer takes in one reserve. */
#define KME_LINK_BATCH_MAX KME_LINKMSG_BATCH_MAX

/* Prefetched keys taken from the store at once, held per pair at most,
 * and pairs per peer that hold some. */
#define KME_CLAIM_BATCH 64
#define KME_CLAIM_CAP (2 * KME_CLAIM_BATCH)
#define KME_CLAIM_PAIRS 64

/* Sends one batch of reservations in one message; sets rc/why of each. */
static void
kme_link_send_batch(struct kme *k, struct kme_peer *p, struct kme_link_resv *b)
{
	cJSON *msg = cJSON_CreateObject(), *arr, *reply = NULL;
	char why[KME_ERR_MAX] = "out of memory";

	arr = msg ? cJSON_AddArrayToObject(msg, "batch") : NULL;
	for (struct kme_link_resv *r = b; arr != NULL && r != NULL;
	     r = r->next) {
		cJSON *it = kme_http_key_container(r->item.keys, r->item.n);
		if (it == NULL) {
			arr = NULL;
			break;
		}
		cJSON_AddItemToArray(arr, it);
		if (cJSON_AddStringToObject(it, "master", r->item.master) ==
			NULL ||
		    !cJSON_AddItemToObject(it, "slaves",
					   kme_link_ids_json(r->item.slaves,
							     r->item.nslaves)))
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
int
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
		for (pp = &p->rq_head; *pp != NULL && n < KME_LINK_BATCH_MAX;
		     n++)
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
		snprintf(why, cap,
			 "key pool for KME %s is starved (fault injected)",
			 p->cfg->id);
		return -1;
	}
	if (kme_link_pool_take(p, need, &have) == -1) {
		bool halted;

		/* An empty pool on a halted QKD link: say why it is empty. */
		pthread_mutex_lock(&p->lock);
		halted = kme_link_model_halted(k, p, why, cap);
		pthread_mutex_unlock(&p->lock);
		if (!halted)
			snprintf(why, cap,
				 "not enough key material for KME %s: "
				 "%llu bits requested, %llu in the pool",
				 p->cfg->id, (unsigned long long)need,
				 (unsigned long long)have);
		return -1;
	}
	keys = kme_keys_new_random(n, bits / 8);
	if (keys == NULL) {
		kme_link_pool_give(p, need);
		snprintf(why, cap, "out of memory");
		return -1;
	}
	r.item.master = master;
	r.item.slaves = slaves;
	r.item.nslaves = nslaves;
	r.item.keys = keys;
	r.item.n = n;
	if (kme_link_reserve(k, p, &r) == -1) {
		/* The peer may have recorded them before the reply was lost:
		 * the bits are spent, the keys never leave. */
		snprintf(why, cap, "%s", r.why);
		log_warnx(
		    "link: %u key(s) for %s not recorded at %s; their %llu "
		    "bits are discarded: %s",
		    n, master, p->cfg->id, (unsigned long long)need, why);
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
		snprintf(why, cap,
			 "key pool for KME %s is starved (fault injected)",
			 p->cfg->id);
		goto out;
	}
	if (msg == NULL ||
	    cJSON_AddStringToObject(msg, "master", master) == NULL ||
	    !cJSON_AddItemToObject(msg, "slaves",
				   kme_link_ids_json(slaves, nslaves)) ||
	    cJSON_AddNumberToObject(msg, "number", n) == NULL ||
	    cJSON_AddNumberToObject(msg, "size", bits) == NULL) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	reply = kme_link_call(k, p, "alloc", msg, why, cap);
	if (reply == NULL)
		goto out;
	kme_link_touch(p);
	keys = kme_http_parse_keys(
	    cJSON_GetObjectItemCaseSensitive(reply, "keys"), n, bits / 8);
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

/*
 * Prefetched keys of one (master, slave) pair taken from the store's ready
 * table a batch at a time, ahead of the requests that hand them out: the
 * transaction that takes a batch deletes it from the store, so that a
 * crash can lose these keys (the peer lets them expire) but can never hand
 * one out twice.  Each was recorded at the peer before it became ready.
 */
struct kme_link_claim {
	char master[KME_ID_MAX + 1], slave[KME_ID_MAX + 1];
	struct kme_key keys[KME_CLAIM_CAP];
	int64_t created[KME_CLAIM_CAP];
	size_t head, n; /* keys[head .. head + n) */
	bool busy; /* a request is taking a batch from the store */
	struct kme_link_claim *next;
};

/* The pair's claim, made if absent (at most KME_CLAIM_PAIRS); p->lock. */
static struct kme_link_claim *
kme_link_claim_find(struct kme_peer *p, const char *master, const char *slave)
{
	struct kme_link_claim *c;
	size_t n = 0;

	for (c = p->claims; c != NULL; c = c->next, n++) {
		if (strcmp(c->master, master) == 0 &&
		    strcmp(c->slave, slave) == 0)
			return c;
	}
	if (n >= KME_CLAIM_PAIRS || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->master, sizeof(c->master), "%s", master);
	snprintf(c->slave, sizeof(c->slave), "%s", slave);
	c->next = p->claims;
	p->claims = c;
	return c;
}

/* Wipes the keys from the head on while the test holds; p->lock. */
static void
kme_link_claim_drop(struct kme_link_claim *c, int64_t min_created, bool all)
{
	while (c->n > 0 && (all || c->created[c->head] < min_created)) {
		secmem_free(c->keys[c->head].bytes);
		c->keys[c->head].bytes = NULL;
		c->head++;
		c->n--;
	}
	if (c->n == 0)
		c->head = 0;
}

/* Appends what room allows; the rest is wiped (a lost key, never a
 * repeated one).  p->lock held. */
static void
kme_link_claim_push(struct kme_link_claim *c, struct kme_key *keys,
		    const int64_t *created, size_t n)
{
	if (c->head + c->n + n > KME_CLAIM_CAP && c->head > 0) {
		memmove(c->keys, c->keys + c->head, c->n * sizeof(c->keys[0]));
		memmove(c->created, c->created + c->head,
			c->n * sizeof(c->created[0]));
		c->head = 0;
	}
	for (size_t i = 0; i < n; i++) {
		/* Keys live at keys[head .. head + n): append after them. */
		if (c->head + c->n < KME_CLAIM_CAP) {
			c->keys[c->head + c->n] = keys[i];
			c->created[c->head + c->n++] = created[i];
		} else {
			secmem_free(keys[i].bytes);
		}
		keys[i].bytes = NULL;
	}
}

void
kme_link_claims_clear(struct kme_peer *p, bool release)
{
	struct kme_link_claim *c, *nx;

	pthread_mutex_lock(&p->lock);
	for (c = p->claims; c != NULL; c = nx) {
		nx = c->next;
		kme_link_claim_drop(c, 0, true);
		if (release)
			free(c);
	}
	if (release)
		p->claims = NULL;
	pthread_mutex_unlock(&p->lock);
}

uint64_t
kme_link_claims_count(struct kme_peer *p, const char *master, const char *slave,
		      int64_t min_created)
{
	uint64_t n = 0;

	pthread_mutex_lock(&p->lock);
	for (struct kme_link_claim *c = p->claims; c != NULL; c = c->next) {
		if (strcmp(c->master, master) != 0 ||
		    strcmp(c->slave, slave) != 0)
			continue;
		for (size_t i = 0; i < c->n; i++)
			n += c->created[c->head + i] >= min_created;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

int64_t
kme_link_ready_count(struct kme *k, struct kme_peer *p, const char *master,
		     const char *slave)
{
	int64_t min_created = kme_link_ready_min_created(k), n;

	if (!p->authority || k->cfg.prefetch_keys == 0)
		return 0;
	n = kme_store_ready_count(k->store, master, slave, min_created);
	if (n == -1)
		n = 0;
	return n +
	       (int64_t)kme_link_claims_count(p, master, slave, min_created);
}

/*
 * Takes a batch of at least n prefetched keys from the store into the
 * pair's claim (n go to out, the rest wait there); the claim is busy
 * meanwhile, so one request at a time does this per pair.  0 or -1.
 */
static int
kme_link_claim_fill(struct kme *k, struct kme_peer *p, struct kme_link_claim *c,
		    int64_t min_created, uint32_t n, struct kme_key *out)
{
	int64_t created[KME_CLAIM_BATCH];
	size_t want = n < KME_CLAIM_BATCH ? KME_CLAIM_BATCH : n, got = 0;
	struct kme_key *batch = kme_keys_new(want);
	int rc = -1;

	if (batch != NULL &&
	    kme_store_ready_claim(
		k->store, c->master, c->slave, min_created, n, want, batch,
		want == KME_CLAIM_BATCH ? created : NULL, &got) == 0)
		rc = 0;
	pthread_mutex_lock(&p->lock);
	c->busy = false;
	if (rc == 0) {
		memcpy(out, batch, n * sizeof(*out));
		for (uint32_t i = 0; i < n; i++)
			batch[i].bytes = NULL;
		if (got > n)
			kme_link_claim_push(c, batch + n, created + n, got - n);
	}
	pthread_mutex_unlock(&p->lock);
	kme_keys_free(batch, want);
	return rc;
}

/*
 * The fast path (prefetch_keys): keys already recorded at the peer for
 * this pair, from the pair's claim or else the store.  The peer learns of
 * the delivery with the next sync, which starts their key_ttl there.
 */
static int
kme_link_keys_ready(struct kme *k, struct kme_peer *p, const char *master,
		    const char *slave, uint32_t n, struct kme_key **out)
{
	int64_t min_created = kme_link_ready_min_created(k);
	struct kme_key *keys = kme_keys_new(n);
	struct kme_link_claim *c;
	bool fill = false, have = false;

	if (keys == NULL)
		return -1;
	pthread_mutex_lock(&p->lock);
	c = kme_link_claim_find(p, master, slave);
	if (c != NULL) {
		kme_link_claim_drop(c, min_created, false);
		if (c->n >= n) {
			memcpy(keys, c->keys + c->head, n * sizeof(*keys));
			memset(c->keys + c->head, 0, n * sizeof(*keys));
			c->head += n;
			c->n -= n;
			have = true;
		} else if (!c->busy) {
			c->busy = fill = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	/* Another request fills this pair's claim: this one takes its keys
	 * from the store alone, as it would without a claim. */
	if (!have && (fill ? kme_link_claim_fill(k, p, c, min_created, n, keys)
			   : kme_store_ready_take(k->store, master, slave,
						  min_created, keys, n)) != 0) {
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
	for (uint32_t i = 0;
	     p->delivered != NULL && i < n && p->ndelivered < KME_DELIVERED_MAX;
	     i++)
		memcpy(p->delivered[p->ndelivered++], keys[i].id, UUID_LEN);
	pthread_mutex_unlock(&p->lock);
	*out = keys;
	return 0;
}

int
kme_link_get_keys(struct kme *k, struct kme_peer *p, const char *master,
		  char (*slaves)[KME_ID_MAX + 1], size_t nslaves, uint32_t n,
		  uint32_t bits, bool may_wait, struct kme_key **out, char *why,
		  size_t cap)
{
	bool starved;

	if (!kme_link_usable(k, p, why, cap))
		return -1;
	pthread_mutex_lock(&p->lock);
	starved = p->f_starve;
	pthread_mutex_unlock(&p->lock);
	if (p->authority && !starved && k->cfg.prefetch_keys > 0 &&
	    nslaves == 1 && bits == k->cfg.key_size &&
	    kme_link_keys_ready(k, p, master, slaves[0], n, out) == 0)
		return 0;
	if (!may_wait)
		return -2;
	if (p->authority)
		return kme_link_keys_here(k, p, master, slaves, nslaves, n,
					  bits, out, why, cap);
	return kme_link_keys_there(k, p, master, slaves, nslaves, n, bits, out,
				   why, cap);
}
