/*
 * test_skip_pool.c — skip-proxy's key pool (skip-proxy/skip_pool.c)
 * driven through its two seams: a clock the test sets, and a recording
 * fake KME that hands out numbered keys and can refuse.
 *
 * Checked: a batch is as large as the last second's demand (1 at one
 * request a minute), capped by key_pool and by a max_key_per_request the
 * pool learns from a 400; keys are handed out oldest first, each once,
 * with the bytes the KME gave for that key_ID; keys of max_age are never
 * handed out and are counted; other sizes and key_pool = 0 make one KME
 * call per key; a KME failure reaches the caller unchanged.
 */
#include "harness.h"

#include "log.h"
#include "../skip-proxy/skip.h"

#define BITS 256
#define SEC 1000000ull

struct fake_kme {
	uint64_t now_us;
	unsigned calls, numbers[64]; /* number asked in each call */
	unsigned bits[64];
	char remotes[64][16];
	uint64_t next_id; /* keys issued so far */
	unsigned max_number; /* > this: 400, as kme-sim; 0 = no limit */
	enum etsi014_outcome fail; /* != OK: every call fails so */
	long fail_status;
	/* A request that arrives while call nest_at is in flight. */
	struct skip_pool *nest_pool;
	unsigned nest_at;
	uint64_t nest_got;
};

static uint64_t take(struct skip_pool *p, const char *remote, unsigned bits,
		     struct skip_pool_info *pi);

/* Key n: key_ID and key octets derived from n (the test's truth). */
static void
fake_key(uint64_t n, struct etsi014_key *k, unsigned bits)
{
	memset(k, 0, sizeof(*k));
	for (int i = 0; i < 8; i++)
		k->id[8 + i] = (uint8_t)(n >> (56 - 8 * i));
	k->id[6] = 0x40; /* a version 4 UUID shape, not that it matters */
	k->key_len = bits / 8;
	for (size_t i = 0; i < k->key_len; i++)
		k->key[i] = (uint8_t)(n * 31 + i);
}

static uint64_t
fake_id_of(const struct etsi014_key *k)
{
	uint64_t n = 0;

	for (int i = 0; i < 8; i++)
		n = n << 8 | k->id[8 + i];
	return n;
}

static int
fake_fetch(void *arg, const char *remote, unsigned bits, unsigned number,
	   struct etsi014_key *out, struct etsi014_result *res)
{
	struct fake_kme *f = arg;

	memset(res, 0, sizeof(*res));
	if (f->calls < 64) {
		f->numbers[f->calls] = number;
		f->bits[f->calls] = bits;
		snprintf(f->remotes[f->calls], sizeof(f->remotes[0]), "%s",
			 remote);
	}
	f->calls++;
	if (f->nest_pool != NULL && f->calls == f->nest_at) {
		/* No lock is held across the call: this is a concurrent miss. */
		f->now_us += 100;
		f->nest_got = take(f->nest_pool, remote, bits, NULL);
	}
	res->attempts = 1;
	res->latency_us = 1500;
	if (f->fail != ETSI014_OK) {
		res->outcome = f->fail;
		res->http_status = f->fail_status;
		snprintf(res->msg, sizeof(res->msg), "fake failure");
		return -1;
	}
	if (f->max_number != 0 && number > f->max_number) {
		res->outcome = ETSI014_REFUSED;
		res->http_status = 400;
		snprintf(res->msg, sizeof(res->msg),
			 "number %u exceeds max_key_per_request %u", number,
			 f->max_number);
		return -1;
	}
	res->http_status = 200;
	for (unsigned i = 0; i < number; i++)
		fake_key(++f->next_id, &out[i], bits);
	return 0;
}

static uint64_t
fake_now(void *arg)
{
	return ((struct fake_kme *)arg)->now_us;
}

static struct skip_metrics metrics;

