/*
 * metrics.c — the growing exposition string and latency histograms.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct metrics_buf {
	char *p;
	size_t len; /* octets before the NUL */
	size_t cap; /* octets allocated at p */
	bool failed; /* sticky: set by the first failed append */
};

struct metrics_buf *
metrics_buf_new(size_t cap)
{
	struct metrics_buf *mb;

	mb = calloc(1, sizeof(*mb));
	if (mb == NULL)
		goto err;
	mb->cap = cap > 0 ? cap : 1;
	mb->p = malloc(mb->cap);
	if (mb->p == NULL)
		goto err;
	mb->p[0] = '\0';
	return mb;
err:
	metrics_buf_free(mb);
	return NULL;
}

void
metrics_buf_free(struct metrics_buf *mb)
{
	if (mb == NULL)
		return;
	free(mb->p);
	free(mb);
}

/* Doubles the room until n more octets and the NUL fit. */
static int
metrics_buf_grow(struct metrics_buf *mb, size_t n)
{
	size_t cap = mb->cap;
	char *p;

	if (n >= SIZE_MAX - mb->len)
		return -1;
	while (cap - mb->len <= n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	p = realloc(mb->p, cap);
	if (p == NULL)
		return -1;
	mb->p = p;
	mb->cap = cap;
	return 0;
}

/*
 * vsnprintf says how long the whole text is even when it does not fit, so
 * one growth and a second try suffice; whatever still does not fit fails.
 */
static int __attribute__((format(printf, 2, 0)))
metrics_buf_vappend(struct metrics_buf *mb, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(mb->p + mb->len, mb->cap - mb->len, fmt, ap);
	if (n >= 0 && (size_t)n >= mb->cap - mb->len &&
	    metrics_buf_grow(mb, (size_t)n) == 0)
		n = vsnprintf(mb->p + mb->len, mb->cap - mb->len, fmt, again);
	va_end(again);
	if (n < 0 || (size_t)n >= mb->cap - mb->len) {
		mb->p[mb->len] = '\0'; /* drop what a failed try left */
		return -1;
	}
	mb->len += (size_t)n;
	return 0;
}

void
metrics_buf_printf(struct metrics_buf *mb, const char *fmt, ...)
{
	va_list ap;

	if (mb->failed)
		return;
	va_start(ap, fmt);
	if (metrics_buf_vappend(mb, fmt, ap) == -1)
		mb->failed = true;
	va_end(ap);
}

char *
metrics_buf_finish(struct metrics_buf *mb)
{
	char *s = NULL;

	if (mb == NULL)
		return NULL;
	if (!mb->failed) {
		s = mb->p;
		mb->p = NULL;
	}
	metrics_buf_free(mb);
	return s;
}

void
metrics_hist_observe(const struct metrics_hist *h, uint64_t us)
{
	size_t b = 0;

	while (b < h->n && us > h->bounds_us[b])
		b++;
	atomic_fetch_add(&h->buckets[b], 1);
	atomic_fetch_add(h->sum_us, us);
}

void
metrics_hist_render(struct metrics_buf *mb, const char *name,
		    const char *labels, const struct metrics_hist *h)
{
	bool labelled = labels != NULL && labels[0] != '\0';
	const char *set = labelled ? labels : "";
	const char *comma = labelled ? "," : "";
	const char *open = labelled ? "{" : "", *close = labelled ? "}" : "";
	uint64_t cum = 0;
	char le[32];

	for (size_t b = 0; b <= h->n; b++) {
		cum += atomic_load(&h->buckets[b]);
		if (b < h->n)
			snprintf(le, sizeof(le), "%g", h->bounds_us[b] / 1e6);
		else
			snprintf(le, sizeof(le), "+Inf");
		metrics_buf_printf(mb, "%s_bucket{%s%sle=\"%s\"} %llu\n", name,
				   set, comma, le, (unsigned long long)cum);
	}
	/* _count is the +Inf bucket, so the two always agree in one scrape. */
	metrics_buf_printf(mb, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name,
			   open, set, close, atomic_load(h->sum_us) / 1e6, name,
			   open, set, close, (unsigned long long)cum);
}

#ifndef QKDLAB_METRICS_VERSION
#define QKDLAB_METRICS_VERSION "unknown"
#endif

void
metrics_build_info(struct metrics_buf *mb, const char *prog)
{
	metrics_buf_printf(mb,
			   "# HELP %s_build_info The qkdlab version this "
			   "daemon was built from (always 1).\n"
			   "# TYPE %s_build_info gauge\n"
			   "%s_build_info{version=\"%s\"} 1\n",
			   prog, prog, prog, QKDLAB_METRICS_VERSION);
}
