/*
 * kme_metrics.c — counters and the Prometheus text exposition.
 */
#include "kme.h"

#include "metrics.h"
#include "tls_front.h"
#include "util.h"

#include <stdio.h>

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t kme_lat_le_us[KME_LAT_BUCKETS] = {
	250,   500,   1000,   2000,   5000,    10000,
	25000, 50000, 100000, 250000, 1000000, 5000000,
};
static const unsigned kme_status_codes[4] = { 200, 400, 401, 503 };
static const char *const kme_op_names[KME_OP_N] = {
	[KME_OP_STATUS] = "status",
	[KME_OP_ENC] = "enc_keys",
	[KME_OP_DEC] = "dec_keys",
	[KME_OP_OTHER] = "other",
};

/* The latency histogram of one method, over its counters in m. */
static struct metrics_hist
kme_metrics_latency(struct kme_metrics *m, enum kme_op op)
{
	struct metrics_hist h = {
		.bounds_us = kme_lat_le_us,
		.n = KME_LAT_BUCKETS,
		.buckets = m->lat_bucket[op],
		.sum_us = &m->lat_sum_us[op],
	};

	return h;
}

void
kme_metrics_request(struct kme_metrics *m, enum kme_op op, unsigned status,
		    uint64_t us)
{
	struct metrics_hist h = kme_metrics_latency(m, op);

	for (size_t i = 0; i < 4; i++) {
		if (kme_status_codes[i] == status)
			atomic_fetch_add(&m->req[op][i], 1);
	}
	metrics_hist_observe(&h, us);
}

static void
kme_metrics_requests(struct metrics_buf *mb, struct kme_metrics *m)
{
	metrics_buf_printf(
	    mb, "# HELP kme_requests_total ETSI 014 requests by method "
		"and status code.\n# TYPE kme_requests_total counter\n");
	for (int op = 0; op < KME_OP_N; op++) {
		for (int i = 0; i < 4; i++)
			metrics_buf_printf(
			    mb,
			    "kme_requests_total{method=\"%s\",code=\"%u\"} %llu\n",
			    kme_op_names[op], kme_status_codes[i],
			    (unsigned long long)atomic_load(&m->req[op][i]));
	}
	metrics_buf_printf(
	    mb, "# HELP kme_request_duration_seconds ETSI 014 request "
		"latency.\n# TYPE kme_request_duration_seconds histogram\n");
	for (int op = 0; op < KME_OP_N; op++) {
		struct metrics_hist h = kme_metrics_latency(m, (enum kme_op)op);
		char labels[32];

		snprintf(labels, sizeof(labels), "method=\"%s\"",
			 kme_op_names[op]);
		metrics_hist_render(mb, "kme_request_duration_seconds", labels,
				    &h);
	}
}

static void
kme_metrics_pools(struct metrics_buf *mb, struct kme *k)
{
	/* Format 0.0.4 wants each family's samples together: one family at
	 * a time over the peers, from one reading of each pool. */
	static const char *const family[] = {
		"# HELP kme_pool_keys Keys of key_size bits in the pool shared "
		"with a peer KME.\n# TYPE kme_pool_keys gauge\n",
		"# HELP kme_pool_max_keys Room of the pool shared with a peer KME, "
		"in keys.\n# TYPE kme_pool_max_keys gauge\n",
		"# HELP kme_pool_bits Key material in the pool shared with a peer "
		"KME, in bits.\n# TYPE kme_pool_bits gauge\n",
		"# HELP kme_link_up 1 when the KME link to the peer works (no "
		"fault, peer reachable).\n# TYPE kme_link_up gauge\n",
	};
	static const char *const name[] = {
		"kme_pool_keys",
		"kme_pool_max_keys",
		"kme_pool_bits",
		"kme_link_up",
	};
	uint64_t v[KME_MAX_PEERS][4];
	char why[KME_ERR_MAX];

	for (size_t i = 0; i < k->cfg.npeers && i < KME_MAX_PEERS; i++) {
		struct kme_peer *p = &k->peers[i];
		bool up = kme_link_up(k, p, why, sizeof(why));

		pthread_mutex_lock(&p->lock);
		v[i][0] = p->pool_bits / k->cfg.key_size;
		v[i][1] = p->max_bits / k->cfg.key_size;
		v[i][2] = p->pool_bits;
		pthread_mutex_unlock(&p->lock);
		v[i][3] = up;
	}
	for (size_t f = 0; f < ARRAY_LEN(family); f++) {
		metrics_buf_printf(mb, "%s", family[f]);
		for (size_t i = 0; i < k->cfg.npeers && i < KME_MAX_PEERS; i++)
			metrics_buf_printf(mb, "%s{peer=\"%s\"} %llu\n",
					   name[f], k->peers[i].cfg->id,
					   (unsigned long long)v[i][f]);
	}
}

