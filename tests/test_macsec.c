/*
 * test_macsec.c — unit tests for macsec-sw's SecTAG codec, cipher suites
 * and SecY, linked against the real objects.
 *
 * The truth is IEEE 802.1AE-2018 Annex C (tests/vectors/macsec_annexc.h):
 * every vector is protected by secy_protect() and must equal the published
 * frame octet for octet, and the published frame must validate back to the
 * plain one, on each AES-GCM engine.  The remaining tests drive each
 * receive discard of 10.6 and check the counter 802.1AE names for it.
 */
#include "harness.h"

#include "../macsec-sw/gcm_vaes.h"
#include "../macsec-sw/macsec_sw.h"
#include "util.h"
#include "vectors/macsec_annexc.h"

#define FRAME_MAX 2048

static const uint8_t mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };

static uint64_t
hex_u64(const char *h)
{
	return strtoull(h, NULL, 16);
}

/* Full PN of a vector: the XPN ones carry the upper half separately. */
static uint64_t
vec_pn(const struct annexc_vector *v)
{
	uint64_t pn = hex_u64(v->pn32);

	if (v->pn_msb[0] != '\0')
		pn |= hex_u64(v->pn_msb) << 32;
	return pn;
}

static void
vec_policy(struct secy *secy, const struct annexc_vector *v)
{
	struct secy_policy pol;

	secy_get_policy(secy, &pol);
	ASSERT_INT_EQ(cipher_suite_parse(v->suite, &pol.cs), 0);
	pol.encrypt = v->encrypt;
	pol.include_sci = v->sci_explicit;
	pol.use_es = !v->sci_explicit; /* Annex C frames without SCI use ES */
	ASSERT_INT_EQ(secy_set_policy(secy, &pol), 0);
}

static void
annexc_protect_all(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(annexc_vectors); i++) {
		const struct annexc_vector *v = &annexc_vectors[i];
		size_t klen, plen, wlen, slen, out_len;
		unsigned char *key = th_unhex(v->sak, &klen);
		unsigned char *plain = th_unhex(v->plain, &plen);
		unsigned char *want = th_unhex(v->protected_frame, &wlen);
		unsigned char *salt =
		    v->salt[0] ? th_unhex(v->salt, &slen) : NULL;
		uint8_t out[FRAME_MAX];
		struct secy *secy = secy_new(plain + 6, hex_u64(v->sci));

		printf("# %s %s\n", v->clause, v->suite);
		vec_policy(secy, v);
		ASSERT_INT_EQ(
		    secy_txsa_install(secy, v->an, vec_pn(v), key, klen,
				      (uint32_t)hex_u64(v->ssci), salt),
		    0);
		ASSERT_INT_EQ(secy_txsa_enable(secy, v->an), 0);
		ASSERT_INT_EQ(secy_protect(secy, plain, plen, out, sizeof(out),
					   &out_len),
			      0);
		ASSERT_INT_EQ(out_len, wlen);
		ASSERT_MEM_EQ(out, want, wlen);
		secy_free(secy);
		free(key);
		free(plain);
		free(want);
		free(salt);
	}
}

