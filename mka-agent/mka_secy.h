/*
 * mka_secy.h — the seam between the KaY and the data plane (802.1X-2020
 * clause 12 LMI, 802.1AE-2018 10.7): one ops table, so the KaY never
 * knows whether it drives macsec-sw's control socket (secy_ctl_client.c) or the
 * recording fake of the unit tests (secy_fake.c).
 *
 * Every op returns 0 or -1.  SAKs passed in are borrowed for the call.
 */
#ifndef QKDLAB_MKA_SECY_H
#define QKDLAB_MKA_SECY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mka_validate {
	MKA_VALIDATE_DISABLED = 0,
	MKA_VALIDATE_CHECK,
	MKA_VALIDATE_STRICT,
};

/* SecY-wide policy (802.1AE 10.7.1, 10.7.8, 10.7.17). */
struct mka_secy_policy {
	uint64_t cs; /* cipher suite (Table 14-1 id) */
	uint8_t conf_offset; /* enum mka_conf_offset */
	bool protect; /* protectFrames */
	bool replay_protect;
	uint32_t replay_window;
	enum mka_validate validate;
};

/* One SA to install (10.7.21, 10.7.23); XPN adds ssci and salt. */
struct mka_sa {
	uint8_t an;
	uint64_t pn; /* next PN (tx) / lowest PN (rx) */
	const uint8_t *key;
	size_t key_len;
	uint8_t ki[16]; /* Key Identifier: KS MI | KN */
	bool xpn;
	uint32_t ssci; /* of the SC this SA belongs to */
	uint8_t salt[12];
};

struct mka_secy_ops {
	int (*set_policy)(void *arg, const struct mka_secy_policy *pol);
	int (*create_rxsc)(void *arg, const uint8_t sci[8]);
	int (*delete_rxsc)(void *arg, const uint8_t sci[8]);
	int (*install_rxsa)(void *arg, const uint8_t sci[8],
			    const struct mka_sa *sa);
	int (*enable_rxsa)(void *arg, const uint8_t sci[8], uint8_t an);
	int (*delete_rxsa)(void *arg, const uint8_t sci[8], uint8_t an);
	int (*install_txsa)(void *arg, const struct mka_sa *sa);
	/* Makes an the encoding SA (10.7.16 encodingSA). */
	int (*enable_txsa)(void *arg, uint8_t an);
	int (*delete_txsa)(void *arg, uint8_t an);
	int (*get_txsa_pn)(void *arg, uint8_t an, uint64_t *next_pn);
	int (*get_rxsa_pn)(void *arg, const uint8_t sci[8], uint8_t an,
			   uint64_t *next_pn);
	/*
	 * Which SecY answers: a number that changes when the one behind the
	 * seam may have been replaced (macsec-sw restarted: a new control
	 * connection), which then holds none of the SCs, SAs and policy
	 * installed before.  0 before the first answer.  May be NULL.
	 */
	unsigned (*instance)(void *arg);
};

#endif