/* The link model's figures, for peers with link_model = decoy-bb84. */
static void
kme_metrics_qkd(struct metrics_buf *mb, struct kme *k)
{
	static const char *const family[] = {
		"# HELP kme_qkd_qber Quantum bit error rate of the QKD link to a "
		"peer KME (link model).\n# TYPE kme_qkd_qber gauge\n",
		"# HELP kme_qkd_key_rate_bits_per_second Secret key rate of the "
		"QKD link to a peer KME (0 when halted).\n"
		"# TYPE kme_qkd_key_rate_bits_per_second gauge\n",
		"# HELP kme_qkd_loss_db Loss of the QKD link to a peer KME, "
		"detector excluded, in dB.\n# TYPE kme_qkd_loss_db gauge\n",
		"# HELP kme_qkd_halted 1 when the QKD link to a peer KME makes no "
		"key (fibre cut, QBER above the abort threshold, too much loss).\n"
		"# TYPE kme_qkd_halted gauge\n",
	};
	static const char *const name[] = {
		"kme_qkd_qber",
		"kme_qkd_key_rate_bits_per_second",
		"kme_qkd_loss_db",
		"kme_qkd_halted",
	};
	double v[KME_MAX_PEERS][4];
	bool any = false;

	for (size_t i = 0; i < k->cfg.npeers && i < KME_MAX_PEERS; i++) {
		struct kme_peer *p = &k->peers[i];

		any = any || p->cfg->model;
		pthread_mutex_lock(&p->lock);
		v[i][0] = p->qs.qber;
		v[i][1] = p->qs.key_bps;
		v[i][2] = p->qs.loss_db;
		v[i][3] = p->qs.halt != QKD_RUNNING;
		pthread_mutex_unlock(&p->lock);
	}
	if (!any)
		return;
	for (size_t f = 0; f < ARRAY_LEN(family); f++) {
		metrics_buf_printf(mb, "%s", family[f]);
		for (size_t i = 0; i < k->cfg.npeers && i < KME_MAX_PEERS;
		     i++) {
			if (k->peers[i].cfg->model)
				metrics_buf_printf(mb, "%s{peer=\"%s\"} %.9g\n",
						   name[f], k->peers[i].cfg->id,
						   v[i][f]);
		}
	}
}

char *
kme_metrics_render(struct kme *k)
{
	struct kme_metrics *m = &k->metrics;
	struct metrics_buf *mb = metrics_buf_new(8192);

	if (mb == NULL)
		return NULL;
	metrics_build_info(mb, "kme_sim");
	kme_metrics_requests(mb, m);
	kme_metrics_pools(mb, k);
	kme_metrics_qkd(mb, k);
	kme_relay_metrics(mb, k);
	metrics_buf_printf(
	    mb,
	    "# HELP kme_keys_served_total Keys handed to SAEs, by method.\n"
	    "# TYPE kme_keys_served_total counter\n"
	    "kme_keys_served_total{method=\"enc_keys\"} %llu\n"
	    "kme_keys_served_total{method=\"dec_keys\"} %llu\n"
	    "# HELP kme_keys_prefetched_total Keys reserved ahead of requests.\n"
	    "# TYPE kme_keys_prefetched_total counter\n"
	    "kme_keys_prefetched_total %llu\n"
	    "# HELP kme_keys_expired_total Delivered keys never fetched and dropped.\n"
	    "# TYPE kme_keys_expired_total counter\n"
	    "kme_keys_expired_total %llu\n"
	    "# HELP kme_reserved_keys Keys reserved, awaiting dec_keys.\n"
	    "# TYPE kme_reserved_keys gauge\n"
	    "kme_reserved_keys %lld\n"
	    "# HELP kme_link_calls_total KME link requests by result.\n"
	    "# TYPE kme_link_calls_total counter\n"
	    "kme_link_calls_total{result=\"ok\"} %llu\n"
	    "kme_link_calls_total{result=\"failed\"} %llu\n"
	    "# HELP kme_tls_connections Open TLS connections of the ETSI 014 API.\n"
	    "# TYPE kme_tls_connections gauge\n"
	    "kme_tls_connections %u\n",
	    (unsigned long long)atomic_load(&m->keys_enc),
	    (unsigned long long)atomic_load(&m->keys_dec),
	    (unsigned long long)atomic_load(&m->keys_prefetched),
	    (unsigned long long)atomic_load(&m->keys_expired),
	    (long long)kme_store_reserved_count(k->store),
	    (unsigned long long)atomic_load(&m->link_calls_ok),
	    (unsigned long long)atomic_load(&m->link_calls_failed),
	    k->api_tf ? tls_front_conn_count(k->api_tf) : 0);
	metrics_buf_printf(
	    mb,
	    "# HELP kme_json_unknown_members_total JSON members "
	    "of Key request and Key IDs bodies that ETSI 014 does "
	    "not define, ignored.\n"
	    "# TYPE kme_json_unknown_members_total counter\n"
	    "kme_json_unknown_members_total %llu\n"
	    "# HELP kme_store_checkpoints_total WAL checkpoints of the "
	    "key store, run off the request path.\n"
	    "# TYPE kme_store_checkpoints_total counter\n"
	    "kme_store_checkpoints_total %lld\n",
	    (unsigned long long)atomic_load(&m->json_unknown),
	    (long long)kme_store_checkpoints(k->store));
	return metrics_buf_finish(mb);
}