static void
annexc_validate_all(void)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(annexc_vectors); i++) {
		const struct annexc_vector *v = &annexc_vectors[i];
		size_t klen, plen, wlen, slen, out_len;
		unsigned char *key = th_unhex(v->sak, &klen);
		unsigned char *plain = th_unhex(v->plain, &plen);
		unsigned char *prot = th_unhex(v->protected_frame, &wlen);
		unsigned char *salt =
		    v->salt[0] ? th_unhex(v->salt, &slen) : NULL;
		uint8_t out[FRAME_MAX];
		struct secy *secy = secy_new(mac_b, sci_from_mac(mac_b, 1));
		uint64_t sci = hex_u64(v->sci), next, lowest;
		struct secy_rxsa_stats st;
		bool en;
		uint32_t ssci;

		printf("# %s %s\n", v->clause, v->suite);
		vec_policy(secy, v);
		ASSERT_INT_EQ(secy_rxsc_create(secy, sci), 0);
		ASSERT_INT_EQ(
		    secy_rxsa_install(secy, sci, v->an, vec_pn(v), key, klen,
				      (uint32_t)hex_u64(v->ssci), salt),
		    0);
		ASSERT_INT_EQ(secy_rxsa_enable(secy, sci, v->an, true), 0);
		ASSERT_INT_EQ(secy_validate_frame(secy, prot, wlen, out,
						  sizeof(out), &out_len),
			      SECY_RX_DELIVER);
		ASSERT_INT_EQ(out_len, plen);
		ASSERT_MEM_EQ(out, plain, plen);
		ASSERT_INT_EQ(secy_rxsa_info(secy, 0, v->an, &en, &next,
					     &lowest, &ssci, &st),
			      0);
		ASSERT_U64_EQ(st.InPktsOK, 1);
		ASSERT_U64_EQ(next, vec_pn(v) + 1);
		/* One flipped ICV bit: InPktsNotValid, nothing delivered. */
		prot[wlen - 1] ^= 0x01;
		ASSERT_INT_EQ(secy_rxsa_remove(secy, sci, v->an), 0);
		ASSERT_INT_EQ(
		    secy_rxsa_install(secy, sci, v->an, vec_pn(v), key, klen,
				      (uint32_t)hex_u64(v->ssci), salt),
		    0);
		ASSERT_INT_EQ(secy_rxsa_enable(secy, sci, v->an, true), 0);
		ASSERT_INT_EQ(secy_validate_frame(secy, prot, wlen, out,
						  sizeof(out), &out_len),
			      SECY_RX_DROP);
		ASSERT_INT_EQ(secy_rxsa_info(secy, 0, v->an, &en, &next,
					     &lowest, &ssci, &st),
			      0);
		ASSERT_U64_EQ(st.InPktsNotValid, 1);
		ASSERT_U64_EQ(next, vec_pn(v));
		secy_free(secy);
		free(key);
		free(plain);
		free(prot);
		free(salt);
	}
}

/*
 * Each vector on each AES-GCM engine of cipher.c: OpenSSL's, and the
 * VAES one where the CPU has it.
 */
static void
annexc_on(enum cipher_engine engine, void (*check)(void))
{
	if (engine == CIPHER_ENGINE_VAES && !gcm_vaes_available())
		TH_SKIP("the CPU lacks VAES/VPCLMULQDQ");
	ASSERT_INT_EQ(cipher_engine_set(engine), 0);
	printf("# on %s\n", cipher_engine_name(engine));
	check();
	ASSERT_INT_EQ(cipher_engine_set(CIPHER_ENGINE_AUTO), 0);
}

TEST(annexc_protect_all_32_openssl)
{
	annexc_on(CIPHER_ENGINE_OPENSSL, annexc_protect_all);
}

TEST(annexc_protect_all_32_vaes)
{
	annexc_on(CIPHER_ENGINE_VAES, annexc_protect_all);
}

TEST(annexc_validate_all_32_openssl)
{
	annexc_on(CIPHER_ENGINE_OPENSSL, annexc_validate_all);
}

TEST(annexc_validate_all_32_vaes)
{
	annexc_on(CIPHER_ENGINE_VAES, annexc_validate_all);
}

