/*
 * test_mka_qkd.c — the QKD binding (mka_qkd.c) between two real KaYs on
 * a fake wire, with a fake key service standing in for the KME pair (the
 * far side of the seam): enc_keys hands out a random key under a random
 * 16-octet ID, dec_keys returns it once, to the named slave only.
 *
 * Checked: the pair secures with CKN = key ID and the initiator's SAE ID
 * in the KMD set; the responder fetches each key once; a key that does
 * not verify the MKPDU's ICV is never used; disallowed peers get nothing;
 * lookups are rate limited; a restarted responder gets a fresh key.
 */
#include "harness.h"

#include "log.h"
#include "mka_qkd.h"
#include "secy_fake.h"
#include "util.h"

#include <openssl/rand.h>

#define STEP_MS 10
#define QLEN 64
#define SVC_KEYS 16

struct svc_key {
	bool used, delivered;
	char master[32], slave[32];
	uint8_t id[16];
	uint8_t key[32];
};

static struct svc_key svc[SVC_KEYS];
static unsigned svc_new_calls, svc_get_calls;
static bool svc_corrupt; /* dec_keys returns a wrong key */
static enum mka_qkd_role b_role; /* side B's configured role */
static uint64_t cak_lifetime; /* both sides */
static bool with_fallback; /* both sides */
static bool svc_down; /* the KMEs answer nothing */

struct side {
	const char *sae;
	struct mka_kay *kay;
	struct mka_qkd *qkd;
	struct secy_fake secy;
	struct mka_kay_conf conf;
	int idx;
};

static struct side sides[2];
static struct {
	uint8_t b[1600];
	size_t len;
} queue[2][QLEN], last[2];
static int qn[2];
static uint64_t now;

__attribute__((constructor)) static void
quiet(void)
{
	log_set_level(LOG_LVL_ERR);
}

static int
svc_new_key(void *arg, const char *slave, size_t key_len, uint8_t id[32],
	    size_t *id_len, uint8_t *key)
{
	struct side *s = arg;

	svc_new_calls++;
	if (svc_down)
		return -1;
	for (size_t i = 0; i < SVC_KEYS; i++) {
		struct svc_key *k = &svc[i];

		if (k->used)
			continue;
		k->used = true;
		str_copy(k->master, sizeof(k->master), s->sae);
		str_copy(k->slave, sizeof(k->slave), slave);
		RAND_bytes(k->id, 16);
		RAND_bytes(k->key, (int)key_len);
		memcpy(id, k->id, 16);
		*id_len = 16;
		memcpy(key, k->key, key_len);
		return 0;
	}
	return -1;
}

static int
svc_get_key(void *arg, const char *master, const uint8_t *id, size_t id_len,
	    size_t key_len, uint8_t *key)
{
	struct side *s = arg;

	svc_get_calls++;
	if (svc_down)
		return -1;
	for (size_t i = 0; i < SVC_KEYS; i++) {
		struct svc_key *k = &svc[i];

		if (!k->used || k->delivered || id_len != 16 ||
		    memcmp(k->id, id, 16) != 0 || strcmp(k->master, master) ||
		    strcmp(k->slave, s->sae))
			continue;
		k->delivered = true; /* ETSI 014: once per slave */
		memcpy(key, k->key, key_len);
		if (svc_corrupt)
			key[0] ^= 1;
		return 0;
	}
	return -1;
}

static const struct mka_keysvc_ops svc_ops = {
	.new_key = svc_new_key,
	.get_key = svc_get_key,
};

static int
wire_tx(void *arg, const uint8_t *f, size_t len)
{
	struct side *s = arg;
	int to = 1 - s->idx;

	memcpy(last[s->idx].b, f, len);
	last[s->idx].len = len;
	if (qn[to] < QLEN) {
		memcpy(queue[to][qn[to]].b, f, len);
		queue[to][qn[to]++].len = len;
	}
	return 0;
}

