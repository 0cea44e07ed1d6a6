/*
 * test_mka_pdu.c — the MKPDU and EAPOL-Announcement codec.
 *
 * Truth comes from outside the codec: the example MKPDUs of
 * tests/vectors/mka_mkpdu_examples.json (a third-party lab capture and
 * frames generated with Python "cryptography", dissected by tshark) must
 * decode, validate, pass their ICV and re-encode to the very same octets.
 * Then round trips of every set, any set order accepted, and every
 * malformed shape refused by the decoder or the validator.
 */
#include "harness.h"
#include "test_mka_util.h"

#include "mka_crypto.h"
#include "mka_pdu.h"
#include "util.h"

struct ex {
	uint8_t *frame;
	size_t len;
	uint8_t ick[32];
	size_t ick_len;
	uint8_t kek[32];
};

static void
load_example(const char *group, const char *which, int lab_frame, struct ex *ex)
{
	cJSON *root = tv_load("mka_mkpdu_examples.json");
	const cJSON *g = tv_get(root, group, NULL), *keys = g;
	uint8_t *cak, *ckn;
	size_t cl, nl;

	if (strcmp(group, "self_generated") == 0) {
		keys = tv_get(g, "inputs", NULL);
		ex->frame = tv_hex(tv_get(g, which, NULL), "hex", &ex->len);
	} else {
		const cJSON *f = cJSON_GetArrayItem(tv_get(g, "frames", NULL),
						    lab_frame - 1);
		ex->frame = tv_hex(f, "mkpdu_hex", &ex->len);
	}
	cak = tv_hex(keys, "cak", &cl);
	if (strcmp(which, "ex3_illustrative_qkd_kmd") == 0) {
		free(cak);
		cak = tv_hex(tv_get(g, which, NULL), "cak", &cl);
		ckn = tv_hex(tv_get(g, which, NULL), "ckn", &nl);
	} else {
		ckn = tv_hex(keys, "ckn", &nl);
	}
	ex->ick_len = cl;
	if (mka_derive_ick(cak, cl, ckn, nl, ex->ick) == -1 ||
	    mka_derive_kek(cak, cl, ckn, nl, ex->kek) == -1)
		abort();
	free(cak);
	free(ckn);
	cJSON_Delete(root);
}

/* decode + validate + ICV, and re-encoding gives back the same octets. */
static void
check_example(struct ex *ex, struct mkpdu *pdu, bool same_octets)
{
	const char *why = NULL;
	uint8_t out[1600];
	size_t len;

	if (mka_pdu_decode(ex->frame, ex->len, pdu, &why) == -1)
		TH_FAIL("decode: %s", why);
	if (mka_pdu_validate(pdu, &why) == -1)
		TH_FAIL("validate: %s", why);
	ASSERT_TRUE(mka_pdu_icv_ok(pdu, ex->frame, ex->ick, ex->ick_len));
	ASSERT_INT_EQ(pdu->icv_off, ex->len - MKA_ICV_LEN);
	ASSERT_INT_EQ(mka_pdu_encode(pdu, ex->ick, ex->ick_len, out,
				     sizeof(out), &len),
		      0);
	if (same_octets) {
		ASSERT_INT_EQ(len, ex->len);
		ASSERT_MEM_EQ(out, ex->frame, len);
	}
}

