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

/* A relay from KME_A to us, its last hop: one 64-bit key for SAE_B. */
#define RELAY_HEAD \
	"{\"pad_id\":\"" U1 "\",\"path\":[\"KME_A\",\"KME_B\"],\"hop\":1," \
	"\"master\":\"SAE_A\",\"slaves\":[\"SAE_B\"],\"size\":64," \
	"\"key_IDs\":[\"" U1 "\"],"
#define CT8 "AAECAwQFBgc=" /* octets 0..7 */
/*
 * HMAC-SHA-256 under octets 0..31 of "qkdlab-relay-v1\n" U1 "\nKME_A\n
 * KME_B\nhop=1\nSAE_A\nSAE_B\nsize=64\n" U1 "\n" and octets 0..7, by
 * Python's hmac module (hmac.new(key, msg, hashlib.sha256)).
 */
#define MAC_B64 "LutK14DWlI297ZO/nEo643wkgq3u8abdyXoIcpVenYs="

TEST(relay_accepted_and_mac)
{
	uint8_t key[KME_RELAY_MAC_LEN], tag[KME_RELAY_MAC_LEN];
	static const uint8_t want[KME_RELAY_MAC_LEN] = {
		0x2e, 0xeb, 0x4a, 0xd7, 0x80, 0xd6, 0x94, 0x8d,
		0xbd, 0xed, 0x93, 0xbf, 0x9c, 0x4a, 0x3a, 0xe3,
		0x7c, 0x24, 0x82, 0xad, 0xee, 0xf1, 0xa6, 0xdd,
		0xc9, 0x7a, 0x08, 0x72, 0x95, 0x5e, 0x9d, 0x8b,
	};

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	ASSERT_INT_EQ(parse("/link/v1/relay", false,
			    RELAY_HEAD "\"ct\":\"" CT8 "\",\"mac\":\"" MAC_B64
				       "\"}"),
		      0);
	ASSERT_INT_EQ(m.type, KME_LINKMSG_RELAY);
	ASSERT_INT_EQ(m.u.relay.npath, 2);
	ASSERT_INT_EQ(m.u.relay.hop, 1);
	ASSERT_INT_EQ(m.u.relay.n, 1);
	ASSERT_INT_EQ(m.u.relay.size, 64);
	ASSERT_INT_EQ(m.u.relay.ct_len, 8);
	ASSERT_INT_EQ(m.u.relay.ct[7], 7);
	ASSERT_TRUE(!m.u.relay.cancel);
	ASSERT_INT_EQ(kme_relaymsg_mac(&m.u.relay, key, tag), 0);
	ASSERT_MEM_EQ(tag, want, sizeof(want));
	ASSERT_TRUE(kme_relaymsg_mac_ok(&m.u.relay, key));
	/* Any field changed: the tag no longer verifies. */
	m.u.relay.ct[0] ^= 1;
	ASSERT_TRUE(!kme_relaymsg_mac_ok(&m.u.relay, key));
	m.u.relay.ct[0] ^= 1;
	m.u.relay.hop = 2;
	ASSERT_TRUE(!kme_relaymsg_mac_ok(&m.u.relay, key));
	kme_linkmsg_clear(&m);
	ASSERT_TRUE(m.u.relay.ct == NULL);
	/* Either end of a link sends relays; a cancel carries no ct. */
	ASSERT_INT_EQ(
	    parse("/link/v1/relay", true, RELAY_HEAD "\"cancel\":true}"), 0);
	ASSERT_TRUE(m.u.relay.cancel);
	/* A trusted node's slaves are not ours to check. */
	ASSERT_INT_EQ(
	    parse("/link/v1/relay", true,
		  "{\"path\":[\"KME_A\",\"KME_B\",\"KME_Z\"],\"hop\":1,"
		  "\"master\":\"SAE_A\",\"slaves\":[\"SAE_Z\"],\"size\":64,"
		  "\"key_IDs\":[\"" U1 "\"],\"cancel\":true}"),
	    0);
}

