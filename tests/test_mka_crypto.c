/*
 * test_mka_crypto.c — mka_crypto.c against published vectors:
 * RFC 4493 (AES-CMAC), RFC 3394 (AES key wrap), IEEE 802.1X Annex G
 * (KDF, KEK, ICK, SAK) and the key material of the example MKPDUs
 * (tests/vectors/, each file names its source).
 */
#include "harness.h"
#include "test_mka_util.h"

#include "mka_crypto.h"

TEST(cmac_rfc4493)
{
	cJSON *root = tv_load("crypto_primitives_rfc3394_rfc4493.json");
	const cJSON *v;
	int n = 0;

	cJSON_ArrayForEach(v, tv_get(root, "rfc4493_aes_cmac", NULL))
	{
		size_t kl, ml, wl;
		uint8_t *key = tv_hex(v, "key", &kl);
		uint8_t *msg = tv_hex(v, "msg", &ml);
		uint8_t *want = tv_hex(v, "mac", &wl);
		uint8_t mac[MKA_CMAC_LEN];

		ASSERT_INT_EQ(mka_cmac(key, kl, msg, ml, mac), 0);
		ASSERT_MEM_EQ(mac, want, wl);
		free(key);
		free(msg);
		free(want);
		n++;
	}
	ASSERT_INT_EQ(n, 2);
	cJSON_Delete(root);
}

TEST(key_wrap_rfc3394_and_integrity)
{
	cJSON *root = tv_load("crypto_primitives_rfc3394_rfc4493.json");
	const cJSON *v;
	int n = 0;

	cJSON_ArrayForEach(v, tv_get(root, "rfc3394_aes_key_wrap", NULL))
	{
		size_t kl, keyl, wl;
		uint8_t *kek = tv_hex(v, "kek", &kl);
		uint8_t *key = tv_hex(v, "key", &keyl);
		uint8_t *want = tv_hex(v, "wrapped", &wl);
		uint8_t out[MKA_WRAP_MAX], back[MKA_KEY_MAX];

		ASSERT_INT_EQ(wl, keyl + 8);
		ASSERT_INT_EQ(mka_aes_wrap(kek, kl, key, keyl, out), 0);
		ASSERT_MEM_EQ(out, want, wl);
		ASSERT_INT_EQ(mka_aes_unwrap(kek, kl, want, wl, back), 0);
		ASSERT_MEM_EQ(back, key, keyl);
		/* Any flipped bit fails the RFC 3394 integrity check. */
		want[wl - 1] ^= 0x01;
		ASSERT_INT_EQ(mka_aes_unwrap(kek, kl, want, wl, back), -1);
		want[wl - 1] ^= 0x01;
		want[0] ^= 0x80;
		ASSERT_INT_EQ(mka_aes_unwrap(kek, kl, want, wl, back), -1);
		free(kek);
		free(key);
		free(want);
		n++;
	}
	ASSERT_INT_EQ(n, 2);
	cJSON_Delete(root);
}

TEST(refuses_bad_key_lengths)
{
	uint8_t k[33] = { 0 }, out[64];

	ASSERT_INT_EQ(mka_cmac(k, 24, k, 1, out), -1);
	ASSERT_INT_EQ(mka_aes_wrap(k, 16, k, 24, out), -1);
	ASSERT_INT_EQ(mka_aes_wrap(k, 20, k, 16, out), -1);
	ASSERT_INT_EQ(mka_aes_unwrap(k, 16, k, 7, out), -1);
	ASSERT_INT_EQ(mka_aes_unwrap(k, 16, k, 25, out), -1);
	ASSERT_INT_EQ(mka_derive_ick(k, 16, k, 0, out), -1);
	ASSERT_INT_EQ(mka_derive_ick(k, 16, k, 33, out), -1);
	ASSERT_INT_EQ(mka_kdf(k, 16, "L", 1, k, 1, out, 12), -1);
	ASSERT_INT_EQ(mka_derive_sak(k, 16, k, 32, k, 1, 1, out, 16), -1);
}

