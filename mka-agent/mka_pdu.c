/*
 * mka_pdu.c — MKPDU and EAPOL-Announcement encode/decode/validate
 * (IEEE 802.1X-2020 clause 11).
 *
 * Every optional parameter set has one row in ps_table: its name, a body
 * decoder and a body encoder.  The MKPDU decoder and encoder are each one
 * loop over that table; the generic 4-octet header, the 12-bit length and
 * the padding to 4 octets are handled once, outside the rows.
 */
#include "mka_pdu.h"

#include "buf.h"
#include "mka_crypto.h"
#include "util.h"

#include <string.h>

#define PAD4(n) ((4 - ((n)&3)) & 3)

struct ps_ops {
	const char *name;
	/* body is exactly the set's declared body (padding split off) */
	int (*decode)(struct mkpdu *pdu, uint8_t o2, uint8_t nibble,
		      struct rbuf *body, const char **why);
	/* writes the body; returns octet 2 and the high nibble of octet 3 */
	int (*encode)(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
		      struct wbuf *wb);
};

static int
fail(const char **why, const char *msg)
{
	if (why != NULL)
		*why = msg;
	return -1;
}

/* Live and Potential Peer Lists, Figure 11-9. */
static int
decode_peers(struct mka_peer_list *pl, uint8_t o2, struct rbuf *body,
	     const char **why)
{
	if (rbuf_left(body) % MKA_PEER_ENTRY_LEN != 0)
		return fail(why, "peer list length not a multiple of 16");
	if (rbuf_left(body) / MKA_PEER_ENTRY_LEN > MKA_PDU_MAX_PEERS)
		return fail(why, "too many peers in a peer list");
	pl->octet2 = o2;
	pl->n = 0;
	while (rbuf_left(body) > 0) {
		struct mka_peer_entry *e = &pl->e[pl->n++];

		rbuf_get_bytes(body, e->mi, MKA_MI_LEN);
		rbuf_get_be32(body, &e->mn);
	}
	return 0;
}

static int
encode_peers(const struct mka_peer_list *pl, uint8_t *o2, struct wbuf *wb)
{
	if (pl->n > MKA_PDU_MAX_PEERS)
		return -1;
	*o2 = pl->octet2;
	for (size_t i = 0; i < pl->n; i++) {
		wbuf_put_bytes(wb, pl->e[i].mi, MKA_MI_LEN);
		wbuf_put_be32(wb, pl->e[i].mn);
	}
	return wb->err ? -1 : 0;
}

static int
decode_live(struct mkpdu *pdu, uint8_t o2, uint8_t nibble, struct rbuf *body,
	    const char **why)
{
	(void)nibble;
	return decode_peers(&pdu->live, o2, body, why);
}

static int
encode_live(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
	    struct wbuf *wb)
{
	*nibble = 0;
	return encode_peers(&pdu->live, o2, wb);
}

static int
decode_potential(struct mkpdu *pdu, uint8_t o2, uint8_t nibble,
		 struct rbuf *body, const char **why)
{
	(void)nibble;
	return decode_peers(&pdu->potential, o2, body, why);
}

static int
encode_potential(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
		 struct wbuf *wb)
{
	*nibble = 0;
	return encode_peers(&pdu->potential, o2, wb);
}

/* MACsec SAK Use, Figure 11-10: body 0 (MACsec not in use) or 40. */
static int
decode_sak_use(struct mkpdu *pdu, uint8_t o2, uint8_t nibble, struct rbuf *body,
	       const char **why)
{
	struct mka_sak_use *su = &pdu->sak_use;

	su->lan = (o2 & MKA_SAKUSE_LAN_MASK) >> MKA_SAKUSE_LAN_SHIFT;
	su->ltx = (o2 & MKA_SAKUSE_LTX) != 0;
	su->lrx = (o2 & MKA_SAKUSE_LRX) != 0;
	su->oan = (o2 & MKA_SAKUSE_OAN_MASK) >> MKA_SAKUSE_OAN_SHIFT;
	su->otx = (o2 & MKA_SAKUSE_OTX) != 0;
	su->orx = (o2 & MKA_SAKUSE_ORX) != 0;
	su->plain_tx = ((nibble << 4) & MKA_SAKUSE_PLAIN_TX) != 0;
	su->plain_rx = ((nibble << 4) & MKA_SAKUSE_PLAIN_RX) != 0;
	su->delay_protect = ((nibble << 4) & MKA_SAKUSE_DELAY_PROT) != 0;
	if (rbuf_left(body) == 0) {
		su->in_use = false;
		return 0;
	}
	if (rbuf_left(body) != MKA_SAKUSE_BODY_LEN)
		return fail(why, "SAK Use length neither 0 nor 40");
	su->in_use = true;
	rbuf_get_bytes(body, su->lki_mi, MKA_MI_LEN);
	rbuf_get_be32(body, &su->lkn);
	rbuf_get_be32(body, &su->llpn);
	rbuf_get_bytes(body, su->oki_mi, MKA_MI_LEN);
	rbuf_get_be32(body, &su->okn);
	rbuf_get_be32(body, &su->olpn);
	return 0;
}

