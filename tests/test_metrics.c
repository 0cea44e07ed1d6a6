/*
 * test_metrics.c — unit tests for lib/metrics.c: the growing exposition
 * string and the latency histogram (bucket choice, Prometheus text).
 *
 * The expected texts are written out in full from the text exposition
 * format 0.0.4: cumulative _bucket lines with le in seconds, le="+Inf",
 * then _sum (seconds) and _count.  tests/it_metrics_format.py has an
 * independent parser read the daemons' output.
 */
#include "harness.h"

#include "metrics.h"
#include "util.h"

#include <wchar.h>

/* 100 us, 250 us, 1 ms: short enough to write the expected text by hand. */
static const uint64_t bounds_us[] = { 100, 250, 1000 };

struct hist_store {
	atomic_uint_fast64_t buckets[ARRAY_LEN(bounds_us) + 1];
	atomic_uint_fast64_t sum_us;
};

static struct metrics_hist
hist_over(struct hist_store *st)
{
	struct metrics_hist h = {
		.bounds_us = bounds_us,
		.n = ARRAY_LEN(bounds_us),
		.buckets = st->buckets,
		.sum_us = &st->sum_us,
	};

	return h;
}

/* Renders h alone (from a small first allocation) and compares the whole text. */
static void
expect_render(const char *name, const char *labels,
	      const struct metrics_hist *h, const char *want)
{
	struct metrics_buf *mb = metrics_buf_new(16);
	char *s;

	ASSERT_TRUE(mb != NULL);
	metrics_hist_render(mb, name, labels, h);
	s = metrics_buf_finish(mb);
	ASSERT_STR_EQ(s, want);
	free(s);
}

TEST(buf_empty_is_empty_string)
{
	char *s = metrics_buf_finish(metrics_buf_new(0));

	ASSERT_STR_EQ(s, "");
	free(s);
	metrics_buf_free(NULL);
	ASSERT_TRUE(metrics_buf_finish(NULL) == NULL);
}

TEST(buf_grows_past_its_first_allocation)
{
	struct metrics_buf *mb = metrics_buf_new(8);
	char want[64], *s;
	size_t len;

	ASSERT_TRUE(mb != NULL);
	/* Many small appends: the room doubles again and again. */
	for (int i = 0; i < 1000; i++)
		metrics_buf_printf(mb, "line %04d\n", i);
	/* One append far larger than the room so far: one growth fits it. */
	metrics_buf_printf(mb, "%20000s|", "end");
	s = metrics_buf_finish(mb);
	ASSERT_TRUE(s != NULL);
	len = strlen(s);
	ASSERT_INT_EQ(len, 1000 * 10 + 20000 + 1);
	for (int i = 0; i < 1000; i += 111) {
		snprintf(want, sizeof(want), "line %04d\n", i);
		ASSERT_MEM_EQ(s + i * 10, want, 10);
	}
	ASSERT_STR_EQ(s + len - 4, "end|");
	ASSERT_TRUE(s[10000] == ' ');
	free(s);
}

TEST(buf_failure_is_sticky)
{
	struct metrics_buf *mb = metrics_buf_new(64);

	ASSERT_TRUE(mb != NULL);
	metrics_buf_printf(mb, "before ");
	/* In the C locale vsnprintf cannot convert a non-ASCII wide character
	 * (EILSEQ): a failure as good as an allocation that did not succeed. */
	metrics_buf_printf(mb, "%ls", L"\u00e9");
	metrics_buf_printf(mb, "after\n");
	ASSERT_TRUE(metrics_buf_finish(mb) == NULL);
}

TEST(hist_bucket_at_and_past_each_bound)
{
	static const struct {
		uint64_t us;
		size_t bucket;
	} cases[] = {
		{ 0, 0 },    { 1, 0 },
		{ 99, 0 },   { 100, 0 }, /* a bound is inclusive */
		{ 101, 1 },  { 250, 1 },
		{ 251, 2 },  { 1000, 2 },
		{ 1001, 3 }, { UINT64_MAX, 3 }, /* above every bound: +Inf */
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct hist_store st = { 0 };
		struct metrics_hist h = hist_over(&st);

		metrics_hist_observe(&h, cases[i].us);
		for (size_t b = 0; b <= h.n; b++) {
			uint64_t got = atomic_load(&st.buckets[b]);
			uint64_t want = b == cases[i].bucket ? 1 : 0;

			if (got != want)
				TH_FAIL("%" PRIu64
					" us: bucket %zu holds %" PRIu64
					", expected %" PRIu64,
					cases[i].us, b, got, want);
		}
		ASSERT_U64_EQ(atomic_load(&st.sum_us), cases[i].us);
	}
}

