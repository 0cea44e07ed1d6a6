/*
 * cipher.c — the four clause-14 cipher suites (GCM-AES-128/256 and their
 * extended-packet-numbering variants) on OpenSSL EVP.
 *
 * Each SA owns one EVP context with the key schedule expanded once at
 * installation; per frame only the IV is loaded.  The IV is built in one
 * place, cipher_iv().
 *
 * Where the CPU has VAES and VPCLMULQDQ, an SA uses gcm_vaes.c instead,
 * which has no per-frame parameter handling; it is chosen only after a
 * start-up self-test against EVP passes (engine_probe()).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "gcm_vaes.h"
#include "log.h"
#include "macsec_sw.h"
#include "secmem.h"
#include "util.h"

struct cipher_key {
	enum macsec_cs ck_cs;
	bool ck_encrypt;
	uint32_t ck_ssci; /* XPN: short SCI (14.7) */
	uint8_t ck_salt[MACSEC_SALT_LEN]; /* XPN: salt (14.7) */
	bool ck_iv_fixed; /* the IV loads as a parameter: iv_probe() */
	EVP_CIPHER_CTX *ck_ctx; /* NULL when ck_vaes is used */
	struct gcm_vaes_key *ck_vaes;
};

static const struct {
	const char *name;
	size_t key_len;
	bool xpn;
} suites[] = {
	[MACSEC_CS_GCM_AES_128] = { "gcm-aes-128", 16, false },
	[MACSEC_CS_GCM_AES_256] = { "gcm-aes-256", 32, false },
	[MACSEC_CS_GCM_AES_XPN_128] = { "gcm-aes-xpn-128", 16, true },
	[MACSEC_CS_GCM_AES_XPN_256] = { "gcm-aes-xpn-256", 32, true },
};

static void iv_probe(void);
static pthread_once_t iv_probe_once = PTHREAD_ONCE_INIT;
static bool iv_fixed_ok; /* iv_probe()'s verdict */

static void engine_probe(void);
static pthread_once_t engine_probe_once = PTHREAD_ONCE_INIT;
static bool vaes_ok; /* the CPU has the engine and its self-test passed */
static enum cipher_engine engine_mode = CIPHER_ENGINE_AUTO;
static atomic_bool engine_logged;

static const char *const engine_names[] = {
	[CIPHER_ENGINE_AUTO] = "auto",
	[CIPHER_ENGINE_OPENSSL] = "openssl",
	[CIPHER_ENGINE_VAES] = "vaes",
};

const char *
cipher_suite_name(enum macsec_cs cs)
{
	return suites[cs].name;
}

int
cipher_suite_parse(const char *s, enum macsec_cs *cs)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(suites); i++) {
		if (strcasecmp(s, suites[i].name) == 0) {
			*cs = (enum macsec_cs)i;
			return 0;
		}
	}
	return -1;
}

size_t
cipher_suite_key_len(enum macsec_cs cs)
{
	return suites[cs].key_len;
}

bool
cipher_suite_is_xpn(enum macsec_cs cs)
{
	return suites[cs].xpn;
}

