/*
 * test_kme_linkmsg.c — kme-sim's KME-link message parser
 * (kme_linkmsg_parse()): what it accepts from the peer, and the 400 it
 * answers otherwise, with the wording the link server has always used
 * (it_kme_crash.py reads the drifted-master one).
 *
 * We are KME_B (SAE_B, SAE_B2); the caller is KME_A (SAE_A); KME_C
 * (SAE_C) is another peer.
 */
#include "harness.h"

#include "kme_linkmsg.h"

#define U1 "4f2b3c1a-9d8e-4a7b-8c6d-5e4f3a2b1c0d"
#define U2 "0e1d2c3b-4a59-4867-a756-849302a1b0c9"
#define K16 "AAECAwQFBgcICQoLDA0ODw=="
#define K32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static struct kme_cfg cfg;
static struct kme_linkmsg m;
static char why[KME_ERR_MAX];
static const struct kme_limits lim = {
	.key_size = 256,
	.min_key_size = 64,
	.max_key_size = 1024,
	.max_key_per_request = 128,
	.max_sae_id_count = 4,
};

static int
parse(const char *path, bool authority, const char *body)
{
	struct kme_linkmsg_ctx ctx = {
		.cfg = &cfg,
		.peer = &cfg.peers[0],
		.authority = authority,
		.lim = &lim,
	};

	if (cfg.nsaes == 0) {
		snprintf(cfg.kme_id, sizeof(cfg.kme_id), "KME_B");
		snprintf(cfg.saes[0], sizeof(cfg.saes[0]), "SAE_B");
		snprintf(cfg.saes[1], sizeof(cfg.saes[1]), "SAE_B2");
		cfg.nsaes = 2;
		snprintf(cfg.peers[0].id, sizeof(cfg.peers[0].id), "KME_A");
		snprintf(cfg.peers[0].saes[0], sizeof(cfg.peers[0].saes[0]),
			 "SAE_A");
		cfg.peers[0].nsaes = 1;
		snprintf(cfg.peers[1].id, sizeof(cfg.peers[1].id), "KME_C");
		snprintf(cfg.peers[1].saes[0], sizeof(cfg.peers[1].saes[0]),
			 "SAE_C");
		cfg.peers[1].nsaes = 1;
		cfg.npeers = 2;
	}
	why[0] = '\0';
	return kme_linkmsg_parse(path, body, strlen(body), &ctx, &m, why,
				 sizeof(why));
}

TEST(sync_accepted)
{
	static const uint8_t u1[UUID_LEN] = {
		0x4f, 0x2b, 0x3c, 0x1a, 0x9d, 0x8e, 0x4a, 0x7b,
		0x8c, 0x6d, 0x5e, 0x4f, 0x3a, 0x2b, 0x1c, 0x0d,
	};

	ASSERT_INT_EQ(
	    parse("/link/v1/sync", false,
		  "{\"pool_bits\":1024,\"max_bits\":9007199254740992,"
		  "\"saes\":[\"SAE_A\",\"SAE_X\"],\"delivered\":[\"" U1
		  "\",\"" U2 "\"]}"),
	    0);
	ASSERT_INT_EQ(m.type, KME_LINKMSG_SYNC);
	ASSERT_U64_EQ(m.u.sync.pool_bits, 1024);
	ASSERT_U64_EQ(m.u.sync.max_bits, UINT64_C(1) << 53);
	ASSERT_INT_EQ(m.u.sync.ndelivered, 2);
	ASSERT_MEM_EQ(m.u.sync.delivered[0], u1, UUID_LEN);
	ASSERT_TRUE(m.u.sync.saes.has);
	ASSERT_INT_EQ(m.u.sync.saes.n, 2);
	ASSERT_STR_EQ(m.u.sync.saes.ids[1], "SAE_X");
	/* A list with a non-string is ignored, as from older peers. */
	ASSERT_INT_EQ(
	    parse("/link/v1/sync", false,
		  "{\"pool_bits\":0,\"max_bits\":0,\"saes\":[\"SAE_A\",1]}"),
	    0);
	ASSERT_TRUE(!m.u.sync.saes.has);
}

