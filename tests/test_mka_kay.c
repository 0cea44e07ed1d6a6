/*
 * test_mka_kay.c — two KaYs (the real mka_kay.c + mka_cp.c) against each
 * other in one process, through a fake wire and a fake clock, each with a
 * recording SecY (secy_fake.c).  Deterministic: time only moves when the
 * test moves it.
 *
 * Checked against rules outside the code under test: both ends install
 * the same SAK for each direction, the key server is the one 9.5 elects,
 * XPN SSCI/salt follow 802.1AE-2018 10.7.13/10.7.28 (and the salt of the
 * published example), the key log has the docs/DESIGN.md format.
 */
#include "harness.h"

#include "encoding.h"
#include "log.h"
#include "mka_kay.h"
#include "mka_suite.h"
#include "secy_fake.h"
#include "util.h"

#define STEP_MS 10

/* The KaYs log every event at info; failures are easier to read without. */
__attribute__((constructor)) static void
quiet(void)
{
	log_set_level(LOG_LVL_WARN);
}
#define QLEN 64

struct frame {
	uint8_t b[1600];
	size_t len;
};

struct side {
	struct mka_kay *kay;
	struct secy_fake secy;
	struct mka_kay_conf conf;
	int idx;
	char keylog[8][256];
	int n_keylog;
};

static struct side sides[2];
static struct frame queue[2][QLEN]; /* frames in flight to side i */
static int qn[2];
static bool cut[2]; /* drop everything sent by side i */
static struct frame last[2]; /* the last frame side i sent */
static uint64_t now;

static const uint8_t cak[16] = {
	0x13, 0x5b, 0xd7, 0x58, 0xb0, 0xee, 0x5c, 0x11,
	0xc5, 0x5f, 0xf6, 0xab, 0x19, 0xfd, 0xb1, 0x99
};
static const uint8_t ckn[8] = { 'l', 'a', 'b', '-', 'c', 'k', 'n', '1' };

static int
wire_tx(void *arg, const uint8_t *f, size_t len)
{
	struct side *s = arg;
	int to = 1 - s->idx;

	memcpy(last[s->idx].b, f, len);
	last[s->idx].len = len;
	if (cut[s->idx] || qn[to] == QLEN)
		return 0;
	memcpy(queue[to][qn[to]].b, f, len);
	queue[to][qn[to]++].len = len;
	return 0;
}

static void
keylog(void *arg, const char *line)
{
	struct side *s = arg;

	if (s->n_keylog < 8)
		str_copy(s->keylog[s->n_keylog++], sizeof(s->keylog[0]), line);
}

static void
conf_default(struct mka_kay_conf *c, int idx)
{
	memset(c, 0, sizeof(*c));
	c->name = idx == 0 ? "A" : "B";
	memcpy(c->mac, "\x02\x00\x00\x00\x00\x01", 6);
	c->mac[5] = (uint8_t)(idx + 1);
	c->port_id = 1;
	c->priority = idx == 0 ? 16 : 32;
	c->macsec_desired = true;
	c->capability = MKA_CAP_CONF_0;
	c->replay_protect = true;
	memcpy(c->eapol_da, "\x01\x80\xc2\x00\x00\x03", 6);
}

static void
side_start(int idx, const struct mka_kay_conf *c, const uint8_t *k, size_t klen)
{
	struct side *s = &sides[idx];

	mka_kay_free(s->kay);
	memset(s, 0, sizeof(*s));
	s->idx = idx;
	s->conf = *c;
	secy_fake_init(&s->secy);
	s->conf.secy = &secy_fake_ops;
	s->conf.secy_arg = &s->secy;
	s->conf.tx = wire_tx;
	s->conf.tx_arg = s;
	s->conf.key_log = keylog;
	s->conf.key_log_arg = s;
	s->kay = mka_kay_new(&s->conf, now);
	if (s->kay == NULL || mka_kay_add_ca(s->kay, k, klen, ckn, sizeof(ckn),
					     NULL, 0, now) == NULL)
		abort();
	qn[idx] = 0;
	cut[idx] = false;
}

static void
pair_start(const struct mka_kay_conf *a, const struct mka_kay_conf *b)
{
	now = 1000;
	side_start(0, a, cak, sizeof(cak));
	side_start(1, b, cak, sizeof(cak));
}

