/*
 * fuzz_sectag.c — macsec-sw's receive path: the SecTAG decoder and the
 * 9.12 validator, then the whole SecY receive function (10.6) on a SecY
 * that has receive SCs for the SCIs in the seed corpus.
 *
 * The first input octet picks the policy (bits 0-1 cipher suite, 2-3
 * validateFrames, 4-5 offset, 6 integrity only, 7 replay window); the rest
 * is the frame.  Receive SAs 0-2 are enabled, 3 is installed but not.  Properties checked beyond "no crash":
 * a SecTAG that decodes re-encodes to the same octets, and the same frame,
 * taken as plain and protected by a transmitting SecY, validates back to
 * itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../macsec-sw/macsec_sw.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX 2048

static const uint8_t fz_key[32] = { 0xad, 0x7a, 0x2b, 0xd0, 0x3e, 0xac,
				    0x83, 0x5a, 0x6f, 0x62, 0x0f, 0xdc,
				    0xb5, 0x06, 0xb3, 0x45 };
static const uint8_t fz_salt[12] = { 0xe6, 0x30, 0xe8, 0x1a };
static const uint8_t fz_mac[6] = { 0x12, 0x15, 0x35, 0x24, 0xc0, 0x89 };

static struct secy *
fz_secy(enum macsec_cs cs, uint8_t sel, bool tx)
{
	static const enum secy_validate modes[] = { SECY_VALIDATE_STRICT,
						    SECY_VALIDATE_CHECK,
						    SECY_VALIDATE_DISABLED };
	static const unsigned offsets[] = { 0, 30, 50 };
	uint64_t sci = 0x12153524c0895e81ULL; /* Annex C's SCI */
	size_t klen = cipher_suite_key_len(cs);
	struct secy *s = secy_new(fz_mac, sci);
	struct secy_policy pol;
	unsigned an;

	secy_get_policy(s, &pol);
	pol.cs = cs;
	pol.validate = modes[(sel >> 2) % 3];
	pol.offset = cipher_suite_is_xpn(cs) ? 0 : offsets[(sel >> 4) % 3];
	pol.encrypt = !(sel & 0x40);
	pol.replay_window = sel & 0x80 ? 16 : 0;
	if (secy_set_policy(s, &pol) == -1)
		abort();
	if (tx) {
		if (secy_txsa_install(s, 1, 1, fz_key, klen, 7, fz_salt) ==
			-1 ||
		    secy_txsa_enable(s, 1) == -1)
			abort();
		return s;
	}
	if (secy_rxsc_create(s, sci) == -1 ||
	    secy_rxsc_create(s, sci_from_mac(fz_mac, 1)) == -1)
		abort();
	for (an = 0; an < MACSEC_AN_COUNT; an++) {
		if (secy_rxsa_install(s, sci, an, 1, fz_key, klen, 7,
				      fz_salt) == -1 ||
		    secy_rxsa_enable(s, sci, an, an != 3) == -1)
			abort();
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	uint8_t out[FZ_MAX], wire[FZ_MAX + MACSEC_OVERHEAD], re[32];
	struct sectag tag;
	struct wbuf wb;
	struct secy *rx, *tx;
	enum macsec_cs cs;
	size_t len, olen, wlen;
	uint8_t sel;

	if (!quiet++)
		log_init("fuzz", LOG_DEST_STDERR, LOG_FMT_TEXT, LOG_LVL_SILENT);
	if (size < 1 || size > FZ_MAX + 1)
		return 0;
	sel = data[0];
	data++;
	len = size - 1;
	cs = (enum macsec_cs)(sel & 3);

	if (sectag_decode(data, len, &tag) == 0 &&
	    sectag_valid(&tag, len, cipher_suite_is_xpn(cs))) {
		wbuf_init(&wb, re, sizeof(re));
		/* Reserved SL bits are not re-encoded; compare the rest. */
		if (sectag_encode(&wb, &tag) == -1 ||
		    memcmp(re, data + ETH_ADDRS_LEN, 3) != 0 ||
		    (re[3] & MACSEC_SL_MASK) !=
			(data[ETH_ADDRS_LEN + 3] & MACSEC_SL_MASK) ||
		    memcmp(re + 4, data + ETH_ADDRS_LEN + 4, wbuf_len(&wb) - 4))
			abort();
	}

	rx = fz_secy(cs, sel, false);
	(void)secy_validate_frame(rx, data, len, out, sizeof(out), &olen);
	secy_free(rx);

	/* Property: protect then validate is the identity. */
	if (len >= ETH_HDR_LEN) {
		tx = fz_secy(cs, sel, true);
		rx = fz_secy(cs, sel & ~0x0cU, false); /* strict */
		if (secy_protect(tx, data, len, wire, sizeof(wire), &wlen) ==
		    0) {
			if (secy_validate_frame(rx, wire, wlen, out,
						sizeof(out),
						&olen) != SECY_RX_DELIVER ||
			    olen != len || memcmp(out, data, len) != 0)
				abort();
		}
		secy_free(tx);
		secy_free(rx);
	}
	return 0;
}