struct cipher_key *
cipher_key_new(enum macsec_cs cs, const uint8_t *key, size_t key_len,
	       uint32_t ssci, const uint8_t salt[MACSEC_SALT_LEN], bool encrypt)
{
	struct cipher_key *ck;
	const EVP_CIPHER *evp;

	if (key_len != suites[cs].key_len) {
		log_warnx("%s: %s needs a %zu-octet key, got %zu", __func__,
			  suites[cs].name, suites[cs].key_len, key_len);
		return NULL;
	}
	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return NULL;
	ck->ck_cs = cs;
	ck->ck_encrypt = encrypt;
	ck->ck_ssci = ssci;
	if (suites[cs].xpn && salt != NULL)
		memcpy(ck->ck_salt, salt, MACSEC_SALT_LEN);
	if (cipher_engine_active() == CIPHER_ENGINE_VAES) {
		if ((ck->ck_vaes = gcm_vaes_key_new(key, key_len)) == NULL) {
			cipher_key_free(ck);
			return NULL;
		}
		return ck;
	}
	evp = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	if ((ck->ck_ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(ck->ck_ctx, evp, NULL, key, NULL,
			      encrypt ? 1 : 0) != 1) {
		log_warnx("%s: EVP context setup failed", __func__);
		cipher_key_free(ck);
		return NULL;
	}
	(void)pthread_once(&iv_probe_once, iv_probe);
	ck->ck_iv_fixed = iv_fixed_ok;
	return ck;
}

void
cipher_key_free(struct cipher_key *ck)
{
	if (ck == NULL)
		return;
	/* EVP_CIPHER_CTX_free cleanses the expanded key schedule. */
	EVP_CIPHER_CTX_free(ck->ck_ctx);
	gcm_vaes_key_free(ck->ck_vaes);
	secmem_free(ck);
}

void
cipher_iv(const struct cipher_key *ck, uint64_t sci, uint64_t pn,
	  uint8_t iv[MACSEC_IV_LEN])
{
	size_t i;

	if (!suites[ck->ck_cs].xpn) {
		/* 14.5: IV = SCI || PN, the SCI even when not transmitted */
		store_be64(iv, sci);
		store_be32(iv + 8, (uint32_t)pn);
		return;
	}
	/* 14.7: IV = (SSCI || 64-bit PN) XOR salt */
	store_be32(iv, ck->ck_ssci);
	store_be64(iv + 4, pn);
	for (i = 0; i < MACSEC_IV_LEN; i++)
		iv[i] ^= ck->ck_salt[i];
}

/*
 * Per frame only the IV is loaded.  EVP_CipherInit_ex2() with an IV asks
 * the provider for the IV length through a parameter query each time;
 * the GCM provider also takes a whole IV as the fixed IV parameter with
 * the length (size_t)-1, which costs a single parameter pass and leaves
 * the same state (IV buffered, key schedule kept).  That form is
 * probed once against the plain one, on a throwaway key, and used only
 * where it gives the same ciphertext and tag and still refuses a wrong
 * tag.
 */

/*
 * Loads the IV, and the expected ICV when decrypting: the AEAD tag
 * parameter is what EVP_CTRL_GCM_SET_TAG sets, and EVP_DecryptFinal
 * compares against it in constant time.
 */
static int
iv_load(EVP_CIPHER_CTX *c, bool fixed, int enc, const uint8_t *iv,
	const uint8_t *icv)
{
	OSSL_PARAM p[3], *q = p;
	uint8_t tag[MACSEC_ICV_LEN];

	if (!fixed) {
		if (EVP_CipherInit_ex2(c, NULL, NULL, iv, enc, NULL) != 1)
			return -1;
		if (icv == NULL)
			return 0;
		memcpy(tag, icv, sizeof(tag));
		return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
					   MACSEC_ICV_LEN, tag) == 1
			   ? 0
			   : -1;
	}
	if (icv != NULL)
		*q++ = OSSL_PARAM_construct_octet_string(
		    OSSL_CIPHER_PARAM_AEAD_TAG, (void *)(uintptr_t)icv,
		    MACSEC_ICV_LEN);
	*q++ = OSSL_PARAM_construct_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, (void *)(uintptr_t)iv,
	    (size_t)-1);
	*q = OSSL_PARAM_construct_end();
	return EVP_CIPHER_CTX_set_params(c, p) == 1 ? 0 : -1;
}

/* Encrypts pt || pt2 into ct. */
static int
seal(EVP_CIPHER_CTX *c, bool fixed, const uint8_t iv[MACSEC_IV_LEN],
     const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
     const uint8_t *pt2, size_t len2, uint8_t *ct, uint8_t icv[MACSEC_ICV_LEN])
{
	OSSL_PARAM tag[2];
	uint8_t scratch[1];
	uint8_t *fin = ct != NULL ? ct + len + len2 : scratch;
	int n;

	tag[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						   icv, MACSEC_ICV_LEN);
	tag[1] = OSSL_PARAM_construct_end();
	if (iv_load(c, fixed, 1, iv, NULL) == -1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len > 0 && EVP_EncryptUpdate(c, ct, &n, pt, (int)len) != 1) ||
	    (len2 > 0 &&
	     EVP_EncryptUpdate(c, ct + len, &n, pt2, (int)len2) != 1) ||
	    EVP_EncryptFinal_ex(c, fin, &n) != 1 ||
	    EVP_CIPHER_CTX_get_params(c, tag) != 1)
		return -1;
	return 0;
}