TEST(sectag_roundtrip_and_short_length)
{
	uint8_t buf[64];
	struct wbuf wb;
	struct sectag in = { 0 }, out;

	memset(buf, 0, sizeof(buf));
	in.st_tci = MACSEC_TCI_SC | MACSEC_TCI_E | MACSEC_TCI_C;
	in.st_an = 3;
	in.st_sl = sectag_short_len(20);
	in.st_pn = 0xa1b2c3d4;
	in.st_sci = 0x0011223344550001ULL;
	wbuf_init(&wb, buf + 12, sizeof(buf) - 12);
	ASSERT_INT_EQ(sectag_encode(&wb, &in), 0);
	ASSERT_INT_EQ(wbuf_len(&wb), MACSEC_SECTAG_SCI_LEN);
	ASSERT_INT_EQ(buf[14], 0x2f);
	ASSERT_INT_EQ(buf[15], 20);
	ASSERT_INT_EQ(sectag_decode(buf, 12 + 16, &out), 0);
	ASSERT_INT_EQ(out.st_ethertype, MACSEC_ETHERTYPE);
	ASSERT_INT_EQ(out.st_tci, in.st_tci);
	ASSERT_INT_EQ(out.st_an, 3);
	ASSERT_INT_EQ(out.st_sl, 20);
	ASSERT_U64_EQ(out.st_pn, 0xa1b2c3d4);
	ASSERT_U64_EQ(out.st_sci, in.st_sci);
	/* 12 + 16 + 20 data + 16 ICV is exactly what SL = 20 allows. */
	ASSERT_TRUE(sectag_valid(&out, 12 + 16 + 20 + 16, false));
	ASSERT_TRUE(!sectag_valid(&out, 12 + 16 + 21 + 16, false));
	ASSERT_TRUE(!sectag_valid(&out, 12 + 16 + 19 + 16, false));
	ASSERT_INT_EQ(sectag_short_len(47), 47);
	ASSERT_INT_EQ(sectag_short_len(48), 0);
	/* Truncated inside the SCI: no tag. */
	ASSERT_INT_EQ(sectag_decode(buf, 12 + 15, &out), -1);
	ASSERT_INT_EQ(sectag_decode(buf, 13, &out), -1);
}

TEST(sectag_validation_rules_9_12)
{
	struct sectag t = { 0 };
	size_t ok_len = 12 + 8 + 48 + 16;

	t.st_ethertype = MACSEC_ETHERTYPE;
	t.st_pn = 1;
	ASSERT_TRUE(sectag_valid(&t, ok_len, false));
	ASSERT_TRUE(!sectag_valid(&t, ok_len - 1, false)); /* i) SL=0 < 48 */
	ASSERT_TRUE(!sectag_valid(&t, 12 + 16, false)); /* a) */
	t.st_ethertype = 0x0800; /* b) */
	ASSERT_TRUE(!sectag_valid(&t, ok_len, false));
	t.st_ethertype = MACSEC_ETHERTYPE;
	t.st_tci = MACSEC_TCI_V; /* c) */
	ASSERT_TRUE(!sectag_valid(&t, ok_len, false));
	t.st_tci = MACSEC_TCI_ES | MACSEC_TCI_SC; /* d) */
	ASSERT_TRUE(!sectag_valid(&t, ok_len + 8, false));
	t.st_tci = MACSEC_TCI_SCB | MACSEC_TCI_SC;
	ASSERT_TRUE(!sectag_valid(&t, ok_len + 8, false));
	t.st_tci = 0;
	t.st_sl = 0x40; /* e) */
	ASSERT_TRUE(!sectag_valid(&t, ok_len, false));
	t.st_sl = 0;
	t.st_pn = 0; /* PN 0 only for XPN */
	ASSERT_TRUE(!sectag_valid(&t, ok_len, false));
	ASSERT_TRUE(sectag_valid(&t, ok_len, true));
}

TEST(sci_text_forms)
{
	uint64_t sci;
	char s[17];

	ASSERT_U64_EQ(sci_from_mac(mac_a, 1), 0x02000000000a0001ULL);
	ASSERT_INT_EQ(sci_parse("020000000000000a", &sci), 0);
	ASSERT_U64_EQ(sci, 0x020000000000000aULL);
	sci_format(s, 0x12153524c0895e81ULL);
	ASSERT_STR_EQ(s, "12153524c0895e81");
	ASSERT_INT_EQ(sci_parse("12153524c0895e8", &sci), -1);
	ASSERT_INT_EQ(sci_parse("12153524c0895e8g", &sci), -1);
	ASSERT_INT_EQ(sci_parse("12153524c0895e8100", &sci), -1);
}

/* A pair of SecYs sharing one SA; a sends, b receives. */
struct pair {
	struct secy *a, *b;
	uint64_t sci_a;
};