static void
pair_stop(void)
{
	for (int i = 0; i < 2; i++) {
		mka_kay_free(sides[i].kay);
		sides[i].kay = NULL;
	}
}

/* Advances time by ms, delivering frames in order and ticking both. */
static void
run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += STEP_MS) {
		for (int i = 0; i < 2; i++) {
			static struct frame q[QLEN];
			int n = qn[i];

			memcpy(q, queue[i], sizeof(q[0]) * (size_t)n);
			qn[i] = 0;
			for (int j = 0; j < n; j++)
				mka_kay_rx(sides[i].kay, q[j].b, q[j].len, now);
		}
		for (int i = 0; i < 2; i++)
			mka_kay_tick(sides[i].kay, now);
		now += STEP_MS;
	}
}

static struct mka_kay_status
status(int i)
{
	struct mka_kay_status st;

	mka_kay_get_status(sides[i].kay, &st);
	return st;
}

static bool
both_secured(void)
{
	return status(0).secured && status(1).secured;
}

/* Runs until both are secured or limit_ms passes; returns elapsed ms. */
static uint64_t
run_until_secured(uint64_t limit_ms)
{
	uint64_t t = 0;

	while (t < limit_ms && !both_secured()) {
		run(100);
		t += 100;
	}
	return t;
}

/* Side i's transmit key for AN an equals the other's receive key. */
static void
assert_keys_match(int i, uint8_t an)
{
	struct secy_fake *tx = &sides[i].secy, *rx = &sides[1 - i].secy;
	uint8_t sci[8];
	struct secy_fake_sc *sc;

	memcpy(sci, sides[i].conf.mac, 6);
	sci[6] = 0;
	sci[7] = 1;
	ASSERT_TRUE(tx->tx[an].installed && tx->tx[an].enabled);
	ASSERT_INT_EQ(tx->encoding_an, an);
	ASSERT_TRUE((sc = secy_fake_rxsc(rx, sci)) != NULL);
	ASSERT_TRUE(sc->sa[an].installed && sc->sa[an].enabled);
	ASSERT_INT_EQ(sc->sa[an].key_len, tx->tx[an].key_len);
	ASSERT_MEM_EQ(sc->sa[an].key, tx->tx[an].key, tx->tx[an].key_len);
	ASSERT_INT_EQ(sc->sa[an].ssci, tx->tx[an].ssci);
	ASSERT_MEM_EQ(sc->sa[an].salt, tx->tx[an].salt, 12);
}

TEST(psk_pair_secures_with_equal_saks)
{
	struct mka_kay_conf a, b;
	struct mka_kay_status sa, sb;

	conf_default(&a, 0);
	conf_default(&b, 1);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	sa = status(0);
	sb = status(1);
	/* Priority 16 beats 32 (9.5). */
	ASSERT_TRUE(sa.key_server);
	ASSERT_TRUE(!sb.key_server);
	ASSERT_MEM_EQ(sb.ks_sci, "\x02\x00\x00\x00\x00\x01\x00\x01", 8);
	ASSERT_INT_EQ(sa.live_peers, 1);
	ASSERT_INT_EQ(sb.live_peers, 1);
	ASSERT_INT_EQ(sa.latest_kn, 1);
	ASSERT_INT_EQ(sb.latest_an, 0);
	ASSERT_INT_EQ(sa.suite, MKA_CS_GCM_AES_128);
	assert_keys_match(0, 0);
	assert_keys_match(1, 0);
	/* One SAK for the CA: both directions use the same key. */
	ASSERT_MEM_EQ(sides[0].secy.tx[0].key, sides[1].secy.tx[0].key, 16);
	ASSERT_TRUE(sides[0].secy.policy.protect);
	ASSERT_INT_EQ(sides[1].secy.policy.validate, MKA_VALIDATE_STRICT);
	/* Receive before transmit (802.1AE 10.7): B's first enable-rxsa
	 * precedes its enable-txsa in the call log. */
	for (unsigned i = 0, rx_seen = 0; i < sides[1].secy.calls; i++) {
		if (strncmp(sides[1].secy.log[i], "enable-rxsa", 11) == 0)
			rx_seen = 1;
		if (strncmp(sides[1].secy.log[i], "enable-txsa", 11) == 0)
			ASSERT_TRUE(rx_seen);
	}
	/* Steady state stays steady: no rekey without a reason. */
	run(20000);
	ASSERT_TRUE(both_secured());
	ASSERT_INT_EQ(status(0).latest_kn, 1);
	ASSERT_INT_EQ(status(0).c.sak_generated, 1);
	ASSERT_INT_EQ(status(1).c.rx_bad_icv, 0);
	pair_stop();
}