static int
encode_sak_use(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
	       struct wbuf *wb)
{
	const struct mka_sak_use *su = &pdu->sak_use;
	uint8_t hi = 0;

	*o2 = (uint8_t)(((su->lan & 3) << MKA_SAKUSE_LAN_SHIFT) |
			(su->ltx ? MKA_SAKUSE_LTX : 0) |
			(su->lrx ? MKA_SAKUSE_LRX : 0) |
			((su->oan & 3) << MKA_SAKUSE_OAN_SHIFT) |
			(su->otx ? MKA_SAKUSE_OTX : 0) |
			(su->orx ? MKA_SAKUSE_ORX : 0));
	hi |= su->plain_tx ? MKA_SAKUSE_PLAIN_TX : 0;
	hi |= su->plain_rx ? MKA_SAKUSE_PLAIN_RX : 0;
	hi |= su->delay_protect ? MKA_SAKUSE_DELAY_PROT : 0;
	*nibble = hi >> 4;
	if (!su->in_use)
		return 0;
	wbuf_put_bytes(wb, su->lki_mi, MKA_MI_LEN);
	wbuf_put_be32(wb, su->lkn);
	wbuf_put_be32(wb, su->llpn);
	wbuf_put_bytes(wb, su->oki_mi, MKA_MI_LEN);
	wbuf_put_be32(wb, su->okn);
	wbuf_put_be32(wb, su->olpn);
	return wb->err ? -1 : 0;
}

/*
 * Distributed SAK, Figure 11-11: body 0, 28 (KN + 24-octet wrap, implicit
 * GCM-AES-128), 36 (KN + suite + 24) or 52 (KN + suite + 40).
 */
static int
decode_dist_sak(struct mkpdu *pdu, uint8_t o2, uint8_t nibble,
		struct rbuf *body, const char **why)
{
	struct mka_dist_sak *ds = &pdu->dist_sak;
	size_t len = rbuf_left(body);

	(void)nibble;
	ds->an = (o2 & MKA_DSAK_AN_MASK) >> MKA_DSAK_AN_SHIFT;
	ds->conf_offset = (o2 & MKA_DSAK_CO_MASK) >> MKA_DSAK_CO_SHIFT;
	if (len == MKA_DSAK_LEN_PLAIN) {
		ds->macsec = false;
		return 0;
	}
	if (len != MKA_DSAK_LEN_128 && len != MKA_DSAK_LEN_128_CS &&
	    len != MKA_DSAK_LEN_256_CS)
		return fail(why, "Distributed SAK length not 0, 28, 36 or 52");
	ds->macsec = true;
	rbuf_get_be32(body, &ds->kn);
	ds->cs = 0;
	if (len != MKA_DSAK_LEN_128)
		rbuf_get_be64(body, &ds->cs);
	ds->wrapped_len = rbuf_left(body);
	rbuf_get_bytes(body, ds->wrapped, ds->wrapped_len);
	return 0;
}

static int
encode_dist_sak(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
		struct wbuf *wb)
{
	const struct mka_dist_sak *ds = &pdu->dist_sak;

