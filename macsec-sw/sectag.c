/*
 * sectag.c — the MACsec Security TAG (IEEE 802.1AE-2018 clause 9).
 *
 * Decoding is a pure function of the octets; validation applies 9.12 in
 * its order; encoding is the mirror image through a wbuf.
 */
#include <stdio.h>
#include <string.h>

#include "encoding.h"
#include "macsec_sw.h"

size_t
sectag_len(uint8_t tci)
{
	return (tci & MACSEC_TCI_SC) ? MACSEC_SECTAG_SCI_LEN
				     : MACSEC_SECTAG_LEN;
}

uint8_t
sectag_short_len(size_t secure_data_len)
{
	/* 9.7: SL carries the Secure Data length only when below 48. */
	return secure_data_len < MACSEC_SL_LIMIT ? (uint8_t)secure_data_len : 0;
}

int
sectag_decode(const uint8_t *frame, size_t len, struct sectag *tag)
{
	struct rbuf rb;
	uint8_t tci_an;

	memset(tag, 0, sizeof(*tag));
	rbuf_init(&rb, frame, len);
	if (rbuf_skip(&rb, ETH_ADDRS_LEN) == -1 ||
	    rbuf_get_be16(&rb, &tag->st_ethertype) == -1 ||
	    rbuf_get_u8(&rb, &tci_an) == -1 ||
	    rbuf_get_u8(&rb, &tag->st_sl) == -1 ||
	    rbuf_get_be32(&rb, &tag->st_pn) == -1)
		return -1;
	tag->st_tci = tci_an & MACSEC_TCI_MASK;
	tag->st_an = tci_an & MACSEC_AN_MASK;
	if ((tag->st_tci & MACSEC_TCI_SC) &&
	    rbuf_get_be64(&rb, &tag->st_sci) == -1)
		return -1;
	return 0;
}

bool
sectag_valid(const struct sectag *tag, size_t frame_len, bool xpn)
{
	size_t mpdu, extra, sl;

	if (frame_len < ETH_ADDRS_LEN)
		return false;
	mpdu = frame_len - ETH_ADDRS_LEN;
	/* a) the MPDU comprises at least 17 octets */
	if (mpdu < MACSEC_MIN_MPDU)
		return false;
	/* b) octets 1 and 2 are the MACsec EtherType */
	if (tag->st_ethertype != MACSEC_ETHERTYPE)
		return false;
	/* c) the V bit is clear */
	if (tag->st_tci & MACSEC_TCI_V)
		return false;
	/* d) ES or SCB set implies SC clear */
	if ((tag->st_tci & (MACSEC_TCI_ES | MACSEC_TCI_SCB)) &&
	    (tag->st_tci & MACSEC_TCI_SC))
		return false;
	/* e) bits 7 and 8 of octet 4 are clear */
	if (tag->st_sl & MACSEC_SL_RESERVED)
		return false;
	/* PN 0 is never transmitted by the 32-bit PN suites (10.5.2). */
	if (!xpn && tag->st_pn == 0)
		return false;
	/* f)-i) the length agrees with SL: exact when SL is set, else >= 48 */
	extra = sectag_len(tag->st_tci) + MACSEC_ICV_LEN;
	sl = tag->st_sl & MACSEC_SL_MASK;
	if (sl != 0)
		return mpdu == extra + sl;
	return mpdu >= extra + MACSEC_SL_LIMIT;
}

int
sectag_encode(struct wbuf *wb, const struct sectag *tag)
{
	wbuf_put_be16(wb, MACSEC_ETHERTYPE);
	wbuf_put_u8(wb, (uint8_t)((tag->st_tci & MACSEC_TCI_MASK) |
				  (tag->st_an & MACSEC_AN_MASK)));
	wbuf_put_u8(wb, tag->st_sl & MACSEC_SL_MASK);
	wbuf_put_be32(wb, tag->st_pn);
	if (tag->st_tci & MACSEC_TCI_SC)
		wbuf_put_be64(wb, tag->st_sci);
	return wb->err ? -1 : 0;
}

uint64_t
sci_from_mac(const uint8_t mac[ETH_ADDR_LEN], uint16_t port)
{
	uint64_t sci = 0;
	size_t i;

	for (i = 0; i < ETH_ADDR_LEN; i++)
		sci = (sci << 8) | mac[i];
	return (sci << 16) | port;
}

int
sci_parse(const char *s, uint64_t *sci)
{
	uint8_t b[MACSEC_SCI_LEN];
	uint64_t v = 0;
	size_t i;

	if (strlen(s) != 2 * MACSEC_SCI_LEN ||
	    hex_decode(b, sizeof(b), s, strlen(s)) != MACSEC_SCI_LEN)
		return -1;
	for (i = 0; i < sizeof(b); i++)
		v = (v << 8) | b[i];
	*sci = v;
	return 0;
}

void
sci_format(char *out, uint64_t sci)
{
	snprintf(out, 2 * MACSEC_SCI_LEN + 1, "%016llx",
		 (unsigned long long)sci);
}
