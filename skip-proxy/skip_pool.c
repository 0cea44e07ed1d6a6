/*
 * skip_pool.c — keys fetched ahead from the KME, per remote SAE ID, so
 * that most GET /key requests cost no ETSI 014 call.
 *
 * No thread of its own: a request that finds no usable key makes one
 * enc_keys call for as many keys as that remote asked for in the last
 * second (at least 1, at most key_pool and the KME's max_key_per_request
 * as far as it is known), takes the first and pools the rest.  One
 * request a minute thus costs what it did without a pool (number = 1,
 * nothing pooled).  Keys are handed out oldest first and never once
 * older than key_pool_max_age; their bytes live in locked memory
 * (secmem_locked_alloc) and are wiped when taken, expired or freed.
 *
 * One mutex guards the tables; it is never held across a KME call, so
 * no request waits for another's.  Concurrent misses each make their own
 * call, but the keys already asked for by calls in flight count against
 * the demand, so the second of two near-simultaneous misses asks for one
 * key instead of a second full batch (what does not fit in the pool is
 * wiped and counted).
 */
#include "skip.h"

#include "log.h"
#include "secmem.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_POOL_DEMAND_US 1000000 /* demand window: the last second */

struct skip_pool_remote {
	char name[SKIP_ID_MAX + 1]; /* "" = unused entry */
	uint8_t *slots; /* cap slots of (key_ID, key), locked memory */
	uint64_t *born_us; /* when each slot's key arrived */
	size_t head, depth; /* ring: oldest at head */
	uint64_t *seen_us; /* ring of the last cap request times */
	size_t seen_next, seen_n;
	uint64_t last_us; /* last request, for reusing the entry */
	unsigned inflight; /* keys asked for by batch calls in flight */
};

struct skip_pool {
	struct skip_pool_cfg cfg;
	size_t key_len, slot_len, arena_len;
	pthread_mutex_t mu;
	unsigned kme_cap; /* learned max_key_per_request; 0 = not known */
	bool warned_lock;
	struct skip_pool_remote remotes[SKIP_POOL_REMOTES];
};

static uint64_t
skip_pool_now(struct skip_pool *p)
{
	return p->cfg.now_us != NULL ? p->cfg.now_us(p->cfg.arg) : mono_us();
}