	*o2 = (uint8_t)(((ds->an & 3) << MKA_DSAK_AN_SHIFT) |
			((ds->conf_offset & 3) << MKA_DSAK_CO_SHIFT));
	*nibble = 0;
	if (!ds->macsec)
		return 0;
	if (ds->wrapped_len != 24 && ds->wrapped_len != 40)
		return -1;
	wbuf_put_be32(wb, ds->kn);
	/* The default suite travels without its identifier (28 octets). */
	if (!(ds->wrapped_len == 24 &&
	      (ds->cs == 0 || ds->cs == MKA_CS_GCM_AES_128)))
		wbuf_put_be64(wb, ds->cs);
	wbuf_put_bytes(wb, ds->wrapped, ds->wrapped_len);
	return wb->err ? -1 : 0;
}

/* Distributed CAK, Figure 11-12: a 24-octet wrap, then the CKN. */
static int
decode_dist_cak(struct mkpdu *pdu, uint8_t o2, uint8_t nibble,
		struct rbuf *body, const char **why)
{
	struct mka_dist_cak *dc = &pdu->dist_cak;
	size_t len = rbuf_left(body);

	(void)o2;
	(void)nibble;
	if (len < 24 + MKA_CKN_MIN || len > 24 + MKA_CKN_MAX)
		return fail(why, "Distributed CAK length out of range");
	dc->wrapped_len = 24;
	rbuf_get_bytes(body, dc->wrapped, 24);
	dc->ckn_len = rbuf_left(body);
	rbuf_get_bytes(body, dc->ckn, dc->ckn_len);
	return 0;
}

static int
encode_dist_cak(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
		struct wbuf *wb)
{
	const struct mka_dist_cak *dc = &pdu->dist_cak;

	*o2 = 0;
	*nibble = 0;
	if (dc->wrapped_len != 24 || dc->ckn_len < MKA_CKN_MIN ||
	    dc->ckn_len > MKA_CKN_MAX)
		return -1;
	wbuf_put_bytes(wb, dc->wrapped, dc->wrapped_len);
	wbuf_put_bytes(wb, dc->ckn, dc->ckn_len);
	return wb->err ? -1 : 0;
}

/* Key Management Domain: an octet string (1..253 in our binding). */
static int
decode_kmd(struct mkpdu *pdu, uint8_t o2, uint8_t nibble, struct rbuf *body,
	   const char **why)
{
	(void)o2;
	(void)nibble;
	if (rbuf_left(body) < MKA_KMD_MIN || rbuf_left(body) > MKA_KMD_MAX)
		return fail(why, "KMD length out of range 1..253");
	pdu->kmd.len = rbuf_left(body);
	return rbuf_get_bytes(body, pdu->kmd.v, pdu->kmd.len);
}

static int
encode_kmd(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
	   struct wbuf *wb)
{
	*o2 = 0;
	*nibble = 0;
	if (pdu->kmd.len < MKA_KMD_MIN || pdu->kmd.len > MKA_KMD_MAX)
		return -1;
	return wbuf_put_bytes(wb, pdu->kmd.v, pdu->kmd.len);
}

/* Announcement TLVs (11.12, Table 11-8): 7-bit type, 9-bit length. */
static int
decode_tlvs(struct mka_announce *ann, struct rbuf *rb, const char **why)
{
	memset(ann, 0, sizeof(*ann));
	while (rbuf_left(rb) > 0) {
		uint8_t o1, o2, type;
		uint16_t len;
		struct rbuf v;

		if (rbuf_get_u8(rb, &o1) == -1 || rbuf_get_u8(rb, &o2) == -1)
			return fail(why, "truncated announcement TLV header");
		type = o1 >> 1;
		len = (uint16_t)(((o1 & 1) << 8) | o2);
		if (rbuf_sub(rb, len, &v) == -1)
			return fail(why,
				    "announcement TLV exceeds its container");
		switch (type) {
		case MKA_TLV_KMD:
			if (ann->has_kmd)
				return fail(why, "duplicate KMD TLV");
			if (len < MKA_KMD_MIN || len > MKA_KMD_MAX)
				return fail(why, "KMD TLV length out of range");
			ann->has_kmd = true;
			ann->kmd.len = len;
			rbuf_get_bytes(&v, ann->kmd.v, len);
			break;
		case MKA_TLV_CIPHER_SUITES:
			if (ann->n_suites > 0)
				return fail(why, "duplicate cipher suites TLV");
			if (len == 0 || len % 10 != 0 ||
			    len / 10 > MKA_ANN_MAX_SUITES)
				return fail(why, "cipher suites TLV length");
			while (rbuf_left(&v) > 0) {
				struct mka_ann_suite *s =
				    &ann->suites[ann->n_suites++];
				uint16_t cap;

				rbuf_get_be16(&v, &cap);
				s->capability = cap & 3;
				rbuf_get_be64(&v, &s->id);
			}
			break;
		default:
			ann->unknown_tlvs++;
			break;
		}
	}
	return 0;
}

