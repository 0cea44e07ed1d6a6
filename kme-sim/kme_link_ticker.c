/*
 * kme_link_ticker.c — the link's background thread: at every
 * sync_interval the authority sends its peer a sync (heartbeat, pool
 * figures, delivered prefetched keys), grows the pool for the time the
 * link was up and tops up prefetched keys (prefetch_keys); every second
 * unfetched keys whose key_ttl is over expire.
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_linkmsg.h"

#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define KME_PREFETCH_PER_TICK 1024 /* per (master, slave) pair */
#define KME_PREFETCH_CHUNK 64 /* keys per reserve message */

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
 * pair, the keys already recorded at the peer, from the pool, up to the
 * pair's share (kme_link_prefetch_share) and half the pool per pass.
 */
static void
kme_link_prefetch(struct kme *k, struct kme_peer *p)
{
	int64_t min_created = kme_link_ready_min_created(k), now = wall_s();
	uint32_t bits = k->cfg.key_size;
	uint64_t total = 0, share = kme_link_prefetch_share(k, p), budget;

	/* At most half of what the pool holds now per pass: while it fills
	 * (after a start, or when drained) requests on demand find the
	 * other half, not an empty pool. */
	pthread_mutex_lock(&p->lock);
	budget = p->pool_bits / bits / 2;
	pthread_mutex_unlock(&p->lock);
	kme_store_ready_purge(k->store, p->cfg->id, min_created);
	for (size_t i = 0; i < k->cfg.nsaes; i++) {
		for (size_t j = 0; j < p->cfg->nsaes; j++) {
			char slave[1][KME_ID_MAX + 1];
			struct kme_link_resv r = { 0 };
			struct kme_key *keys;
			int64_t have =
			    kme_store_ready_count(k->store, k->cfg.saes[i],
						  p->cfg->saes[j], min_created);
			uint64_t need, avail;

			if (have == -1)
				continue;
			have += (int64_t)kme_link_claims_count(
			    p, k->cfg.saes[i], p->cfg->saes[j], min_created);
			total += (uint64_t)have;
			if ((uint64_t)have >= share)
				continue;
			need = share - (uint64_t)have;
			if (need > KME_PREFETCH_PER_TICK)
				need = KME_PREFETCH_PER_TICK;
			snprintf(slave[0], sizeof(slave[0]), "%s",
				 p->cfg->saes[j]);
			/* In chunks: each is one transaction at either end, and
			 * requests wait for the store while one is written. */
			while (need > 0) {
				uint64_t n = need < KME_PREFETCH_CHUNK
						 ? need
						 : KME_PREFETCH_CHUNK;

				pthread_mutex_lock(&p->lock);
				avail = p->pool_bits / bits;
				if (n > avail)
					n = avail;
				if (n > budget)
					n = budget;
				p->pool_bits -= n * bits;
				pthread_mutex_unlock(&p->lock);
				budget -= n;
				if (n == 0)
					goto out;
				keys = kme_keys_new_random(n, bits / 8);
				if (keys == NULL)
					goto out;
				memset(&r, 0, sizeof(r));
				r.item.master = k->cfg.saes[i];
				r.item.slaves = slave;
				r.item.nslaves = 1;
				r.item.keys = keys;
				r.item.n = n;
				/* Recorded at the peer first, then ready here. */
				if (kme_link_reserve(k, p, &r) == -1 ||
				    kme_store_ready_add(k->store, p->cfg->id,
							r.item.master, slave[0],
							keys, n, now) == -1) {
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
	cJSON *msg = cJSON_CreateObject(), *reply, *f;
	struct kme_linkmsg_saes saes;
	struct qkd_faults qf;
	const cJSON *st;
	uint64_t bits, max, now_bits;
	size_t ndel;
	bool starve, down;

	pthread_mutex_lock(&p->lock);
	bits = p->pool_bits;
	max = p->max_bits;
	down = p->f_down;
	qf = p->qf;
	pthread_mutex_unlock(&p->lock);
	if (msg == NULL || down) {
		cJSON_Delete(msg);
		return;
	}
	cJSON_AddNumberToObject(msg, "pool_bits", (double)bits);
	cJSON_AddNumberToObject(msg, "max_bits", (double)max);
	cJSON_AddItemToObject(msg, "saes",
			      kme_link_ids_json(k->cfg.saes, k->cfg.nsaes));
	/* Our physics faults, so that the peer reports the same link. */
	if (p->cfg->model && (f = cJSON_AddObjectToObject(msg, "faults"))) {
		cJSON_AddNumberToObject(f, "eve_fraction", qf.eve_fraction);
		cJSON_AddNumberToObject(f, "added_loss_db", qf.added_loss_db);
		cJSON_AddBoolToObject(f, "cut", qf.cut);
	}
	ndel = kme_link_add_delivered(p, msg);
	reply = kme_link_call(k, p, "sync", msg, why, sizeof(why));
	cJSON_Delete(msg);
	if (reply == NULL) {
		log_debug("link: sync with %s: %s", p->cfg->id, why);
		return;
	}
	kme_link_drop_delivered(p, ndel);
	kme_linkmsg_saes(cJSON_GetObjectItemCaseSensitive(reply, "saes"),
			 &saes);
	kme_link_check_saes(k, p, &saes);
	st = cJSON_GetObjectItemCaseSensitive(reply, "starve");
	starve = cJSON_IsTrue(st);
	cJSON_Delete(reply);

	pthread_mutex_lock(&p->lock);
	if (p->last_contact_ms == 0)
		log_info("link: KME %s is up", p->cfg->id);
	p->last_contact_ms = mono_ms();
	starve = starve || p->f_starve;
	pthread_mutex_unlock(&p->lock);
	kme_link_pool_grow(k, p, dt_ms, starve);
	if (k->cfg.prefetch_keys > 0) {
		if (starve) {
			kme_store_ready_purge(k->store, p->cfg->id, INT64_MAX);
			kme_link_claims_clear(p, false);
		} else {
			kme_link_prefetch(k, p);
		}
	}
	pthread_mutex_lock(&p->lock);
	now_bits = p->pool_bits;
	pthread_mutex_unlock(&p->lock);
	kme_store_pool_set(k->store, p->cfg->id, now_bits);
}

/*
 * The other side: a ping to the authority, so that a link that this side
 * cannot reach any more is found down (kme_link_usable), not at the next
 * enc_keys, and the authority learns that this side still reaches it.
 */
static void
kme_link_tick_other(struct kme *k, struct kme_peer *p)
{
	char why[KME_ERR_MAX];
	cJSON *msg, *reply;
	bool down;

	pthread_mutex_lock(&p->lock);
	down = p->f_down;
	pthread_mutex_unlock(&p->lock);
	if (down || (msg = cJSON_CreateObject()) == NULL)
		return;
	reply = kme_link_call(k, p, "ping", msg, why, sizeof(why));
	cJSON_Delete(msg);
	if (reply == NULL) {
		log_debug("link: ping to %s: %s", p->cfg->id, why);
		return;
	}
	cJSON_Delete(reply);
	kme_link_touch(p);
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
			pthread_cond_timedwait(&k->stop_cond, &k->stop_lock,
					       &ts);
		pthread_mutex_unlock(&k->stop_lock);
		if (atomic_load(&k->stopping))
			break;
		now = mono_ms();
		for (size_t i = 0; i < k->cfg.npeers; i++) {
			if (k->peers[i].authority)
				kme_link_tick_authority(k, &k->peers[i],
							now - last);
			else
				kme_link_tick_other(k, &k->peers[i]);
		}
		last = now;
		if (now - last_expire >= 1000) {
			int64_t n = kme_store_expire(
			    k->store, wall_s(),
			    (int64_t)(k->cfg.key_ttl_ms / 1000) + 1);
			if (n > 0) {
				atomic_fetch_add(&k->metrics.keys_expired,
						 (uint64_t)n);
				log_info(
				    "%lld reserved key(s) expired unfetched",
				    (long long)n);
			}
			last_expire = now;
		}
	}
	return NULL;
}