TEST(hist_renders_cumulative_with_labels)
{
	struct hist_store st = { 0 };
	struct metrics_hist h = hist_over(&st);
	static const uint64_t seen_us[] = { 50,	 100, 200,  250,
					    250, 900, 5000, 2000000 };

	for (size_t i = 0; i < ARRAY_LEN(seen_us); i++)
		metrics_hist_observe(&h, seen_us[i]);
	ASSERT_U64_EQ(atomic_load(&st.buckets[0]), 2);
	ASSERT_U64_EQ(atomic_load(&st.buckets[1]), 3);
	ASSERT_U64_EQ(atomic_load(&st.buckets[2]), 1);
	ASSERT_U64_EQ(atomic_load(&st.buckets[3]), 2);
	expect_render(
	    "x_duration_seconds", "method=\"enc_keys\"", &h,
	    "x_duration_seconds_bucket{method=\"enc_keys\",le=\"0.0001\"} 2\n"
	    "x_duration_seconds_bucket{method=\"enc_keys\",le=\"0.00025\"} 5\n"
	    "x_duration_seconds_bucket{method=\"enc_keys\",le=\"0.001\"} 6\n"
	    "x_duration_seconds_bucket{method=\"enc_keys\",le=\"+Inf\"} 8\n"
	    "x_duration_seconds_sum{method=\"enc_keys\"} 2.006750\n"
	    "x_duration_seconds_count{method=\"enc_keys\"} 8\n");
}

TEST(hist_renders_without_labels)
{
	static const char want[] = "y_seconds_bucket{le=\"0.0001\"} 1\n"
				   "y_seconds_bucket{le=\"0.00025\"} 1\n"
				   "y_seconds_bucket{le=\"0.001\"} 1\n"
				   "y_seconds_bucket{le=\"+Inf\"} 2\n"
				   "y_seconds_sum 1.000001\n"
				   "y_seconds_count 2\n";
	struct hist_store st = { 0 };
	struct metrics_hist h = hist_over(&st);

	metrics_hist_observe(&h, 1);
	metrics_hist_observe(&h, 1000000);
	expect_render("y_seconds", NULL, &h, want);
	/* An empty label set is no label set, not "{}" or "{,le=...}". */
	expect_render("y_seconds", "", &h, want);
}

/* Counts past 2^63 print whole; _count is the +Inf bucket. */
TEST(hist_large_counts_and_sum)
{
	struct hist_store st = { 0 };
	struct metrics_hist h = hist_over(&st);

	atomic_store(&st.buckets[0], UINT64_C(1) << 63);
	atomic_store(&st.buckets[3], 5);
	atomic_store(&st.sum_us, UINT64_MAX);
	expect_render("z", "a=\"b\"", &h,
		      "z_bucket{a=\"b\",le=\"0.0001\"} 9223372036854775808\n"
		      "z_bucket{a=\"b\",le=\"0.00025\"} 9223372036854775808\n"
		      "z_bucket{a=\"b\",le=\"0.001\"} 9223372036854775808\n"
		      "z_bucket{a=\"b\",le=\"+Inf\"} 9223372036854775813\n"
		      "z_sum{a=\"b\"} 18446744073709.550781\n"
		      "z_count{a=\"b\"} 9223372036854775813\n");
}

TEST_MAIN(TEST_CASE(buf_empty_is_empty_string),
	  TEST_CASE(buf_grows_past_its_first_allocation),
	  TEST_CASE(buf_failure_is_sticky),
	  TEST_CASE(hist_bucket_at_and_past_each_bound),
	  TEST_CASE(hist_renders_cumulative_with_labels),
	  TEST_CASE(hist_renders_without_labels),
	  TEST_CASE(hist_large_counts_and_sum))
