/*
 * mka_kay.h — the MKA Key Agreement Entity of one port (802.1X-2020
 * clause 9 and 12): participants (one per CA), their live and potential
 * peers, key server election, SAK generation and distribution, SAK Use,
 * cipher suite agreement, and the Controlled Port state machine
 * (mka_cp.c) that installs SAs through struct mka_secy_ops.
 *
 * Time is injected: every entry point takes `now` in milliseconds, and
 * mka_kay_next_event() says when to call mka_kay_tick() next.  Two KaYs
 * can therefore run against each other deterministically in one process.
 * Frames leave through conf.tx; frames arrive through mka_kay_rx().
 */
#ifndef QKDLAB_MKA_KAY_H
#define QKDLAB_MKA_KAY_H

#include "mka_crypto.h"
#include "mka_pdu.h"
#include "mka_secy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MKA_MAX_PEERS 16
#define MKA_MAX_PARTICIPANTS 4
#define MKA_MAX_SUITES 4
#define MKA_MN_HISTORY 8

struct mka_kay;
struct mka_participant;

struct mka_kay_conf {
	const char *name; /* port name, for logs */
	uint8_t mac[6];
	uint16_t port_id; /* SCI = mac | port_id */
	uint8_t priority; /* Key Server Priority, lower wins */
	bool macsec_desired;
	uint8_t capability; /* enum mka_capability */
	uint8_t mka_version; /* MKA_VERSION_2020 unless set */
	/* Suites we accept, most preferred first (default GCM-AES-128). */
	uint64_t suites[MKA_MAX_SUITES];
	size_t n_suites;
	uint8_t conf_offset; /* enum mka_conf_offset */
	bool replay_protect;
	uint32_t replay_window;
	uint8_t eapol_da[6]; /* where MKPDUs go */
	/* Timers; 0: the default (mka_timers.h). */
	uint32_t hello_ms; /* MKA Hello Time */
	uint32_t life_ms; /* MKA Life Time */
	uint32_t retire_ms; /* old SA kept after switch */
	uint64_t pn_threshold; /* 0: 802.1X 9.8 default */
	const struct mka_secy_ops *secy;
	void *secy_arg;
	int (*tx)(void *arg, const uint8_t *frame, size_t len);
	void *tx_arg;
	/* Opt-in key log (docs/DESIGN.md format); NULL: keys go nowhere. */
	void (*key_log)(void *arg, const char *line);
	void *key_log_arg;
	/* An MKPDU whose CKN no participant knows (QKD responder hook). */
	void (*unknown_ckn)(void *arg, const struct mkpdu *pdu,
			    const uint8_t *frame, size_t len);
	/* An EAPOL-Announcement (QKD initiator hook). */
	void (*announce)(void *arg, const uint8_t sa[6],
			 const struct mka_announce *ann);
	void *hook_arg;
};

/* Controlled Port states, 802.1X-2020 Figure 12-2. */
enum mka_cp_state {
	CP_INIT = 0,
	CP_CHANGE,
	CP_ALLOWED,
	CP_AUTHENTICATED,
	CP_SECURED,
	CP_RECEIVE,
	CP_RECEIVING,
	CP_READY,
	CP_TRANSMIT,
	CP_TRANSMITTING,
	CP_ABANDON,
	CP_RETIRE,
	CP_N_STATES,
};

/* connect (12.2): what the KaY tells the CP. */
enum mka_connect {
	MKA_CONNECT_PENDING = 0,
	MKA_CONNECT_UNAUTHENTICATED,
	MKA_CONNECT_AUTHENTICATED,
	MKA_CONNECT_SECURE,
};

struct mka_counters {
	uint64_t tx_mkpdus, rx_mkpdus, rx_invalid, rx_bad_icv, rx_unknown_ckn;
	uint64_t rx_replayed, rx_announcements, sak_generated, sak_installed;
	uint64_t rekeys_pn, rekeys_peers, secy_errors;
};

/* A point-in-time view for status output and tests. */
struct mka_kay_status {
	enum mka_cp_state cp;
	enum mka_connect connect;
	bool secured; /* a SAK in use in both directions */
	bool key_server; /* this KaY is the elected key server */
	size_t live_peers, potential_peers;
	uint64_t suite;
	uint32_t latest_kn;
	uint8_t latest_an;
	uint8_t ks_sci[8];
	struct mka_counters c;
	const char *last_error;
};

/* Config is copied; NULL on allocation failure. */
struct mka_kay *mka_kay_new(const struct mka_kay_conf *conf, uint64_t now);
void mka_kay_free(struct mka_kay *kay);

/*
 * Adds a participant for a CA (cak/ckn copied, ICK/KEK derived).  kmd
 * (may be NULL) is sent as the KMD parameter set in every MKPDU of the CA.
 * The first participant added becomes the principal one.
 */
struct mka_participant *mka_kay_add_ca(struct mka_kay *kay, const uint8_t *cak,
				       size_t cak_len, const uint8_t *ckn,
				       size_t ckn_len, const uint8_t *kmd,
				       size_t kmd_len, uint64_t now);
/* Removes (and wipes) a participant; its SAs go if it was principal. */
void mka_kay_remove_ca(struct mka_kay *kay, struct mka_participant *p);
/*
 * Preference among CAs of one port (higher wins): a participant whose
 * first SAK arrives becomes principal if it outranks the principal or the
 * principal has no live peer, taking over the keys in use, so the old SAs
 * are retired only after the new SAK is used both ways (make before break).
 */
void mka_participant_set_rank(struct mka_participant *p, unsigned rank);
/* p is principal and a SAK of its own CA is in use in both directions. */
bool mka_participant_in_use(const struct mka_participant *p);
/* Makes p the participant whose SAKs drive the Controlled Port. */
void mka_kay_set_principal(struct mka_kay *kay, struct mka_participant *p);
struct mka_participant *mka_kay_principal(struct mka_kay *kay);
struct mka_participant *mka_kay_find_ca(struct mka_kay *kay, const uint8_t *ckn,
					size_t ckn_len);

/* One received frame (from the destination MAC on). */
void mka_kay_rx(struct mka_kay *kay, const uint8_t *frame, size_t len,
		uint64_t now);
/* Sends an EAPOL-Announcement to the EAPOL destination address. */
int mka_kay_send_announce(struct mka_kay *kay, const struct mka_announce *ann);
/* Records (and logs once) a condition for status output. */
void mka_kay_error(struct mka_kay *kay, const char *what);
/* Timers: hellos, peer expiry, rekey checks, CP timeouts. */
void mka_kay_tick(struct mka_kay *kay, uint64_t now);
uint64_t mka_kay_next_event(const struct mka_kay *kay);

void mka_kay_get_status(const struct mka_kay *kay, struct mka_kay_status *st);
/* Per-participant view: live peers, and whether its SAK is in use. */
size_t mka_participant_live_peers(const struct mka_participant *p);
bool mka_participant_secured(const struct mka_participant *p);
const uint8_t *mka_participant_mi(const struct mka_participant *p);
/* The CA's CKN (for a QKD CA, the key ID); *len set to its length. */
const uint8_t *mka_participant_ckn(const struct mka_participant *p,
				   size_t *len);

const char *mka_cp_state_name(enum mka_cp_state s);
const char *mka_connect_name(enum mka_connect c);

#endif