TEST(lab_frames_decode_verify_reencode)
{
	static const unsigned lab_sets[6] = {
		0,
		MKA_HAS(2),
		MKA_HAS(4) | MKA_HAS(3) | MKA_HAS(1),
		MKA_HAS(3) | MKA_HAS(1),
		MKA_HAS(3) | MKA_HAS(1),
		MKA_HAS(3) | MKA_HAS(1),
	};
	struct mkpdu pdu;
	uint8_t sak[16];

	for (int i = 1; i <= 6; i++) {
		struct ex ex;

		load_example("third_party_lab_capture", "", i, &ex);
		/*
		 * Frames 3-6 put the Live Peer List after SAK Use (the 11.11.3
		 * order), frame 3 also Distributed SAK before SAK Use; we send
		 * ascending, so only frames 1 and 2 re-encode octet for octet.
		 */
		check_example(&ex, &pdu, i <= 2);
		ASSERT_INT_EQ(pdu.has, lab_sets[i - 1]);
		ASSERT_INT_EQ(pdu.ascending, i <= 2);
		ASSERT_INT_EQ(pdu.basic.version, 2);
		ASSERT_INT_EQ(pdu.basic.ckn_len, 16);
		ASSERT_MEM_EQ(pdu.basic.ckn, "MACSEC-LAB-CKN01", 16);
		ASSERT_INT_EQ(pdu.basic.mn, (unsigned)(i + 1) / 2);
		if (i == 1) {
			ASSERT_INT_EQ(pdu.basic.priority, 16);
			ASSERT_TRUE(pdu.basic.key_server);
			ASSERT_TRUE(pdu.basic.macsec_desired);
			ASSERT_INT_EQ(pdu.basic.capability, 3);
			ASSERT_MEM_EQ(pdu.basic.sci,
				      "\x02\x00\x00\x00\x00\x0a\x00\x01", 8);
		}
		if (i == 3) {
			static const uint8_t want[16] = {
				0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
				0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0,
			};
			ASSERT_TRUE(pdu.dist_sak.macsec);
			ASSERT_INT_EQ(pdu.dist_sak.kn, 1);
			ASSERT_INT_EQ(pdu.dist_sak.cs, 0);
			ASSERT_INT_EQ(
			    mka_aes_unwrap(ex.kek, 16, pdu.dist_sak.wrapped,
					   pdu.dist_sak.wrapped_len, sak),
			    0);
			ASSERT_MEM_EQ(sak, want, 16);
			ASSERT_TRUE(pdu.sak_use.in_use);
			ASSERT_INT_EQ(pdu.sak_use.lkn, 1);
			ASSERT_INT_EQ(pdu.live.n, 1);
		}
		/* One flipped octet anywhere under the ICV is detected. */
		ex.frame[20 + i] ^= 0x04;
		ASSERT_TRUE(!mka_pdu_icv_ok(&pdu, ex.frame, ex.ick, 16));
		free(ex.frame);
	}
}

TEST(self_generated_256_and_xpn_frames)
{
	cJSON *root = tv_load("mka_mkpdu_examples.json");
	const cJSON *in = tv_get(root, "self_generated", "inputs", NULL);
	size_t sl;
	uint8_t *want_sak = tv_hex(in, "sak", &sl), sak[32];
	struct mkpdu pdu;
	struct ex ex;

	load_example("self_generated", "ex1_mkpdu_gcm_aes_256", 0, &ex);
	check_example(&ex, &pdu, true);
	ASSERT_INT_EQ(pdu.basic.version, 3);
	ASSERT_INT_EQ(pdu.dist_sak.cs, MKA_CS_GCM_AES_256);
	ASSERT_INT_EQ(pdu.dist_sak.conf_offset, MKA_CO_0);
	ASSERT_INT_EQ(mka_aes_unwrap(ex.kek, 32, pdu.dist_sak.wrapped,
				     pdu.dist_sak.wrapped_len, sak),
		      0);
	ASSERT_MEM_EQ(sak, want_sak, 32);
	free(ex.frame);

	load_example("self_generated", "ex2_mkpdu_gcm_aes_xpn_256", 0, &ex);
	check_example(&ex, &pdu, true);
	ASSERT_INT_EQ(pdu.dist_sak.cs, MKA_CS_GCM_AES_XPN_256);
	ASSERT_INT_EQ(pdu.live.octet2, 0x02); /* KS SSCI LSB */
	ASSERT_TRUE(pdu.has & MKA_HAS(MKA_PS_XPN));
	ASSERT_INT_EQ(pdu.xpn.llpn_msb, 0);
	free(ex.frame);

	load_example("self_generated", "ex3_illustrative_qkd_kmd", 0, &ex);
	check_example(&ex, &pdu, true);
	ASSERT_INT_EQ(pdu.has, MKA_HAS(MKA_PS_KMD));
	ASSERT_INT_EQ(pdu.kmd.len, 8);
	ASSERT_MEM_EQ(pdu.kmd.v, "SAE_B_02", 8);
	free(ex.frame);
	free(want_sak);
	cJSON_Delete(root);
}