static int
open_(EVP_CIPHER_CTX *c, bool fixed, const uint8_t iv[MACSEC_IV_LEN],
      const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
      uint8_t *pt, const uint8_t icv[MACSEC_ICV_LEN])
{
	uint8_t scratch[1];
	uint8_t *fin = pt != NULL ? pt + len : scratch;
	int n;

	/* The final call compares the ICV in constant time. */
	if (iv_load(c, fixed, 0, iv, icv) == -1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len > 0 && EVP_DecryptUpdate(c, pt, &n, ct, (int)len) != 1) ||
	    EVP_DecryptFinal_ex(c, fin, &n) != 1)
		return -1;
	return 0;
}

static void
iv_probe(void)
{
	static const uint8_t key[16] = { 0x5c }, aad[20] = { 0xa5 };
	uint8_t iv[MACSEC_IV_LEN], pt[40], ref[40], ct[40], out[40];
	uint8_t ref_icv[MACSEC_ICV_LEN], icv[MACSEC_ICV_LEN];
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
	int i;

	memset(pt, 0x3c, sizeof(pt));
	iv_fixed_ok =
	    e != NULL && d != NULL &&
	    EVP_CipherInit_ex2(e, EVP_aes_128_gcm(), key, NULL, 1, NULL) == 1 &&
	    EVP_CipherInit_ex2(d, EVP_aes_128_gcm(), key, NULL, 0, NULL) == 1;
	/* Two IVs in turn, so that a load that changed nothing shows. */
	for (i = 0; iv_fixed_ok && i < 2; i++) {
		memset(iv, 0x11 * (i + 1), sizeof(iv));
		iv_fixed_ok = seal(e, false, iv, aad, sizeof(aad), pt,
				   sizeof(pt), NULL, 0, ref, ref_icv) == 0 &&
			      seal(e, true, iv, aad, sizeof(aad), pt, 13,
				   pt + 13, sizeof(pt) - 13, ct, icv) == 0 &&
			      memcmp(ct, ref, sizeof(ct)) == 0 &&
			      ct_equal(icv, ref_icv, sizeof(icv)) &&
			      open_(d, true, iv, aad, sizeof(aad), ct,
				    sizeof(ct), out, icv) == 0 &&
			      memcmp(out, pt, sizeof(out)) == 0;
		icv[0] ^= 1;
		if (iv_fixed_ok && open_(d, true, iv, aad, sizeof(aad), ct,
					 sizeof(ct), out, icv) == 0)
			iv_fixed_ok = false;
	}
	ERR_clear_error();
	EVP_CIPHER_CTX_free(e);
	EVP_CIPHER_CTX_free(d);
}

int
cipher_seal(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
	    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
	    uint8_t *ct, uint8_t icv[MACSEC_ICV_LEN])
{
	return cipher_seal2(ck, iv, aad, aad_len, pt, len, NULL, 0, ct, icv);
}

int
cipher_seal2(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
	     const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
	     const uint8_t *pt2, size_t len2, uint8_t *ct,
	     uint8_t icv[MACSEC_ICV_LEN])
{
	if (!ck->ck_encrypt)
		return -1;
	if (ck->ck_vaes != NULL)
		return gcm_vaes_seal2(ck->ck_vaes, iv, aad, aad_len, pt, len,
				      pt2, len2, ct, icv);
	return seal(ck->ck_ctx, ck->ck_iv_fixed, iv, aad, aad_len, pt, len, pt2,
		    len2, ct, icv);
}

int
cipher_open(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
	    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
	    uint8_t *pt, const uint8_t icv[MACSEC_ICV_LEN])
{
	if (ck->ck_encrypt)
		return -1;
	if (ck->ck_vaes != NULL)
		return gcm_vaes_open(ck->ck_vaes, iv, aad, aad_len, ct, len, pt,
				     icv);
	return open_(ck->ck_ctx, ck->ck_iv_fixed, iv, aad, aad_len, ct, len, pt,
		     icv);
}

/*
 * The engine's start-up self-test: seal and open on fixed keys for both
 * key lengths at the lengths around block boundaries, a frame, and a
 * two-part split at an odd offset, each compared octet for octet with
 * EVP; a tag with one bit flipped must be refused.
 */
