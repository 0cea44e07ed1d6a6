/*
 * kme_metrics.c — counters and the Prometheus text exposition.
 */
#include "kme.h"

#include "tls_front.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency buckets, in microseconds. */
static const uint64_t kme_lat_le_us[KME_LAT_BUCKETS] = {
	250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000, 5000000,
};
static const unsigned kme_status_codes[4] = { 200, 400, 401, 503 };
static const char *const kme_op_names[KME_OP_N] = {
	[KME_OP_STATUS] = "status", [KME_OP_ENC] = "enc_keys",
	[KME_OP_DEC] = "dec_keys", [KME_OP_OTHER] = "other",
};

void
kme_metrics_request(struct kme_metrics *m, enum kme_op op, unsigned status,
		    uint64_t us)
{
	size_t b = 0;

	for (size_t i = 0; i < 4; i++) {
		if (kme_status_codes[i] == status)
			atomic_fetch_add(&m->req[op][i], 1);
	}
	while (b < KME_LAT_BUCKETS && us > kme_lat_le_us[b])
		b++;
	atomic_fetch_add(&m->lat_bucket[op][b], 1);
	atomic_fetch_add(&m->lat_sum_us[op], us);
}

struct kme_sb {
	char *p;
	size_t len, cap;
	bool err;
};

static void __attribute__((format(printf, 2, 3)))
kme_sb_printf(struct kme_sb *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (sb->err)
			return;
		va_start(ap, fmt);
		n = vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sb->cap - sb->len) {
			sb->len += (size_t)n;
			return;
		}
		char *np = n < 0 ? NULL : realloc(sb->p, sb->cap * 2);
		if (np == NULL) {
			sb->err = true;
			return;
		}
		sb->p = np;
		sb->cap *= 2;
	}
}

static void
kme_metrics_requests(struct kme_sb *sb, struct kme_metrics *m)
{
	kme_sb_printf(sb, "# HELP kme_requests_total ETSI 014 requests by method "
		      "and status code.\n# TYPE kme_requests_total counter\n");
	for (int op = 0; op < KME_OP_N; op++) {
		for (int i = 0; i < 4; i++)
			kme_sb_printf(sb, "kme_requests_total{method=\"%s\",code=\"%u\"} %llu\n",
				      kme_op_names[op], kme_status_codes[i],
				      (unsigned long long)atomic_load(&m->req[op][i]));
	}
	kme_sb_printf(sb, "# HELP kme_request_duration_seconds ETSI 014 request "
		      "latency.\n# TYPE kme_request_duration_seconds histogram\n");
	for (int op = 0; op < KME_OP_N; op++) {
		uint64_t cum = 0;
		for (int b = 0; b <= KME_LAT_BUCKETS; b++) {
			cum += atomic_load(&m->lat_bucket[op][b]);
			if (b < KME_LAT_BUCKETS)
				kme_sb_printf(sb, "kme_request_duration_seconds_bucket"
					      "{method=\"%s\",le=\"%g\"} %llu\n",
					      kme_op_names[op], kme_lat_le_us[b] / 1e6,
					      (unsigned long long)cum);
			else
				kme_sb_printf(sb, "kme_request_duration_seconds_bucket"
					      "{method=\"%s\",le=\"+Inf\"} %llu\n",
					      kme_op_names[op], (unsigned long long)cum);
		}
		kme_sb_printf(sb, "kme_request_duration_seconds_sum{method=\"%s\"} %.6f\n"
			      "kme_request_duration_seconds_count{method=\"%s\"} %llu\n",
			      kme_op_names[op],
			      atomic_load(&m->lat_sum_us[op]) / 1e6, kme_op_names[op],
			      (unsigned long long)cum);
	}
}

static void
kme_metrics_pools(struct kme_sb *sb, struct kme *k)
{
	char why[KME_ERR_MAX];

	kme_sb_printf(sb, "# HELP kme_pool_keys Keys of key_size bits in the pool "
		      "shared with a peer KME.\n# TYPE kme_pool_keys gauge\n");
	for (size_t i = 0; i < k->cfg.npeers; i++) {
		struct kme_peer *p = &k->peers[i];
		uint64_t bits, max;
		bool up = kme_link_up(k, p, why, sizeof(why));

		pthread_mutex_lock(&p->lock);
		bits = p->pool_bits;
		max = p->max_bits;
		pthread_mutex_unlock(&p->lock);
		kme_sb_printf(sb, "kme_pool_keys{peer=\"%s\"} %llu\n"
			      "kme_pool_max_keys{peer=\"%s\"} %llu\n"
			      "kme_pool_bits{peer=\"%s\"} %llu\n"
			      "kme_link_up{peer=\"%s\"} %d\n",
			      p->cfg->id, (unsigned long long)(bits / k->cfg.key_size),
			      p->cfg->id, (unsigned long long)(max / k->cfg.key_size),
			      p->cfg->id, (unsigned long long)bits, p->cfg->id, up);
	}
}

char *
kme_metrics_render(struct kme *k)
{
	struct kme_metrics *m = &k->metrics;
	struct kme_sb sb = { malloc(8192), 0, 8192, false };

	if (sb.p == NULL)
		return NULL;
	sb.p[0] = '\0';
	kme_metrics_requests(&sb, m);
	kme_metrics_pools(&sb, k);
	kme_sb_printf(&sb, "# TYPE kme_keys_served_total counter\n"
		      "kme_keys_served_total{method=\"enc_keys\"} %llu\n"
		      "kme_keys_served_total{method=\"dec_keys\"} %llu\n"
		      "# TYPE kme_keys_prefetched_total counter\n"
		      "kme_keys_prefetched_total %llu\n"
		      "# TYPE kme_keys_expired_total counter\n"
		      "kme_keys_expired_total %llu\n"
		      "# TYPE kme_reserved_keys gauge\n"
		      "kme_reserved_keys %lld\n"
		      "# TYPE kme_link_calls_total counter\n"
		      "kme_link_calls_total{result=\"ok\"} %llu\n"
		      "kme_link_calls_total{result=\"failed\"} %llu\n"
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
	if (sb.err) {
		free(sb.p);
		return NULL;
	}
	return sb.p;
}