static void
assert_same_sets(const struct mkpdu *a, const struct mkpdu *b)
{
	ASSERT_INT_EQ(a->has, b->has);
	ASSERT_MEM_EQ(&a->basic, &b->basic, sizeof(a->basic));
	ASSERT_INT_EQ(a->live.n, b->live.n);
	ASSERT_INT_EQ(a->live.octet2, b->live.octet2);
	ASSERT_MEM_EQ(a->live.e, b->live.e, a->live.n * sizeof(a->live.e[0]));
	ASSERT_INT_EQ(a->potential.n, b->potential.n);
	ASSERT_MEM_EQ(a->potential.e, b->potential.e,
		      a->potential.n * sizeof(a->potential.e[0]));
	ASSERT_MEM_EQ(&a->sak_use, &b->sak_use, sizeof(a->sak_use));
	ASSERT_INT_EQ(a->dist_sak.macsec, b->dist_sak.macsec);
	ASSERT_INT_EQ(a->dist_sak.an, b->dist_sak.an);
	ASSERT_INT_EQ(a->dist_sak.kn, b->dist_sak.kn);
	ASSERT_INT_EQ(a->dist_sak.wrapped_len, b->dist_sak.wrapped_len);
	ASSERT_MEM_EQ(a->dist_sak.wrapped, b->dist_sak.wrapped,
		      a->dist_sak.wrapped_len);
	ASSERT_MEM_EQ(&a->dist_cak, &b->dist_cak, sizeof(a->dist_cak));
	ASSERT_MEM_EQ(&a->kmd, &b->kmd, sizeof(a->kmd));
	ASSERT_MEM_EQ(&a->announce, &b->announce, sizeof(a->announce));
	ASSERT_MEM_EQ(&a->xpn, &b->xpn, sizeof(a->xpn));
}

TEST(round_trip_every_set)
{
	static const struct {
		size_t wrap;
		uint64_t cs, want_cs;
	} forms[] = {
		{ 24, 0, 0 }, /* 28-octet form */
		{ 24, MKA_CS_GCM_AES_128, 0 }, /* id not sent */
		{ 24, MKA_CS_GCM_AES_XPN_128, MKA_CS_GCM_AES_XPN_128 },
		{ 40, MKA_CS_GCM_AES_256, MKA_CS_GCM_AES_256 },
		{ 40, MKA_CS_GCM_AES_XPN_256, MKA_CS_GCM_AES_XPN_256 },
	};
	uint8_t ick[32] = { 7 }, out[1600];

	for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
		struct mkpdu a, b;
		const char *why = NULL;
		size_t len;

		tv_mkpdu_full(&a, forms[i].wrap, forms[i].cs);
		for (int icv_ind = 0; icv_ind < 2; icv_ind++) {
			if (icv_ind)
				a.has |= MKA_HAS(MKA_PS_ICV_IND);
			ASSERT_INT_EQ(mka_pdu_encode(&a, ick, 32, out,
						     sizeof(out), &len),
				      0);
			if (mka_pdu_decode(out, len, &b, &why) == -1 ||
			    mka_pdu_validate(&b, &why) == -1)
				TH_FAIL("form %zu: %s", i, why);
			ASSERT_TRUE(b.ascending);
			ASSERT_TRUE(mka_pdu_icv_ok(&b, out, ick, 32));
			ASSERT_INT_EQ(b.dist_sak.cs, forms[i].want_cs);
			a.dist_sak.cs = forms[i].want_cs;
			assert_same_sets(&a, &b);
			a.dist_sak.cs = forms[i].cs;
			ASSERT_INT_EQ(b.body_len % 4, 0);
		}
	}
}