TEST(sync_refused)
{
	static const char *const bad[] = {
		"{\"pool_bits\":2,\"max_bits\":1}",
		"{\"pool_bits\":1.5,\"max_bits\":2}",
		"{\"pool_bits\":1e20,\"max_bits\":1e999}",
		"{\"pool_bits\":-1,\"max_bits\":2}",
		"{\"max_bits\":2}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (parse("/link/v1/sync", false, bad[i]) != -1)
			TH_FAIL("accepted sync #%zu", i);
		ASSERT_STR_EQ(why,
			      "sync needs pool_bits and max_bits (integers, "
			      "0 <= pool_bits <= max_bits <= 2^53)");
	}
	ASSERT_INT_EQ(parse("/link/v1/sync", false,
			    "{\"pool_bits\":1,"
			    "\"max_bits\":2,\"delivered\":[\"" U1 "\",7]}"),
		      -1);
	ASSERT_STR_EQ(why, "delivered must be a list of key IDs");
	ASSERT_INT_EQ(parse("/link/v1/sync", true,
			    "{\"pool_bits\":1,"
			    "\"max_bits\":2}"),
		      -1);
	ASSERT_STR_EQ(why, "sync goes from the pool authority (the lower KME "
			   "ID) only");
	ASSERT_INT_EQ(parse("/link/v1/sync", false, "[1]"), -1);
	ASSERT_STR_EQ(why, "link message is not a JSON object");
	ASSERT_INT_EQ(parse("/link/v1/claim", false, "{}"), -1);
	ASSERT_STR_EQ(why, "unknown link message");
}

TEST(reserve_accepted_and_cleared)
{
	ASSERT_INT_EQ(
	    parse("/link/v1/reserve", false,
		  "{\"batch\":[{\"keys\":[{\"key_ID\":\"" U1 "\",\"key\":\"" K32
		  "\"}],\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"]},"
		  "{\"keys\":[{\"key_ID\":\"" U1 "\",\"key\":\"" K16 "\"},"
		  "{\"key_ID\":\"" U2 "\",\"key\":\"" K16 "\"}],\"master\":"
		  "\"SAE_A\",\"slaves\":[\"SAE_B2\",\"SAE_B\"]}]}"),
	    0);
	ASSERT_INT_EQ(m.type, KME_LINKMSG_RESERVE);
	ASSERT_INT_EQ(m.u.reserve.nitems, 2);
	ASSERT_INT_EQ(m.u.reserve.items[0].n, 1);
	ASSERT_INT_EQ(m.u.reserve.items[0].key_len, 32);
	ASSERT_INT_EQ(m.u.reserve.items[0].keys[0].bytes[31], 31);
	ASSERT_INT_EQ(m.u.reserve.items[1].n, 2);
	ASSERT_INT_EQ(m.u.reserve.items[1].key_len, 16);
	ASSERT_INT_EQ(m.u.reserve.items[1].parties.nslaves, 2);
	ASSERT_STR_EQ(m.u.reserve.items[1].parties.slaves[0], "SAE_B2");
	kme_linkmsg_clear(&m);
	ASSERT_INT_EQ(m.u.reserve.nitems, 0);
}