static int
put_tlv_hdr(struct wbuf *wb, uint8_t type, size_t len)
{
	if (len > MKA_TLV_LEN_MAX)
		return -1;
	wbuf_put_u8(wb, (uint8_t)((type << 1) | (len >> 8)));
	return wbuf_put_u8(wb, (uint8_t)len);
}

static int
encode_tlvs(const struct mka_announce *ann, struct wbuf *wb)
{
	if (ann->has_kmd) {
		if (ann->kmd.len < MKA_KMD_MIN || ann->kmd.len > MKA_KMD_MAX ||
		    put_tlv_hdr(wb, MKA_TLV_KMD, ann->kmd.len) == -1)
			return -1;
		wbuf_put_bytes(wb, ann->kmd.v, ann->kmd.len);
	}
	if (ann->n_suites > 0) {
		if (ann->n_suites > MKA_ANN_MAX_SUITES ||
		    put_tlv_hdr(wb, MKA_TLV_CIPHER_SUITES,
				ann->n_suites * 10) == -1)
			return -1;
		for (size_t i = 0; i < ann->n_suites; i++) {
			wbuf_put_be16(wb, ann->suites[i].capability & 3);
			wbuf_put_be64(wb, ann->suites[i].id);
		}
	}
	return wb->err ? -1 : 0;
}

static int
decode_announce(struct mkpdu *pdu, uint8_t o2, uint8_t nibble,
		struct rbuf *body, const char **why)
{
	(void)o2;
	(void)nibble;
	return decode_tlvs(&pdu->announce, body, why);
}

static int
encode_announce(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
		struct wbuf *wb)
{
	*o2 = 0;
	*nibble = 0;
	return encode_tlvs(&pdu->announce, wb);
}

/* XPN parameter set: octet 2 = suspension time, body = two LPN MSBs. */
static int
decode_xpn(struct mkpdu *pdu, uint8_t o2, uint8_t nibble, struct rbuf *body,
	   const char **why)
{
	(void)nibble;
	if (rbuf_left(body) != MKA_XPN_BODY_LEN)
		return fail(why, "XPN set length not 8");
	pdu->xpn.suspension_time = o2;
	rbuf_get_be32(body, &pdu->xpn.llpn_msb);
	return rbuf_get_be32(body, &pdu->xpn.olpn_msb);
}

static int
encode_xpn(const struct mkpdu *pdu, uint8_t *o2, uint8_t *nibble,
	   struct wbuf *wb)
{
	*o2 = pdu->xpn.suspension_time;
	*nibble = 0;
	wbuf_put_be32(wb, pdu->xpn.llpn_msb);
	return wbuf_put_be32(wb, pdu->xpn.olpn_msb);
}

/* Indexed by parameter set type; ICV Indicator (255) is handled apart. */
static const struct ps_ops ps_table[] = {
	[MKA_PS_LIVE_PEERS] = { "Live Peer List", decode_live, encode_live },
	[MKA_PS_POTENTIAL_PEERS] = { "Potential Peer List", decode_potential,
				     encode_potential },
	[MKA_PS_SAK_USE] = { "MACsec SAK Use", decode_sak_use, encode_sak_use },
	[MKA_PS_DIST_SAK] = { "Distributed SAK", decode_dist_sak,
			      encode_dist_sak },
	[MKA_PS_DIST_CAK] = { "Distributed CAK", decode_dist_cak,
			      encode_dist_cak },
	[MKA_PS_KMD] = { "KMD", decode_kmd, encode_kmd },
	[MKA_PS_ANNOUNCE] = { "Announcement", decode_announce,
			      encode_announce },
	[MKA_PS_XPN] = { "XPN", decode_xpn, encode_xpn },
};