TEST(round_trip_plain_sets_and_minimum_frame)
{
	struct mkpdu a, b;
	uint8_t ick[16] = { 1 }, out[128];
	const char *why = NULL;
	size_t len;

	tv_mkpdu_full(&a, 24, 0);
	a.dist_sak.macsec = false; /* "MACsec not to be used" */
	a.sak_use.in_use = false;
	a.has = MKA_HAS(MKA_PS_SAK_USE) | MKA_HAS(MKA_PS_DIST_SAK);
	ASSERT_INT_EQ(mka_pdu_encode(&a, ick, 16, out, sizeof(out), &len), 0);
	ASSERT_INT_EQ(mka_pdu_decode(out, len, &b, &why), 0);
	ASSERT_INT_EQ(mka_pdu_validate(&b, &why), 0);
	ASSERT_TRUE(!b.dist_sak.macsec);
	ASSERT_TRUE(!b.sak_use.in_use);
	ASSERT_TRUE(b.sak_use.plain_rx && b.sak_use.delay_protect);
	ASSERT_INT_EQ(b.dist_sak.an, 3);
	/* Basic alone: 4 + 28 + 5-octet CKN, padded to 40, then the ICV. */
	a.has = 0;
	ASSERT_INT_EQ(mka_pdu_encode(&a, ick, 16, out, sizeof(out), &len), 0);
	ASSERT_INT_EQ(len, 14 + 4 + 40 + 16);
	/* Too small an output buffer is an error, never an overrun. */
	ASSERT_INT_EQ(mka_pdu_encode(&a, ick, 16, out, 40, &len), -1);
	a.basic.ckn_len = 0;
	ASSERT_INT_EQ(mka_pdu_encode(&a, ick, 16, out, sizeof(out), &len), -1);
}

/*
 * Hand-built MKPDUs: Ethernet + EAPOL header, a Basic set with a 4-octet
 * CKN, then `sets` (hex), then a zero ICV.  eapol_len < 0 means "right".
 */
static uint8_t *
build(const char *sets, int eapol_len, size_t *len)
{
	static const char *hdr = "0180c2000003"
				 "021122334455"
				 "888e"
				 "0305";
	static const char *basic = "03 10 f0 20"
				   "0211223344550001"
				   "a5a5a5a5a5a5a5a5a5a5a5a5"
				   "00000001"
				   "0080c201"
				   "636b6e31";
	char hex[4096];
	size_t slen, n;
	uint8_t *f;

	snprintf(hex, sizeof(hex), "%s 0000 %s %s %s", hdr, basic, sets,
		 "00000000000000000000000000000000");
	f = th_unhex(hex, len);
	slen = *len - 18;
	n = eapol_len < 0 ? slen : (size_t)eapol_len;
	f[16] = (uint8_t)(n >> 8);
	f[17] = (uint8_t)n;
	return f;
}

TEST(any_set_order_accepted_unknown_skipped)
{
	/* XPN, then an unknown type 9, then SAK Use (0), then Live peers. */
	uint8_t *f;
	size_t len;
	struct mkpdu p;
	const char *why = NULL;

	f = build("08000008 0000000100000002"
		  "09000003 aabbcc00"
		  "03000000"
		  "01000010 01010101010101010101010100000007",
		  -1, &len);
	if (mka_pdu_decode(f, len, &p, &why) == -1)
		TH_FAIL("%s", why);
	ASSERT_INT_EQ(mka_pdu_validate(&p, &why), 0);
	ASSERT_TRUE(!p.ascending);
	ASSERT_INT_EQ(p.unknown_sets, 1);
	ASSERT_INT_EQ(p.has, MKA_HAS(1) | MKA_HAS(3) | MKA_HAS(8));
	ASSERT_INT_EQ(p.xpn.olpn_msb, 2);
	ASSERT_INT_EQ(p.live.e[0].mn, 7);
	free(f);
	/* Octets after the EAPOL body (Ethernet padding) are ignored. */
	f = build("00000000", 52, &len);
	ASSERT_INT_EQ(mka_pdu_decode(f, len, &p, &why), 0);
	ASSERT_INT_EQ(p.icv_off, 18 + 36);
	free(f);
}