TEST(priority_tie_broken_by_lower_sci)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	a.priority = b.priority = 9;
	/* A's MAC ...01 < B's ...02: A wins, even though B starts first. */
	pair_start(&b, &a);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_TRUE(status(0).key_server != status(1).key_server);
	ASSERT_TRUE(!status(0).key_server); /* side 0 has B's conf */
	pair_stop();
}

TEST(xpn_256_ssci_and_salt_per_802_1ae)
{
	struct mka_kay_conf a, b;
	uint8_t salt[12];
	const uint8_t *ks_mi;
	struct secy_fake_sc *sc;

	conf_default(&a, 0);
	conf_default(&b, 1);
	a.suites[0] = b.suites[0] = MKA_CS_GCM_AES_XPN_256;
	a.n_suites = b.n_suites = 1;
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_INT_EQ(status(1).suite, MKA_CS_GCM_AES_XPN_256);
	assert_keys_match(0, 0);
	assert_keys_match(1, 0);
	ASSERT_INT_EQ(sides[0].secy.tx[0].key_len, 32);
	ASSERT_TRUE(sides[0].secy.tx[0].xpn);
	/* SSCI: B's SCI 0200000000020001 is the greater -> 1, A -> 2. */
	ASSERT_INT_EQ(sides[1].secy.tx[0].ssci, 1);
	ASSERT_INT_EQ(sides[0].secy.tx[0].ssci, 2);
	sc =
	    secy_fake_rxsc(&sides[1].secy,
			   (const uint8_t *)"\x02\x00\x00\x00\x00\x01\x00\x01");
	ASSERT_INT_EQ(sc->sa[0].ssci, 2);
	/* Salt: the KS MI with octets 0-3 XOR the KN halves (10.7.28). */
	ks_mi = mka_participant_mi(mka_kay_principal(sides[0].kay));
	memcpy(salt, ks_mi, 12);
	salt[1] ^= 1; /* KN 1 */
	ASSERT_MEM_EQ(sides[0].secy.tx[0].salt, salt, 12);
	ASSERT_MEM_EQ(sides[1].secy.tx[0].salt, salt, 12);
	pair_stop();
}

TEST(xpn_salt_matches_published_example)
{
	/* mka_mkpdu_examples.json ex2: MI cd421cf8..., KN 1. */
	static const uint8_t mi[12] = { 0xcd, 0x42, 0x1c, 0xf8, 0x6b, 0xa4,
					0x57, 0x93, 0x86, 0x57, 0x67, 0x5b };
	static const uint8_t want[12] = { 0xcd, 0x43, 0x1c, 0xf8, 0x6b, 0xa4,
					  0x57, 0x93, 0x86, 0x57, 0x67, 0x5b };
	static const uint8_t scis[16] = { 2, 0, 0, 0, 0, 1, 0, 1,
					  2, 0, 0, 0, 0, 2, 0, 1 };
	uint8_t salt[12];
	uint32_t ssci;

	mka_xpn_salt(mi, 1, salt);
	ASSERT_MEM_EQ(salt, want, 12);
	mka_xpn_salt(mi, 0x00010000, salt);
	ASSERT_INT_EQ(salt[2], 0x1c ^ 0x00);
	ASSERT_INT_EQ(salt[3], 0xf8 ^ 0x01);
	ASSERT_INT_EQ(mka_xpn_ssci(scis, 2, scis + 8, &ssci), 0);
	ASSERT_INT_EQ(ssci, 1);
	ASSERT_INT_EQ(mka_xpn_ssci(scis, 2, scis, &ssci), 0);
	ASSERT_INT_EQ(ssci, 2);
	ASSERT_INT_EQ(mka_xpn_ssci(scis, 1, scis + 8, &ssci), -1);
}