static struct skip_pool *
pool_new(struct fake_kme *f, unsigned cap, uint64_t max_age_us)
{
	struct skip_pool_cfg c = {
		.cap = cap,
		.max_age_us = max_age_us,
		.bits = BITS,
		.fetch = fake_fetch,
		.now_us = fake_now,
		.arg = f,
		.metrics = &metrics,
	};

	/* Debug level: skip_pool_free() lists discarded key IDs. */
	log_init("test", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_DEBUG);
	memset(f, 0, sizeof(*f));
	memset(&metrics, 0, sizeof(metrics));
	f->now_us = 1000 * SEC;
	return skip_pool_new(&c);
}

/* Takes a key; checks its bytes against the fake's; returns its number. */
static uint64_t
take(struct skip_pool *p, const char *remote, unsigned bits,
     struct skip_pool_info *pi)
{
	struct etsi014_key k, want;
	struct skip_pool_info local;
	uint64_t n;

	if (pi == NULL)
		pi = &local;
	if (skip_pool_take(p, remote, bits, &k, pi) == -1)
		return 0;
	n = fake_id_of(&k);
	fake_key(n, &want, bits);
	if (k.key_len != want.key_len ||
	    memcmp(k.key, want.key, k.key_len) != 0 ||
	    memcmp(k.id, want.id, UUID_LEN) != 0)
		return (uint64_t)-1;
	return n;
}

TEST(one_request_a_minute_is_todays_behaviour)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;

	ASSERT_TRUE(p != NULL);
	for (uint64_t i = 1; i <= 3; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), i);
		ASSERT_TRUE(!pi.pooled);
		ASSERT_INT_EQ(pi.kme_calls, 1);
		ASSERT_INT_EQ(f.numbers[i - 1], 1);
		ASSERT_STR_EQ(f.remotes[i - 1], "SAE_B");
		ASSERT_INT_EQ(skip_pool_depth(p, NULL), 0);
		f.now_us += 60 * SEC;
	}
	ASSERT_INT_EQ(f.calls, 3);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_served), 0);
	skip_pool_free(p);
}

TEST(batch_follows_demand_oldest_first)
{
	static const unsigned want_numbers[] = { 1, 2, 4, 8, 16 };
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;
	unsigned served = 0;

	/* 31 requests within 31 ms: each miss asks for the demand so far. */
	for (uint64_t i = 1; i <= 31; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), i);
		served += pi.pooled;
		f.now_us += 1000;
	}
	ASSERT_INT_EQ(f.calls, 5);
	for (unsigned c = 0; c < 5; c++)
		ASSERT_INT_EQ(f.numbers[c], want_numbers[c]);
	ASSERT_INT_EQ(served, 31 - 5);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_served), 26);
	ASSERT_INT_EQ(skip_pool_depth(p, "SAE_B"), 0);
	/* Demand counts the last second only: a lull starts over at 1. */
	f.now_us += 2 * SEC;
	ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), 32);
	ASSERT_INT_EQ(f.numbers[5], 1);
	skip_pool_free(p);
}

TEST(concurrent_miss_asks_for_what_is_not_on_its_way)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);

	/* Calls of 1 and 2 keys; the 3rd request takes the pooled key. */
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(take(p, "SAE_B", BITS, NULL) != 0);
		f.now_us += 1000;
	}
	/* The 4th asks for 4; a 5th arrives while those are on their way. */
	f.nest_pool = p;
	f.nest_at = 3;
	ASSERT_TRUE(take(p, "SAE_B", BITS, NULL) != 0);
	ASSERT_INT_EQ(f.calls, 4);
	ASSERT_INT_EQ(f.numbers[2], 4);
	ASSERT_INT_EQ(f.numbers[3], 1); /* demand 5 - 4 in flight */
	ASSERT_TRUE(f.nest_got != 0 && f.nest_got != (uint64_t)-1);
	ASSERT_INT_EQ(skip_pool_depth(p, NULL), 3);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_discarded_full), 0);
	skip_pool_free(p);
}

