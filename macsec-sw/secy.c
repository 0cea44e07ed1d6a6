/*
 * secy.c — the MAC Security Entity (IEEE 802.1AE-2018 clause 10).
 *
 * One transmit SC with up to four SAs, up to SECY_MAX_RXSC receive SCs
 * with four SAs each, the SecY's management controls (protectFrames,
 * validateFrames, replayProtect, ...) and the counters of 10.7 under the
 * names the IEEE8021-SECY-MIB gives them.  No I/O happens here: frames
 * come in as buffers and go out as buffers, so this file is unit-tested
 * against Annex C directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macsec_sw.h"
#include "util.h"

#define PN32_MAX 0xffffffffULL
#define PN64_MAX 0xffffffffffffffffULL

struct txsa {
	bool in_use;
	bool exhausted; /* the last PN has been sent (10.5.2) */
	uint64_t next_pn;
	uint32_t ssci;
	struct cipher_key *key;
	struct secy_txsa_stats st;
};

struct rxsa {
	bool in_use;
	bool enabled;
	uint64_t next_pn; /* nextPN (10.6.5) */
	uint64_t lowest_pn; /* lowestPN: lowest acceptable PN */
	uint32_t ssci;
	struct cipher_key *key;
	struct secy_rxsa_stats st;
};

struct rxsc {
	uint64_t sci;
	struct rxsa sa[MACSEC_AN_COUNT];
	struct secy_rxsc_stats st;
};

struct secy {
	uint8_t mac[ETH_ADDR_LEN];
	uint64_t tx_sci;
	size_t max_frame;
	struct secy_policy pol;
	int encoding_an; /* -1: no SA in use, nothing is sent */
	struct txsa tx[MACSEC_AN_COUNT];
	struct rxsc *rx[SECY_MAX_RXSC];
	size_t n_rx;
	struct secy_stats st;
	char err[160];
};

