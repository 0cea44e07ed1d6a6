/*
 * metrics.h — what every daemon's metrics endpoint needs: a string that
 * grows as the exposition is printed into it, and latency histograms in
 * the Prometheus text exposition format 0.0.4.
 *
 * The daemons keep their own counters (atomics in their metrics structs)
 * and print their own counter and gauge lines; this module holds only what
 * they would otherwise each write again.
 */
#ifndef QKDLAB_METRICS_H
#define QKDLAB_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A NUL-terminated heap string that doubles its room as needed. */
struct metrics_buf;

/* An empty string with room for cap octets to start with; NULL if out of memory. */
struct metrics_buf *metrics_buf_new(size_t cap);
/* NULL-safe. */
void metrics_buf_free(struct metrics_buf *mb);
/*
 * Appends, growing the string as needed.  The first failure (out of
 * memory, or a conversion vsnprintf refuses) is remembered: later calls do
 * nothing, and metrics_buf_finish() returns NULL.
 */
void metrics_buf_printf(struct metrics_buf *mb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Frees mb and hands over its string (the caller frees it), or NULL if any
 * metrics_buf_printf() failed on the way.
 */
char *metrics_buf_finish(struct metrics_buf *mb);

/*
 * A latency histogram over counters that the daemon owns.  Each bucket
 * counts only its own observations (the renderer accumulates them), so an
 * observation is two atomic additions and never takes a lock.
 */
struct metrics_hist {
	const uint64_t *bounds_us; /* n upper bounds (inclusive), ascending */
	size_t n;
	atomic_uint_fast64_t *buckets; /* n + 1: the last is above every bound */
	atomic_uint_fast64_t *sum_us;
};

/* Counts one observation of us microseconds: the first bucket whose bound is >= us. */
void metrics_hist_observe(const struct metrics_hist *h, uint64_t us);
/*
 * Appends the histogram's samples: name_bucket{labels,le="..."} for every
 * bound (in seconds, cumulative) and le="+Inf", then name_sum (seconds)
 * and name_count.  labels is NULL or a label set already in exposition
 * syntax (method="enc_keys"), without braces.  The # HELP and # TYPE lines
 * are the caller's: one family may hold several label sets.
 */
void metrics_hist_render(struct metrics_buf *mb, const char *name,
			 const char *labels, const struct metrics_hist *h);

/*
 * Appends the family prog_build_info (HELP, TYPE gauge, one sample of 1
 * labelled with the qkdlab version), prog being e.g. "mka_agent".
 */
void metrics_build_info(struct metrics_buf *mb, const char *prog);

#endif
