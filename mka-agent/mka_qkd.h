/*
 * mka_qkd.h — QKD-keyed CAs: the on-wire binding of docs/DESIGN.md ("QKD in
 * MKA").  The responder announces its SAE ID (EAPOL-Announcement, KMD TLV
 * 113) until it is in a live CA; the initiator, on an announcement from an
 * allowed peer, asks its key service for a new key for that slave and
 * starts a CA with CKN = key ID, CAK = key, and its own SAE ID in the KMD
 * parameter set of every MKPDU; the responder, on an MKPDU with an unknown
 * CKN and a KMD naming an allowed peer, fetches the key by ID (rate
 * limited), checks that frame's ICV with it, and only then uses it.
 *
 * The key service (ETSI GS QKD 014, or SKIP) sits behind one ops table.
 */
#ifndef QKDLAB_MKA_QKD_H
#define QKDLAB_MKA_QKD_H

#include "mka_kay.h"

#define MKA_SAE_MAX 253
#define MKA_QKD_MAX_ALLOWED 8
#define MKA_QKD_MAX_CAS 4

struct mka_keysvc_ops {
	/* Initiator: a fresh key for slave; id is 1..32 octets. */
	int (*new_key)(void *arg, const char *slave, size_t key_len,
		       uint8_t id[32], size_t *id_len, uint8_t *key);
	/* Responder: the key master obtained under id. */
	int (*get_key)(void *arg, const char *master, const uint8_t *id,
		       size_t id_len, size_t key_len, uint8_t *key);
};

enum mka_qkd_role {
	MKA_ROLE_AUTO = 0, /* initiator: the lower SAE ID */
	MKA_ROLE_INITIATOR,
	MKA_ROLE_RESPONDER,
};

struct mka_qkd_conf {
	char own_sae[MKA_SAE_MAX + 1];
	enum mka_qkd_role role;
	char allowed[MKA_QKD_MAX_ALLOWED][MKA_SAE_MAX + 1];
	size_t n_allowed;
	size_t cak_len; /* 16 or 32 */
	/* Rate and timers; 0: the default (mka_timers.h). */
	unsigned lookups_per_s;
	uint32_t announce_ms;
	uint32_t dead_ms; /* CA without live peer */
	uint64_t cak_lifetime_ms; /* initiator rolls the CAK; 0: never */
	/* Optional fallback PSK CA when no QKD CA is live for a while. */
	bool has_fallback;
	uint8_t fb_cak[32], fb_ckn[32];
	size_t fb_cak_len, fb_ckn_len;
	uint32_t fallback_after_ms; /* 0: the default (mka_timers.h) */
	const struct mka_keysvc_ops *ops;
	void *ops_arg;
};

struct mka_qkd_counters {
	uint64_t keys_requested, keys_fetched, key_errors;
	uint64_t keys_rejected_icv, lookups_limited, peers_refused;
	uint64_t announcements_sent, rollovers, fallbacks;
	bool fallback_active;
};

struct mka_qkd;

/* Copies conf; NULL if it is inconsistent (logged). */
struct mka_qkd *mka_qkd_new(const struct mka_qkd_conf *conf);
void mka_qkd_free(struct mka_qkd *q);
/* Before mka_kay_new(): points the KaY's announce/unknown-CKN hooks here. */
void mka_qkd_hook(struct mka_qkd *q, struct mka_kay_conf *kc);
/* After mka_kay_new(). */
void mka_qkd_attach(struct mka_qkd *q, struct mka_kay *kay);
void mka_qkd_tick(struct mka_qkd *q, uint64_t now);
/*
 * Sets the clock the receive hooks read, without running timers: call it
 * before feeding frames to the KaY, so a CA created on receipt does not
 * carry a stale (or zero) creation time and get ended as dead at once.
 */
void mka_qkd_set_now(struct mka_qkd *q, uint64_t now);
bool mka_qkd_is_initiator(const struct mka_qkd *q);
/*
 * The peer SAE ID of the CA participant p belongs to; NULL when p is not
 * a QKD CA of q (the fallback CA, or one already ended).
 */
const char *mka_qkd_peer_of(const struct mka_qkd *q,
			    const struct mka_participant *p);
void mka_qkd_get_counters(const struct mka_qkd *q, struct mka_qkd_counters *c);

#endif