static const struct ps_ops *
ps_lookup(unsigned type)
{
	if (type < ARRAY_LEN(ps_table) && ps_table[type].decode != NULL)
		return &ps_table[type];
	return NULL;
}

const char *
mka_ps_name(unsigned type)
{
	const struct ps_ops *ops = ps_lookup(type);

	if (type == MKA_PS_ICV_IND)
		return "ICV Indicator";
	return ops != NULL ? ops->name : "unknown";
}

const char *
mka_cs_name(uint64_t cs)
{
	switch (cs) {
	case 0:
	case MKA_CS_GCM_AES_128:
		return "GCM-AES-128";
	case MKA_CS_GCM_AES_256:
		return "GCM-AES-256";
	case MKA_CS_GCM_AES_XPN_128:
		return "GCM-AES-XPN-128";
	case MKA_CS_GCM_AES_XPN_256:
		return "GCM-AES-XPN-256";
	default:
		return "unknown";
	}
}

/* Ethernet + EAPOL header; leaves rb at the start of the EAPOL body. */
static int
decode_eapol_hdr(struct rbuf *rb, uint8_t da[6], uint8_t sa[6],
		 uint8_t *version, uint8_t *type, struct rbuf *body,
		 const char **why)
{
	uint16_t ethertype, body_len;

	if (rbuf_get_bytes(rb, da, MKA_ETH_ALEN) == -1 ||
	    rbuf_get_bytes(rb, sa, MKA_ETH_ALEN) == -1 ||
	    rbuf_get_be16(rb, &ethertype) == -1 ||
	    rbuf_get_u8(rb, version) == -1 || rbuf_get_u8(rb, type) == -1 ||
	    rbuf_get_be16(rb, &body_len) == -1)
		return fail(why, "frame shorter than Ethernet + EAPOL header");
	if (ethertype != MKA_ETHERTYPE_EAPOL)
		return fail(why, "EtherType is not 0x888e");
	/* Octets after the body are Ethernet padding and ignored. */
	if (rbuf_sub(rb, body_len, body) == -1)
		return fail(why, "EAPOL body length exceeds the frame");
	return 0;
}

int
mka_eapol_type(const uint8_t *frame, size_t len, uint8_t *type)
{
	if (len < MKA_ETH_HDR_LEN + EAPOL_HDR_LEN ||
	    load_be16(frame + 12) != MKA_ETHERTYPE_EAPOL)
		return -1;
	*type = frame[15];
	return 0;
}

/* Basic Parameter Set, Figure 11-8 (always first, no type octet). */
static int
decode_basic(struct mka_basic *b, struct rbuf *rb, const char **why)
{
	uint8_t o3, o4;
	uint16_t len;
	struct rbuf body;

	if (rbuf_get_u8(rb, &b->version) == -1 ||
	    rbuf_get_u8(rb, &b->priority) == -1 || rbuf_get_u8(rb, &o3) == -1 ||
	    rbuf_get_u8(rb, &o4) == -1)
		return fail(why, "truncated Basic Parameter Set");
	b->key_server = (o3 & MKA_BASIC_KS) != 0;
	b->macsec_desired = (o3 & MKA_BASIC_DESIRED) != 0;
	b->capability = (o3 & MKA_BASIC_CAP_MASK) >> MKA_BASIC_CAP_SHIFT;
	len = (uint16_t)(((o3 & 0x0f) << 8) | o4);
	if (len < MKA_BASIC_FIXED_LEN + MKA_CKN_MIN)
		return fail(why, "Basic Parameter Set shorter than 29");
	if (len > MKA_BASIC_FIXED_LEN + MKA_CKN_MAX)
		return fail(why, "CKN longer than 32 octets");
	if (rbuf_sub(rb, len, &body) == -1 || rbuf_skip(rb, PAD4(len)) == -1)
		return fail(why, "Basic Parameter Set exceeds the MKPDU");
	rbuf_get_bytes(&body, b->sci, MKA_SCI_LEN);
	rbuf_get_bytes(&body, b->mi, MKA_MI_LEN);
	rbuf_get_be32(&body, &b->mn);
	rbuf_get_be32(&body, &b->algo_agility);
	b->ckn_len = rbuf_left(&body);
	return rbuf_get_bytes(&body, b->ckn, b->ckn_len);
}

