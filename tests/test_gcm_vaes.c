/*
 * test_gcm_vaes.c — the VAES/VPCLMULQDQ AES-GCM engine (macsec-sw/
 * gcm_vaes.c) against published vectors and against OpenSSL EVP, and
 * cipher.c's choice of engine.
 *
 * Truth: the test cases of McGrew and Viega, "The Galois/Counter Mode of
 * Operation (GCM)", revised 2005, Appendix B (the same vectors NIST
 * publishes with SP 800-38D): cases 1-4 (AES-128) and 13-16 (AES-256),
 * all with 96-bit IVs; and OpenSSL's EVP AES-GCM, an independent
 * implementation, on random keys, IVs and lengths.  Where the CPU lacks
 * the instructions, the engine cases are reported as skipped.
 */
#include "harness.h"

#include <unistd.h>

#include <openssl/evp.h>

#include "../macsec-sw/gcm_vaes.h"
#include "../macsec-sw/macsec_sw.h"
#include "util.h"

#define SKIP_NO_VAES() \
	do { \
		if (!gcm_vaes_available()) \
			TH_SKIP("the CPU lacks VAES/VPCLMULQDQ"); \
	} while (0)

/* McGrew & Viega, Appendix B; P of cases 3 and 15 (4 and 16 use 60). */
#define MV_P \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define MV_K128 "feffe9928665731c6d6a8f9467308308"
#define MV_IV "cafebabefacedbaddecaf888"
#define MV_A "feedfacedeadbeeffeedfacedeadbeefabaddad2"