static const uint8_t key16[16] = { 1, 2,  3,  4,  5,  6,  7,  8,
				   9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t key32[32] = { 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  1,
				   2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
				   13, 14, 15, 16, 17, 18, 19, 20, 21, 22 };
static const uint8_t salt12[12] = { 0xe6, 0x30, 0xe8, 0x1a, 0x48, 0xde,
				    0x86, 0xa2, 0x1c, 0x66, 0xfa, 0x6d };

static void
pair_setup(struct pair *p, enum macsec_cs cs, bool encrypt, unsigned offset,
	   uint64_t tx_pn, uint64_t rx_pn, uint32_t window)
{
	struct secy_policy pol;
	const uint8_t *key = cipher_suite_key_len(cs) == 16 ? key16 : key32;
	size_t klen = cipher_suite_key_len(cs);

	p->sci_a = sci_from_mac(mac_a, 1);
	p->a = secy_new(mac_a, p->sci_a);
	p->b = secy_new(mac_b, sci_from_mac(mac_b, 1));
	secy_get_policy(p->a, &pol);
	pol.cs = cs;
	pol.encrypt = encrypt;
	pol.offset = offset;
	pol.replay_window = window;
	ASSERT_INT_EQ(secy_set_policy(p->a, &pol), 0);
	ASSERT_INT_EQ(secy_set_policy(p->b, &pol), 0);
	ASSERT_INT_EQ(secy_txsa_install(p->a, 1, tx_pn, key, klen, 0x11223344,
					salt12),
		      0);
	ASSERT_INT_EQ(secy_txsa_enable(p->a, 1), 0);
	ASSERT_INT_EQ(secy_rxsc_create(p->b, p->sci_a), 0);
	ASSERT_INT_EQ(secy_rxsa_install(p->b, p->sci_a, 1, rx_pn, key, klen,
					0x11223344, salt12),
		      0);
	ASSERT_INT_EQ(secy_rxsa_enable(p->b, p->sci_a, 1, true), 0);
}

static void
pair_free(struct pair *p)
{
	secy_free(p->a);
	secy_free(p->b);
}

static size_t
make_plain(uint8_t *f, size_t len)
{
	size_t i;

	memcpy(f, mac_b, 6);
	memcpy(f + 6, mac_a, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	for (i = 14; i < len; i++)
		f[i] = (uint8_t)(i * 7);
	return len;
}

static struct secy_rxsa_stats
rx_stats(struct secy *b)
{
	struct secy_rxsa_stats st;
	uint64_t next, lowest;
	uint32_t ssci;
	bool en;

	memset(&st, 0, sizeof(st));
	secy_rxsa_info(b, 0, 1, &en, &next, &lowest, &ssci, &st);
	return st;
}

TEST(roundtrip_suites_sizes_offsets)
{
	static const size_t sizes[] = { 14, 15, 60, 61, 64, 512, 1514 };
	static const unsigned offsets[] = { 0, 30, 50 };
	enum macsec_cs cs;
	size_t s, o, plen, wlen, olen;
	uint8_t plain[FRAME_MAX], wire[FRAME_MAX], out[FRAME_MAX];

	for (cs = MACSEC_CS_GCM_AES_128; cs <= MACSEC_CS_GCM_AES_XPN_256; cs++)
		for (o = 0; o < ARRAY_LEN(offsets); o++)
			for (int enc = 0; enc < 2; enc++) {
				struct pair p;

				if (cipher_suite_is_xpn(cs) && offsets[o] != 0)
					continue;
				pair_setup(&p, cs, enc, offsets[o], 1, 1, 0);
				for (s = 0; s < ARRAY_LEN(sizes); s++) {
					plen = make_plain(plain, sizes[s]);
					ASSERT_INT_EQ(
					    secy_protect(p.a, plain, plen, wire,
							 sizeof(wire), &wlen),
					    0);
					ASSERT_INT_EQ(wlen,
						      plen + MACSEC_OVERHEAD);
					ASSERT_INT_EQ(load_be16(wire + 12),
						      MACSEC_ETHERTYPE);
					/* The offset octets travel in clear (14.5). */
					if (enc && plen - 12 > offsets[o] &&
					    offsets[o] != 0)
						ASSERT_MEM_EQ(wire + 28,
							      plain + 12,
							      offsets[o]);
					ASSERT_INT_EQ(secy_validate_frame(
							  p.b, wire, wlen, out,
							  sizeof(out), &olen),
						      SECY_RX_DELIVER);
					ASSERT_INT_EQ(olen, plen);
					ASSERT_MEM_EQ(out, plain, plen);
				}
				ASSERT_U64_EQ(rx_stats(p.b).InPktsOK,
					      ARRAY_LEN(sizes));
				pair_free(&p);
			}
}

/*
 * A frame handed over in two pieces (headers, then a payload protected
 * straight from elsewhere) goes on the wire exactly as the joined frame
 * does, whatever the split, offset or confidentiality.
 */
TEST(protect_parts_equals_whole)
{
	static const unsigned offsets[] = { 0, 30, 50 };
	static const size_t sizes[] = { 14, 60, 1514 };
	static const size_t splits[] = { 14, 15, 40, 54, 66 };
	size_t o, s, k, plen, w1, w2, olen;
	uint8_t plain[FRAME_MAX], wire[FRAME_MAX], wire2[FRAME_MAX];
	uint8_t out[FRAME_MAX];

	for (o = 0; o < ARRAY_LEN(offsets); o++)
		for (int enc = 0; enc < 2; enc++) {
			struct pair p, q;

			pair_setup(&p, MACSEC_CS_GCM_AES_128, enc, offsets[o],
				   1, 1, 0);
			pair_setup(&q, MACSEC_CS_GCM_AES_128, enc, offsets[o],
				   1, 1, 0);
			for (s = 0; s < ARRAY_LEN(sizes); s++)
				for (k = 0; k < ARRAY_LEN(splits); k++) {
					if (splits[k] > sizes[s])
						continue;
					plen = make_plain(plain, sizes[s]);
					ASSERT_INT_EQ(
					    secy_protect(p.a, plain, plen, wire,
							 sizeof(wire), &w1),
					    0);
					ASSERT_INT_EQ(secy_protect_parts(
							  q.a, plain, splits[k],
							  plain + splits[k],
							  plen - splits[k],
							  wire2, sizeof(wire2),
							  &w2),
						      0);
					ASSERT_INT_EQ(w2, w1);
					ASSERT_MEM_EQ(wire2, wire, w1);
					ASSERT_INT_EQ(secy_validate_frame(
							  p.b, wire2, w2, out,
							  sizeof(out), &olen),
						      SECY_RX_DELIVER);
					ASSERT_MEM_EQ(out, plain, plen);
				}
			/* Still refused whole when the two exceed the cap. */
			plen = make_plain(plain, 1514);
			ASSERT_INT_EQ(secy_protect_parts(q.a, plain, 54,
							 plain + 54, plen - 54,
							 wire2, 1514, &w2),
				      -1);
			pair_free(&p);
			pair_free(&q);
		}
}

TEST(replay_late_and_window)
{
	struct pair p;
	uint8_t plain[100], w[4][200], out[200];
	size_t plen, wl[4], olen;
	int i;

	pair_setup(&p, MACSEC_CS_GCM_AES_128, true, 0, 10, 10, 0);
	plen = make_plain(plain, sizeof(plain));
	for (i = 0; i < 4; i++) /* PNs 10, 11, 12, 13 */
		ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w[i], 200, &wl[i]),
			      0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[1], wl[1], out, 200, &olen),
		      SECY_RX_DELIVER);
	/* Replayed frame: PN 11 < lowest acceptable 12. */
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[1], wl[1], out, 200, &olen),
		      SECY_RX_DROP);
	/* Reordered older frame, window 0: late. */
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[0], wl[0], out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsLate, 2);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsOK, 1);
	pair_free(&p);

	/* Window 2: PN 13 then 11 is accepted (Delayed), 10 is late. */
	pair_setup(&p, MACSEC_CS_GCM_AES_128, true, 0, 10, 10, 2);
	for (i = 0; i < 4; i++)
		ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w[i], 200, &wl[i]),
			      0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[3], wl[3], out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[2], wl[2], out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[0], wl[0], out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsOK, 2);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsLate, 1);
	pair_free(&p);

	/* replay-protect off: the old frame is delivered and Delayed. */
	pair_setup(&p, MACSEC_CS_GCM_AES_128, true, 0, 10, 10, 0);
	{
		struct secy_policy pol;

		secy_get_policy(p.b, &pol);
		pol.replay_protect = false;
		ASSERT_INT_EQ(secy_set_policy(p.b, &pol), 0);
	}
	for (i = 0; i < 2; i++)
		ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w[i], 200, &wl[i]),
			      0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[1], wl[1], out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w[0], wl[0], out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsDelayed, 1);
	pair_free(&p);
}

