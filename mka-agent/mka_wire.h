/*
 * mka_wire.h — on-the-wire constants of EAPOL and MKA (IEEE 802.1X-2020
 * clause 11) and the cipher suite identifiers of IEEE 802.1AE-2018.
 *
 * Only numbers live here; the codec (mka_pdu.c) reads and writes them
 * through byte cursors, never through structs laid over packets.
 */
#ifndef QKDLAB_MKA_WIRE_H
#define QKDLAB_MKA_WIRE_H

/* Ethernet (IEEE 802.3) framing around EAPOL. */
#define MKA_ETH_ALEN 6
#define MKA_ETH_HDR_LEN 14 /* DA, SA, EtherType */
#define MKA_ETHERTYPE_EAPOL 0x888e /* PAE EtherType, 11.1.1 */
#define MKA_ETH_MIN_FRAME 60 /* without FCS */

/* EAPOL header, Figure 11-1: version, packet type, body length. */
#define EAPOL_HDR_LEN 4
#define EAPOL_VERSION_2010 3 /* 802.1X-2010 and -2020 */
/* EAPOL packet types, Table 11-3. */
#define EAPOL_TYPE_EAP 0
#define EAPOL_TYPE_START 1
#define EAPOL_TYPE_LOGOFF 2
#define EAPOL_TYPE_KEY 3
#define EAPOL_TYPE_ASF_ALERT 4
#define EAPOL_TYPE_MKA 5
#define EAPOL_TYPE_ANNOUNCE 6 /* EAPOL-Announcement (Generic) */
#define EAPOL_TYPE_ANNOUNCE_SPEC 7 /* EAPOL-Announcement (Specific) */
#define EAPOL_TYPE_ANNOUNCE_REQ 8 /* EAPOL-Announcement-Req */

/* MKPDU-level limits, 11.11.2. */
#define MKA_ICV_LEN 16 /* default, 128-bit AES-CMAC */
#define MKA_MKPDU_MIN_LEN 32 /* octets of EAPOL body */
#define MKA_MKPDU_ALIGN 4 /* body and every set: multiple of 4 */
#define MKA_MKPDU_MAX_LEN 1500 /* fits an untagged Ethernet MTU */

/* Basic Parameter Set, Figure 11-8. */
#define MKA_VERSION_2010 1 /* 802.1X-2010 */
#define MKA_VERSION_BX 2 /* 802.1Xbx-2014: XPN, suspension */
#define MKA_VERSION_2020 3 /* 802.1Xck-2018 / 802.1X-2020 */
#define MKA_BASIC_FIXED_LEN 28 /* body without the CKN */
#define MKA_BASIC_KS 0x80 /* octet 3: Key Server */
#define MKA_BASIC_DESIRED 0x40 /* octet 3: MACsec Desired */
#define MKA_BASIC_CAP_MASK 0x30 /* octet 3: MACsec Capability */
#define MKA_BASIC_CAP_SHIFT 4
#define MKA_ALGO_AGILITY_2009 0x0080c201u /* only defined value, 11.11.1 */
#define MKA_MI_LEN 12 /* Member Identifier, 96 bits */
#define MKA_SCI_LEN 8 /* MAC + Port Identifier */
#define MKA_CKN_MIN 1
#define MKA_CKN_MAX 32
#define MKA_PRIO_NOT_KS 0xff /* conventional "never key server" */

/* MACsec Capability values (octet 3 bits 6-5), 11.11.1. */
enum mka_capability {
	MKA_CAP_NONE = 0, /* MACsec not implemented */
	MKA_CAP_INTEGRITY = 1, /* integrity without confidentiality */
	MKA_CAP_CONF_0 = 2, /* + confidentiality, offset 0 */
	MKA_CAP_CONF_0_30_50 = 3, /* + confidentiality, offset 0/30/50 */
};

/* Generic parameter set header (all sets after Basic), Figure 11-7. */
#define MKA_PS_HDR_LEN 4
#define MKA_PS_LEN_MAX 0x0fff /* 12-bit body length */

/* Parameter set types, Table 11-7. */
enum mka_ps_type {
	MKA_PS_LIVE_PEERS = 1,
	MKA_PS_POTENTIAL_PEERS = 2,
	MKA_PS_SAK_USE = 3,
	MKA_PS_DIST_SAK = 4,
	MKA_PS_DIST_CAK = 5,
	MKA_PS_KMD = 6,
	MKA_PS_ANNOUNCE = 7,
	MKA_PS_XPN = 8, /* 802.1Xbx-2014 */
	MKA_PS_ICV_IND = 255,
};