/* Annex G: every vector in the file, dispatched on its "what". */
TEST(annex_g_kdf_kek_ick_sak)
{
	cJSON *root = tv_load("mka_802.1X_annexG_kdf.json");
	const cJSON *v;
	int n = 0;

	cJSON_ArrayForEach(v, tv_get(root, "vectors", NULL))
	{
		const char *what = tv_str(v, "what");
		size_t wl,
		    bits = (size_t)tv_get(v, "length_bits", NULL)->valuedouble;
		uint8_t *want = tv_hex(v, "expected", &wl);
		uint8_t out[MKA_KEY_MAX];

		ASSERT_INT_EQ(wl * 8, bits);
		if (strcmp(what, "KDF") == 0) {
			size_t kl, ll, cl;
			uint8_t *kdk = tv_hex(v, "kdk", &kl);
			uint8_t *label = tv_hex(v, "label_hex", &ll);
			uint8_t *ctx = tv_hex(v, "context", &cl);

			ASSERT_INT_EQ(
			    mka_kdf(kdk, kl, label, ll, ctx, cl, out, bits), 0);
			free(kdk);
			free(label);
			free(ctx);
		} else if (strcmp(what, "KEK") == 0 ||
			   strcmp(what, "ICK") == 0) {
			size_t cl, nl;
			uint8_t *cak = tv_hex(v, "cak", &cl);
			uint8_t *ckn = tv_hex(v, "ckn", &nl);

			ASSERT_INT_EQ(
			    what[0] == 'K'
				? mka_derive_kek(cak, cl, ckn, nl, out)
				: mka_derive_ick(cak, cl, ckn, nl, out),
			    0);
			free(cak);
			free(ckn);
		} else {
			size_t cl, nl, ml;
			uint8_t *cak = tv_hex(v, "cak", &cl);
			uint8_t *nonce = tv_hex(v, "ks_nonce", &nl);
			uint8_t mis[2 * 12];
			const cJSON *mi;
			size_t n_mi = 0;

			ASSERT_STR_EQ(what, "SAK");
			cJSON_ArrayForEach(mi, tv_get(v, "mi_list", NULL))
			{
				uint8_t *m = th_unhex(mi->valuestring, &ml);

				ASSERT_INT_EQ(ml, 12);
				memcpy(mis + 12 * n_mi++, m, 12);
				free(m);
			}
			ASSERT_INT_EQ(mka_derive_sak(cak, cl, nonce, nl, mis,
						     n_mi, 1, out, wl),
				      0);
			free(cak);
			free(nonce);
		}
		ASSERT_MEM_EQ(out, want, wl);
		free(want);
		n++;
	}
	ASSERT_INT_EQ(n, 8);
	cJSON_Delete(root);
}

/* The teaching-lab CA: ICK and KEK, and the EAP MSK -> CAK/CKN example. */
TEST(lab_keys_and_eap_derivation)
{
	cJSON *root = tv_load("mka_mkpdu_examples.json");
	const cJSON *lab = tv_get(root, "third_party_lab_capture", NULL);
	const cJSON *eap = tv_get(lab, "eap_derived_example", NULL);
	size_t cl, nl, il, kl, ml, sl, al, bl, wl;
	uint8_t *cak = tv_hex(lab, "cak", &cl), *ckn = tv_hex(lab, "ckn", &nl);
	uint8_t *ick = tv_hex(lab, "ick_derived", &il);
	uint8_t *kek = tv_hex(lab, "kek_derived", &kl);
	uint8_t *msk = tv_hex(eap, "msk", &ml);
	uint8_t *sid = tv_hex(eap, "eap_session_id", &sl);
	uint8_t *mac_a = tv_hex(eap, "mac_a", &al);
	uint8_t *mac_b = tv_hex(eap, "mac_b", &bl);
	uint8_t *want_cak = tv_hex(eap, "cak", &wl);
	uint8_t *want_ckn = tv_hex(eap, "ckn", &wl);
	uint8_t out[MKA_KEY_MAX];

	ASSERT_INT_EQ(mka_derive_ick(cak, cl, ckn, nl, out), 0);
	ASSERT_MEM_EQ(out, ick, il);
	ASSERT_INT_EQ(mka_derive_kek(cak, cl, ckn, nl, out), 0);
	ASSERT_MEM_EQ(out, kek, kl);
	ASSERT_INT_EQ(mka_derive_eap_cak(msk, 16, mac_a, mac_b, out), 0);
	ASSERT_MEM_EQ(out, want_cak, 16);
	ASSERT_INT_EQ(mka_derive_eap_ckn(msk, 16, sid, sl, mac_a, mac_b, out),
		      0);
	ASSERT_MEM_EQ(out, want_ckn, 16);
	free(cak);
	free(ckn);
	free(ick);
	free(kek);
	free(msk);
	free(sid);
	free(mac_a);
	free(mac_b);
	free(want_cak);
	free(want_ckn);
	cJSON_Delete(root);
}

