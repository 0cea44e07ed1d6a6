/*
 * kme_relay.c — trusted-node key relay (kme-sim(8), "TRUSTED-NODE
 * RELAY"): enc_keys for slaves at KMEs without a direct QKD link.  The
 * master's KME makes the keys and carries them hop by hop along a route
 * of KME links (kme_relay_hop.c); every KME on the route sees them.
 *
 * Routes: the [remote] section's route lines in order, else the shortest
 * path over the network links not known to be down: this KME's own links
 * by their state, another KME's link for relay_hold after a relay failed
 * on it.  Several destinations (multicast) each get the same keys; if one
 * fails, those already delivered are cancelled, so that no slave can
 * fetch a key its master never got.
 */
#include "kme.h"
#include "kme_link_int.h"
#include "kme_relay_int.h"

#include "log.h"
#include "metrics.h"
#include "secmem.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KME_RELAY_TRIES 4 /* routes tried per destination */

/* Links a request found failing, left out of its further routes (our own
 * too: their state may not show an empty pool). */
struct kme_relay_skip {
	char link[KME_RELAY_TRIES][2][KME_ID_MAX + 1];
	size_t n;
};

int
kme_relay_start(struct kme *k)
{
	k->relay = calloc(1, sizeof(*k->relay));
	if (k->relay == NULL)
		return -1;
	pthread_mutex_init(&k->relay->lock, NULL);
	return 0;
}

void
kme_relay_stop(struct kme *k)
{
	if (k->relay == NULL)
		return;
	for (size_t i = 0; i < KME_RELAY_PADS; i++) {
		struct kme_relay_pad_slot *s = &k->relay->pads[i];

		if (s->used) {
			secmem_wipe(s->pad, s->len);
			free(s->pad);
		}
	}
	pthread_mutex_destroy(&k->relay->lock);
	free(k->relay);
	k->relay = NULL;
}

static bool
kme_relay_same_link(const char *a, const char *b, const char *x, const char *y)
{
	return (strcmp(a, x) == 0 && strcmp(b, y) == 0) ||
	       (strcmp(a, y) == 0 && strcmp(b, x) == 0);
}

/* A relay failed on the link a-b: avoid it for relay_hold. */
static void
kme_relay_mark_down(struct kme *k, const char *a, const char *b,
		    const char *why)
{
	struct kme_relay *rl = k->relay;
	uint64_t now = mono_ms();
	size_t i;

	if (strcmp(a, k->cfg.kme_id) == 0 || strcmp(b, k->cfg.kme_id) == 0)
		return; /* our own links are judged by their state */
	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < rl->ndown; i++) {
		if (kme_relay_same_link(rl->down[i].a, rl->down[i].b, a, b) ||
		    rl->down[i].until_ms <= now)
			break;
	}
	if (i == rl->ndown && rl->ndown < KME_MAX_NET_LINKS)
		rl->ndown++;
	if (i < rl->ndown) {
		snprintf(rl->down[i].a, sizeof(rl->down[i].a), "%s", a);
		snprintf(rl->down[i].b, sizeof(rl->down[i].b), "%s", b);
		snprintf(rl->down[i].why, sizeof(rl->down[i].why), "%s", why);
		rl->down[i].until_ms = now + k->cfg.relay_hold_ms;
	}
	pthread_mutex_unlock(&rl->lock);
}

