/*
 * skip_metrics.c — request, error and upstream-latency counters, rendered
 * in the Prometheus text format for the optional metrics listener.
 */
#include "skip.h"

#include "metrics.h"

const uint64_t skip_lat_bounds_us[SKIP_LAT_BUCKETS] = {
	100,   250,   500,   1000,   2500,   5000,
	10000, 25000, 50000, 100000, 250000, 1000000,
};

/* The upstream latency histogram, over its counters in m. */
static struct metrics_hist
skip_metrics_latency(struct skip_metrics *m)
{
	struct metrics_hist h = {
		.bounds_us = skip_lat_bounds_us,
		.n = SKIP_LAT_BUCKETS,
		.buckets = m->kme_latency_bucket,
		.sum_us = &m->kme_latency_sum_us,
	};

	return h;
}

void
skip_metrics_response(struct skip_metrics *m, int status)
{
	if (status < 300)
		atomic_fetch_add(&m->responses_2xx, 1);
	else if (status < 500)
		atomic_fetch_add(&m->responses_4xx, 1);
	else
		atomic_fetch_add(&m->responses_5xx, 1);
}

void
skip_metrics_kme(struct skip_metrics *m, const struct etsi014_result *r)
{
	struct metrics_hist h = skip_metrics_latency(m);

	atomic_fetch_add(&m->kme_calls, 1);
	if (r->attempts > 1)
		atomic_fetch_add(&m->kme_retries, r->attempts - 1);
	if (r->outcome == ETSI014_UNREACHABLE)
		atomic_fetch_add(&m->kme_unreachable, 1);
	else if (r->outcome != ETSI014_OK)
		atomic_fetch_add(&m->kme_errors, 1);
	metrics_hist_observe(&h, r->latency_us);
}

char *
skip_metrics_render(struct skip_metrics *m, unsigned tls_conns)
{
	struct metrics_hist h = skip_metrics_latency(m);
	struct metrics_buf *mb = metrics_buf_new(8192);

	if (mb == NULL)
		return NULL;
	metrics_build_info(mb, "skip_proxy");
	metrics_buf_printf(
	    mb, "# HELP skip_requests_total SKIP requests by resource.\n"
		"# TYPE skip_requests_total counter\n");
	for (int r = 0; r < SKIP_R_COUNT; r++)
		metrics_buf_printf(
		    mb, "skip_requests_total{resource=\"%s\"} %llu\n",
		    skip_route_name((enum skip_route)r),
		    (unsigned long long)atomic_load(&m->requests[r]));
	metrics_buf_printf(
	    mb,
	    "# HELP skip_responses_total SKIP responses by status class.\n"
	    "# TYPE skip_responses_total counter\n"
	    "skip_responses_total{class=\"2xx\"} %llu\n"
	    "skip_responses_total{class=\"4xx\"} %llu\n"
	    "skip_responses_total{class=\"5xx\"} %llu\n",
	    (unsigned long long)atomic_load(&m->responses_2xx),
	    (unsigned long long)atomic_load(&m->responses_4xx),
	    (unsigned long long)atomic_load(&m->responses_5xx));
	metrics_buf_printf(
	    mb,
	    "# HELP skip_kme_calls_total ETSI 014 calls to the KME.\n"
	    "# TYPE skip_kme_calls_total counter\n"
	    "skip_kme_calls_total %llu\n"
	    "# HELP skip_kme_errors_total KME calls answered with an error.\n"
	    "# TYPE skip_kme_errors_total counter\n"
	    "skip_kme_errors_total %llu\n"
	    "# HELP skip_kme_unreachable_total KME calls that found no KME.\n"
	    "# TYPE skip_kme_unreachable_total counter\n"
	    "skip_kme_unreachable_total %llu\n"
	    "# HELP skip_kme_retries_total KME calls repeated after a failure.\n"
	    "# TYPE skip_kme_retries_total counter\n"
	    "skip_kme_retries_total %llu\n",
	    (unsigned long long)atomic_load(&m->kme_calls),
	    (unsigned long long)atomic_load(&m->kme_errors),
	    (unsigned long long)atomic_load(&m->kme_unreachable),
	    (unsigned long long)atomic_load(&m->kme_retries));
	metrics_buf_printf(
	    mb,
	    "# HELP skip_kme_keys_total Keys the KME handed over (a call may "
	    "carry several).\n"
	    "# TYPE skip_kme_keys_total counter\n"
	    "skip_kme_keys_total %llu\n"
	    "# HELP skip_pool_served_total New keys served from the key pool "
	    "(no KME call).\n"
	    "# TYPE skip_pool_served_total counter\n"
	    "skip_pool_served_total %llu\n"
	    "# HELP skip_pool_discarded_total Pooled keys wiped unused.\n"
	    "# TYPE skip_pool_discarded_total counter\n"
	    "skip_pool_discarded_total{reason=\"age\"} %llu\n"
	    "skip_pool_discarded_total{reason=\"full\"} %llu\n"
	    "# HELP skip_pool_keys Keys in the pool now (all remotes).\n"
	    "# TYPE skip_pool_keys gauge\n"
	    "skip_pool_keys %llu\n",
	    (unsigned long long)atomic_load(&m->kme_keys),
	    (unsigned long long)atomic_load(&m->pool_served),
	    (unsigned long long)atomic_load(&m->pool_discarded_age),
	    (unsigned long long)atomic_load(&m->pool_discarded_full),
	    (unsigned long long)atomic_load(&m->pool_depth));
	metrics_buf_printf(mb,
			   "# HELP skip_kme_latency_seconds Upstream latency "
			   "(all attempts of one call).\n"
			   "# TYPE skip_kme_latency_seconds histogram\n");
	metrics_hist_render(mb, "skip_kme_latency_seconds", NULL, &h);
	metrics_buf_printf(mb,
			   "# HELP skip_tls_connections Open TLS connections.\n"
			   "# TYPE skip_tls_connections gauge\n"
			   "skip_tls_connections %u\n",
			   tls_conns);
	return metrics_buf_finish(mb);
}