TEST(xpn_pn_recovery_across_2_32)
{
	struct pair p;
	uint8_t plain[80], w[200], out[200];
	size_t plen, wl, olen;
	uint64_t lowest, next;

	/* Receiver's lowest PN in the upper half of window 1; sender at 2^33+5. */
	pair_setup(&p, MACSEC_CS_GCM_AES_XPN_128, true, 0, 0x200000005ULL,
		   0x1f0000000ULL, 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	ASSERT_U64_EQ(load_be32(w + 16), 5);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_rxsa_get_pn(p.b, p.sci_a, 1, &lowest, &next), 0);
	ASSERT_U64_EQ(next, 0x200000006ULL);
	pair_free(&p);
}

TEST(pn_exhaustion_makes_sa_unusable)
{
	struct pair p;
	uint8_t plain[80], w[200], out[200];
	size_t plen, wl, olen;
	uint64_t next;
	bool exhausted;

	pair_setup(&p, MACSEC_CS_GCM_AES_256, true, 0, 0xfffffffeULL, 1, 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	ASSERT_U64_EQ(load_be32(w + 16), 0xffffffffU);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_txsa_get_pn(p.a, 1, &next, &exhausted), 0);
	ASSERT_TRUE(exhausted);
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), -1);
	ASSERT_U64_EQ(secy_stats(p.a)->OutPktsSAUnusable, 1);
	ASSERT_INT_EQ(secy_txsa_enable(p.a, 1), -1);
	pair_free(&p);
}

