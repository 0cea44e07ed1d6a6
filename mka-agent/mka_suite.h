/*
 * mka_suite.h — the MACsec cipher suites MKA may agree on (802.1AE-2018
 * Table 14-1) and the XPN per-SC SSCI and per-SAK salt (10.7.13, 10.7.28),
 * which MKA never sends: every member computes them.
 */
#ifndef QKDLAB_MKA_SUITE_H
#define QKDLAB_MKA_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mka_suite {
	uint64_t id;
	const char *name; /* also the config / macsec-sw name */
	size_t key_len; /* SAK octets */
	bool xpn;
	bool offsets; /* confidentiality offset 30/50 allowed */
};

/* id 0 (the 28-octet Distributed SAK) means GCM-AES-128. */
const struct mka_suite *mka_suite_by_id(uint64_t id);
/* Case-insensitive: "gcm-aes-128", "GCM-AES-XPN-256", ... */
const struct mka_suite *mka_suite_by_name(const char *name);

/*
 * Salt (10.7.28): the KS MI with its octets 0-1 XOR KN's 16 LSBs and
 * octets 2-3 XOR KN's 16 MSBs.
 */
void mka_xpn_salt(const uint8_t ks_mi[12], uint32_t kn, uint8_t salt[12]);
/*
 * SSCI (10.7.13): members sorted by SCI, the numerically greatest gets 1.
 * scis holds n SCIs (8 octets each); -1 if sci is not among them.
 */
int mka_xpn_ssci(const uint8_t *scis, size_t n, const uint8_t sci[8],
		 uint32_t *ssci);

#endif