static void
side_start(int idx, const char *sae, const char *allowed)
{
	struct side *s = &sides[idx];
	struct mka_qkd_conf qc = { 0 };

	if (s->kay != NULL) {
		mka_kay_free(s->kay);
		mka_qkd_free(s->qkd);
	}
	memset(s, 0, sizeof(*s));
	s->idx = idx;
	s->sae = sae;
	str_copy(qc.own_sae, sizeof(qc.own_sae), sae);
	str_copy(qc.allowed[0], sizeof(qc.allowed[0]), allowed);
	qc.n_allowed = 1;
	qc.role = idx == 1 ? b_role : MKA_ROLE_AUTO;
	qc.cak_lifetime_ms = cak_lifetime;
	if (with_fallback) {
		qc.has_fallback = true;
		memset(qc.fb_cak, 0x5f, 16);
		qc.fb_cak_len = 16;
		memcpy(qc.fb_ckn, "fallback", 8);
		qc.fb_ckn_len = 8;
		qc.fallback_after_ms = 10000;
	}
	qc.cak_len = 32;
	qc.ops = &svc_ops;
	qc.ops_arg = s;
	secy_fake_init(&s->secy);
	s->conf.name = idx == 0 ? "A" : "B";
	memcpy(s->conf.mac, "\x02\x00\x00\x00\x00\x01", 6);
	s->conf.mac[5] = (uint8_t)(idx + 1);
	s->conf.priority = 16;
	s->conf.macsec_desired = true;
	s->conf.capability = MKA_CAP_CONF_0;
	s->conf.suites[0] = MKA_CS_GCM_AES_XPN_256;
	s->conf.n_suites = 1;
	memcpy(s->conf.eapol_da, "\x01\x80\xc2\x00\x00\x03", 6);
	s->conf.secy = &secy_fake_ops;
	s->conf.secy_arg = &s->secy;
	s->conf.tx = wire_tx;
	s->conf.tx_arg = s;
	if ((s->qkd = mka_qkd_new(&qc)) == NULL)
		abort();
	mka_qkd_hook(s->qkd, &s->conf);
	if ((s->kay = mka_kay_new(&s->conf, now)) == NULL)
		abort();
	mka_qkd_attach(s->qkd, s->kay);
	qn[idx] = 0;
}

static void
pair_start(const char *allowed_by_b)
{
	memset(svc, 0, sizeof(svc));
	svc_new_calls = svc_get_calls = 0;
	svc_corrupt = false;
	svc_down = false;
	now = 1000;
	side_start(0, "SAE_A_01", "SAE_B_02");
	side_start(1, "SAE_B_02", allowed_by_b);
}

static void
pair_stop(void)
{
	for (int i = 0; i < 2; i++) {
		mka_kay_free(sides[i].kay);
		mka_qkd_free(sides[i].qkd);
		sides[i].kay = NULL;
		sides[i].qkd = NULL;
	}
}