struct skip_pool *
skip_pool_new(const struct skip_pool_cfg *cfg)
{
	struct skip_pool *p;

	if (cfg->fetch == NULL || cfg->bits == 0 || cfg->bits % 8 != 0 ||
	    cfg->bits / 8 > ETSI014_KEY_MAX || cfg->cap > SKIP_POOL_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = *cfg;
	p->key_len = cfg->bits / 8;
	p->slot_len = UUID_LEN + p->key_len;
	p->arena_len = cfg->cap * p->slot_len;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* Wipes the oldest key of r (depth > 0). */
static void
skip_pool_drop_head(struct skip_pool *p, struct skip_pool_remote *r)
{
	secmem_wipe(r->slots + r->head * p->slot_len, p->slot_len);
	r->head = (r->head + 1) % p->cfg.cap;
	r->depth--;
	if (p->cfg.metrics != NULL)
		atomic_fetch_sub(&p->cfg.metrics->pool_depth, 1);
}

/* Drops every key of r that is max_age old; ring order is arrival order. */
static void
skip_pool_expire(struct skip_pool *p, struct skip_pool_remote *r, uint64_t now)
{
	while (r->depth > 0 && now - r->born_us[r->head] >= p->cfg.max_age_us) {
		skip_pool_drop_head(p, r);
		if (p->cfg.metrics != NULL)
			atomic_fetch_add(&p->cfg.metrics->pool_discarded_age,
					 1);
	}
}

static void
skip_pool_remote_release(struct skip_pool *p, struct skip_pool_remote *r)
{
	while (r->depth > 0)
		skip_pool_drop_head(p, r);
	secmem_locked_free(r->slots, p->arena_len);
	free(r->born_us);
	free(r->seen_us);
	memset(r, 0, sizeof(*r));
}

static int
skip_pool_remote_init(struct skip_pool *p, struct skip_pool_remote *r,
		      const char *name)
{
	bool locked;

	memset(r, 0, sizeof(*r));
	if (str_copy(r->name, sizeof(r->name), name) == -1)
		return -1;
	r->slots = secmem_locked_alloc(p->arena_len, &locked);
	r->born_us = calloc(p->cfg.cap, sizeof(*r->born_us));
	r->seen_us = calloc(p->cfg.cap, sizeof(*r->seen_us));
	if (r->slots == NULL || r->born_us == NULL || r->seen_us == NULL) {
		skip_pool_remote_release(p, r);
		return -1;
	}
	if (!locked && !p->warned_lock) {
		p->warned_lock = true;
		log_warnx(
		    "key pool for %s: memory not locked (RLIMIT_MEMLOCK); "
		    "pooled keys may be swapped out",
		    name);
	}
	return 0;
}

/*
 * The entry of remote, made if need be.  When all are in use, an entry
 * holding no keys and expecting none is reused (the least recently asked
 * for); NULL if there is none or memory is short: the caller goes
 * without a pool.  An entry with a call in flight stays where it is.
 */
static struct skip_pool_remote *
skip_pool_remote(struct skip_pool *p, const char *remote)
{
	struct skip_pool_remote *free_r = NULL, *idle = NULL;

	for (size_t i = 0; i < SKIP_POOL_REMOTES; i++) {
		struct skip_pool_remote *r = &p->remotes[i];

		if (r->name[0] == '\0') {
			if (free_r == NULL)
				free_r = r;
		} else if (strcmp(r->name, remote) == 0) {
			return r;
		} else if (r->depth == 0 && r->inflight == 0 &&
			   (idle == NULL || r->last_us < idle->last_us)) {
			idle = r;
		}
	}
	if (free_r == NULL && idle != NULL) {
		skip_pool_remote_release(p, idle);
		free_r = idle;
	}
	if (free_r == NULL || skip_pool_remote_init(p, free_r, remote) == -1)
		return NULL;
	return free_r;
}

/* Notes a request for r at now (the last cap are kept). */
static void
skip_pool_seen(struct skip_pool *p, struct skip_pool_remote *r, uint64_t now)
{
	r->seen_us[r->seen_next] = now;
	r->seen_next = (r->seen_next + 1) % p->cfg.cap;
	if (r->seen_n < p->cfg.cap)
		r->seen_n++;
	r->last_us = now;
}

/* The requests for r in the last second, at most cap. */
static unsigned
skip_pool_demand(const struct skip_pool_remote *r, uint64_t now)
{
	unsigned n = 0;

	for (size_t i = 0; i < r->seen_n; i++)
		if (now - r->seen_us[i] < SKIP_POOL_DEMAND_US)
			n++;
	return n;
}

/* Takes the oldest usable key of r into out; 0, or -1 if there is none. */
static int
skip_pool_pop(struct skip_pool *p, struct skip_pool_remote *r,
	      struct etsi014_key *out)
{
	const uint8_t *s;

	if (r->depth == 0)
		return -1;
	s = r->slots + r->head * p->slot_len;
	memcpy(out->id, s, UUID_LEN);
	memcpy(out->key, s + UUID_LEN, p->key_len);
	out->key_len = p->key_len;
	skip_pool_drop_head(p, r);
	return 0;
}

/*
 * Ends a batch call of asked keys for r: pools keys[from..n-1] (n = 0
 * when the call failed); what does not fit is wiped by the caller.
 */
static void
skip_pool_settle(struct skip_pool *p, struct skip_pool_remote *r,
		 unsigned asked, const struct etsi014_key *keys, size_t from,
		 size_t n)
{
	uint64_t now;
	size_t stored = 0;

	pthread_mutex_lock(&p->mu);
	now = skip_pool_now(p);
	r->inflight -= asked;
	for (size_t i = from; i < n && r->depth < p->cfg.cap; i++) {
		size_t at = (r->head + r->depth) % p->cfg.cap;
		uint8_t *s = r->slots + at * p->slot_len;

		memcpy(s, keys[i].id, UUID_LEN);
		memcpy(s + UUID_LEN, keys[i].key, p->key_len);
		r->born_us[at] = now;
		r->depth++;
		stored++;
	}
	/* Under the lock: a take may decrement the gauge right after. */
	if (p->cfg.metrics != NULL) {
		atomic_fetch_add(&p->cfg.metrics->pool_depth, stored);
		atomic_fetch_add(&p->cfg.metrics->pool_discarded_full,
				 n > from ? n - from - stored : 0);
	}
	pthread_mutex_unlock(&p->mu);
}

/* One KME call for number keys; info keeps the last call's result. */
static int
skip_pool_fetch(struct skip_pool *p, const char *remote, unsigned bits,
		unsigned number, struct etsi014_key *keys,
		struct skip_pool_info *info)
{
	info->kme_calls++;
	info->batch = number;
	return p->cfg.fetch(p->cfg.arg, remote, bits, number, keys, &info->kme);
}

/* Today's path: one KME call for one key. */
static int
skip_pool_direct(struct skip_pool *p, const char *remote, unsigned bits,
		 struct etsi014_key *out, struct skip_pool_info *info)
{
	return skip_pool_fetch(p, remote, bits, 1, out, info);
}

int
skip_pool_take(struct skip_pool *p, const char *remote, unsigned bits,
	       struct etsi014_key *out, struct skip_pool_info *info)
{
	struct skip_pool_remote *r;
	struct etsi014_key *keys;
	unsigned batch, asked, demand;
	uint64_t now;
	int rc;

	memset(info, 0, sizeof(*info));
	memset(out, 0, sizeof(*out));
	if (p->cfg.cap == 0 || bits != p->cfg.bits)
		return skip_pool_direct(p, remote, bits, out, info);
	pthread_mutex_lock(&p->mu);
	now = skip_pool_now(p);
	for (size_t i = 0; i < SKIP_POOL_REMOTES; i++)
		skip_pool_expire(p, &p->remotes[i], now);
	r = skip_pool_remote(p, remote);
	if (r == NULL) {
		pthread_mutex_unlock(&p->mu);
		return skip_pool_direct(p, remote, bits, out, info);
	}
	skip_pool_seen(p, r, now);
	if (skip_pool_pop(p, r, out) == 0) {
		pthread_mutex_unlock(&p->mu);
		info->pooled = true;
		if (p->cfg.metrics != NULL)
			atomic_fetch_add(&p->cfg.metrics->pool_served, 1);
		return 0;
	}
	/* Keys already on their way cover that much of the demand. */
	demand = skip_pool_demand(r, now);
	batch = demand > r->inflight ? demand - r->inflight : 1;
	if (batch > p->cfg.cap)
		batch = p->cfg.cap;
	if (p->kme_cap != 0 && batch > p->kme_cap)
		batch = p->kme_cap;
	if (batch == 1) {
		pthread_mutex_unlock(&p->mu);
		return skip_pool_direct(p, remote, bits, out, info);
	}
	r->inflight += batch;
	asked = batch;
	pthread_mutex_unlock(&p->mu);

	keys = calloc(batch, sizeof(*keys));
	if (keys == NULL) {
		skip_pool_settle(p, r, asked, NULL, 0, 0);
		return skip_pool_direct(p, remote, bits, out, info);
	}
	rc = skip_pool_fetch(p, remote, bits, batch, keys, info);
	if (rc == -1 && info->kme.outcome == ETSI014_REFUSED &&
	    info->kme.http_status == 400) {
		/*
		 * Clause 5.2: a number above the KME's max_key_per_request is
		 * a 400.  Ask for one key; if that works, ask for at most
		 * half as many from now on (any other 400 fails again).
		 */
		rc = skip_pool_direct(p, remote, bits, keys, info);
		if (rc == 0) {
			pthread_mutex_lock(&p->mu);
			if (p->kme_cap == 0 || p->kme_cap > batch / 2)
				p->kme_cap = batch / 2 > 0 ? batch / 2 : 1;
			pthread_mutex_unlock(&p->mu);
			log_info("KME refused %u keys in one call; asking for "
				 "at most %u from now on",
				 batch, batch / 2 > 0 ? batch / 2 : 1);
			batch = 1;
		}
	}
	if (rc == 0)
		*out = keys[0];
	skip_pool_settle(p, r, asked, keys, 1, rc == 0 ? batch : 0);
	secmem_free(keys);
	return rc;
}

size_t
skip_pool_depth(struct skip_pool *p, const char *remote)
{
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < SKIP_POOL_REMOTES; i++)
		if (p->remotes[i].name[0] != '\0' &&
		    (remote == NULL || strcmp(p->remotes[i].name, remote) == 0))
			n += p->remotes[i].depth;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void
skip_pool_free(struct skip_pool *p)
{
	size_t unused = 0;

	if (p == NULL)
		return;
	for (size_t i = 0; i < SKIP_POOL_REMOTES; i++) {
		struct skip_pool_remote *r = &p->remotes[i];

		for (size_t k = 0; k < r->depth; k++) {
			char idhex[2 * UUID_LEN + 1];

			hex_encode(idhex,
				   r->slots + ((r->head + k) % p->cfg.cap) *
						  p->slot_len,
				   UUID_LEN);
			log_debug("key %s for %s discarded unused", idhex,
				  r->name);
		}
		unused += r->depth;
		if (r->name[0] != '\0')
			skip_pool_remote_release(p, r);
	}
	if (unused > 0)
		log_info("key pool: %zu keys discarded unused (wiped)", unused);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