static const struct {
	const char *name, *k, *iv, *p, *a, *c, *t;
	size_t p_len; /* octets of p used */
} mv[] = {
	{ "case 1", "00000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "58e2fccefa7e3061367f1d57a4e7455a", 0 },
	{ "case 2", "00000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "0388dace60b6a392f328c2b971b2fe78",
	  "ab6e47d42cec13bdf53a67b21257bddf", 16 },
	{ "case 3", MV_K128, MV_IV, MV_P, "",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4", 64 },
	{ "case 4", MV_K128, MV_IV, MV_P, MV_A,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47", 60 },
	{ "case 13",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b", 0 },
	{ "case 14",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919", 16 },
	{ "case 15", MV_K128 MV_K128, MV_IV, MV_P, "",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c", 64 },
	{ "case 16", MV_K128 MV_K128, MV_IV, MV_P, MV_A,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b", 60 },
};

TEST(mcgrew_viega_vectors)
{
	size_t i;

	SKIP_NO_VAES();
	for (i = 0; i < ARRAY_LEN(mv); i++) {
		size_t kl, ivl, pl, al, cl, tl, split;
		unsigned char *k = th_unhex(mv[i].k, &kl);
		unsigned char *iv = th_unhex(mv[i].iv, &ivl);
		unsigned char *p = th_unhex(mv[i].p, &pl);
		unsigned char *a = th_unhex(mv[i].a, &al);
		unsigned char *c = th_unhex(mv[i].c, &cl);
		unsigned char *t = th_unhex(mv[i].t, &tl);
		struct gcm_vaes_key *key = gcm_vaes_key_new(k, kl);
		uint8_t ct[64], tag[16], out[64];

		printf("# %s\n", mv[i].name);
		ASSERT_TRUE(key != NULL);
		ASSERT_INT_EQ(ivl, 12);
		ASSERT_INT_EQ(cl, mv[i].p_len);
		/* Whole, and split at every offset (seal2's two parts). */
		for (split = 0; split <= mv[i].p_len; split++) {
			memset(ct, 0, sizeof(ct));
			ASSERT_INT_EQ(
			    gcm_vaes_seal2(key, iv, a, al, p, split, p + split,
					   mv[i].p_len - split, ct, tag),
			    0);
			ASSERT_MEM_EQ(ct, c, cl);
			ASSERT_MEM_EQ(tag, t, 16);
		}
		ASSERT_INT_EQ(gcm_vaes_open(key, iv, a, al, c, cl, out, t), 0);
		ASSERT_MEM_EQ(out, p, cl);
		gcm_vaes_key_free(key);
		free(k), free(iv), free(p), free(a), free(c), free(t);
	}
}

/* xorshift64*: reproducible inputs (the seed is printed). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void
rng_fill(uint8_t *p, size_t n)
{
	while (n-- > 0)
		*p++ = (uint8_t)(rng() >> 56);
}

static void
evp_seal(const uint8_t *key, size_t kl, const uint8_t *iv, const uint8_t *a,
	 size_t al, const uint8_t *p, size_t len, uint8_t *c, uint8_t *tag)
{
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	uint8_t fin[16];
	int n;

	ASSERT_TRUE(e != NULL);
	ASSERT_INT_EQ(EVP_EncryptInit_ex(
			  e, kl == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(),
			  NULL, key, iv),
		      1);
	ASSERT_INT_EQ(EVP_EncryptUpdate(e, NULL, &n, a, (int)al), 1);
	if (len > 0)
		ASSERT_INT_EQ(EVP_EncryptUpdate(e, c, &n, p, (int)len), 1);
	ASSERT_INT_EQ(EVP_EncryptFinal_ex(e, fin, &n), 1);
	ASSERT_INT_EQ(EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(e);
}

#define DIFF_CASES 3000
#define TEXT_MAX 2000

TEST(differential_vs_openssl)
{
	static uint8_t p[TEXT_MAX], c[TEXT_MAX], ref[TEXT_MAX],
	    out[TEXT_MAX + 1];
	uint8_t key[32], iv[12], a[64], tag[16], ref_tag[16];
	size_t i, bit, flips = 0;

	SKIP_NO_VAES();
	printf("# seed %016llx, %d cases\n", (unsigned long long)rng_state,
	       DIFF_CASES);
	for (i = 0; i < DIFF_CASES; i++) {
		size_t kl = rng() & 1 ? 32 : 16, al = rng() % 65;
		size_t len = rng() % (TEXT_MAX + 1), split = rng() % (len + 1);
		struct gcm_vaes_key *k;

		rng_fill(key, kl);
		rng_fill(iv, sizeof(iv));
		rng_fill(a, al);
		rng_fill(p, len);
		k = gcm_vaes_key_new(key, kl);
		ASSERT_TRUE(k != NULL);
		evp_seal(key, kl, iv, a, al, p, len, ref, ref_tag);
		ASSERT_INT_EQ(gcm_vaes_seal2(k, iv, a, al, p, split, p + split,
					     len - split, c, tag),
			      0);
		ASSERT_MEM_EQ(c, ref, len);
		ASSERT_MEM_EQ(tag, ref_tag, 16);
		out[len] = 0xee;
		ASSERT_INT_EQ(gcm_vaes_open(k, iv, a, al, c, len, out, tag), 0);
		ASSERT_MEM_EQ(out, p, len);
		ASSERT_INT_EQ(out[len], 0xee); /* nothing written past len */
		/* Every single-bit flip of the tag is refused ... */
		for (bit = 0; bit < 128; bit++, flips++) {
			tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ASSERT_INT_EQ(
			    gcm_vaes_open(k, iv, a, al, c, len, out, tag), -1);
			tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		/* ... and of the ciphertext and AAD, in every 50th case. */
		for (bit = 0; i % 50 == 0 && bit < len * 8; bit++, flips++) {
			c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ASSERT_INT_EQ(
			    gcm_vaes_open(k, iv, a, al, c, len, out, tag), -1);
			c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		for (bit = 0; i % 50 == 0 && bit < al * 8; bit++, flips++) {
			a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			ASSERT_INT_EQ(
			    gcm_vaes_open(k, iv, a, al, c, len, out, tag), -1);
			a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		gcm_vaes_key_free(k);
	}
	printf("# %zu single-bit flips refused\n", flips);
}

/* In place (ct == pt), as secy_protect and a receive in place use it. */
TEST(in_place)
{
	static uint8_t p[1500], buf[1500], ref[1500];
	uint8_t key[16] = { 7 }, iv[12] = { 9 }, a[16] = { 1 }, tag[16],
		ref_tag[16];
	struct gcm_vaes_key *k;

	SKIP_NO_VAES();
	rng_fill(p, sizeof(p));
	k = gcm_vaes_key_new(key, sizeof(key));
	ASSERT_TRUE(k != NULL);
	evp_seal(key, 16, iv, a, sizeof(a), p, sizeof(p), ref, ref_tag);
	memcpy(buf, p, 1001);
	ASSERT_INT_EQ(gcm_vaes_seal2(k, iv, a, sizeof(a), buf, 1001, p + 1001,
				     sizeof(p) - 1001, buf, tag),
		      0);
	ASSERT_MEM_EQ(buf, ref, sizeof(ref));
	ASSERT_MEM_EQ(tag, ref_tag, 16);
	ASSERT_INT_EQ(
	    gcm_vaes_open(k, iv, a, sizeof(a), buf, sizeof(buf), buf, tag), 0);
	ASSERT_MEM_EQ(buf, p, sizeof(p));
	gcm_vaes_key_free(k);
}

/* A key length other than 16 or 32 octets is refused. */
TEST(bad_key_length)
{
	uint8_t key[32] = { 0 };

	ASSERT_TRUE(gcm_vaes_key_new(key, 24) == NULL);
	ASSERT_TRUE(gcm_vaes_key_new(key, 0) == NULL);
}

TEST(engine_selection)
{
	uint8_t key[16] = { 1 };
	struct cipher_key *ck;
	enum cipher_engine e;

	ASSERT_INT_EQ(cipher_engine_parse("openssl", &e), 0);
	ASSERT_INT_EQ(e, CIPHER_ENGINE_OPENSSL);
	ASSERT_INT_EQ(cipher_engine_parse("auto", &e), 0);
	ASSERT_INT_EQ(cipher_engine_parse("vaes", &e), -1);
	ASSERT_INT_EQ(cipher_engine_set(CIPHER_ENGINE_OPENSSL), 0);
	ASSERT_INT_EQ(cipher_engine_active(), CIPHER_ENGINE_OPENSSL);
	ck = cipher_key_new(MACSEC_CS_GCM_AES_128, key, 16, 0, NULL, true);
	ASSERT_TRUE(ck != NULL);
	ASSERT_INT_EQ(cipher_key_engine(ck), CIPHER_ENGINE_OPENSSL);
	cipher_key_free(ck);
	ASSERT_INT_EQ(cipher_engine_set(CIPHER_ENGINE_AUTO), 0);
	if (!gcm_vaes_available()) {
		ASSERT_INT_EQ(cipher_engine_set(CIPHER_ENGINE_VAES), -1);
		ASSERT_INT_EQ(cipher_engine_active(), CIPHER_ENGINE_OPENSSL);
		TH_SKIP("the CPU lacks VAES/VPCLMULQDQ (fallback checked)");
	}
	/* The CPU has it: auto must pick it (the self-test passed). */
	ASSERT_INT_EQ(cipher_engine_active(), CIPHER_ENGINE_VAES);
	ck = cipher_key_new(MACSEC_CS_GCM_AES_256, (uint8_t[32]){ 1 }, 32, 0,
			    NULL, false);
	ASSERT_TRUE(ck != NULL);
	ASSERT_INT_EQ(cipher_key_engine(ck), CIPHER_ENGINE_VAES);
	cipher_key_free(ck);
}

/* The configuration's cipher-engine key (macsec-sw.conf(5)). */
static int
conf_with(const char *text, struct macsec_conf *conf)
{
	char path[] = "/tmp/test_gcm_vaes.XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *fp;

	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	conf_defaults(conf);
	rc = conf_load(path, conf);
	unlink(path);
	return rc;
}

TEST(conf_cipher_engine)
{
	struct macsec_conf conf;

	ASSERT_INT_EQ(conf_with("interface = eth0\n", &conf), 0);
	ASSERT_INT_EQ(conf.cipher_engine, CIPHER_ENGINE_AUTO);
	ASSERT_INT_EQ(conf_with("cipher-engine = openssl\n", &conf), 0);
	ASSERT_INT_EQ(conf.cipher_engine, CIPHER_ENGINE_OPENSSL);
	ASSERT_INT_EQ(conf_with("cipher-engine = auto\n", &conf), 0);
	ASSERT_INT_EQ(conf.cipher_engine, CIPHER_ENGINE_AUTO);
	ASSERT_INT_EQ(conf_with("cipher-engine = vaes\n", &conf), -1);
	ASSERT_INT_EQ(conf_with("cipher-engine = \n", &conf), -1);
}

TEST_MAIN(TEST_CASE(mcgrew_viega_vectors), TEST_CASE(differential_vs_openssl),
	  TEST_CASE(in_place), TEST_CASE(bad_key_length),
	  TEST_CASE(engine_selection), TEST_CASE(conf_cipher_engine))