/* Shapes the decoder (stage "d") or the validator ("v") must refuse. */
static const struct bad {
	const char *what;
	const char *sets;
	int eapol_len;
	char stage;
} bad_shapes[] = {
	{ "peer list not a multiple of 16", "0100000c 000000000000000000000000",
	  -1, 'd' },
	{ "SAK Use of 20 octets",
	  "03000014 0000000000000000000000000000000000000000", -1, 'd' },
	{ "Distributed SAK of 8 octets", "04000008 0000000100000000", -1, 'd' },
	{ "duplicate Live Peer List", "01000000 01000000", -1, 'd' },
	{ "duplicate KMD", "06000004 41424344 06000004 41424344", -1, 'd' },
	{ "set longer than the MKPDU", "01000020 00000000", -1, 'd' },
	{ "truncated set header", "0100", -1, 'd' },
	{ "KMD of 0 octets", "06000000", -1, 'd' },
	{ "XPN of 4 octets", "08000004 00000000", -1, 'd' },
	{ "ICV Indicator not last", "ff000010 03000000", -1, 'd' },
	{ "ICV Indicator length 8", "ff000008", -1, 'd' },
	{ "Distributed CAK of 20 octets",
	  "05000014 0000000000000000000000000000000000000000", -1, 'd' },
	{ "announcement TLV past its set", "07000004 e2080000", -1, 'd' },
	{ "announcement suites TLV of 9 octets",
	  "0700000b e0090000000000000000000000", -1, 'd' },
	{ "EAPOL length beyond the frame", "", 200, 'd' },
	{ "MKPDU shorter than the ICV", "", 16, 'd' },
	{ "MKPDU not a multiple of 4", "", 51, 'd' },
	{ "Distributed SAK, KN 0",
	  "0410001c 00000000 3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
	  -1, 'v' },
	{ "Distributed SAK, unknown suite",
	  "04100024 00000001 0080c20001000009"
	  "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
	  -1, 'v' },
	{ "Distributed SAK, 256-bit suite with a 128-bit wrap",
	  "04100024 00000001 0080c20001000002"
	  "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
	  -1, 'v' },
	{ "Distributed SAK, XPN with offset 30",
	  "04200024 00000001 0080c20001000003"
	  "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
	  -1, 'v' },
};

TEST(malformed_shapes_rejected)
{
	for (size_t i = 0; i < ARRAY_LEN(bad_shapes); i++) {
		const struct bad *b = &bad_shapes[i];
		struct mkpdu p;
		const char *why = NULL;
		size_t len;
		uint8_t *f = build(b->sets, b->eapol_len, &len);
		int d = mka_pdu_decode(f, len, &p, &why);

		if (b->stage == 'd' && d != -1)
			TH_FAIL("decoder accepted: %s", b->what);
		if (b->stage == 'v' &&
		    (d == -1 || mka_pdu_validate(&p, &why) != -1))
			TH_FAIL("%s: %s", b->what, d == -1 ? why : "accepted");
		ASSERT_TRUE(why != NULL);
		free(f);
	}
}

/* Header-level mutations of a valid frame, and every truncation. */
TEST(header_mutations_and_truncations_rejected)
{
	static const struct {
		size_t off;
		uint8_t val;
		char stage;
		const char *why;
	} muts[] = {
		{ 12, 0x88, 'd', "EtherType" }, /* 0x8888 */
		{ 14, 2, 'v', "version below 3" }, /* EAPOL version 2 */
		{ 15, 0, 'd', "not MKA" }, /* EAP */
		{ 21, 0x1c, 'd', "shorter than 29" }, /* empty CKN */
		{ 21, 0x3d, 'd', "longer than 32" }, /* CKN of 33 */
		{ 18, 0, 'v', "MKA version 0" },
		{ 45, 0x00, 'v', "Member Number 0" },
		{ 49, 0x02, 'v', "Algorithm Agility" }, /* 00-80-C2-02 */
	};
	struct mkpdu p;
	const char *why;
	size_t len;
	uint8_t *f = build("", -1, &len);

	ASSERT_INT_EQ(mka_pdu_decode(f, len, &p, &why), 0);
	ASSERT_INT_EQ(mka_pdu_validate(&p, &why), 0);
	for (size_t i = 0; i < ARRAY_LEN(muts); i++) {
		uint8_t *g = malloc(len);
		int d;

		memcpy(g, f, len);
		g[muts[i].off] = muts[i].val;
		if (muts[i].off == 12)
			g[13] = 0x88;
		why = NULL;
		d = mka_pdu_decode(g, len, &p, &why);
		if (muts[i].stage == 'd' && d != -1)
			TH_FAIL("mutation %zu accepted by the decoder", i);
		if (muts[i].stage == 'v' &&
		    (d == -1 || mka_pdu_validate(&p, &why) != -1))
			TH_FAIL("mutation %zu accepted", i);
		/* Refused for the intended reason, not another one. */
		if (why == NULL || strstr(why, muts[i].why) == NULL)
			TH_FAIL("mutation %zu: %s", i, why ? why : "(none)");
		free(g);
	}
	for (size_t cut = 0; cut < len; cut++)
		ASSERT_INT_EQ(mka_pdu_decode(f, cut, &p, &why), -1);
	free(f);
}