/* One generic parameter set; *icv_ind set if it was the ICV Indicator. */
static int
decode_set(struct mkpdu *pdu, struct rbuf *rb, unsigned *last_type,
	   bool *icv_ind, const char **why)
{
	uint8_t type, o2, o3, o4;
	uint16_t len;
	struct rbuf body;
	const struct ps_ops *ops;

	if (rbuf_get_u8(rb, &type) == -1 || rbuf_get_u8(rb, &o2) == -1 ||
	    rbuf_get_u8(rb, &o3) == -1 || rbuf_get_u8(rb, &o4) == -1)
		return fail(why, "truncated parameter set header");
	len = (uint16_t)(((o3 & 0x0f) << 8) | o4);
	if (type == MKA_PS_ICV_IND) {
		/* Its body is the ICV itself, which ends the MKPDU (11.11.3). */
		if (rbuf_left(rb) != 0)
			return fail(why, "ICV Indicator is not the last set");
		if (len != MKA_ICV_LEN)
			return fail(why, "ICV Indicator length is not 16");
		*icv_ind = true;
		pdu->has |= MKA_HAS(MKA_PS_ICV_IND);
		return 0;
	}
	if (rbuf_sub(rb, len, &body) == -1 || rbuf_skip(rb, PAD4(len)) == -1)
		return fail(why, "parameter set exceeds the MKPDU");
	if (type < *last_type)
		pdu->ascending = false;
	*last_type = type;
	if ((ops = ps_lookup(type)) == NULL) {
		/* Unknown types are skipped for forward compatibility. */
		pdu->unknown_sets++;
		return 0;
	}
	if (pdu->has & MKA_HAS(type))
		return fail(why, "duplicate parameter set");
	pdu->has |= MKA_HAS(type);
	return ops->decode(pdu, o2, (uint8_t)(o3 >> 4), &body, why);
}

int
mka_pdu_decode(const uint8_t *frame, size_t len, struct mkpdu *pdu,
	       const char **why)
{
	struct rbuf rb, body, sets;
	unsigned last_type = 0;
	bool icv_ind = false;
	size_t sets_len;

	memset(pdu, 0, sizeof(*pdu));
	pdu->ascending = true;
	rbuf_init(&rb, frame, len);
	if (decode_eapol_hdr(&rb, pdu->da, pdu->sa, &pdu->eapol_version,
			     &pdu->eapol_type, &body, why) == -1)
		return -1;
	if (pdu->eapol_type != EAPOL_TYPE_MKA)
		return fail(why, "EAPOL packet type is not MKA");
	pdu->body_len = (uint16_t)body.len;
	if (body.len < MKA_ICV_LEN + MKA_PS_HDR_LEN)
		return fail(why, "MKPDU too short for Basic set and ICV");
	/* The ICV is the last 16 octets; everything before it is sets. */
	sets_len = body.len - MKA_ICV_LEN;
	rbuf_sub(&body, sets_len, &sets);
	rbuf_get_bytes(&body, pdu->icv, MKA_ICV_LEN);
	pdu->icv_off = MKA_ETH_HDR_LEN + EAPOL_HDR_LEN + sets_len;
	if (decode_basic(&pdu->basic, &sets, why) == -1)
		return -1;
	while (rbuf_left(&sets) > 0 && !icv_ind) {
		if (decode_set(pdu, &sets, &last_type, &icv_ind, why) == -1)
			return -1;
	}
	return 0;
}