/* The 256-bit examples: ICK, KEK and the AES-256 wrap of the G.6.2 SAK. */
TEST(self_generated_256_bit_keys_and_wrap)
{
	cJSON *root = tv_load("mka_mkpdu_examples.json");
	const cJSON *sg = tv_get(root, "self_generated", NULL);
	const cJSON *in = tv_get(sg, "inputs", NULL);
	size_t cl, nl, il, kl, sl, wl;
	uint8_t *cak = tv_hex(in, "cak", &cl), *ckn = tv_hex(in, "ckn", &nl);
	uint8_t *sak = tv_hex(in, "sak", &sl);
	uint8_t *ick = tv_hex(sg, "ick", &il), *kek = tv_hex(sg, "kek", &kl);
	uint8_t *wrap = tv_hex(sg, "aes_kw_of_sak", &wl);
	uint8_t out[MKA_WRAP_MAX];

	ASSERT_INT_EQ(cl, 32);
	ASSERT_INT_EQ(mka_derive_ick(cak, cl, ckn, nl, out), 0);
	ASSERT_MEM_EQ(out, ick, il);
	ASSERT_INT_EQ(mka_derive_kek(cak, cl, ckn, nl, out), 0);
	ASSERT_MEM_EQ(out, kek, kl);
	ASSERT_INT_EQ(mka_aes_wrap(kek, kl, sak, sl, out), 0);
	ASSERT_MEM_EQ(out, wrap, wl);
	ASSERT_INT_EQ(mka_aes_unwrap(kek, kl, wrap, wl, out), 0);
	ASSERT_MEM_EQ(out, sak, sl);
	free(cak);
	free(ckn);
	free(sak);
	free(ick);
	free(kek);
	free(wrap);
	cJSON_Delete(root);
}

/* Only the first 16 CKN octets enter the KDF (9.3.1). */
TEST(ick_uses_first_16_ckn_octets)
{
	uint8_t cak[16] = { 1, 2, 3 }, ckn_a[20] = { 9 }, ckn_b[20] = { 9 };
	uint8_t a[16], b[16], c[16];

	ckn_b[19] = 0x55;
	ASSERT_INT_EQ(mka_derive_ick(cak, 16, ckn_a, 20, a), 0);
	ASSERT_INT_EQ(mka_derive_ick(cak, 16, ckn_b, 20, b), 0);
	ASSERT_MEM_EQ(a, b, 16);
	/* A short CKN is zero-padded: "9" and "9 0 0 ..." agree. */
	ASSERT_INT_EQ(mka_derive_ick(cak, 16, ckn_a, 1, c), 0);
	ASSERT_MEM_EQ(a, c, 16);
	ckn_b[0] = 8;
	ASSERT_INT_EQ(mka_derive_ick(cak, 16, ckn_b, 20, b), 0);
	ASSERT_TRUE(memcmp(a, b, 16) != 0);
}

TEST_MAIN(TEST_CASE(cmac_rfc4493), TEST_CASE(key_wrap_rfc3394_and_integrity),
	  TEST_CASE(refuses_bad_key_lengths),
	  TEST_CASE(annex_g_kdf_kek_ick_sak),
	  TEST_CASE(lab_keys_and_eap_derivation),
	  TEST_CASE(self_generated_256_bit_keys_and_wrap),
	  TEST_CASE(ick_uses_first_16_ckn_octets))