TEST(rx_discards_and_their_counters)
{
	struct pair p;
	uint8_t plain[80], w[200], out[200], bad[200];
	size_t plen, wl, olen;
	struct secy_rxsc_stats scst;
	struct secy_policy pol;
	uint64_t sci;

	pair_setup(&p, MACSEC_CS_GCM_AES_128, true, 0, 1, 1, 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);

	/* Truncated: SL=0 needs 48 octets of Secure Data -> InPktsBadTag. */
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl - 40, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, 20, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsBadTag, 2);

	/* Unknown SCI -> InPktsNoSCI. */
	memcpy(bad, w, wl);
	bad[27] ^= 0x02;
	ASSERT_INT_EQ(secy_validate_frame(p.b, bad, wl, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsNoSCI, 1);

	/* AN without an SA in use -> InPktsNotUsingSA. */
	memcpy(bad, w, wl);
	bad[14] = (uint8_t)((bad[14] & ~MACSEC_AN_MASK) | 2);
	ASSERT_INT_EQ(secy_validate_frame(p.b, bad, wl, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_INT_EQ(secy_rxsc_info(p.b, 0, &sci, &scst), 0);
	ASSERT_U64_EQ(scst.InPktsNotUsingSA, 1);

	/* Forged ciphertext -> InPktsNotValid. */
	memcpy(bad, w, wl);
	bad[40] ^= 0x80;
	ASSERT_INT_EQ(secy_validate_frame(p.b, bad, wl, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsNotValid, 1);

	/* The genuine frame still passes (the forgery moved nothing). */
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);

	/* Untagged: dropped when Strict, delivered when Check. */
	ASSERT_INT_EQ(secy_validate_frame(p.b, plain, plen, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsNoTag, 1);
	/* EAPOL is the KaY's: ignored, counted nowhere. */
	plain[12] = 0x88;
	plain[13] = 0x8e;
	ASSERT_INT_EQ(secy_validate_frame(p.b, plain, plen, out, 200, &olen),
		      SECY_RX_IGNORE);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsNoTag, 1);
	plain[12] = 0x08;
	plain[13] = 0x00;
	secy_get_policy(p.b, &pol);
	pol.validate = SECY_VALIDATE_CHECK;
	ASSERT_INT_EQ(secy_set_policy(p.b, &pol), 0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, plain, plen, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsUntagged, 1);
	pair_free(&p);
}

TEST(integrity_only_check_and_disabled)
{
	struct pair p;
	uint8_t plain[80], w[200], out[200];
	size_t plen, wl, olen;
	struct secy_policy pol;

	pair_setup(&p, MACSEC_CS_GCM_AES_128, false, 0, 1, 1, 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	/* Integrity only: the user data is on the wire unchanged. */
	ASSERT_MEM_EQ(w + 28, plain + 12, plen - 12);
	ASSERT_INT_EQ(w[14] & (MACSEC_TCI_E | MACSEC_TCI_C), 0);
	w[40] ^= 1;
	secy_get_policy(p.b, &pol);
	pol.validate = SECY_VALIDATE_CHECK;
	ASSERT_INT_EQ(secy_set_policy(p.b, &pol), 0);
	/* Check: an invalid C=0 frame is delivered and counted Invalid. */
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsInvalid, 1);
	pol.validate = SECY_VALIDATE_DISABLED;
	ASSERT_INT_EQ(secy_set_policy(p.b, &pol), 0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_U64_EQ(rx_stats(p.b).InPktsUnchecked, 1);
	pair_free(&p);
}

TEST(check_mode_delivers_unknown_sci_and_unused_sa)
{
	struct pair p;
	uint8_t plain[80], w[200], bad[200], out[200];
	size_t plen, wl, olen;
	struct secy_policy pol;
	struct secy_rxsc_stats scst;
	uint64_t sci;

	/* Integrity only (C=0) and validateFrames Check: 10.6.2 delivers. */
	pair_setup(&p, MACSEC_CS_GCM_AES_128, false, 0, 1, 1, 0);
	secy_get_policy(p.b, &pol);
	pol.validate = SECY_VALIDATE_CHECK;
	ASSERT_INT_EQ(secy_set_policy(p.b, &pol), 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	memcpy(bad, w, wl);
	bad[27] ^= 0x04; /* another SCI */
	ASSERT_INT_EQ(secy_validate_frame(p.b, bad, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(olen, plen);
	ASSERT_MEM_EQ(out, plain, plen);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsUnknownSCI, 1);
	memcpy(bad, w, wl);
	bad[14] = (uint8_t)((bad[14] & ~MACSEC_AN_MASK) | 3);
	ASSERT_INT_EQ(secy_validate_frame(p.b, bad, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_INT_EQ(secy_rxsc_info(p.b, 0, &sci, &scst), 0);
	ASSERT_U64_EQ(scst.InPktsUnusedSA, 1);
	ASSERT_U64_EQ(scst.InPktsNotUsingSA, 0);
	pair_free(&p);
}

TEST(implicit_sci_with_one_receive_sc)
{
	struct pair p;
	uint8_t plain[80], w[200], out[200];
	size_t plen, wl, olen;
	struct secy_policy pol;

	pair_setup(&p, MACSEC_CS_GCM_AES_256, true, 0, 1, 1, 0);
	secy_get_policy(p.a, &pol);
	pol.include_sci = false; /* no SC, no ES: the only RX SC */
	ASSERT_INT_EQ(secy_set_policy(p.a, &pol), 0);
	plen = make_plain(plain, sizeof(plain));
	ASSERT_INT_EQ(secy_protect(p.a, plain, plen, w, 200, &wl), 0);
	ASSERT_INT_EQ(wl, plen + MACSEC_SECTAG_LEN + MACSEC_ICV_LEN);
	ASSERT_INT_EQ(w[14] & (MACSEC_TCI_SC | MACSEC_TCI_ES), 0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DELIVER);
	ASSERT_MEM_EQ(out, plain, plen);
	/* With a second receive SC the SCI is ambiguous: InPktsNoSCI. */
	ASSERT_INT_EQ(secy_rxsc_create(p.b, 77), 0);
	ASSERT_INT_EQ(secy_validate_frame(p.b, w, wl, out, 200, &olen),
		      SECY_RX_DROP);
	ASSERT_U64_EQ(secy_stats(p.b)->InPktsNoSCI, 1);
	pair_free(&p);
}

TEST(management_refusals)
{
	struct secy *s = secy_new(mac_a, sci_from_mac(mac_a, 1));
	struct secy_policy pol;

	ASSERT_INT_EQ(secy_txsa_install(s, 4, 1, key16, 16, 0, NULL), -1);
	ASSERT_INT_EQ(secy_txsa_install(s, 0, 0, key16, 16, 0, NULL), -1);
	ASSERT_INT_EQ(secy_txsa_install(s, 0, 1, key32, 32, 0, NULL), -1);
	ASSERT_INT_EQ(secy_txsa_install(s, 0, 1ULL << 32, key16, 16, 0, NULL),
		      -1);
	ASSERT_INT_EQ(secy_txsa_enable(s, 0), -1);
	ASSERT_INT_EQ(secy_rxsa_install(s, 5, 0, 1, key16, 16, 0, NULL), -1);
	ASSERT_INT_EQ(secy_rxsc_create(s, 5), 0);
	ASSERT_INT_EQ(secy_rxsc_create(s, 5), -1);
	ASSERT_INT_EQ(secy_rxsa_install(s, 5, 0, 1, key16, 16, 0, NULL), 0);
	secy_get_policy(s, &pol);
	pol.cs = MACSEC_CS_GCM_AES_256;
	ASSERT_INT_EQ(secy_set_policy(s, &pol), -1);
	pol.cs = MACSEC_CS_GCM_AES_128;
	pol.offset = 20;
	ASSERT_INT_EQ(secy_set_policy(s, &pol), -1);
	ASSERT_INT_EQ(secy_rxsc_delete(s, 5), 0);
	pol.offset = 30;
	pol.cs = MACSEC_CS_GCM_AES_XPN_128;
	ASSERT_INT_EQ(secy_set_policy(s, &pol), -1);
	pol.offset = 0;
	ASSERT_INT_EQ(secy_set_policy(s, &pol), 0);
	/* XPN needs a salt. */
	ASSERT_INT_EQ(secy_txsa_install(s, 0, 1, key16, 16, 1, NULL), -1);
	secy_free(s);
}

TEST_MAIN(TEST_CASE(annexc_protect_all_32_openssl),
	  TEST_CASE(annexc_protect_all_32_vaes),
	  TEST_CASE(annexc_validate_all_32_openssl),
	  TEST_CASE(annexc_validate_all_32_vaes),
	  TEST_CASE(sectag_roundtrip_and_short_length),
	  TEST_CASE(sectag_validation_rules_9_12), TEST_CASE(sci_text_forms),
	  TEST_CASE(roundtrip_suites_sizes_offsets),
	  TEST_CASE(protect_parts_equals_whole),
	  TEST_CASE(replay_late_and_window),
	  TEST_CASE(xpn_pn_recovery_across_2_32),
	  TEST_CASE(pn_exhaustion_makes_sa_unusable),
	  TEST_CASE(rx_discards_and_their_counters),
	  TEST_CASE(integrity_only_check_and_disabled),
	  TEST_CASE(check_mode_delivers_unknown_sci_and_unused_sa),
	  TEST_CASE(implicit_sci_with_one_receive_sc),
	  TEST_CASE(management_refusals))