/* 802.1X-2020 11.11.2, in order; the ICV check is the caller's. */
int
mka_pdu_validate(const struct mkpdu *pdu, const char **why)
{
	const struct mka_dist_sak *ds = &pdu->dist_sak;
	bool xpn, wide;

	/* EAPOL v3 introduced MKA; older headers cannot carry an MKPDU. */
	if (pdu->eapol_version < EAPOL_VERSION_2010)
		return fail(why, "EAPOL protocol version below 3");
	if (pdu->eapol_type != EAPOL_TYPE_MKA)
		return fail(why, "EAPOL packet type is not MKA");
	if (pdu->body_len < MKA_MKPDU_MIN_LEN)
		return fail(why, "MKPDU shorter than 32 octets");
	if (pdu->body_len % MKA_MKPDU_ALIGN != 0)
		return fail(why, "MKPDU length not a multiple of 4");
	if (pdu->basic.version == 0)
		return fail(why, "MKA version 0");
	if (pdu->basic.algo_agility != MKA_ALGO_AGILITY_2009)
		return fail(why, "unknown Algorithm Agility");
	if (pdu->basic.ckn_len < MKA_CKN_MIN)
		return fail(why, "empty CKN");
	if (pdu->basic.mn == 0)
		return fail(why, "Member Number 0 (MNs start at 1)");
	if (!(pdu->has & MKA_HAS(MKA_PS_DIST_SAK)) || !ds->macsec)
		return 0;
	/* Distributed SAK: a suite we know, a wrap that fits it. */
	if (ds->kn == 0)
		return fail(why, "Distributed SAK with Key Number 0");
	xpn = ds->cs == MKA_CS_GCM_AES_XPN_128 ||
	      ds->cs == MKA_CS_GCM_AES_XPN_256;
	wide = ds->cs == MKA_CS_GCM_AES_256 || ds->cs == MKA_CS_GCM_AES_XPN_256;
	if (ds->cs != 0 && ds->cs != MKA_CS_GCM_AES_128 &&
	    ds->cs != MKA_CS_GCM_AES_256 && !xpn)
		return fail(why, "unknown cipher suite");
	if (ds->wrapped_len != (wide ? 40u : 24u))
		return fail(why, "SAK wrap length does not fit the suite");
	/* 802.1AE-2018 14.7: XPN suites have no confidentiality offset. */
	if (xpn && ds->conf_offset > MKA_CO_0)
		return fail(why, "XPN suite with a confidentiality offset");
	return 0;
}

bool
mka_pdu_icv_ok(const struct mkpdu *pdu, const uint8_t *frame,
	       const uint8_t *ick, size_t ick_len)
{
	return mka_icv_ok(ick, ick_len, frame, pdu->icv_off, pdu->icv);
}

static int
encode_basic(const struct mka_basic *b, struct wbuf *wb)
{
	size_t len = MKA_BASIC_FIXED_LEN + b->ckn_len;

	if (b->ckn_len < MKA_CKN_MIN || b->ckn_len > MKA_CKN_MAX)
		return -1;
	wbuf_put_u8(wb, b->version);
	wbuf_put_u8(wb, b->priority);
	wbuf_put_u8(wb, (uint8_t)((b->key_server ? MKA_BASIC_KS : 0) |
				  (b->macsec_desired ? MKA_BASIC_DESIRED : 0) |
				  ((b->capability & 3) << MKA_BASIC_CAP_SHIFT) |
				  (len >> 8)));
	wbuf_put_u8(wb, (uint8_t)len);
	wbuf_put_bytes(wb, b->sci, MKA_SCI_LEN);
	wbuf_put_bytes(wb, b->mi, MKA_MI_LEN);
	wbuf_put_be32(wb, b->mn);
	wbuf_put_be32(wb, b->algo_agility);
	wbuf_put_bytes(wb, b->ckn, b->ckn_len);
	return wbuf_put_zero(wb, PAD4(len));
}

static int
encode_set(const struct mkpdu *pdu, unsigned type, struct wbuf *wb)
{
	const struct ps_ops *ops = ps_lookup(type);
	uint8_t *hdr, o2 = 0, nibble = 0;
	size_t start, len;

	if ((hdr = wbuf_reserve(wb, MKA_PS_HDR_LEN)) == NULL)
		return -1;
	start = wbuf_len(wb);
	if (ops->encode(pdu, &o2, &nibble, wb) == -1 || wb->err)
		return -1;
	len = wbuf_len(wb) - start;
	if (len > MKA_PS_LEN_MAX)
		return -1;
	hdr[0] = (uint8_t)type;
	hdr[1] = o2;
	hdr[2] = (uint8_t)((nibble << 4) | (len >> 8));
	hdr[3] = (uint8_t)len;
	return wbuf_put_zero(wb, PAD4(len));
}

