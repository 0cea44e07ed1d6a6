/*
 * skip_metrics.c — request, error and upstream-latency counters, rendered
 * in the Prometheus text format for the optional metrics listener.
 */
#include "skip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const uint64_t skip_lat_bounds_us[SKIP_LAT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000,
};

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
skip_metrics_kme(struct skip_metrics *m, const struct skip_kme_result *r)
{
	size_t b = 0;

	atomic_fetch_add(&m->kme_calls, 1);
	if (r->attempts > 1)
		atomic_fetch_add(&m->kme_retries, r->attempts - 1);
	if (r->outcome == SKIP_KME_UNREACHABLE)
		atomic_fetch_add(&m->kme_unreachable, 1);
	else if (r->outcome != SKIP_KME_OK)
		atomic_fetch_add(&m->kme_errors, 1);
	atomic_fetch_add(&m->kme_latency_sum_us, r->latency_us);
	while (b < SKIP_LAT_BUCKETS && r->latency_us > skip_lat_bounds_us[b])
		b++;
	atomic_fetch_add(&m->kme_latency_bucket[b], 1);
}

struct skip_out {
	char *p;
	size_t len, cap;
	bool err;
};

static void
skip_out_printf(struct skip_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
skip_out_printf(struct skip_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->err = true;
	else
		o->len += (size_t)n;
}

char *
skip_metrics_render(struct skip_metrics *m, unsigned tls_conns)
{
	struct skip_out o = { .cap = 8192 };
	uint64_t cum = 0;

	o.p = malloc(o.cap);
	if (o.p == NULL)
		return NULL;
	o.p[0] = '\0';
	skip_out_printf(&o, "# HELP skip_requests_total SKIP requests by resource.\n"
			"# TYPE skip_requests_total counter\n");
	for (int r = 0; r < SKIP_R_COUNT; r++)
		skip_out_printf(&o, "skip_requests_total{resource=\"%s\"} %llu\n",
				skip_route_name((enum skip_route)r),
				(unsigned long long)atomic_load(&m->requests[r]));
	skip_out_printf(&o, "# HELP skip_responses_total SKIP responses by status class.\n"
			"# TYPE skip_responses_total counter\n"
			"skip_responses_total{class=\"2xx\"} %llu\n"
			"skip_responses_total{class=\"4xx\"} %llu\n"
			"skip_responses_total{class=\"5xx\"} %llu\n",
			(unsigned long long)atomic_load(&m->responses_2xx),
			(unsigned long long)atomic_load(&m->responses_4xx),
			(unsigned long long)atomic_load(&m->responses_5xx));
	skip_out_printf(&o, "# HELP skip_kme_calls_total ETSI 014 calls to the KME.\n"
			"# TYPE skip_kme_calls_total counter\n"
			"skip_kme_calls_total %llu\n"
			"# TYPE skip_kme_errors_total counter\n"
			"skip_kme_errors_total %llu\n"
			"# TYPE skip_kme_unreachable_total counter\n"
			"skip_kme_unreachable_total %llu\n"
			"# TYPE skip_kme_retries_total counter\n"
			"skip_kme_retries_total %llu\n",
			(unsigned long long)atomic_load(&m->kme_calls),
			(unsigned long long)atomic_load(&m->kme_errors),
			(unsigned long long)atomic_load(&m->kme_unreachable),
			(unsigned long long)atomic_load(&m->kme_retries));
	skip_out_printf(&o, "# HELP skip_kme_latency_seconds Upstream latency "
			"(all attempts of one call).\n"
			"# TYPE skip_kme_latency_seconds histogram\n");
	for (int b = 0; b < SKIP_LAT_BUCKETS; b++) {
		cum += atomic_load(&m->kme_latency_bucket[b]);
		skip_out_printf(&o, "skip_kme_latency_seconds_bucket{le=\"%g\"} %llu\n",
				skip_lat_bounds_us[b] / 1e6, (unsigned long long)cum);
	}
	cum += atomic_load(&m->kme_latency_bucket[SKIP_LAT_BUCKETS]);
	skip_out_printf(&o, "skip_kme_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
			"skip_kme_latency_seconds_sum %.6f\n"
			"skip_kme_latency_seconds_count %llu\n"
			"# TYPE skip_tls_connections gauge\n"
			"skip_tls_connections %u\n",
			(unsigned long long)cum,
			atomic_load(&m->kme_latency_sum_us) / 1e6,
			(unsigned long long)cum, tls_conns);
	if (o.err) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