/* Peer List entry, Figure 11-9: MI (12) + MN (4). */
#define MKA_PEER_ENTRY_LEN 16

/* MACsec SAK Use, Figure 11-10. */
#define MKA_SAKUSE_BODY_LEN 40 /* or 0: MACsec not in use */
#define MKA_SAKUSE_LAN_MASK 0xc0 /* octet 2: Latest Key AN */
#define MKA_SAKUSE_LAN_SHIFT 6
#define MKA_SAKUSE_LTX 0x20 /* octet 2: Latest Key tx */
#define MKA_SAKUSE_LRX 0x10 /* octet 2: Latest Key rx */
#define MKA_SAKUSE_OAN_MASK 0x0c /* octet 2: Old Key AN */
#define MKA_SAKUSE_OAN_SHIFT 2
#define MKA_SAKUSE_OTX 0x02
#define MKA_SAKUSE_ORX 0x01
#define MKA_SAKUSE_PLAIN_TX 0x80 /* octet 3 (high nibble) */
#define MKA_SAKUSE_PLAIN_RX 0x40
#define MKA_SAKUSE_RESERVED 0x20
#define MKA_SAKUSE_DELAY_PROT 0x10

/* Distributed SAK, Figure 11-11. */
#define MKA_DSAK_AN_MASK 0xc0 /* octet 2: Distributed AN */
#define MKA_DSAK_AN_SHIFT 6
#define MKA_DSAK_CO_MASK 0x30 /* octet 2: Confidentiality Offset */
#define MKA_DSAK_CO_SHIFT 4
#define MKA_KN_LEN 4
#define MKA_CS_ID_LEN 8
#define MKA_WRAP_OVERHEAD 8 /* RFC 3394: key length + 8 */
#define MKA_DSAK_LEN_PLAIN 0 /* "do not use MACsec" */
#define MKA_DSAK_LEN_128 (MKA_KN_LEN + 16 + MKA_WRAP_OVERHEAD) /* 28 */
#define MKA_DSAK_LEN_128_CS (MKA_DSAK_LEN_128 + MKA_CS_ID_LEN) /* 36 */
#define MKA_DSAK_LEN_256_CS \
	(MKA_KN_LEN + MKA_CS_ID_LEN + 32 + MKA_WRAP_OVERHEAD) /* 52 */

/* Confidentiality Offset field values (Distributed SAK octet 2). */
enum mka_conf_offset {
	MKA_CO_INTEGRITY_ONLY = 0,
	MKA_CO_0 = 1,
	MKA_CO_30 = 2,
	MKA_CO_50 = 3,
};

/* Distributed CAK, Figure 11-12: wrapped CAK then the CKN. */
#define MKA_DCAK_MIN_LEN (16 + MKA_WRAP_OVERHEAD + MKA_CKN_MIN)

/* XPN parameter set (802.1Xbx-2014, 802.1X-2020 Figure 11-15). */
#define MKA_XPN_BODY_LEN 8 /* Latest + Old Key LPN MSBs */
#define MKA_SUSPENSION_MAX 120 /* MKA Suspension Limit, s */

/* Announcement TLVs, Table 11-8: 7-bit type + 9-bit length header. */
#define MKA_TLV_HDR_LEN 2
#define MKA_TLV_LEN_MAX 0x1ff
enum mka_tlv_type {
	MKA_TLV_ACCESS_INFO = 111,
	MKA_TLV_CIPHER_SUITES = 112,
	MKA_TLV_KMD = 113,
	MKA_TLV_NID = 114,
	MKA_TLV_ORG = 126,
	MKA_TLV_ORG_MULTI = 127,
};
/* KMD (our binding: an SAE ID) bounds, docs/DESIGN.md "on-wire binding". */
#define MKA_KMD_MIN 1
#define MKA_KMD_MAX 253

/* Cipher suite identifiers, IEEE 802.1AE-2018 Table 14-1. */
#define MKA_CS_GCM_AES_128 0x0080c20001000001ull
#define MKA_CS_GCM_AES_256 0x0080c20001000002ull
#define MKA_CS_GCM_AES_XPN_128 0x0080c20001000003ull
#define MKA_CS_GCM_AES_XPN_256 0x0080c20001000004ull

/* PN exhaustion thresholds that trigger a new SAK (802.1X-2020 9.8). */
#define MKA_PN_THRESHOLD_32 0xc0000000ull
#define MKA_PN_THRESHOLD_64 0xc000000000000000ull

/* MKA timers, 802.1X-2020 Table 9-3 (milliseconds). */
#define MKA_HELLO_TIME_MS 2000
#define MKA_BOUNDED_HELLO_MS 500
#define MKA_LIFE_TIME_MS 6000

#endif
