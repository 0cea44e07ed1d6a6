/*
 * cipher.c — the four clause-14 cipher suites (GCM-AES-128/256 and their
 * extended-packet-numbering variants) on OpenSSL EVP.
 *
 * Each SA owns one EVP context with the key schedule expanded once at
 * installation; per frame only the IV is loaded.  The IV is built in one
 * place, cipher_iv().
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "log.h"
#include "macsec_sw.h"
#include "secmem.h"
#include "util.h"

struct cipher_key {
	enum macsec_cs ck_cs;
	bool ck_encrypt;
	uint32_t ck_ssci; /* XPN: short SCI (14.7) */
	uint8_t ck_salt[MACSEC_SALT_LEN]; /* XPN: salt (14.7) */
	EVP_CIPHER_CTX *ck_ctx;
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
	evp = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	if ((ck->ck_ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(ck->ck_ctx, evp, NULL, key, NULL,
			      encrypt ? 1 : 0) != 1) {
		log_warnx("%s: EVP context setup failed", __func__);
		cipher_key_free(ck);
		return NULL;
	}
	return ck;
}

void
cipher_key_free(struct cipher_key *ck)
{
	if (ck == NULL)
		return;
	/* EVP_CIPHER_CTX_free cleanses the expanded key schedule. */
	EVP_CIPHER_CTX_free(ck->ck_ctx);
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

int
cipher_seal(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
	    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len,
	    uint8_t *ct, uint8_t icv[MACSEC_ICV_LEN])
{
	EVP_CIPHER_CTX *c = ck->ck_ctx;
	uint8_t scratch[1];
	uint8_t *fin = ct != NULL ? ct + len : scratch;
	int n;

	/* Only the IV changes: the key schedule stays in the context. */
	if (!ck->ck_encrypt ||
	    EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, 1) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len > 0 && EVP_EncryptUpdate(c, ct, &n, pt, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(c, fin, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, MACSEC_ICV_LEN, icv) !=
		1)
		return -1;
	return 0;
}

int
cipher_open(struct cipher_key *ck, const uint8_t iv[MACSEC_IV_LEN],
	    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t len,
	    uint8_t *pt, const uint8_t icv[MACSEC_ICV_LEN])
{
	EVP_CIPHER_CTX *c = ck->ck_ctx;
	uint8_t tag[MACSEC_ICV_LEN], scratch[1];
	uint8_t *fin = pt != NULL ? pt + len : scratch;
	int n;

	memcpy(tag, icv, sizeof(tag));
	/* The final call compares the ICV in constant time. */
	if (ck->ck_encrypt ||
	    EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, 0) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len > 0 && EVP_DecryptUpdate(c, pt, &n, ct, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, MACSEC_ICV_LEN, tag) !=
		1 ||
	    EVP_DecryptFinal_ex(c, fin, &n) != 1)
		return -1;
	return 0;
}