TEST(batch_capped_by_key_pool)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 4, 10 * SEC);

	for (uint64_t i = 1; i <= 40; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", BITS, NULL), i);
		f.now_us += 100;
	}
	for (unsigned c = 0; c < f.calls; c++)
		ASSERT_TRUE(f.numbers[c] >= 1 && f.numbers[c] <= 4);
	/* 1, 2, 4, then 4 each: 3 + 9 calls for 40 keys. */
	ASSERT_INT_EQ(f.calls, 12);
	/* KME calls are counted by the fetch seam (skip_api.c), not here. */
	ASSERT_U64_EQ(atomic_load(&metrics.kme_calls), 0);
	skip_pool_free(p);
}

TEST(too_many_keys_400_falls_back_and_lowers_the_cap)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;
	uint64_t n;

	f.max_number = 3;
	/* 1 (ok), 2 (ok, 1 pooled), hit, 4: refused, then 1 ok. */
	for (uint64_t i = 1; i <= 4; i++) {
		n = take(p, "SAE_B", BITS, &pi);
		ASSERT_TRUE(n != 0 && n != (uint64_t)-1);
		f.now_us += 1000;
	}
	ASSERT_INT_EQ(f.calls, 4);
	ASSERT_INT_EQ(f.numbers[2], 4);
	ASSERT_INT_EQ(f.numbers[3], 1);
	ASSERT_INT_EQ(pi.kme_calls, 2);
	ASSERT_TRUE(!pi.pooled);
	/* From now on at most 4 / 2 = 2 keys per call, never refused. */
	for (int i = 0; i < 20; i++) {
		n = take(p, "SAE_B", BITS, &pi);
		ASSERT_TRUE(n != 0 && n != (uint64_t)-1);
		ASSERT_TRUE(pi.kme_calls <= 1);
		f.now_us += 1000;
	}
	for (unsigned c = 4; c < f.calls; c++)
		ASSERT_TRUE(f.numbers[c] <= 2);
	skip_pool_free(p);
}

TEST(keys_of_max_age_never_served)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 1 * SEC);
	struct skip_pool_info pi;

	/* Demand 1, 2, 3, 4: calls of 1, 2 and 4 keys; 3 left pooled. */
	for (uint64_t i = 1; i <= 4; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", BITS, NULL), i);
		f.now_us += 1000;
	}
	ASSERT_INT_EQ(skip_pool_depth(p, NULL), 3);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_depth), 3);
	/* Just under max age: still served, oldest first. */
	f.now_us += SEC - 2000;
	ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), 5);
	ASSERT_TRUE(pi.pooled);
	/* Past it: the two left are wiped and counted, a new call made. */
	f.now_us += SEC / 2;
	ASSERT_TRUE(take(p, "SAE_B", BITS, &pi) > 7);
	ASSERT_TRUE(!pi.pooled);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_discarded_age), 2);
	ASSERT_U64_EQ(atomic_load(&metrics.pool_depth),
		      skip_pool_depth(p, NULL));
	skip_pool_free(p);
}

TEST(other_sizes_and_key_pool_0_bypass)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;

	for (uint64_t i = 1; i <= 10; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", 512, &pi), i);
		ASSERT_TRUE(!pi.pooled);
		ASSERT_INT_EQ(f.numbers[i - 1], 1);
		ASSERT_INT_EQ(f.bits[i - 1], 512);
	}
	ASSERT_INT_EQ(skip_pool_depth(p, NULL), 0);
	skip_pool_free(p);

	p = pool_new(&f, 0, 10 * SEC);
	ASSERT_TRUE(p != NULL);
	for (uint64_t i = 1; i <= 10; i++) {
		ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), i);
		ASSERT_INT_EQ(f.numbers[i - 1], 1);
	}
	ASSERT_INT_EQ(f.calls, 10);
	skip_pool_free(p);
}

