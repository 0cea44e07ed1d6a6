/*
 * gcm_vaes.h — AES-GCM (NIST SP 800-38D) with a 96-bit IV and a 16-octet
 * tag on 256-bit VAES and VPCLMULQDQ, for macsec-sw's data path.
 *
 * The key object holds the AES round keys and the powers of the hash
 * subkey H; gcm_vaes_key_free() wipes them.  Nothing here touches the
 * heap or takes a lock per frame.  gcm_vaes_available() says whether the
 * CPU (and the build) can run it; every other function fails cleanly
 * when it cannot.
 */
#ifndef QKDLAB_GCM_VAES_H
#define QKDLAB_GCM_VAES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GCM_VAES_IV_LEN 12
#define GCM_VAES_TAG_LEN 16

struct gcm_vaes_key;

/* The CPU has AES-NI, PCLMULQDQ, AVX2, VAES and VPCLMULQDQ. */
bool gcm_vaes_available(void);
/* key_len 16 (AES-128) or 32 (AES-256); NULL when unavailable. */
struct gcm_vaes_key *gcm_vaes_key_new(const uint8_t *key, size_t key_len);
void gcm_vaes_key_free(struct gcm_vaes_key *k);
/*
 * Encrypts pt || pt2 into ct (len + len2 octets; ct may be pt) and
 * writes the tag.  0, or -1 when the engine is unavailable.
 */
int gcm_vaes_seal2(const struct gcm_vaes_key *k,
		   const uint8_t iv[GCM_VAES_IV_LEN], const uint8_t *aad,
		   size_t aad_len, const uint8_t *pt, size_t len,
		   const uint8_t *pt2, size_t len2, uint8_t *ct,
		   uint8_t tag[GCM_VAES_TAG_LEN]);
/*
 * Verifies the tag over aad and ct in constant time, then decrypts ct
 * into pt (pt may be ct).  -1 when the tag does not verify: pt is then
 * left unwritten.
 */
int gcm_vaes_open(const struct gcm_vaes_key *k,
		  const uint8_t iv[GCM_VAES_IV_LEN], const uint8_t *aad,
		  size_t aad_len, const uint8_t *ct, size_t len, uint8_t *pt,
		  const uint8_t tag[GCM_VAES_TAG_LEN]);

#endif