int
mka_pdu_encode(const struct mkpdu *pdu, const uint8_t *ick, size_t ick_len,
	       uint8_t *out, size_t cap, size_t *len)
{
	struct wbuf wb;
	uint8_t *blen, icv[MKA_ICV_LEN];
	size_t body_start, body_len;

	wbuf_init(&wb, out, cap);
	wbuf_put_bytes(&wb, pdu->da, MKA_ETH_ALEN);
	wbuf_put_bytes(&wb, pdu->sa, MKA_ETH_ALEN);
	wbuf_put_be16(&wb, MKA_ETHERTYPE_EAPOL);
	wbuf_put_u8(&wb, EAPOL_VERSION_2010);
	wbuf_put_u8(&wb, EAPOL_TYPE_MKA);
	if ((blen = wbuf_reserve(&wb, 2)) == NULL)
		return -1;
	body_start = wbuf_len(&wb);
	if (encode_basic(&pdu->basic, &wb) == -1)
		return -1;
	/* Ascending type order: what hostapd and MKAdaemon expect. */
	for (unsigned t = 1; t < ARRAY_LEN(ps_table); t++) {
		if ((pdu->has & MKA_HAS(t)) && ps_lookup(t) != NULL &&
		    encode_set(pdu, t, &wb) == -1)
			return -1;
	}
	if (pdu->has & MKA_HAS(MKA_PS_ICV_IND)) {
		wbuf_put_u8(&wb, MKA_PS_ICV_IND);
		wbuf_put_u8(&wb, 0);
		wbuf_put_be16(&wb, MKA_ICV_LEN);
	}
	/* The ICV covers the EAPOL header too: fix the length first. */
	body_len = wbuf_len(&wb) - body_start + MKA_ICV_LEN;
	if (wb.err || body_len > MKA_MKPDU_MAX_LEN)
		return -1;
	store_be16(blen, (uint16_t)body_len);
	if (mka_icv(ick, ick_len, out, wbuf_len(&wb), icv) == -1 ||
	    wbuf_put_bytes(&wb, icv, sizeof(icv)) == -1)
		return -1;
	if (wbuf_len(&wb) < MKA_ETH_MIN_FRAME &&
	    wbuf_put_zero(&wb, MKA_ETH_MIN_FRAME - wbuf_len(&wb)) == -1)
		return -1;
	*len = wbuf_len(&wb);
	return 0;
}

int
mka_announce_decode(const uint8_t *frame, size_t len, uint8_t sa[6],
		    struct mka_announce *ann, const char **why)
{
	struct rbuf rb, body;
	uint8_t da[MKA_ETH_ALEN], version, type;

	rbuf_init(&rb, frame, len);
	if (decode_eapol_hdr(&rb, da, sa, &version, &type, &body, why) == -1)
		return -1;
	if (version < EAPOL_VERSION_2010)
		return fail(why, "EAPOL protocol version below 3");
	if (type != EAPOL_TYPE_ANNOUNCE && type != EAPOL_TYPE_ANNOUNCE_SPEC)
		return fail(why, "EAPOL packet type is not an announcement");
	return decode_tlvs(ann, &body, why);
}

int
mka_announce_encode(const uint8_t da[6], const uint8_t sa[6],
		    const struct mka_announce *ann, uint8_t *out, size_t cap,
		    size_t *len)
{
	struct wbuf wb;
	uint8_t *blen;
	size_t body_start;

	wbuf_init(&wb, out, cap);
	wbuf_put_bytes(&wb, da, MKA_ETH_ALEN);
	wbuf_put_bytes(&wb, sa, MKA_ETH_ALEN);
	wbuf_put_be16(&wb, MKA_ETHERTYPE_EAPOL);
	wbuf_put_u8(&wb, EAPOL_VERSION_2010);
	wbuf_put_u8(&wb, EAPOL_TYPE_ANNOUNCE);
	if ((blen = wbuf_reserve(&wb, 2)) == NULL)
		return -1;
	body_start = wbuf_len(&wb);
	if (encode_tlvs(ann, &wb) == -1)
		return -1;
	store_be16(blen, (uint16_t)(wbuf_len(&wb) - body_start));
	if (wbuf_len(&wb) < MKA_ETH_MIN_FRAME &&
	    wbuf_put_zero(&wb, MKA_ETH_MIN_FRAME - wbuf_len(&wb)) == -1)
		return -1;
	*len = wbuf_len(&wb);
	return 0;
}
