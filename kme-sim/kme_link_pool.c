/*
 * kme_link_pool.c — the pool arithmetic of the pool authority (the KME
 * with the lower ID of a pair, kme-sim(8) "KME LINK"): secret bits taken
 * for keys, given back when no key was made, and grown at the peer's
 * key_rate (or its link model's secret key rate) while the link is up,
 * up to max_key_count keys; and the share of the pool each (master,
 * slave) pair may hold as prefetched keys.
 */
#include "kme.h"
#include "kme_link_int.h"

/* Authority: takes bits from the pool, which lives in memory while we run
 * (the ticker persists it).  A crash may forget the last takes; key bytes
 * are drawn fresh for every key, so that only flatters the pool count. */
int
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

void
kme_link_pool_give(struct kme_peer *p, uint64_t bits)
{
	pthread_mutex_lock(&p->lock);
	p->pool_bits += bits;
	if (p->pool_bits > p->max_bits)
		p->pool_bits = p->max_bits;
	pthread_mutex_unlock(&p->lock);
}

/*
 * After a sync with the peer: grows the pool for dt_ms of link time up to
 * max_key_count keys, less the prefetched keys, which count against it
 * too; a starved pool is emptied.  Returns the pool's new size in bits.
 */
uint64_t
kme_link_pool_grow(struct kme *k, struct kme_peer *p, uint64_t dt_ms,
		   bool starve)
{
	uint64_t max, add, now_bits;
	double want;

	pthread_mutex_lock(&p->lock);
	max = p->max_bits;
	want = p->carry_bits + kme_link_model_rate(p) * (double)dt_ms / 1000.0;
	add = (uint64_t)want;
	p->carry_bits = want - (double)add;
	max = max > p->ready_keys * k->cfg.key_size
		  ? max - p->ready_keys * k->cfg.key_size
		  : 0;
	if (starve) {
		p->pool_bits = 0;
		p->carry_bits = 0;
		p->ready_keys = 0;
	} else if (p->pool_bits < max) {
		p->pool_bits =
		    p->pool_bits + add > max ? max : p->pool_bits + add;
	}
	now_bits = p->pool_bits;
	pthread_mutex_unlock(&p->lock);
	return now_bits;
}

/*
 * The pool serves every ordered pair of the two KMEs' SAEs: ours as
 * masters to the peer's slaves (the pairs that prefetch) and the peer's as
 * masters to ours (always on demand), and besides those, other key sizes
 * and multicast.  Each such pair gets one share of max_key_count, and the
 * rest one more; a pair's prefetched keys never exceed its share
 * (kme-sim(8), "KME LINK"), so that together they hold less than half the
 * pool and every other use finds room in it.
 */
uint64_t
kme_link_prefetch_share(const struct kme *k, const struct kme_peer *p)
{
	uint64_t pairs = (uint64_t)k->cfg.nsaes * p->cfg->nsaes;
	uint64_t share = p->cfg->max_key_count / (2 * pairs + 1);

	return share < k->cfg.prefetch_keys ? share : k->cfg.prefetch_keys;
}