static int secy_fail(struct secy *secy, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
secy_fail(struct secy *secy, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(secy->err, sizeof(secy->err), fmt, ap);
	va_end(ap);
	return -1;
}

const char *
secy_error(const struct secy *secy)
{
	return secy->err;
}

struct secy *
secy_new(const uint8_t mac[ETH_ADDR_LEN], uint64_t tx_sci)
{
	struct secy *secy;

	if ((secy = calloc(1, sizeof(*secy))) == NULL)
		return NULL;
	memcpy(secy->mac, mac, ETH_ADDR_LEN);
	secy->tx_sci = tx_sci;
	secy->max_frame = 65535;
	secy->encoding_an = -1;
	/* The defaults of 10.7 and of Linux: protect, strict, no window. */
	secy->pol.cs = MACSEC_CS_GCM_AES_128;
	secy->pol.protect = true;
	secy->pol.validate = SECY_VALIDATE_STRICT;
	secy->pol.replay_protect = true;
	secy->pol.replay_window = 0;
	secy->pol.offset = 0;
	secy->pol.encrypt = true;
	secy->pol.include_sci = true;
	secy->pol.use_es = false;
	return secy;
}

static void
txsa_clear(struct txsa *sa)
{
	cipher_key_free(sa->key);
	memset(sa, 0, sizeof(*sa));
}

static void
rxsa_clear(struct rxsa *sa)
{
	cipher_key_free(sa->key);
	memset(sa, 0, sizeof(*sa));
}

static void
rxsc_free(struct rxsc *sc)
{
	size_t an;

	if (sc == NULL)
		return;
	for (an = 0; an < MACSEC_AN_COUNT; an++)
		rxsa_clear(&sc->sa[an]);
	free(sc);
}

void
secy_free(struct secy *secy)
{
	size_t i;

	if (secy == NULL)
		return;
	for (i = 0; i < MACSEC_AN_COUNT; i++)
		txsa_clear(&secy->tx[i]);
	for (i = 0; i < secy->n_rx; i++)
		rxsc_free(secy->rx[i]);
	free(secy);
}

static bool
secy_has_sa(const struct secy *secy)
{
	size_t i, an;

	for (an = 0; an < MACSEC_AN_COUNT; an++)
		if (secy->tx[an].in_use)
			return true;
	for (i = 0; i < secy->n_rx; i++)
		for (an = 0; an < MACSEC_AN_COUNT; an++)
			if (secy->rx[i]->sa[an].in_use)
				return true;
	return false;
}

void
secy_get_policy(const struct secy *secy, struct secy_policy *pol)
{
	*pol = secy->pol;
}

int
secy_set_policy(struct secy *secy, const struct secy_policy *pol)
{
	if (pol->offset != 0 && pol->offset != 30 && pol->offset != 50)
		return secy_fail(secy,
				 "confidentiality offset must be 0, 30 "
				 "or 50, not %u",
				 pol->offset);
	/* 14.7: the XPN suites define no confidentiality offset. */
	if (pol->offset != 0 && cipher_suite_is_xpn(pol->cs))
		return secy_fail(secy, "%s supports offset 0 only",
				 cipher_suite_name(pol->cs));
	/* XPN (802.1AEbw) bounds the window at 2^30 so PN recovery holds. */
	if (cipher_suite_is_xpn(pol->cs) && pol->replay_window > (1U << 30))
		return secy_fail(secy, "replay window above 2^30 with %s",
				 cipher_suite_name(pol->cs));
	if (pol->include_sci && pol->use_es)
		return secy_fail(secy, "es=on needs include-sci=off (9.12 d)");
	/* SAs hold keys expanded for one suite. */
	if (pol->cs != secy->pol.cs && secy_has_sa(secy))
		return secy_fail(secy, "remove all SAs before changing the "
				       "cipher suite");
	secy->pol = *pol;
	return 0;
}

uint64_t
secy_tx_sci(const struct secy *secy)
{
	return secy->tx_sci;
}

int
secy_set_tx_sci(struct secy *secy, uint64_t sci)
{
	if (sci == MACSEC_SCI_RESERVED)
		return secy_fail(secy, "SCI ffffffffffffffff is reserved");
	secy->tx_sci = sci;
	return 0;
}

void
secy_set_max_frame(struct secy *secy, size_t max_frame)
{
	secy->max_frame = max_frame;
}

static struct rxsc *
rxsc_find(const struct secy *secy, uint64_t sci, size_t *idx)
{
	size_t i;

	for (i = 0; i < secy->n_rx; i++) {
		if (secy->rx[i]->sci == sci) {
			if (idx != NULL)
				*idx = i;
			return secy->rx[i];
		}
	}
	return NULL;
}

int
secy_rxsc_create(struct secy *secy, uint64_t sci)
{
	struct rxsc *sc;

	if (sci == MACSEC_SCI_RESERVED)
		return secy_fail(secy, "SCI ffffffffffffffff is reserved");
	if (rxsc_find(secy, sci, NULL) != NULL)
		return secy_fail(secy, "receive SC exists");
	if (secy->n_rx == SECY_MAX_RXSC)
		return secy_fail(secy, "too many receive SCs (max %d)",
				 SECY_MAX_RXSC);
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return secy_fail(secy, "out of memory");
	sc->sci = sci;
	secy->rx[secy->n_rx++] = sc;
	return 0;
}

int
secy_rxsc_delete(struct secy *secy, uint64_t sci)
{
	size_t i;
	struct rxsc *sc;

	if ((sc = rxsc_find(secy, sci, &i)) == NULL)
		return secy_fail(secy, "no such receive SC");
	rxsc_free(sc);
	secy->rx[i] = secy->rx[--secy->n_rx];
	secy->rx[secy->n_rx] = NULL;
	return 0;
}

static int
sa_check_args(struct secy *secy, unsigned an, uint64_t pn, size_t key_len,
	      const uint8_t *salt)
{
	bool xpn = cipher_suite_is_xpn(secy->pol.cs);

	if (an >= MACSEC_AN_COUNT)
		return secy_fail(secy, "AN must be 0-3, not %u", an);
	if (pn == 0 || (!xpn && pn > PN32_MAX))
		return secy_fail(secy, "PN must be 1-%s",
				 xpn ? "2^64-1" : "2^32-1");
	if (key_len != cipher_suite_key_len(secy->pol.cs))
		return secy_fail(secy, "%s needs a %zu-octet key, not %zu",
				 cipher_suite_name(secy->pol.cs),
				 cipher_suite_key_len(secy->pol.cs), key_len);
	if (xpn && salt == NULL)
		return secy_fail(secy, "%s needs ssci= and salt=",
				 cipher_suite_name(secy->pol.cs));
	return 0;
}

int
secy_rxsa_install(struct secy *secy, uint64_t sci, unsigned an,
		  uint64_t lowest_pn, const uint8_t *key, size_t key_len,
		  uint32_t ssci, const uint8_t *salt)
{
	struct rxsc *sc;
	struct rxsa *sa;
	struct cipher_key *ck;

	if (sa_check_args(secy, an, lowest_pn, key_len, salt) == -1)
		return -1;
	if ((sc = rxsc_find(secy, sci, NULL)) == NULL)
		return secy_fail(secy, "no such receive SC");
	sa = &sc->sa[an];
	if (sa->in_use)
		return secy_fail(secy, "receive SA %u exists; remove it first",
				 an);
	ck = cipher_key_new(secy->pol.cs, key, key_len, ssci, salt, false);
	if (ck == NULL)
		return secy_fail(secy, "cannot set up the cipher");
	memset(sa, 0, sizeof(*sa));
	sa->in_use = true;
	sa->key = ck;
	sa->ssci = ssci;
	sa->next_pn = lowest_pn;
	sa->lowest_pn = lowest_pn;
	return 0;
}

static struct rxsa *
rxsa_find(struct secy *secy, uint64_t sci, unsigned an)
{
	struct rxsc *sc;

	if (an >= MACSEC_AN_COUNT) {
		secy_fail(secy, "AN must be 0-3, not %u", an);
		return NULL;
	}
	if ((sc = rxsc_find(secy, sci, NULL)) == NULL) {
		secy_fail(secy, "no such receive SC");
		return NULL;
	}
	if (!sc->sa[an].in_use) {
		secy_fail(secy, "no receive SA %u", an);
		return NULL;
	}
	return &sc->sa[an];
}

int
secy_rxsa_enable(struct secy *secy, uint64_t sci, unsigned an, bool on)
{
	struct rxsa *sa;

	if ((sa = rxsa_find(secy, sci, an)) == NULL)
		return -1;
	sa->enabled = on;
	return 0;
}

int
secy_rxsa_remove(struct secy *secy, uint64_t sci, unsigned an)
{
	struct rxsa *sa;

	if ((sa = rxsa_find(secy, sci, an)) == NULL)
		return -1;
	rxsa_clear(sa); /* wipes the key schedule */
	return 0;
}

int
secy_rxsa_get_pn(struct secy *secy, uint64_t sci, unsigned an,
		 uint64_t *lowest_pn, uint64_t *next_pn)
{
	struct rxsa *sa;

	if ((sa = rxsa_find(secy, sci, an)) == NULL)
		return -1;
	*lowest_pn = sa->lowest_pn;
	*next_pn = sa->next_pn;
	return 0;
}

int
secy_txsa_install(struct secy *secy, unsigned an, uint64_t next_pn,
		  const uint8_t *key, size_t key_len, uint32_t ssci,
		  const uint8_t *salt)
{
	struct txsa *sa;
	struct cipher_key *ck;

	if (sa_check_args(secy, an, next_pn, key_len, salt) == -1)
		return -1;
	sa = &secy->tx[an];
	if (sa->in_use)
		return secy_fail(secy, "transmit SA %u exists; remove it first",
				 an);
	ck = cipher_key_new(secy->pol.cs, key, key_len, ssci, salt, true);
	if (ck == NULL)
		return secy_fail(secy, "cannot set up the cipher");
	memset(sa, 0, sizeof(*sa));
	sa->in_use = true;
	sa->key = ck;
	sa->ssci = ssci;
	sa->next_pn = next_pn;
	return 0;
}

static struct txsa *
txsa_find(struct secy *secy, unsigned an)
{
	if (an >= MACSEC_AN_COUNT) {
		secy_fail(secy, "AN must be 0-3, not %u", an);
		return NULL;
	}
	if (!secy->tx[an].in_use) {
		secy_fail(secy, "no transmit SA %u", an);
		return NULL;
	}
	return &secy->tx[an];
}

int
secy_txsa_enable(struct secy *secy, unsigned an)
{
	struct txsa *sa;

	if ((sa = txsa_find(secy, an)) == NULL)
		return -1;
	if (sa->exhausted)
		return secy_fail(secy, "transmit SA %u has exhausted its PNs",
				 an);
	secy->encoding_an = (int)an;
	return 0;
}

int
secy_txsa_remove(struct secy *secy, unsigned an)
{
	struct txsa *sa;

	if ((sa = txsa_find(secy, an)) == NULL)
		return -1;
	txsa_clear(sa);
	if (secy->encoding_an == (int)an)
		secy->encoding_an = -1;
	return 0;
}

int
secy_txsa_get_pn(struct secy *secy, unsigned an, uint64_t *next_pn,
		 bool *exhausted)
{
	struct txsa *sa;

	if ((sa = txsa_find(secy, an)) == NULL)
		return -1;
	*next_pn = sa->next_pn;
	*exhausted = sa->exhausted;
	return 0;
}

/*
 * Transmit (10.5).  out receives DA SA SecTAG SecureData ICV; the user
 * data is the MSDU from its EtherType on.
 */
int
secy_protect(struct secy *secy, const uint8_t *in, size_t len, uint8_t *out,
	     size_t cap, size_t *out_len)
{
	return secy_protect_parts(secy, in, len, NULL, 0, out, cap, out_len);
}

int
secy_protect_parts(struct secy *secy, const uint8_t *in, size_t len,
		   const uint8_t *tail, size_t tail_len, uint8_t *out,
		   size_t cap, size_t *out_len)
{
	const struct secy_policy *pol = &secy->pol;
	struct txsa *sa;
	struct sectag tag;
	struct wbuf wb;
	uint8_t iv[MACSEC_IV_LEN];
	const uint8_t *user = in + ETH_ADDRS_LEN;
	size_t ulen, hlen, clear, total, head;
	uint64_t pn;

	if (len < ETH_HDR_LEN || len + tail_len > cap)
		goto drop_sa;
	ulen = len + tail_len - ETH_ADDRS_LEN;
	head = len - ETH_ADDRS_LEN; /* the user data before the tail */
	if (!pol->protect) {
		if (len + tail_len > secy->max_frame)
			goto drop_too_long;
		memcpy(out, in, len);
		if (tail_len > 0)
			memcpy(out + len, tail, tail_len);
		*out_len = len + tail_len;
		secy->st.OutPktsUntagged++;
		return 0;
	}
	if (secy->encoding_an < 0)
		goto drop_sa;
	sa = &secy->tx[secy->encoding_an];
	if (!sa->in_use || sa->exhausted)
		goto drop_sa;

	memset(&tag, 0, sizeof(tag));
	if (pol->include_sci)
		tag.st_tci |= MACSEC_TCI_SC;
	else if (pol->use_es)
		tag.st_tci |= MACSEC_TCI_ES;
	/* 14.5: E and C are both set for confidentiality, both clear else. */
	if (pol->encrypt)
		tag.st_tci |= MACSEC_TCI_E | MACSEC_TCI_C;
	hlen = ETH_ADDRS_LEN + sectag_len(tag.st_tci);
	total = hlen + ulen + MACSEC_ICV_LEN;
	if (total > secy->max_frame || total > cap)
		goto drop_too_long;
	pn = sa->next_pn;
	if (pn == (cipher_suite_is_xpn(pol->cs) ? PN64_MAX : PN32_MAX)) {
		/* 10.5.2: the last PN; the SA can send nothing after it */
		sa->exhausted = true;
		log_warnx("transmit SA %d: packet numbers exhausted, SA "
			  "unusable until a new one is installed",
			  secy->encoding_an);
	} else {
		sa->next_pn = pn + 1;
	}
	tag.st_an = (uint8_t)secy->encoding_an;
	tag.st_sl = sectag_short_len(ulen);
	tag.st_pn = (uint32_t)pn;
	tag.st_sci = secy->tx_sci;

	wbuf_init(&wb, out, cap);
	wbuf_put_bytes(&wb, in, ETH_ADDRS_LEN);
	if (sectag_encode(&wb, &tag) == -1)
		goto drop_sa;
	cipher_iv(sa->key, secy->tx_sci, pn, iv);
	/* The offset octets stay in clear but are authenticated (14.5). */
	clear = pol->encrypt ? (ulen < pol->offset ? ulen : pol->offset) : ulen;
	memcpy(out + hlen, user, head);
	if (clear > head) {
		/* The authenticated data runs into the tail: one piece. */
		memcpy(out + hlen + head, tail, tail_len);
		head = ulen;
		tail_len = 0;
	}
	if (cipher_seal2(sa->key, iv, out, hlen + clear, out + hlen + clear,
			 head - clear, tail, tail_len, out + hlen + clear,
			 out + hlen + ulen) == -1)
		goto drop_sa;
	*out_len = total;
	if (pol->encrypt) {
		sa->st.OutPktsEncrypted++;
		secy->st.OutOctetsEncrypted += ulen;
	} else {
		sa->st.OutPktsProtected++;
		secy->st.OutOctetsProtected += ulen;
	}
	return 0;

drop_too_long:
	secy->st.OutPktsTooLong++;
	return -1;
drop_sa:
	/* No usable SA: the Controlled Port is not operational (10.7.2). */
	secy->st.OutPktsSAUnusable++;
	return -1;
}

/* Copies DA SA and the user data between SecTAG and ICV (unverified). */
static size_t
strip_tag(const uint8_t *in, size_t len, size_t hlen, uint8_t *out)
{
	size_t ulen = len - hlen - MACSEC_ICV_LEN;

	memmove(out, in, ETH_ADDRS_LEN);
	memmove(out + ETH_ADDRS_LEN, in + hlen, ulen);
	return ETH_ADDRS_LEN + ulen;
}

/*
 * 10.6.2 (802.1AEbw): the 64-bit PN is the one nearest above the lowest
 * acceptable PN whose 32 LSBs are the received ones.  The upper half is
 * that of lowest_pn, one more when lowest_pn is in the upper half of its
 * 2^32 window and the received PN is in the lower half.
 */
static uint64_t
xpn_recover(uint64_t lowest_pn, uint32_t pn)
{
	uint64_t hi = lowest_pn >> 32;

	if ((lowest_pn & 0x80000000ULL) && !(pn & 0x80000000U))
		hi++;
	return (hi << 32) | pn;
}

static struct rxsc *
rx_lookup_sc(const struct secy *secy, const struct sectag *tag,
	     const uint8_t *frame)
{
	if (tag->st_tci & MACSEC_TCI_SC)
		return rxsc_find(secy, tag->st_sci, NULL);
	/* 9.9: ES means the SCI is the source MAC with port 1. */
	if (tag->st_tci & MACSEC_TCI_ES)
		return rxsc_find(
		    secy, sci_from_mac(frame + ETH_ADDR_LEN, MACSEC_ES_PORT),
		    NULL);
	/* Without an SCI the frame belongs to the only receive SC there is. */
	if (secy->n_rx == 1)
		return secy->rx[0];
	return NULL;
}

static uint64_t
rx_sci_of(const struct sectag *tag, const struct rxsc *sc)
{
	return (tag->st_tci & MACSEC_TCI_SC) ? tag->st_sci : sc->sci;
}

/* 10.6.1: frames without a SecTAG pass unless validation is Strict. */
static enum secy_rx
rx_untagged(struct secy *secy, const uint8_t *in, size_t len, uint8_t *out,
	    size_t *out_len)
{
	if (secy->pol.validate == SECY_VALIDATE_STRICT) {
		secy->st.InPktsNoTag++;
		return SECY_RX_DROP;
	}
	memmove(out, in, len);
	*out_len = len;
	secy->st.InPktsUntagged++;
	return SECY_RX_DELIVER;
}

/*
 * 10.6.4 / 14: verifies (and for E=1 decrypts) the Secure Data into out
 * after DA and SA.  The first offset octets of encrypted user data are in
 * clear but part of the AAD.  Returns true when the ICV verifies.
 */
static bool
rx_open(const struct secy_policy *pol, const struct sectag *tag,
	const struct rxsc *sc, struct rxsa *sa, uint64_t pn, const uint8_t *in,
	size_t hlen, size_t ulen, uint8_t *out)
{
	uint8_t iv[MACSEC_IV_LEN];
	size_t clear = ulen;
	bool valid;

	if ((tag->st_tci & MACSEC_TCI_E) && pol->offset < ulen)
		clear = pol->offset;
	cipher_iv(sa->key, rx_sci_of(tag, sc), pn, iv);
	valid = cipher_open(sa->key, iv, in, hlen + clear, in + hlen + clear,
			    ulen - clear, out + ETH_ADDRS_LEN + clear,
			    in + hlen + ulen) == 0;
	memmove(out + ETH_ADDRS_LEN, in + hlen, clear);
	return valid;
}

/*
 * 10.6.5: only frames that authenticated move nextPN and lowestPN.  The
 * post-decryption repeat of the late check that Linux needs is moot here:
 * one thread, nothing moved lowest_pn since the check before decryption.
 */
static void
rx_advance(const struct secy_policy *pol, struct rxsa *sa, uint64_t pn)
{
	if (pn < sa->next_pn)
		return;
	sa->next_pn = pn == PN64_MAX ? pn : pn + 1;
	if (sa->next_pn > pol->replay_window &&
	    sa->next_pn - pol->replay_window > sa->lowest_pn)
		sa->lowest_pn = sa->next_pn - pol->replay_window;
}

/* Receive (10.6): validation in the order of 10.6.1-10.6.5. */
enum secy_rx
secy_validate_frame(struct secy *secy, const uint8_t *in, size_t len,
		    uint8_t *out, size_t cap, size_t *out_len)
{
	const struct secy_policy *pol = &secy->pol;
	bool xpn = cipher_suite_is_xpn(pol->cs), discard_bad, valid;
	struct sectag tag;
	struct rxsc *sc;
	struct rxsa *sa;
	size_t hlen, ulen;
	uint64_t pn, lowest;

	if (len < ETH_HDR_LEN || cap < len) {
		secy->st.InPktsNoTag++;
		return SECY_RX_DROP;
	}
	/* The KaY's frames are for the Uncontrolled Port only. */
	if (load_be16(in + ETH_ADDRS_LEN) == EAPOL_ETHERTYPE)
		return SECY_RX_IGNORE;
	if (load_be16(in + ETH_ADDRS_LEN) != MACSEC_ETHERTYPE)
		return rx_untagged(secy, in, len, out, out_len);
	if (sectag_decode(in, len, &tag) == -1 ||
	    !sectag_valid(&tag, len, xpn)) {
		secy->st.InPktsBadTag++;
		return SECY_RX_DROP;
	}
	/* 9.5: E=1 with C=0 is reserved for the KaY (Uncontrolled Port). */
	if ((tag.st_tci & MACSEC_TCI_E) && !(tag.st_tci & MACSEC_TCI_C))
		return SECY_RX_IGNORE;
	hlen = ETH_ADDRS_LEN + sectag_len(tag.st_tci);
	ulen = len - hlen - MACSEC_ICV_LEN;
	/* Strict, or changed text that cannot be delivered unverified. */
	discard_bad = pol->validate == SECY_VALIDATE_STRICT ||
		      (tag.st_tci & MACSEC_TCI_C);
	/* 10.6.2 a) no receive SC for the SCI */
	if ((sc = rx_lookup_sc(secy, &tag, in)) == NULL) {
		if (discard_bad) {
			secy->st.InPktsNoSCI++;
			return SECY_RX_DROP;
		}
		secy->st.InPktsUnknownSCI++;
		*out_len = strip_tag(in, len, hlen, out);
		return SECY_RX_DELIVER;
	}
	/* 10.6.2 b) no receive SA in use for the AN */
	sa = &sc->sa[tag.st_an];
	if (!sa->in_use || !sa->enabled) {
		if (discard_bad) {
			sc->st.InPktsNotUsingSA++;
			return SECY_RX_DROP;
		}
		sc->st.InPktsUnusedSA++;
		*out_len = strip_tag(in, len, hlen, out);
		return SECY_RX_DELIVER;
	}
	pn = xpn ? xpn_recover(sa->lowest_pn, tag.st_pn) : tag.st_pn;
	lowest = sa->lowest_pn;
	/* 10.6.3: the cheap replay check, before any cryptography */
	if (pol->replay_protect && pn < lowest) {
		sa->st.InPktsLate++;
		return SECY_RX_DROP;
	}
	memmove(out, in, ETH_ADDRS_LEN);
	*out_len = ETH_ADDRS_LEN + ulen;
	if (!(tag.st_tci & MACSEC_TCI_C) &&
	    pol->validate == SECY_VALIDATE_DISABLED) {
		memmove(out + ETH_ADDRS_LEN, in + hlen, ulen);
		sa->st.InPktsUnchecked++;
		return SECY_RX_DELIVER;
	}
	valid = rx_open(pol, &tag, sc, sa, pn, in, hlen, ulen, out);
	/* 10.6.4 */
	if (!valid) {
		if (discard_bad) {
			sa->st.InPktsNotValid++;
			return SECY_RX_DROP;
		}
		sa->st.InPktsInvalid++;
		return SECY_RX_DELIVER;
	}
	rx_advance(pol, sa, pn);
	if (pn < lowest)
		sa->st.InPktsDelayed++;
	else
		sa->st.InPktsOK++;
	if (tag.st_tci & MACSEC_TCI_E)
		secy->st.InOctetsDecrypted += ulen;
	else
		secy->st.InOctetsValidated += ulen;
	return SECY_RX_DELIVER;
}

void
secy_count_overrun(struct secy *secy, uint64_t n)
{
	secy->st.InPktsOverrun += n;
}

const struct secy_stats *
secy_stats(const struct secy *secy)
{
	return &secy->st;
}

int
secy_encoding_an(const struct secy *secy)
{
	return secy->encoding_an;
}

int
secy_txsa_info(const struct secy *secy, unsigned an, bool *enabled,
	       uint64_t *next_pn, bool *exhausted, uint32_t *ssci,
	       struct secy_txsa_stats *st)
{
	const struct txsa *sa;

	if (an >= MACSEC_AN_COUNT || !secy->tx[an].in_use)
		return -1;
	sa = &secy->tx[an];
	*enabled = secy->encoding_an == (int)an;
	*next_pn = sa->next_pn;
	*exhausted = sa->exhausted;
	*ssci = sa->ssci;
	*st = sa->st;
	return 0;
}

size_t
secy_rxsc_count(const struct secy *secy)
{
	return secy->n_rx;
}

int
secy_rxsc_info(const struct secy *secy, size_t idx, uint64_t *sci,
	       struct secy_rxsc_stats *st)
{
	if (idx >= secy->n_rx)
		return -1;
	*sci = secy->rx[idx]->sci;
	*st = secy->rx[idx]->st;
	return 0;
}

int
secy_rxsa_info(const struct secy *secy, size_t idx, unsigned an, bool *enabled,
	       uint64_t *next_pn, uint64_t *lowest_pn, uint32_t *ssci,
	       struct secy_rxsa_stats *st)
{
	const struct rxsa *sa;

	if (idx >= secy->n_rx || an >= MACSEC_AN_COUNT ||
	    !secy->rx[idx]->sa[an].in_use)
		return -1;
	sa = &secy->rx[idx]->sa[an];
	*enabled = sa->enabled;
	*next_pn = sa->next_pn;
	*lowest_pn = sa->lowest_pn;
	*ssci = sa->ssci;
	*st = sa->st;
	return 0;
}