TEST(cipher_suite_agreement)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	/* The KS prefers XPN-256, the peer cannot do it: GCM-AES-256. */
	a.suites[0] = MKA_CS_GCM_AES_XPN_256;
	a.suites[1] = MKA_CS_GCM_AES_256;
	a.n_suites = 2;
	b.suites[0] = MKA_CS_GCM_AES_256;
	b.suites[1] = MKA_CS_GCM_AES_128;
	b.n_suites = 2;
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_INT_EQ(status(0).suite, MKA_CS_GCM_AES_256);
	ASSERT_INT_EQ(sides[1].secy.policy.cs, MKA_CS_GCM_AES_256);
	assert_keys_match(0, 0);
	pair_stop();
	/* No common suite: never secured. */
	b.suites[0] = MKA_CS_GCM_AES_128;
	b.n_suites = 1;
	a.n_suites = 1;
	pair_start(&a, &b);
	ASSERT_INT_EQ(run_until_secured(8000), 8000);
	ASSERT_INT_EQ(status(0).c.sak_generated, 0);
	pair_stop();
}

TEST(mismatched_psk_never_secures)
{
	struct mka_kay_conf a, b;
	uint8_t other[16];

	conf_default(&a, 0);
	conf_default(&b, 1);
	memcpy(other, cak, 16);
	other[15] ^= 1;
	now = 1000;
	side_start(0, &a, cak, 16);
	side_start(1, &b, other, 16);
	ASSERT_INT_EQ(run_until_secured(15000), 15000);
	ASSERT_INT_EQ(status(0).live_peers + status(0).potential_peers, 0);
	ASSERT_INT_EQ(status(1).live_peers + status(1).potential_peers, 0);
	ASSERT_TRUE(status(0).c.rx_bad_icv > 0);
	ASSERT_INT_EQ(sides[0].secy.calls, 0); /* nothing installed */
	ASSERT_INT_EQ(sides[1].secy.calls, 0);
	pair_stop();
}

TEST(forged_and_replayed_mkpdus_change_nothing)
{
	struct mka_kay_conf a, b;
	struct mka_kay_status before, after;
	struct frame f;
	unsigned calls;

	conf_default(&a, 0);
	conf_default(&b, 1);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	run(1000);
	f = last[0];
	before = status(1);
	calls = sides[1].secy.calls;
	/* Replay of A's last frame: same MN, refused (9.4.2). */
	mka_kay_rx(sides[1].kay, f.b, f.len, now);
	after = status(1);
	ASSERT_INT_EQ(after.c.rx_replayed, before.c.rx_replayed + 1);
	before = after;
	/* Forgeries: a higher MN, or a flipped SAK Use bit, bad ICV. */
	f.b[14 + 4 + 4 + 8 + 12 + 3] += 5; /* Basic MN */
	mka_kay_rx(sides[1].kay, f.b, f.len, now);
	f.b[f.len - 20] ^= 0x10;
	mka_kay_rx(sides[1].kay, f.b, f.len, now);
	after = status(1);
	ASSERT_INT_EQ(after.c.rx_bad_icv, before.c.rx_bad_icv + 2);
	ASSERT_INT_EQ(after.c.rx_mkpdus, before.c.rx_mkpdus);
	ASSERT_INT_EQ(sides[1].secy.calls, calls);
	ASSERT_INT_EQ(after.cp, before.cp);
	/* And the real A, whose MN is now below the forged one, still
	 * counts: nothing of the forgery was remembered. */
	run(5000);
	ASSERT_TRUE(both_secured());
	ASSERT_INT_EQ(status(1).c.rx_replayed, after.c.rx_replayed);
	pair_stop();
}

TEST(rekey_on_pn_threshold_is_hitless)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	/* The peer's transmit PN passes 0xC0000000: it reports it in SAK
	 * Use and the key server distributes KN 2 on AN 1 (9.8). */
	sides[1].secy.tx_pn_override = 0xc0000001ull;
	sides[1].secy.tx_pn_override_an = 0;
	run(3000);
	ASSERT_INT_EQ(status(0).c.rekeys_pn, 1);
	ASSERT_INT_EQ(status(0).latest_kn, 2);
	ASSERT_TRUE(run_until_secured(3000) < 3000);
	ASSERT_INT_EQ(status(1).latest_an, 1);
	ASSERT_INT_EQ(status(1).latest_kn, 2);
	assert_keys_match(0, 1);
	assert_keys_match(1, 1);
	/* Make before break: the old SAs lived until the new were used,
	 * and are retired afterwards. */
	run(5000);
	ASSERT_TRUE(!sides[0].secy.tx[0].installed);
	ASSERT_TRUE(!sides[1].secy.tx[0].installed);
	ASSERT_INT_EQ(status(0).c.rekeys_pn, 1);
	pair_stop();
}