static void
run(uint64_t ms)
{
	static struct {
		uint8_t b[1600];
		size_t len;
	} q[QLEN];

	for (uint64_t t = 0; t < ms; t += STEP_MS) {
		for (int i = 0; i < 2; i++) {
			int n = qn[i];

			memcpy(q, queue[i], sizeof(q[0]) * (size_t)n);
			qn[i] = 0;
			/* As the daemon's loop does: clock first, then frames. */
			mka_qkd_set_now(sides[i].qkd, now);
			for (int j = 0; j < n; j++)
				mka_kay_rx(sides[i].kay, q[j].b, q[j].len, now);
		}
		for (int i = 0; i < 2; i++) {
			mka_qkd_tick(sides[i].qkd, now);
			mka_kay_tick(sides[i].kay, now);
		}
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

static uint64_t
run_until_secured(uint64_t limit)
{
	uint64_t t = 0;

	while (t < limit && !(status(0).secured && status(1).secured)) {
		run(100);
		t += 100;
	}
	return t;
}

static struct mka_qkd_counters
counters(int i)
{
	struct mka_qkd_counters c;

	mka_qkd_get_counters(sides[i].qkd, &c);
	return c;
}

TEST(qkd_pair_secures_on_the_binding)
{
	struct mkpdu pdu;
	const char *why;

	pair_start("SAE_A_01");
	ASSERT_TRUE(mka_qkd_is_initiator(sides[0].qkd));
	ASSERT_TRUE(!mka_qkd_is_initiator(sides[1].qkd));
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_INT_EQ(svc_new_calls, 1);
	ASSERT_INT_EQ(svc_get_calls, 1);
	ASSERT_TRUE(counters(1).announcements_sent >= 1);
	/* The initiator's MKPDU: CKN = the key ID, KMD = its SAE ID. */
	ASSERT_INT_EQ(mka_pdu_decode(last[0].b, last[0].len, &pdu, &why), 0);
	ASSERT_INT_EQ(pdu.basic.ckn_len, 16);
	ASSERT_MEM_EQ(pdu.basic.ckn, svc[0].id, 16);
	ASSERT_TRUE(pdu.has & MKA_HAS(MKA_PS_KMD));
	ASSERT_MEM_EQ(pdu.kmd.v, "SAE_A_01", 8);
	/* The responder's MKPDUs carry the same CKN and no KMD. */
	ASSERT_INT_EQ(mka_pdu_decode(last[1].b, last[1].len, &pdu, &why), 0);
	ASSERT_MEM_EQ(pdu.basic.ckn, svc[0].id, 16);
	ASSERT_TRUE(!(pdu.has & MKA_HAS(MKA_PS_KMD)));
	/* Same SAK both ways, XPN-256 from a 256-bit QKD CAK. */
	ASSERT_INT_EQ(status(1).suite, MKA_CS_GCM_AES_XPN_256);
	ASSERT_MEM_EQ(sides[0].secy.tx[0].key, sides[1].secy.tx[0].key, 32);
	/* Steady: no more keys, no more announcements once live. */
	{
		uint64_t ann = counters(1).announcements_sent;

		run(20000);
		ASSERT_INT_EQ(svc_new_calls, 1);
		ASSERT_INT_EQ(counters(1).announcements_sent, ann);
	}
	pair_stop();
}

/*
 * The daemon's clock is mono_ms(), far from zero when the first
 * announcement arrives.  A CA created on receipt must carry that time, or it
 * looks dead at the next tick and is ended, wasting a QKD key.
 */
TEST(first_ca_survives_a_late_clock)
{
	pair_start("SAE_A_01");
	now = 86400000; /* a day of uptime */
	/* B announces before A's loop has ever ticked (A started later). */
	mka_qkd_tick(sides[1].qkd, now);
	mka_kay_tick(sides[1].kay, now);
	ASSERT_TRUE(qn[0] > 0);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	run(3000);
	ASSERT_INT_EQ(svc_new_calls, 1);
	ASSERT_INT_EQ(svc_get_calls, 1);
	pair_stop();
}

TEST(disallowed_peer_gets_nothing)
{
	/* B answers to SAE_X_99 only ("auto" would make B initiator). */
	b_role = MKA_ROLE_RESPONDER;
	pair_start("SAE_X_99");
	b_role = MKA_ROLE_AUTO;
	ASSERT_INT_EQ(run_until_secured(8000), 8000);
	ASSERT_INT_EQ(svc_get_calls, 0);
	ASSERT_TRUE(counters(1).peers_refused > 0);
	ASSERT_INT_EQ(status(1).live_peers, 0);
	pair_stop();
}

TEST(key_failing_the_icv_is_never_used)
{
	pair_start("SAE_A_01");
	svc_corrupt = true;
	ASSERT_INT_EQ(run_until_secured(10000), 10000);
	ASSERT_TRUE(counters(1).keys_rejected_icv >= 1);
	/* Rate limit: one lookup per (SAE ID, CKN) per 15 s. */
	ASSERT_INT_EQ(svc_get_calls, 1);
	ASSERT_TRUE(counters(1).lookups_limited > 0);
	ASSERT_TRUE(mka_kay_principal(sides[1].kay) == NULL);
	ASSERT_INT_EQ(sides[1].secy.calls, 0);
	pair_stop();
}

TEST(restarted_responder_gets_a_fresh_key)
{
	pair_start("SAE_A_01");
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	side_start(1, "SAE_B_02", "SAE_A_01");
	ASSERT_TRUE(run_until_secured(40000) < 40000);
	ASSERT_INT_EQ(svc_new_calls, 2);
	ASSERT_TRUE(svc[1].delivered);
	pair_stop();
}

/*
 * "No frame lost": each side's encoding SA has a matching, enabled
 * receive SA on the other side with the same key.
 */
static bool
link_ok(void)
{
	for (int i = 0; i < 2; i++) {
		struct secy_fake *tx = &sides[i].secy, *rx = &sides[1 - i].secy;
		uint8_t sci[8];
		struct secy_fake_sc *sc;
		int an = tx->encoding_an;

		memcpy(sci, sides[i].conf.mac, 6);
		sci[6] = 0;
		sci[7] = 1;
		if (an < 0 || !tx->tx[an].installed ||
		    (sc = secy_fake_rxsc(rx, sci)) == NULL ||
		    !sc->sa[an].enabled ||
		    sc->sa[an].key_len != tx->tx[an].key_len ||
		    memcmp(sc->sa[an].key, tx->tx[an].key,
			   tx->tx[an].key_len) != 0)
			return false;
	}
	return true;
}

/* Runs ms in steps, asserting the link carries frames at every step. */
static bool
run_hitless(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += STEP_MS) {
		run(STEP_MS);
		if (!link_ok())
			return false;
	}
	return true;
}

static struct mka_participant *
principal(int i)
{
	return mka_kay_principal(sides[i].kay);
}

TEST(cak_rollover_is_make_before_break)
{
	uint8_t tx_key[32];

	cak_lifetime = 20000;
	pair_start("SAE_A_01");
	cak_lifetime = 0;
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	memcpy(tx_key, sides[0].secy.tx[sides[0].secy.encoding_an].key, 32);
	/* Through two lifetimes, the link never drops a frame. */
	ASSERT_TRUE(run_hitless(45000));
	ASSERT_INT_EQ(svc_new_calls, 3);
	ASSERT_INT_EQ(svc_get_calls, 3);
	ASSERT_INT_EQ(counters(0).rollovers, 2);
	ASSERT_INT_EQ(counters(1).rollovers, 2);
	/* Participant slots are reused: compare CAs by their key ID. */
	ASSERT_TRUE(principal(0) ==
		    mka_kay_find_ca(sides[0].kay, svc[2].id, 16));
	ASSERT_TRUE(principal(1) ==
		    mka_kay_find_ca(sides[1].kay, svc[2].id, 16));
	/* The link now runs on a SAK of the third CA, the old ones gone. */
	ASSERT_TRUE(memcmp(tx_key,
			   sides[0].secy.tx[sides[0].secy.encoding_an].key,
			   32) != 0);
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, svc[0].id, 16) == NULL);
	ASSERT_TRUE(mka_kay_find_ca(sides[1].kay, svc[1].id, 16) == NULL);
	ASSERT_TRUE(mka_kay_find_ca(sides[1].kay, svc[2].id, 16) != NULL);
	ASSERT_TRUE(status(0).secured && status(1).secured);
	pair_stop();
}