/* Whether a relay may use the link a-b now; if not, why. */
static bool
kme_relay_link_usable(struct kme *k, const char *a, const char *b, char *why,
		      size_t cap)
{
	struct kme_relay *rl = k->relay;
	uint64_t now = mono_ms();
	bool ok = true;

	if (strcmp(a, k->cfg.kme_id) == 0 || strcmp(b, k->cfg.kme_id) == 0) {
		struct kme_peer *p =
		    kme_peer_by_id(k, strcmp(a, k->cfg.kme_id) == 0 ? b : a);
		char w[KME_ERR_MAX];

		if (p == NULL)
			return false;
		/* Our own links by their state, not by a hold time. */
		if (!kme_relay_link_ok(k, p, w, sizeof(w))) {
			kme_relay_hop_why(why, cap, k->cfg.kme_id, p->cfg->id,
					  w);
			return false;
		}
		return true;
	}
	pthread_mutex_lock(&rl->lock);
	for (size_t i = 0; i < rl->ndown && ok; i++) {
		if (rl->down[i].until_ms > now &&
		    kme_relay_same_link(rl->down[i].a, rl->down[i].b, a, b)) {
			snprintf(why, cap, "%s", rl->down[i].why);
			ok = false;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

/* The links of the graph: network, and our own [peer] links. */
static size_t
kme_relay_edges(const struct kme *k, const char *(*e)[2], size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < k->cfg.nnet && n < cap; i++) {
		e[n][0] = k->cfg.net[i][0];
		e[n++][1] = k->cfg.net[i][1];
	}
	for (size_t i = 0; i < k->cfg.npeers && n < cap; i++) {
		e[n][0] = k->cfg.kme_id;
		e[n++][1] = k->cfg.peers[i].id;
	}
	return n;
}

/*
 * The shortest path to dst over usable links (breadth first, links in
 * configuration order, so that equal routes are taken the same way every
 * time).  Returns its length in KMEs, or 0 with the last reason a link
 * was left out in why.
 */
static size_t
kme_relay_shortest(struct kme *k, const char *dst,
		   const struct kme_relay_skip *skip,
		   char (*path)[KME_ID_MAX + 1], char *why, size_t cap)
{
	const char *e[KME_MAX_NET_LINKS + KME_MAX_PEERS][2];
	const char *node[2 * (KME_MAX_NET_LINKS + KME_MAX_PEERS) + 1];
	int prev[ARRAY_LEN(node)];
	size_t ne = kme_relay_edges(k, e, ARRAY_LEN(e)), nn = 1, head = 0;
	bool usable[ARRAY_LEN(e)];

	for (size_t i = 0; i < ne; i++) {
		usable[i] =
		    kme_relay_link_usable(k, e[i][0], e[i][1], why, cap);
		for (size_t j = 0; skip != NULL && j < skip->n; j++)
			usable[i] =
			    usable[i] && !kme_relay_same_link(e[i][0], e[i][1],
							      skip->link[j][0],
							      skip->link[j][1]);
	}
	node[0] = k->cfg.kme_id;
	prev[0] = -1;
	while (head < nn) {
		size_t at = head++;

		if (strcmp(node[at], dst) == 0) {
			size_t len = 0, j;
			int c;

			for (c = (int)at; c >= 0; c = prev[c])
				len++;
			if (len > KME_RELAY_MAX_PATH) {
				snprintf(why, cap,
					 "no route to KME %s of at most %d "
					 "KMEs",
					 dst, KME_RELAY_MAX_PATH);
				return 0;
			}
			for (c = (int)at, j = len; c >= 0; c = prev[c])
				snprintf(path[--j], KME_ID_MAX + 1, "%s",
					 node[c]);
			return len;
		}
		for (size_t i = 0; i < ne; i++) {
			for (int s = 0; s < 2 && usable[i]; s++) {
				const char *nb = e[i][1 - s];
				bool seen = false;

				if (strcmp(e[i][s], node[at]) != 0)
					continue;
				for (size_t j = 0; j < nn && !seen; j++)
					seen = strcmp(node[j], nb) == 0;
				if (!seen && nn < ARRAY_LEN(node)) {
					prev[nn] = (int)at;
					node[nn++] = nb;
				}
			}
		}
	}
	return 0;
}

/* The try-th route to dst (a [remote] route line, else the shortest). */
static size_t
kme_relay_route(struct kme *k, const char *dst, int try,
		const struct kme_relay_skip *skip, char (*path)[KME_ID_MAX + 1],
		char *why, size_t cap)
{
	const struct kme_remote_cfg *rc = NULL;
	size_t n = 0;

	for (size_t i = 0; i < k->cfg.nremotes; i++) {
		if (strcmp(k->cfg.remotes[i].id, dst) == 0)
			rc = &k->cfg.remotes[i];
	}
	if (rc == NULL || rc->nroutes == 0)
		return kme_relay_shortest(k, dst, skip, path, why, cap);
	if ((size_t)try >= rc->nroutes)
		return 0;
	snprintf(path[n++], KME_ID_MAX + 1, "%s", k->cfg.kme_id);
	for (size_t h = 0; h < rc->route_len[try]; h++)
		snprintf(path[n++], KME_ID_MAX + 1, "%s", rc->routes[try][h]);
	snprintf(path[n++], KME_ID_MAX + 1, "%s", dst);
	return n;
}

/* From "relay hop X->Y: ...", the link X-Y; false if why names none. */
static bool
kme_relay_failed_link(const char *why, char *a, char *b)
{
	const char *s = strstr(why, "relay hop "), *arrow, *colon;

	if (s == NULL)
		return false;
	s += strlen("relay hop ");
	arrow = strstr(s, "->");
	colon = arrow ? strchr(arrow, ':') : NULL;
	if (colon == NULL || arrow - s > KME_ID_MAX || arrow == s ||
	    colon - arrow - 2 > KME_ID_MAX || colon - arrow - 2 < 1)
		return false;
	snprintf(a, KME_ID_MAX + 1, "%.*s", (int)(arrow - s), s);
	snprintf(b, KME_ID_MAX + 1, "%.*s", (int)(colon - arrow - 2),
		 arrow + 2);
	return true;
}

/*
 * Carries the keys to one destination KME, trying routes in turn; on
 * success r->path holds the route they took (for a cancel).
 */
static int
kme_relay_to(struct kme *k, const char *dst, struct kme_relaymsg *r,
	     const uint8_t *plain, char *why, size_t cap)
{
	char w[KME_ERR_MAX] = "";
	struct kme_relay_skip skip = { .n = 0 };

	why[0] = '\0';
	for (int t = 0; t < KME_RELAY_TRIES; t++) {
		char a[KME_ID_MAX + 1], b[KME_ID_MAX + 1];
		struct kme_peer *p;

		r->npath =
		    kme_relay_route(k, dst, t, &skip, r->path, w, sizeof(w));
		if (r->npath < 2)
			break;
		p = kme_peer_by_id(k, r->path[1]);
		if (p == NULL)
			break;
		r->hop = 1;
		if (kme_relay_hop_send(k, p, r, plain, why, cap) == 0)
			return 0;
		log_info("relay: to KME %s for %s: %s", dst, r->master, why);
		if (kme_relay_failed_link(why, a, b)) {
			kme_relay_mark_down(k, a, b, why);
			snprintf(skip.link[skip.n][0], KME_ID_MAX + 1, "%s", a);
			snprintf(skip.link[skip.n++][1], KME_ID_MAX + 1, "%s",
				 b);
		}
	}
	if (why[0] == '\0')
		snprintf(why, cap, "no route to KME %s%s%s", dst,
			 w[0] ? ": " : "", w);
	return -1;
}

/* The KME serving an SAE, as a peer or a remote; NULL if none. */
static const char *
kme_relay_kme_of(const struct kme *k, const char *sae)
{
	const struct kme_peer_cfg *pc = kme_cfg_peer_of_sae(&k->cfg, sae);
	const struct kme_remote_cfg *rc = kme_relay_remote_of_sae(&k->cfg, sae);

	return pc ? pc->id : rc ? rc->id : NULL;
}

int
kme_relay_get_keys(struct kme *k, const char *master,
		   char (*slaves)[KME_ID_MAX + 1], size_t nslaves, uint32_t n,
		   uint32_t bits, struct kme_key **out, char *why, size_t cap)
{
	const char *dst[KME_MAX_SLAVES + 1];
	struct kme_relaymsg *r[KME_MAX_SLAVES + 1] = { 0 };
	size_t ndst = 0, done = 0, klen = bits / 8;
	struct kme_key *keys = kme_keys_new_random(n, klen);
	uint8_t *plain = malloc((size_t)n * klen);
	int rc = -1;

	if (keys == NULL || plain == NULL) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	if ((size_t)n * klen > KME_RELAY_PAD_MAX - KME_RELAY_MAC_LEN) {
		snprintf(why, cap,
			 "a relayed request holds at most %d octets of key",
			 KME_RELAY_PAD_MAX - KME_RELAY_MAC_LEN);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		memcpy(plain + i * klen, keys[i].bytes, klen);
	/* One message per destination KME, with its slaves. */
	for (size_t i = 0; i < nslaves; i++) {
		const char *d = kme_relay_kme_of(k, slaves[i]);
		size_t j = 0;

		while (j < ndst && strcmp(dst[j], d) != 0)
			j++;
		if (j == ndst) {
			r[j] = calloc(1, sizeof(*r[j]));
			if (r[j] == NULL) {
				snprintf(why, cap, "out of memory");
				goto out;
			}
			dst[ndst++] = d;
			snprintf(r[j]->master, sizeof(r[j]->master), "%s",
				 master);
			r[j]->size = bits;
			r[j]->n = n;
			r[j]->ct_len = (size_t)n * klen;
			for (uint32_t x = 0; x < n; x++)
				memcpy(r[j]->ids[x], keys[x].id, UUID_LEN);
		}
		snprintf(r[j]->slaves[r[j]->nslaves++], KME_ID_MAX + 1, "%s",
			 slaves[i]);
	}
	for (done = 0; done < ndst; done++) {
		if (kme_relay_to(k, dst[done], r[done], plain, why, cap) == -1)
			break;
	}
	if (done < ndst) {
		char w[KME_ERR_MAX];

		/* Keys already recorded elsewhere must never be fetched. */
		for (size_t j = 0; j < done; j++) {
			struct kme_peer *p = kme_peer_by_id(k, r[j]->path[1]);

			r[j]->cancel = true;
			r[j]->hop = 1;
			if (p == NULL || kme_relay_hop_send(k, p, r[j], NULL, w,
							    sizeof(w)) == -1)
				log_warnx("relay: cancel at KME %s failed (its "
					  "keys expire unfetched): %s",
					  dst[j], w);
		}
		atomic_fetch_add(&k->metrics.relay_failed, 1);
		goto out;
	}
	atomic_fetch_add(&k->metrics.relay_sent, n);
	*out = keys;
	keys = NULL;
	rc = 0;
out:
	for (size_t j = 0; j < ndst; j++)
		free(r[j]);
	if (plain != NULL) {
		secmem_wipe(plain, (size_t)n * klen);
		free(plain);
	}
	kme_keys_free(keys, n);
	return rc;
}

struct kme_peer *
kme_relay_first_hop(struct kme *k, const char *sae)
{
	char path[KME_RELAY_MAX_PATH][KME_ID_MAX + 1], why[KME_ERR_MAX];
	const char *d = kme_relay_kme_of(k, sae);

	if (d == NULL ||
	    kme_relay_route(k, d, 0, NULL, path, why, sizeof(why)) < 2)
		return NULL;
	return kme_peer_by_id(k, path[1]);
}

void
kme_relay_metrics(struct metrics_buf *mb, struct kme *k)
{
	struct kme_metrics *m = &k->metrics;

	metrics_buf_printf(
	    mb,
	    "# HELP kme_relay_keys_total Keys relayed through trusted nodes, "
	    "by this KME's role.\n"
	    "# TYPE kme_relay_keys_total counter\n"
	    "kme_relay_keys_total{role=\"origin\"} %llu\n"
	    "kme_relay_keys_total{role=\"forwarded\"} %llu\n"
	    "kme_relay_keys_total{role=\"delivered\"} %llu\n"
	    "# HELP kme_relay_failed_total Relays that failed here or beyond.\n"
	    "# TYPE kme_relay_failed_total counter\n"
	    "kme_relay_failed_total %llu\n"
	    "# HELP kme_relay_pad_bits_total Link key spent on relay hops "
	    "(one-time pad and MAC key), by peer.\n"
	    "# TYPE kme_relay_pad_bits_total counter\n",
	    (unsigned long long)atomic_load(&m->relay_sent),
	    (unsigned long long)atomic_load(&m->relay_forwarded),
	    (unsigned long long)atomic_load(&m->relay_delivered),
	    (unsigned long long)atomic_load(&m->relay_failed));
	for (size_t i = 0; i < k->cfg.npeers; i++) {
		struct kme_peer *p = &k->peers[i];
		uint64_t v;

		pthread_mutex_lock(&p->lock);
		v = p->relay_pad_bits;
		pthread_mutex_unlock(&p->lock);
		metrics_buf_printf(
		    mb, "kme_relay_pad_bits_total{peer=\"%s\"} %llu\n",
		    p->cfg->id, (unsigned long long)v);
	}
}