TEST(eapol_announcement_round_trip_and_rejects)
{
	static const uint8_t da[6] = { 1, 0x80, 0xc2, 0, 0, 3 };
	static const uint8_t sa[6] = { 2, 0, 0, 0, 0, 0x0b };
	struct mka_announce a = { 0 }, b;
	uint8_t out[600], got_sa[6], type;
	const char *why = NULL;
	size_t len;
	uint8_t *f;

	a.has_kmd = true;
	a.kmd.len = 8;
	memcpy(a.kmd.v, "SAE_B_02", 8);
	ASSERT_INT_EQ(mka_announce_encode(da, sa, &a, out, sizeof(out), &len),
		      0);
	ASSERT_INT_EQ(len, 60);
	/* KMD TLV header: type 113 in 7 bits, length 8 in 9 bits. */
	ASSERT_MEM_EQ(out + 14, "\x03\x06\x00\x0a\xe2\x08SAE_B_02", 14);
	ASSERT_INT_EQ(mka_eapol_type(out, len, &type), 0);
	ASSERT_INT_EQ(type, EAPOL_TYPE_ANNOUNCE);
	ASSERT_INT_EQ(mka_announce_decode(out, len, got_sa, &b, &why), 0);
	ASSERT_MEM_EQ(got_sa, sa, 6);
	ASSERT_MEM_EQ(&a, &b, sizeof(a));

	/* The 9th length bit: an unknown TLV of 300 octets is skipped. */
	f = th_unhex("0180c2000003020000000001888e 0306 0138"
		     "fd2c",
		     &len);
	f = realloc(f, 18 + 2 + 300 + 10);
	memset(f + 20, 0x5a, 300);
	memcpy(f + 320, "\xe2\x08SAE_X_99", 10);
	ASSERT_INT_EQ(mka_announce_decode(f, 330, got_sa, &b, &why), 0);
	ASSERT_INT_EQ(b.unknown_tlvs, 1);
	ASSERT_TRUE(b.has_kmd);
	ASSERT_MEM_EQ(b.kmd.v, "SAE_X_99", 8);
	/* A TLV claiming more than the body holds; a bare header octet. */
	f[19] = 0x2d;
	ASSERT_INT_EQ(mka_announce_decode(f, 330, got_sa, &b, &why), -1);
	f[17] = 0x01;
	f[18] = 0xe2;
	ASSERT_INT_EQ(mka_announce_decode(f, 330, got_sa, &b, &why), -1);
	/* An MKPDU is not an announcement, and the reverse. */
	f[15] = 5;
	ASSERT_INT_EQ(mka_announce_decode(f, 330, got_sa, &b, &why), -1);
	free(f);
	ASSERT_INT_EQ(mka_pdu_decode(out, 60, &(struct mkpdu){ 0 }, &why), -1);
	/* KMD TLV of 0 octets. */
	out[19] = 0;
	ASSERT_INT_EQ(mka_announce_decode(out, 60, got_sa, &b, &why), -1);
}

TEST_MAIN(TEST_CASE(lab_frames_decode_verify_reencode),
	  TEST_CASE(self_generated_256_and_xpn_frames),
	  TEST_CASE(round_trip_every_set),
	  TEST_CASE(round_trip_plain_sets_and_minimum_frame),
	  TEST_CASE(any_set_order_accepted_unknown_skipped),
	  TEST_CASE(malformed_shapes_rejected),
	  TEST_CASE(header_mutations_and_truncations_rejected),
	  TEST_CASE(eapol_announcement_round_trip_and_rejects))
