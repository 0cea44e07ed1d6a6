/*
 * secy_fake.h — a SecY that records every LMI call (for the unit tests
 * and for `secy = none` dry runs).  It keeps the SA table a real SecY
 * would keep, so tests can ask "which key does AN 1 of SC x hold?".
 */
#ifndef QKDLAB_SECY_FAKE_H
#define QKDLAB_SECY_FAKE_H

#include "mka_secy.h"

#define SECY_FAKE_MAX_SC 8
#define SECY_FAKE_LOG 256

struct secy_fake_sa {
	bool installed, enabled;
	uint8_t key[32];
	size_t key_len;
	uint64_t pn;
	bool xpn;
	uint32_t ssci;
	uint8_t salt[12];
};

struct secy_fake_sc {
	bool used;
	uint8_t sci[8];
	struct secy_fake_sa sa[4];
};

struct secy_fake {
	struct mka_secy_policy policy;
	bool policy_set;
	struct secy_fake_sa tx[4];
	int encoding_an; /* -1 until enable_txsa */
	struct secy_fake_sc rx[SECY_FAKE_MAX_SC];
	uint64_t tx_pn_override; /* when non-zero: reported tx PN */
	uint8_t tx_pn_override_an; /* ... for this AN only */
	unsigned calls;
	char log[SECY_FAKE_LOG][64]; /* "install-rxsa an=1", no keys */
};

extern const struct mka_secy_ops secy_fake_ops;

void secy_fake_init(struct secy_fake *f);
/* The receive SC for sci, or NULL. */
struct secy_fake_sc *secy_fake_rxsc(struct secy_fake *f, const uint8_t sci[8]);
/* Counts log entries starting with prefix. */
unsigned secy_fake_count(const struct secy_fake *f, const char *prefix);

#endif