TEST(relay_refused)
{
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "{\"path\":[\"KME_A\"],\"hop\":1}",
		  "relay needs a path of 2..8 KME IDs" },
		{ "{\"path\":[\"KME_A\",\"KME_B\",\"KME_A\"],\"hop\":1}",
		  "relay path passes KME KME_A twice" },
		{ "{\"path\":[\"KME_A\",\"KME_B\"],\"hop\":2}",
		  "relay hop must be 1..1" },
		{ "{\"path\":[\"KME_C\",\"KME_B\"],\"hop\":1}",
		  "relay hop 1 of its path is KME_C->KME_B, not KME_A->KME_B" },
		{ "{\"path\":[\"KME_A\",\"KME_B\"],\"hop\":1,\"master\":"
		  "\"SAE_A\",\"slaves\":[\"SAE_C\"]}",
		  "slave SAE_C is not served by KME KME_B" },
		{ "{\"path\":[\"KME_A\",\"KME_B\"],\"hop\":1,\"master\":"
		  "\"SAE_A\",\"slaves\":[\"SAE_B\"],\"size\":60}",
		  "relay size must be 64..1024 bits, octets" },
		{ RELAY_HEAD "\"ct\":\"AAEC\",\"mac\":\"" MAC_B64 "\"}",
		  "relay ct must be base64 of 8 octets (key_IDs times size)" },
		{ RELAY_HEAD "\"ct\":\"" CT8 "\",\"mac\":\"" CT8 "\"}",
		  "relay mac must be base64 of 32 octets" },
		{ RELAY_HEAD "\"ct\":\"" CT8 "\",\"mac\":\"" MAC_B64 "\"}",
		  "relay needs a pad_id (a UUID)" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *body = bad[i].body;
		char buf[1024];

		/* The last: without its pad_id. */
		if (i + 1 == sizeof(bad) / sizeof(*bad)) {
			snprintf(buf, sizeof(buf), "%s", body);
			memcpy(buf + 2, "xxxxx_", 6);
			body = buf;
		}
		if (parse("/link/v1/relay", false, body) != -1)
			TH_FAIL("accepted relay #%zu", i);
		ASSERT_STR_EQ(why, bad[i].why);
	}
}

TEST(relay_pad_both_roles)
{
	ASSERT_INT_EQ(parse("/link/v1/relay_pad", false,
			    "{\"pad_id\":\"" U1 "\",\"pad\":\"" K16 "\"}"),
		      0);
	ASSERT_INT_EQ(m.type, KME_LINKMSG_RELAY_PAD);
	ASSERT_INT_EQ(m.u.pad.len, 16);
	ASSERT_U64_EQ(m.u.pad.bits, 128);
	kme_linkmsg_clear(&m);
	ASSERT_TRUE(m.u.pad.pad == NULL);
	ASSERT_INT_EQ(parse("/link/v1/relay_pad", true,
			    "{\"pad_id\":\"" U1 "\",\"bits\":4096}"),
		      0);
	ASSERT_U64_EQ(m.u.pad.bits, 4096);
	ASSERT_TRUE(m.u.pad.pad == NULL);
	ASSERT_INT_EQ(parse("/link/v1/relay_pad", true,
			    "{\"pad_id\":\"" U1 "\",\"bits\":4095}"),
		      -1);
	ASSERT_STR_EQ(why, "relay_pad to the pool authority needs bits "
			   "(8..8388608, a multiple of 8)");
	ASSERT_INT_EQ(parse("/link/v1/relay_pad", false,
			    "{\"pad_id\":\"" U1 "\",\"bits\":4096}"),
		      -1);
	ASSERT_STR_EQ(why, "relay_pad from the pool authority needs pad "
			   "(base64, 1..1048576 octets)");
	ASSERT_INT_EQ(
	    parse("/link/v1/relay_pad", false, "{\"pad\":\"" K16 "\"}"), -1);
	ASSERT_STR_EQ(why, "relay_pad needs a pad_id (a UUID)");
}

TEST(sync_faults)
{
	ASSERT_INT_EQ(parse("/link/v1/sync", false,
			    "{\"pool_bits\":1,\"max_bits\":2,\"faults\":{"
			    "\"eve_fraction\":0.5,\"added_loss_db\":3,"
			    "\"cut\":true}}"),
		      0);
	ASSERT_TRUE(m.u.sync.has_faults);
	ASSERT_TRUE(m.u.sync.faults.cut);
	ASSERT_TRUE(m.u.sync.faults.eve_fraction == 0.5);
	ASSERT_TRUE(m.u.sync.faults.added_loss_db == 3);
	ASSERT_INT_EQ(parse("/link/v1/sync", false,
			    "{\"pool_bits\":1,\"max_bits\":2}"),
		      0);
	ASSERT_TRUE(!m.u.sync.has_faults);
	ASSERT_INT_EQ(parse("/link/v1/sync", false,
			    "{\"pool_bits\":1,\"max_bits\":2,\"faults\":{"
			    "\"eve_fraction\":1.5,\"added_loss_db\":3,"
			    "\"cut\":false}}"),
		      -1);
	ASSERT_STR_EQ(why, "sync faults need eve_fraction (0..1), "
			   "added_loss_db (0..100) and cut (true or false)");
}

TEST_MAIN(TEST_CASE(sync_accepted), TEST_CASE(sync_refused),
	  TEST_CASE(reserve_accepted_and_cleared), TEST_CASE(reserve_refused),
	  TEST_CASE(alloc_accepted_and_refused),
	  TEST_CASE(relay_accepted_and_mac), TEST_CASE(relay_refused),
	  TEST_CASE(relay_pad_both_roles), TEST_CASE(sync_faults))