TEST(kme_down_falls_back_to_psk_then_back_to_qkd)
{
	with_fallback = true;
	pair_start("SAE_A_01");
	with_fallback = false;
	svc_down = true;
	run(9000);
	ASSERT_TRUE(!status(0).secured);
	ASSERT_TRUE(!counters(0).fallback_active);
	/* After fallback_after (10 s) without a QKD CA: the PSK CA. */
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_TRUE(counters(0).fallback_active && counters(1).fallback_active);
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, (const uint8_t *)"fallback",
				    8) != NULL);
	ASSERT_TRUE(counters(0).key_errors > 0);
	/* The KMEs recover: QKD takes over without losing a frame. */
	svc_down = false;
	ASSERT_TRUE(run_hitless(20000));
	ASSERT_TRUE(!counters(0).fallback_active);
	ASSERT_TRUE(!counters(1).fallback_active);
	ASSERT_TRUE(mka_kay_find_ca(sides[1].kay, (const uint8_t *)"fallback",
				    8) == NULL);
	ASSERT_TRUE(mka_participant_in_use(principal(0)));
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, svc[0].id, 16) ==
		    principal(0));
	pair_stop();
}

TEST(stale_cak_gives_way_to_the_fallback)
{
	uint64_t t;

	cak_lifetime = 20000;
	with_fallback = true;
	pair_start("SAE_A_01");
	cak_lifetime = 0;
	with_fallback = false;
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	svc_down = true;
	/* The lifetime ends without a fresh key: the CAK stays in use,
	 * hitless, up to fallback_after (10 s) past its lifetime. */
	ASSERT_TRUE(run_hitless(27000));
	ASSERT_TRUE(counters(0).key_errors > 0);
	ASSERT_TRUE(!counters(0).fallback_active);
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, svc[0].id, 16) != NULL);
	/* Then it ends at both sides and the fallback CA secures the link
	 * (well before a further fallback_after). */
	for (t = 0; t < 8000 && !(counters(0).fallback_active &&
				  counters(1).fallback_active &&
				  status(0).secured && status(1).secured);
	     t += 100)
		run(100);
	ASSERT_TRUE(t < 8000);
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, svc[0].id, 16) == NULL);
	ASSERT_TRUE(mka_kay_find_ca(sides[1].kay, svc[0].id, 16) == NULL);
	ASSERT_TRUE(principal(0) == mka_kay_find_ca(sides[0].kay,
						    (const uint8_t *)"fallback",
						    8));
	/* The key service recovers: a fresh QKD CA takes the link back. */
	svc_down = false;
	for (t = 0; t < 20000 && counters(0).fallback_active; t += 100)
		run(100);
	ASSERT_TRUE(t < 20000);
	ASSERT_TRUE(run_until_secured(10000) < 10000);
	ASSERT_TRUE(!counters(1).fallback_active);
	ASSERT_TRUE(mka_kay_find_ca(sides[0].kay, svc[1].id, 16) ==
		    principal(0));
	pair_stop();
}

TEST_MAIN(TEST_CASE(qkd_pair_secures_on_the_binding),
	  TEST_CASE(first_ca_survives_a_late_clock),
	  TEST_CASE(disallowed_peer_gets_nothing),
	  TEST_CASE(key_failing_the_icv_is_never_used),
	  TEST_CASE(restarted_responder_gets_a_fresh_key),
	  TEST_CASE(cak_rollover_is_make_before_break),
	  TEST_CASE(stale_cak_gives_way_to_the_fallback),
	  TEST_CASE(kme_down_falls_back_to_psk_then_back_to_qkd))