TEST(remotes_have_their_own_keys)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;

	take(p, "SAE_B", BITS, NULL);
	take(p, "SAE_B", BITS, NULL); /* 2 keys: 1 pooled for SAE_B */
	ASSERT_INT_EQ(skip_pool_depth(p, "SAE_B"), 1);
	ASSERT_U64_EQ(take(p, "SAE_C", BITS, &pi), 4);
	ASSERT_STR_EQ(f.remotes[2], "SAE_C");
	ASSERT_TRUE(!pi.pooled);
	ASSERT_U64_EQ(take(p, "SAE_B", BITS, &pi), 3);
	ASSERT_TRUE(pi.pooled);
	skip_pool_free(p);
}

TEST(kme_failure_passes_through)
{
	static const struct etsi014_key zero;
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);
	struct skip_pool_info pi;
	struct etsi014_key k;

	f.fail = ETSI014_UNREACHABLE;
	memset(&k, 0xa5, sizeof(k));
	ASSERT_INT_EQ(skip_pool_take(p, "SAE_B", BITS, &k, &pi), -1);
	ASSERT_INT_EQ(pi.kme.outcome, ETSI014_UNREACHABLE);
	ASSERT_STR_EQ(pi.kme.msg, "fake failure");
	ASSERT_MEM_EQ(&k, &zero, sizeof(k));
	/* A 400 that one key does not cure is the caller's 400. */
	f.fail = ETSI014_REFUSED;
	f.fail_status = 400;
	ASSERT_INT_EQ(skip_pool_take(p, "SAE_B", BITS, &k, &pi), -1);
	ASSERT_INT_EQ(pi.kme.outcome, ETSI014_REFUSED);
	ASSERT_INT_EQ(pi.kme.http_status, 400);
	ASSERT_INT_EQ(pi.kme_calls, 2); /* number 2, then number 1 */
	ASSERT_MEM_EQ(&k, &zero, sizeof(k));
	ASSERT_INT_EQ(skip_pool_depth(p, NULL), 0);
	/* Service resumes when the KME does. */
	f.fail = ETSI014_OK;
	ASSERT_TRUE(take(p, "SAE_B", BITS, &pi) != 0);
	skip_pool_free(p);
}

TEST(bad_cfg_refused)
{
	struct skip_pool_cfg c = { .cap = 64, .bits = BITS };

	ASSERT_TRUE(skip_pool_new(&c) == NULL); /* no fetch */
	c.fetch = fake_fetch;
	c.cap = SKIP_POOL_MAX + 1;
	ASSERT_TRUE(skip_pool_new(&c) == NULL);
	c.cap = 64;
	c.bits = 255;
	ASSERT_TRUE(skip_pool_new(&c) == NULL);
	skip_pool_free(NULL);
}

TEST(free_wipes_what_is_left)
{
	struct fake_kme f;
	struct skip_pool *p = pool_new(&f, 64, 10 * SEC);

	for (int i = 0; i < 8; i++)
		take(p, "SAE_B", BITS, NULL);
	ASSERT_TRUE(skip_pool_depth(p, NULL) > 0);
	/* Under ASan, a leak or an overrun of the locked arena shows. */
	skip_pool_free(p);
}

TEST_MAIN(TEST_CASE(one_request_a_minute_is_todays_behaviour),
	  TEST_CASE(batch_follows_demand_oldest_first),
	  TEST_CASE(concurrent_miss_asks_for_what_is_not_on_its_way),
	  TEST_CASE(batch_capped_by_key_pool),
	  TEST_CASE(too_many_keys_400_falls_back_and_lowers_the_cap),
	  TEST_CASE(keys_of_max_age_never_served),
	  TEST_CASE(other_sizes_and_key_pool_0_bypass),
	  TEST_CASE(remotes_have_their_own_keys),
	  TEST_CASE(kme_failure_passes_through), TEST_CASE(bad_cfg_refused),
	  TEST_CASE(free_wipes_what_is_left))