TEST(peer_restart_with_new_mi_recovers)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	/* B restarts: a new process, a new MI, an empty SecY. */
	side_start(1, &b, cak, 16);
	ASSERT_TRUE(run_until_secured(20000) < 20000);
	ASSERT_TRUE(status(0).latest_kn >= 2);
	ASSERT_INT_EQ(status(0).live_peers, 1);
	assert_keys_match(0, status(0).latest_an);
	assert_keys_match(1, status(1).latest_an);
	pair_stop();
}

TEST(peer_silent_for_life_time_is_dropped)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	cut[1] = true;
	run(5000);
	ASSERT_INT_EQ(status(0).live_peers, 1); /* within 6 s */
	run(2000);
	ASSERT_INT_EQ(status(0).live_peers, 0);
	ASSERT_INT_EQ(status(0).connect, MKA_CONNECT_PENDING);
	ASSERT_TRUE(!status(0).secured);
	/* Its SAs are gone: nothing left to transmit or receive with. */
	ASSERT_INT_EQ(sides[0].secy.encoding_an, -1);
	ASSERT_TRUE(secy_fake_rxsc(
			&sides[0].secy,
			(const uint8_t *)"\x02\x00\x00\x00\x00\x02\x00\x01") ==
		    NULL);
	/* It comes back: secured again with a new SAK. */
	cut[1] = false;
	ASSERT_TRUE(run_until_secured(20000) < 20000);
	pair_stop();
}

TEST(macsec_not_desired_authenticates_only)
{
	struct mka_kay_conf a, b;

	conf_default(&a, 0);
	conf_default(&b, 1);
	a.macsec_desired = false;
	pair_start(&a, &b);
	run(5000);
	ASSERT_INT_EQ(status(0).connect, MKA_CONNECT_AUTHENTICATED);
	ASSERT_INT_EQ(status(1).connect, MKA_CONNECT_AUTHENTICATED);
	ASSERT_INT_EQ(status(1).cp, CP_AUTHENTICATED);
	ASSERT_TRUE(!sides[1].secy.policy.protect);
	ASSERT_INT_EQ(secy_fake_count(&sides[1].secy, "install"), 0);
	pair_stop();
}

TEST(key_log_format_and_eapol_destination)
{
	struct mka_kay_conf a, b;
	char want[256], ckn_hex[17], cak_hex[33], sak_hex[33];

	conf_default(&a, 0);
	conf_default(&b, 1);
	memset(a.eapol_da, 0xff, 6); /* broadcast, for Linux bridges */
	memset(b.eapol_da, 0xff, 6);
	pair_start(&a, &b);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_MEM_EQ(last[0].b, "\xff\xff\xff\xff\xff\xff", 6);
	hex_encode(ckn_hex, ckn, sizeof(ckn));
	hex_encode(cak_hex, cak, sizeof(cak));
	hex_encode(sak_hex, sides[0].secy.tx[0].key, 16);
	snprintf(want, sizeof(want), "CAK %s %s", ckn_hex, cak_hex);
	ASSERT_STR_EQ(sides[1].keylog[0], want);
	snprintf(want, sizeof(want), "SAK %s 0 1 %s", ckn_hex, sak_hex);
	ASSERT_STR_EQ(sides[1].keylog[1], want);
	ASSERT_STR_EQ(sides[0].keylog[1], want);
	pair_stop();
}

TEST_MAIN(TEST_CASE(psk_pair_secures_with_equal_saks),
	  TEST_CASE(priority_tie_broken_by_lower_sci),
	  TEST_CASE(xpn_256_ssci_and_salt_per_802_1ae),
	  TEST_CASE(xpn_salt_matches_published_example),
	  TEST_CASE(cipher_suite_agreement),
	  TEST_CASE(mismatched_psk_never_secures),
	  TEST_CASE(forged_and_replayed_mkpdus_change_nothing),
	  TEST_CASE(rekey_on_pn_threshold_is_hitless),
	  TEST_CASE(peer_restart_with_new_mi_recovers),
	  TEST_CASE(peer_silent_for_life_time_is_dropped),
	  TEST_CASE(macsec_not_desired_authenticates_only),
	  TEST_CASE(key_log_format_and_eapol_destination))