static bool
engine_selftest_one(const uint8_t *key, size_t key_len)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 31, 64, 1500 };
	static uint8_t pt[1500], ref[1500], ct[1500], out[1500];
	uint8_t iv[MACSEC_IV_LEN], aad[20], ref_icv[MACSEC_ICV_LEN],
	    icv[MACSEC_ICV_LEN];
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	struct gcm_vaes_key *k = gcm_vaes_key_new(key, key_len);
	bool ok = e != NULL && k != NULL &&
		  EVP_CipherInit_ex2(
		      e, key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(),
		      key, NULL, 1, NULL) == 1;
	size_t i, j, len, split, alen;

	for (i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; ok && i < ARRAY_LEN(lens) + 1; i++) {
		/* The last round: 1500 octets split at an odd offset. */
		len = i < ARRAY_LEN(lens) ? lens[i] : 1500;
		split = i < ARRAY_LEN(lens) ? len : 33;
		for (j = 0; j < sizeof(iv); j++)
			iv[j] = (uint8_t)(i + j);
		memset(aad, (int)i, sizeof(aad));
		alen = i % 2 ? sizeof(aad) : 7;
		ok = seal(e, false, iv, aad, alen, pt, len, NULL, 0, ref,
			  ref_icv) == 0 &&
		     gcm_vaes_seal2(k, iv, aad, alen, pt, split, pt + split,
				    len - split, ct, icv) == 0 &&
		     memcmp(ct, ref, len) == 0 &&
		     ct_equal(icv, ref_icv, sizeof(icv)) &&
		     gcm_vaes_open(k, iv, aad, alen, ct, len, out, icv) == 0 &&
		     memcmp(out, pt, len) == 0;
		icv[i % sizeof(icv)] ^= 0x10;
		if (ok &&
		    gcm_vaes_open(k, iv, aad, alen, ct, len, out, icv) == 0)
			ok = false;
	}
	ERR_clear_error();
	EVP_CIPHER_CTX_free(e);
	gcm_vaes_key_free(k);
	return ok;
}

static void
engine_probe(void)
{
	static const uint8_t key[32] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae,
					 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
					 0x09, 0xcf, 0x4f, 0x3c, 0x76, 0x2e,
					 0x71, 0x60, 0xf3, 0xd1, 0x1b, 0xc4 };

	vaes_ok = gcm_vaes_available() && engine_selftest_one(key, 16) &&
		  engine_selftest_one(key, 32);
	if (gcm_vaes_available() && !vaes_ok)
		log_warnx("cipher: the VAES/VPCLMULQDQ self-test failed");
}

int
cipher_engine_parse(const char *s, enum cipher_engine *e)
{
	/* Configuration offers auto and openssl; vaes is for tests. */
	if (strcmp(s, "auto") == 0)
		*e = CIPHER_ENGINE_AUTO;
	else if (strcmp(s, "openssl") == 0)
		*e = CIPHER_ENGINE_OPENSSL;
	else
		return -1;
	return 0;
}

const char *
cipher_engine_name(enum cipher_engine e)
{
	return engine_names[e];
}

int
cipher_engine_set(enum cipher_engine e)
{
	(void)pthread_once(&engine_probe_once, engine_probe);
	if (e == CIPHER_ENGINE_VAES && !vaes_ok)
		return -1;
	engine_mode = e;
	atomic_store(&engine_logged, false);
	return 0;
}

enum cipher_engine
cipher_engine_active(void)
{
	enum cipher_engine e;

	(void)pthread_once(&engine_probe_once, engine_probe);
	e = engine_mode == CIPHER_ENGINE_OPENSSL || !vaes_ok
		? CIPHER_ENGINE_OPENSSL
		: CIPHER_ENGINE_VAES;
	if (!atomic_exchange(&engine_logged, true))
		log_info("cipher: AES-GCM on %s", e == CIPHER_ENGINE_VAES
						      ? "VAES/VPCLMULQDQ"
						      : "OpenSSL");
	return e;
}

enum cipher_engine
cipher_key_engine(const struct cipher_key *ck)
{
	return ck->ck_vaes != NULL ? CIPHER_ENGINE_VAES : CIPHER_ENGINE_OPENSSL;
}
