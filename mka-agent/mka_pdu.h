/*
 * mka_pdu.h — EAPOL-MKA (MKPDU) and EAPOL-Announcement codec,
 * IEEE 802.1X-2020 clause 11.
 *
 * mka_pdu_decode() is a pure function from frame bytes to struct mkpdu: it
 * checks only what it needs to split the frame safely (lengths, alignment,
 * duplicates).  mka_pdu_validate() then applies the rules of 11.11.2 in
 * order.  Neither touches protocol state or verifies the ICV: the caller
 * does that with the ICK of the CA named by the CKN (mka_pdu_icv_ok()).
 *
 * mka_pdu_encode() writes a whole Ethernet frame, parameter sets in
 * ascending type order, and appends the ICV.
 */
#ifndef QKDLAB_MKA_PDU_H
#define QKDLAB_MKA_PDU_H

#include "mka_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MKA_PDU_MAX_PEERS 64 /* per list; more does not fit 1500 */
#define MKA_ANN_MAX_SUITES 8
#define MKA_DCAK_BODY_MAX (40 + MKA_CKN_MAX)

/* Which optional sets a struct mkpdu holds (bit = 1 << type, 255 -> 0). */
#define MKA_HAS(type) (1u << ((type) == MKA_PS_ICV_IND ? 0 : (type)))

struct mka_peer_entry {
	uint8_t mi[MKA_MI_LEN];
	uint32_t mn;
};

struct mka_peer_list {
	uint8_t octet2; /* Key Server SSCI LSB (v3, XPN) or 0 */
	size_t n;
	struct mka_peer_entry e[MKA_PDU_MAX_PEERS];
};

/* Basic Parameter Set, Figure 11-8. */
struct mka_basic {
	uint8_t version;
	uint8_t priority;
	bool key_server;
	bool macsec_desired;
	uint8_t capability; /* enum mka_capability */
	uint8_t sci[MKA_SCI_LEN];
	uint8_t mi[MKA_MI_LEN];
	uint32_t mn;
	uint32_t algo_agility;
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
};

/* MACsec SAK Use, Figure 11-10.  in_use == false: body length 0. */
struct mka_sak_use {
	bool in_use;
	uint8_t lan, oan;
	bool ltx, lrx, otx, orx;
	bool plain_tx, plain_rx, delay_protect;
	uint8_t lki_mi[MKA_MI_LEN];
	uint32_t lkn;
	uint32_t llpn;
	uint8_t oki_mi[MKA_MI_LEN];
	uint32_t okn;
	uint32_t olpn;
};

/*
 * Distributed SAK, Figure 11-11.  macsec == false: body length 0 ("MACsec
 * not to be used").  cs is 0 when the 28-octet form (implicitly
 * GCM-AES-128) was sent; on encode, cs == 0 or GCM-AES-128 with a 16-octet
 * wrap selects that form.
 */
struct mka_dist_sak {
	bool macsec;
	uint8_t an;
	uint8_t conf_offset; /* enum mka_conf_offset */
	uint32_t kn;
	uint64_t cs;
	uint8_t wrapped[32 + MKA_WRAP_OVERHEAD];
	size_t wrapped_len; /* 24 or 40 */
};

/* Distributed CAK, Figure 11-12: AES-KW(KEK, CAK) then the CKN. */
struct mka_dist_cak {
	uint8_t wrapped[32 + MKA_WRAP_OVERHEAD];
	size_t wrapped_len; /* 24 (Figure 11-12) */
	uint8_t ckn[MKA_CKN_MAX];
	size_t ckn_len;
};

/* Key Management Domain, octet string (our binding: an SAE ID). */
struct mka_kmd {
	uint8_t v[MKA_KMD_MAX];
	size_t len;
};

struct mka_ann_suite {
	uint8_t capability; /* low 2 bits of the 2-octet field */
	uint64_t id;
};

/* Announcement TLVs (Table 11-8) we understand; others are counted. */
struct mka_announce {
	bool has_kmd;
	struct mka_kmd kmd; /* TLV 113 */
	size_t n_suites; /* TLV 112 */
	struct mka_ann_suite suites[MKA_ANN_MAX_SUITES];
	unsigned unknown_tlvs;
};

/* XPN parameter set (802.1Xbx): the 32 MSBs of both lowest PNs. */
struct mka_xpn {
	uint8_t suspension_time;
	uint32_t llpn_msb;
	uint32_t olpn_msb;
};

struct mkpdu {
	uint8_t da[MKA_ETH_ALEN], sa[MKA_ETH_ALEN];
	uint8_t eapol_version;
	uint8_t eapol_type;
	uint16_t body_len; /* EAPOL Packet Body Length */
	uint32_t has; /* MKA_HAS(type) bits */
	bool ascending; /* sets arrived in ascending type order */
	unsigned unknown_sets; /* types we skip (ignored, 11.11.3) */
	struct mka_basic basic;
	struct mka_peer_list live;
	struct mka_peer_list potential;
	struct mka_sak_use sak_use;
	struct mka_dist_sak dist_sak;
	struct mka_dist_cak dist_cak;
	struct mka_kmd kmd;
	struct mka_announce announce;
	struct mka_xpn xpn;
	uint8_t icv[MKA_ICV_LEN];
	size_t icv_off; /* frame octets covered by the ICV */
};

/* Frame bytes (from the destination MAC) -> struct; -1 and *why if bad. */
int mka_pdu_decode(const uint8_t *frame, size_t len, struct mkpdu *pdu,
		   const char **why);
/* The receive checks of 11.11.2 on a decoded MKPDU; -1 and *why if bad. */
int mka_pdu_validate(const struct mkpdu *pdu, const char **why);
/* ICV check over the frame the PDU was decoded from. */
bool mka_pdu_icv_ok(const struct mkpdu *pdu, const uint8_t *frame,
		    const uint8_t *ick, size_t ick_len);

/*
 * Builds a frame: Ethernet header from pdu->da/sa, EAPOL v3 type 5, Basic,
 * the sets whose MKA_HAS bit is set in ascending order, ICV over it all
 * (ICV Indicator set first if MKA_HAS(MKA_PS_ICV_IND)), and zero padding
 * to the Ethernet minimum.  Returns 0 and the frame length in *len.
 */
int mka_pdu_encode(const struct mkpdu *pdu, const uint8_t *ick, size_t ick_len,
		   uint8_t *out, size_t cap, size_t *len);

/* EAPOL-Announcement (Generic, type 6), 11.12: a body of TLVs. */
int mka_announce_decode(const uint8_t *frame, size_t len, uint8_t sa[6],
			struct mka_announce *ann, const char **why);
int mka_announce_encode(const uint8_t da[6], const uint8_t sa[6],
			const struct mka_announce *ann, uint8_t *out,
			size_t cap, size_t *len);

/* Reads the EAPOL packet type of a frame; -1 if it is not EAPOL. */
int mka_eapol_type(const uint8_t *frame, size_t len, uint8_t *type);

/* Names for logs. */
const char *mka_ps_name(unsigned type);
const char *mka_cs_name(uint64_t cs);

#endif
