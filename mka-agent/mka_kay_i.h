/*
 * mka_kay_i.h — KaY internals shared by mka_kay.c (participants, peers,
 * election, SAK distribution) and mka_cp.c (the Controlled Port machine
 * and SA installation).  Not for other modules.
 */
#ifndef QKDLAB_MKA_KAY_I_H
#define QKDLAB_MKA_KAY_I_H

#include "mka_kay.h"
#include "mka_suite.h"

/* One SAK as the KaY knows it (802.1X 9.8; KI = KS MI | KN). */
struct mka_key {
	bool valid;
	uint8_t ks_mi[MKA_MI_LEN];
	uint32_t kn;
	uint8_t an;
	uint8_t sak[MKA_KEY_MAX];
	size_t sak_len;
	const struct mka_suite *suite;
	uint8_t conf_offset;
	uint8_t salt[12]; /* XPN only */
	bool installed; /* rx SAs + tx SA in the SecY */
	bool tx_enabled;
	bool rekey_done; /* PN threshold rekey already asked */
	/* Its enabled transmit SA went with a replaced SecY. */
	bool tx_lost;
	/* The receive SCs this key was installed for (to remove it). */
	uint8_t rx_sci[MKA_MAX_PEERS][MKA_SCI_LEN];
	size_t n_rx;
};

struct mka_peer {
	bool used;
	uint8_t mi[MKA_MI_LEN];
	uint32_t mn;
	uint8_t sci[MKA_SCI_LEN];
	uint8_t priority;
	bool ks_flag, desired;
	uint8_t cap;
	bool live;
	uint64_t expires;
	bool has_su;
	struct mka_sak_use su;
	uint32_t llpn_msb; /* from its XPN set */
	uint32_t olpn_msb; /* from its XPN set */
	uint64_t suites[MKA_MAX_SUITES]; /* from its Announcement */
	size_t n_suites;
};

struct mka_participant {
	bool used;
	struct mka_kay *kay;
	unsigned rank; /* preference as principal */
	uint8_t cak[MKA_KEY_MAX], ick[MKA_KEY_MAX], kek[MKA_KEY_MAX];
	size_t cak_len;
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
	uint8_t kmd[MKA_KMD_MAX];
	size_t kmd_len;
	uint8_t mi[MKA_MI_LEN];
	uint32_t mn; /* last MN sent */
	struct {
		uint32_t mn;
		uint64_t t;
	} sent[MKA_MN_HISTORY]; /* to judge "recent" MNs (9.4.2) */
	unsigned sent_i;
	struct mka_peer peers[MKA_MAX_PEERS];
	uint64_t next_hello;
	bool tx_now; /* send an MKPDU at the next tick */
	/* Key server election (9.5). */
	bool ks_known, elected_self;
	uint8_t ks_mi[MKA_MI_LEN], ks_sci[MKA_SCI_LEN];
	bool peers_changed; /* live set changed since last SAK */
	/* SAK state: decided = the KS said "SAK" or "no MACsec". */
	bool decided, macsec_used;
	uint32_t next_kn;
	bool dist_active; /* KS: keep sending Distributed SAK */
	struct mka_key dkey; /* distributed, not yet in RECEIVE */
	struct mka_key lkey, okey; /* latest and old key (12.3) */
	bool lrx, ltx, orx, otx;
};

struct mka_cp {
	enum mka_cp_state state;
	enum mka_connect connect; /* as of the last CHANGE */
	bool new_sak;
	bool using_receive_sas, using_transmit_sa;
	uint64_t transmit_when; /* KS: transmit even if not all rx */
	uint64_t retire_when;
	uint64_t policy_cs; /* suite last given to set_policy */
	bool policy_protect;
};

struct mka_rxsc {
	bool used;
	uint8_t sci[MKA_SCI_LEN];
};

struct mka_kay {
	struct mka_kay_conf conf;
	uint8_t sci[MKA_SCI_LEN];
	struct mka_participant parts[MKA_MAX_PARTICIPANTS];
	struct mka_participant *principal;
	struct mka_cp cp;
	struct mka_rxsc rxsc[MKA_MAX_PEERS];
	struct mka_counters c;
	const char *last_error;
	uint64_t now;
	unsigned secy_instance; /* as last seen; 0: none yet */
};

/* mka_kay.c, for the CP */
enum mka_connect mka_kay_connect(const struct mka_kay *kay);
bool mka_kay_all_receiving(const struct mka_participant *p);
bool mka_kay_server_transmitting(const struct mka_participant *p);
void mka_kay_log_sak(struct mka_kay *kay, const struct mka_participant *p,
		     const struct mka_key *k);

/* mka_cp.c */
void mka_cp_init(struct mka_kay *kay);
/* Runs the machine until no transition fires (bounded). */
void mka_cp_run(struct mka_kay *kay, uint64_t now);
uint64_t mka_cp_next_event(const struct mka_kay *kay);
/* Removes a key's SAs from the SecY and wipes it. */
void mka_cp_drop_key(struct mka_kay *kay, struct mka_key *k);
/* A peer left: its receive SC and SAs go. */
void mka_cp_drop_peer(struct mka_kay *kay, const uint8_t sci[8]);
/* The SecY was replaced: puts back what is in use, as far as it may. */
void mka_cp_secy_lost(struct mka_kay *kay);

#endif
