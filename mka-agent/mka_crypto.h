/*
 * mka_crypto.h — the MKA key hierarchy (IEEE 802.1X-2020 6.2, 9.3, 9.4.1,
 * 9.8) on OpenSSL 3: AES-CMAC, the AES-CMAC KDF, ICK/KEK/SAK derivation,
 * the MKPDU ICV and RFC 3394 AES key wrap.
 *
 * Keys are 16 or 32 octets; every function refuses other lengths.  Output
 * buffers are caller-owned; callers wipe them (secmem_wipe) when done.
 */
#ifndef QKDLAB_MKA_CRYPTO_H
#define QKDLAB_MKA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MKA_KEY_MAX 32 /* CAK, ICK, KEK, SAK: 16 or 32 octets */
#define MKA_CMAC_LEN 16
#define MKA_KDF_LABEL_LEN 12 /* "IEEE8021 ICK" etc., no NUL */
#define MKA_KDF_CKN_CTX_LEN 16 /* ICK/KEK context: CKN[0..15], 9.3 */
#define MKA_WRAP_MAX (MKA_KEY_MAX + 8)

/* AES-CMAC (RFC 4493) with a 128- or 256-bit key. */
int mka_cmac(const uint8_t *key, size_t key_len, const uint8_t *msg,
	     size_t msg_len, uint8_t mac[MKA_CMAC_LEN]);

/*
 * The 802.1X KDF (6.2.1): SP 800-108 counter mode with AES-CMAC as PRF,
 * K(i) = CMAC(KDK, i | Label | 0x00 | Context | L).  out_bits is a multiple
 * of 8 and at most 8 * MKA_KEY_MAX * 8.
 */
int mka_kdf(const uint8_t *kdk, size_t kdk_len, const void *label,
	    size_t label_len, const uint8_t *ctx, size_t ctx_len, uint8_t *out,
	    size_t out_bits);

/* ICK and KEK (9.3): out is cak_len octets. */
int mka_derive_ick(const uint8_t *cak, size_t cak_len, const uint8_t *ckn,
		   size_t ckn_len, uint8_t *ick);
int mka_derive_kek(const uint8_t *cak, size_t cak_len, const uint8_t *ckn,
		   size_t ckn_len, uint8_t *kek);

/*
 * SAK (9.8.1): KDF(CAK, "IEEE8021 SAK", KS-nonce | MI list | KN, sak_len).
 * nonce_len must equal sak_len; mis holds n_mi Member Identifiers back to
 * back (12 octets each), in the order the key server chose.
 */
int mka_derive_sak(const uint8_t *cak, size_t cak_len, const uint8_t *nonce,
		   size_t nonce_len, const uint8_t *mis, size_t n_mi,
		   uint32_t kn, uint8_t *sak, size_t sak_len);

/*
 * CAK and CKN from an EAP MSK (6.2.2, 6.2.3): mac1 is the numerically
 * lower of the two MAC addresses.  cak_len octets of MSK are the KDK.
 */
int mka_derive_eap_cak(const uint8_t *msk, size_t cak_len,
		       const uint8_t mac1[6], const uint8_t mac2[6],
		       uint8_t *cak);
int mka_derive_eap_ckn(const uint8_t *msk, size_t cak_len,
		       const uint8_t *session_id, size_t session_id_len,
		       const uint8_t mac1[6], const uint8_t mac2[6],
		       uint8_t ckn[16]);

/* MKPDU ICV (9.4.1): AES-CMAC(ICK, DA | SA | EtherType | EAPOL | sets). */
int mka_icv(const uint8_t *ick, size_t ick_len, const uint8_t *msg,
	    size_t msg_len, uint8_t icv[MKA_CMAC_LEN]);
/* Recomputes and compares in constant time; false on any failure. */
bool mka_icv_ok(const uint8_t *ick, size_t ick_len, const uint8_t *msg,
		size_t msg_len, const uint8_t icv[MKA_CMAC_LEN]);

/*
 * RFC 3394 AES key wrap with the default IV.  wrap writes key_len + 8
 * octets; unwrap writes wrapped_len - 8 octets and returns -1 (out wiped)
 * if the integrity check fails.
 */
int mka_aes_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *key,
		 size_t key_len, uint8_t *out);
int mka_aes_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in,
		   size_t in_len, uint8_t *out);

#endif