TEST(reserve_refused)
{
	ASSERT_INT_EQ(
	    parse("/link/v1/reserve", false,
		  "{\"batch\":[{\"keys\":[{\"key_ID\":\"" U1 "\",\"key\":\"" K16
		  "\"}],\"master\":\"SAE_C\",\"slaves\":[\"SAE_B\"]}]}"),
	    -1);
	ASSERT_STR_EQ(why,
		      "master SAE_C is not an SAE of KME KME_A in the "
		      "configuration of KME KME_B ([peer KME_A] saes = SAE_A)");
	ASSERT_TRUE(m.log_refusal);
	ASSERT_INT_EQ(
	    parse("/link/v1/reserve", false,
		  "{\"batch\":[{\"keys\":[{\"key_ID\":\"" U1 "\",\"key\":\"" K16
		  "\"}],\"master\":\"SAE_A\",\"slaves\":[\"SAE_A\"]}]}"),
	    -1);
	ASSERT_STR_EQ(why, "slave SAE_A is not served by KME KME_B");
	ASSERT_TRUE(!m.log_refusal);
	/* Keys of one item must all have the first one's length. */
	ASSERT_INT_EQ(parse("/link/v1/reserve", false,
			    "{\"batch\":[{\"keys\":[{\"key_ID\":\"" U1
			    "\",\"key\":\"" K16 "\"},{\"key_ID\":\"" U2
			    "\",\"key\":\"" K32 "\"}],"
			    "\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"]}]}"),
		      -1);
	ASSERT_STR_EQ(why, "malformed keys");
	/* Only sizes this KME serves (64..1024 bits here). */
	ASSERT_INT_EQ(
	    parse("/link/v1/reserve", false,
		  "{\"batch\":[{\"keys\":[{\"key_ID\":\"" U1 "\",\"key\":"
		  "\"AQ==\"}],\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"]}]}"),
	    -1);
	ASSERT_STR_EQ(why, "key size 8 bits is outside 64..1024");
	ASSERT_INT_EQ(parse("/link/v1/reserve", false, "{\"batch\":[]}"), -1);
	ASSERT_STR_EQ(why, "reserve needs a batch of 1..64 items");
	ASSERT_INT_EQ(parse("/link/v1/reserve", true, "{\"batch\":[]}"), -1);
	ASSERT_STR_EQ(why, "reserve goes to the pool authority's peer only");
}

TEST(alloc_accepted_and_refused)
{
	ASSERT_INT_EQ(
	    parse("/link/v1/alloc", true,
		  "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\",\"SAE_B2\"],"
		  "\"number\":128,\"size\":1024}"),
	    0);
	ASSERT_INT_EQ(m.type, KME_LINKMSG_ALLOC);
	ASSERT_INT_EQ(m.u.alloc.number, 128);
	ASSERT_INT_EQ(m.u.alloc.size, 1024);
	ASSERT_INT_EQ(m.u.alloc.parties.nslaves, 2);
	ASSERT_INT_EQ(parse("/link/v1/alloc", true,
			    "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],"
			    "\"number\":129,\"size\":1024}"),
		      -1);
	ASSERT_STR_EQ(why, "alloc number or size out of range");
	ASSERT_INT_EQ(parse("/link/v1/alloc", true,
			    "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],"
			    "\"number\":1,\"size\":1020}"),
		      -1);
	/* Whole numbers only: 1.5 keys must not become 1. */
	ASSERT_INT_EQ(parse("/link/v1/alloc", true,
			    "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],"
			    "\"number\":1.5,\"size\":256}"),
		      -1);
	ASSERT_INT_EQ(parse("/link/v1/alloc", true,
			    "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],"
			    "\"number\":1,\"size\":256.5}"),
		      -1);
	ASSERT_STR_EQ(why, "alloc number or size out of range");
	ASSERT_INT_EQ(parse("/link/v1/alloc", true,
			    "{\"master\":\"SAE_A\",\"slaves\":[],\"number\":1,"
			    "\"size\":256}"),
		      -1);
	ASSERT_STR_EQ(why, "slaves must be a list of 1..17 SAE IDs");
	ASSERT_INT_EQ(parse("/link/v1/alloc", false,
			    "{\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],"
			    "\"number\":1,\"size\":256}"),
		      -1);
	ASSERT_STR_EQ(why, "alloc goes to the pool authority (the lower KME "
			   "ID) only");
}

TEST_MAIN(TEST_CASE(sync_accepted), TEST_CASE(sync_refused),
	  TEST_CASE(reserve_accepted_and_cleared), TEST_CASE(reserve_refused),
	  TEST_CASE(alloc_accepted_and_refused))
