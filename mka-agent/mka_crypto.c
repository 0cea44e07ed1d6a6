/*
 * mka_crypto.c — AES-CMAC, the 802.1X KDF, key derivations, ICV and AES
 * key wrap on OpenSSL 3 (EVP_MAC "CMAC", EVP_aes_*_wrap).
 */
#include "mka_crypto.h"

#include "buf.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <string.h>

static bool
key_len_ok(size_t len)
{
	return len == 16 || len == 32;
}

/*
 * The CMAC implementation, fetched once: fetching is the larger part of
 * the cost of one MKPDU's ICV.  It stays referenced (not a leak) until
 * exit; mka-agent is single-threaded.
 */
static EVP_MAC *
cmac_alg(void)
{
	static EVP_MAC *m;

	if (m == NULL)
		m = EVP_MAC_fetch(NULL, "CMAC", NULL);
	return m;
}

int
mka_cmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
	 uint8_t mac[MKA_CMAC_LEN])
{
	EVP_MAC *m;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char cipher[16];
	size_t out_len = 0;
	int rc = -1;

	if (!key_len_ok(key_len))
		goto out;
	str_copy(cipher, sizeof(cipher),
		 key_len == 16 ? "AES-128-CBC" : "AES-256-CBC");
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((m = cmac_alg()) == NULL || (ctx = EVP_MAC_CTX_new(m)) == NULL ||
	    EVP_MAC_init(ctx, key, key_len, params) != 1 ||
	    EVP_MAC_update(ctx, msg, msg_len) != 1 ||
	    EVP_MAC_final(ctx, mac, &out_len, MKA_CMAC_LEN) != 1 ||
	    out_len != MKA_CMAC_LEN) {
		log_warnx("%s: OpenSSL CMAC failed", __func__);
		goto out;
	}
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

int
mka_kdf(const uint8_t *kdk, size_t kdk_len, const void *label, size_t label_len,
	const uint8_t *ctx, size_t ctx_len, uint8_t *out, size_t out_bits)
{
	/* i | Label | 0x00 | Context | L: bounded by our own callers. */
	uint8_t msg[1 + 16 + 1 + 128 + 2], k[MKA_CMAC_LEN];
	size_t out_len = out_bits / 8, done = 0, mlen;
	struct wbuf wb;
	int rc = -1;

	if (!key_len_ok(kdk_len) || out_bits % 8 != 0 || out_len == 0 ||
	    out_len > 8 * MKA_KEY_MAX || label_len > 16 || ctx_len > 128)
		goto out;
	for (uint8_t i = 1; done < out_len; i++) {
		wbuf_init(&wb, msg, sizeof(msg));
		wbuf_put_u8(&wb, i);
		wbuf_put_bytes(&wb, label, label_len);
		wbuf_put_u8(&wb, 0x00);
		wbuf_put_bytes(&wb, ctx, ctx_len);
		wbuf_put_be16(&wb, (uint16_t)out_bits);
		if (wb.err)
			goto out;
		mlen = wbuf_len(&wb);
		if (mka_cmac(kdk, kdk_len, msg, mlen, k) == -1)
			goto out;
		memcpy(out + done, k,
		       out_len - done < sizeof(k) ? out_len - done : sizeof(k));
		done += sizeof(k);
	}
	rc = 0;
out:
	secmem_wipe(k, sizeof(k));
	secmem_wipe(msg, sizeof(msg));
	return rc;
}

/* ICK/KEK context: the first 16 CKN octets, zero-padded (9.3.1). */
static int
derive_from_ckn(const char *label, const uint8_t *cak, size_t cak_len,
		const uint8_t *ckn, size_t ckn_len, uint8_t *out)
{
	uint8_t ctx[MKA_KDF_CKN_CTX_LEN] = { 0 };

	if (ckn_len == 0 || ckn_len > 32)
		return -1;
	memcpy(ctx, ckn, ckn_len < sizeof(ctx) ? ckn_len : sizeof(ctx));
	return mka_kdf(cak, cak_len, label, MKA_KDF_LABEL_LEN, ctx, sizeof(ctx),
		       out, cak_len * 8);
}

int
mka_derive_ick(const uint8_t *cak, size_t cak_len, const uint8_t *ckn,
	       size_t ckn_len, uint8_t *ick)
{
	return derive_from_ckn("IEEE8021 ICK", cak, cak_len, ckn, ckn_len, ick);
}

int
mka_derive_kek(const uint8_t *cak, size_t cak_len, const uint8_t *ckn,
	       size_t ckn_len, uint8_t *kek)
{
	return derive_from_ckn("IEEE8021 KEK", cak, cak_len, ckn, ckn_len, kek);
}

int
mka_derive_sak(const uint8_t *cak, size_t cak_len, const uint8_t *nonce,
	       size_t nonce_len, const uint8_t *mis, size_t n_mi, uint32_t kn,
	       uint8_t *sak, size_t sak_len)
{
	uint8_t ctx[128];
	struct wbuf wb;
	int rc;

	if (!key_len_ok(sak_len) || nonce_len != sak_len || n_mi == 0)
		return -1;
	wbuf_init(&wb, ctx, sizeof(ctx));
	wbuf_put_bytes(&wb, nonce, nonce_len);
	wbuf_put_bytes(&wb, mis, n_mi * 12);
	wbuf_put_be32(&wb, kn);
	if (wb.err) {
		/* More MIs than fit: a CA this large is outside our scope. */
		log_warnx("%s: %zu member identifiers do not fit", __func__,
			  n_mi);
		return -1;
	}
	rc = mka_kdf(cak, cak_len, "IEEE8021 SAK", MKA_KDF_LABEL_LEN, ctx,
		     wbuf_len(&wb), sak, sak_len * 8);
	secmem_wipe(ctx, sizeof(ctx));
	return rc;
}

/* mac1 is the lower address (6.2.2); the caller orders them. */
int
mka_derive_eap_cak(const uint8_t *msk, size_t cak_len, const uint8_t mac1[6],
		   const uint8_t mac2[6], uint8_t *cak)
{
	uint8_t ctx[12];

	memcpy(ctx, mac1, 6);
	memcpy(ctx + 6, mac2, 6);
	return mka_kdf(msk, cak_len, "IEEE8021 EAP CAK", 16, ctx, sizeof(ctx),
		       cak, cak_len * 8);
}

int
mka_derive_eap_ckn(const uint8_t *msk, size_t cak_len,
		   const uint8_t *session_id, size_t session_id_len,
		   const uint8_t mac1[6], const uint8_t mac2[6],
		   uint8_t ckn[16])
{
	uint8_t ctx[128];
	struct wbuf wb;

	wbuf_init(&wb, ctx, sizeof(ctx));
	wbuf_put_bytes(&wb, session_id, session_id_len);
	wbuf_put_bytes(&wb, mac1, 6);
	wbuf_put_bytes(&wb, mac2, 6);
	if (wb.err)
		return -1;
	return mka_kdf(msk, cak_len, "IEEE8021 EAP CKN", 16, ctx, wbuf_len(&wb),
		       ckn, 128);
}

int
mka_icv(const uint8_t *ick, size_t ick_len, const uint8_t *msg, size_t msg_len,
	uint8_t icv[MKA_CMAC_LEN])
{
	return mka_cmac(ick, ick_len, msg, msg_len, icv);
}

bool
mka_icv_ok(const uint8_t *ick, size_t ick_len, const uint8_t *msg,
	   size_t msg_len, const uint8_t icv[MKA_CMAC_LEN])
{
	uint8_t want[MKA_CMAC_LEN];
	bool ok;

	if (mka_icv(ick, ick_len, msg, msg_len, want) == -1)
		return false;
	ok = ct_equal(want, icv, sizeof(want));
	secmem_wipe(want, sizeof(want));
	return ok;
}

static int
key_wrap(bool enc, const uint8_t *kek, size_t kek_len, const uint8_t *in,
	 size_t in_len, uint8_t *out, size_t out_len)
{
	const EVP_CIPHER *c =
	    kek_len == 16 ? EVP_aes_128_wrap() : EVP_aes_256_wrap();
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, fin = 0, rc = -1;

	if (!key_len_ok(kek_len) || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	/* A NULL IV selects RFC 3394's default A6A6A6A6A6A6A6A6. */
	if (EVP_CipherInit_ex(ctx, c, NULL, kek, NULL, enc ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) <= 0 ||
	    EVP_CipherFinal_ex(ctx, out + n, &fin) != 1 ||
	    (size_t)(n + fin) != out_len)
		goto out;
	rc = 0;
out:
	if (rc == -1 && out_len > 0)
		secmem_wipe(out, out_len);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
mka_aes_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key,
	     size_t key_len, uint8_t *out)
{
	if (!key_len_ok(key_len))
		return -1;
	return key_wrap(true, kek, kek_len, key, key_len, out, key_len + 8);
}

int
mka_aes_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in,
	       size_t in_len, uint8_t *out)
{
	if (in_len < 8 || !key_len_ok(in_len - 8))
		return -1;
	return key_wrap(false, kek, kek_len, in, in_len, out, in_len - 8);
}
