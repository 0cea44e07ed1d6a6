/*
 * show.c — the SecY as text: `show` in the layout of `ip macsec show`
 * (iproute2) so it reads familiar, and `stats` as key=value lines whose
 * keys are the 802.1AE / IEEE8021-SECY-MIB counter names.
 */
#include <inttypes.h>
#include <stdio.h>

#include "macsec_sw.h"

static const char *
onoff(bool b)
{
	return b ? "on" : "off";
}

void
show_secy(const struct secy *secy, const char *name, FILE *fp)
{
	struct secy_policy pol;
	struct secy_txsa_stats txst;
	struct secy_rxsa_stats rxst;
	struct secy_rxsc_stats scst;
	bool xpn, en, exh;
	uint64_t sci, next, lowest;
	uint32_t ssci;
	char s[2 * MACSEC_SCI_LEN + 1];
	unsigned an;
	size_t i;
	int enc = secy_encoding_an(secy);

	secy_get_policy(secy, &pol);
	xpn = cipher_suite_is_xpn(pol.cs);
	fprintf(fp,
		"%s: protect %s validate %s sc %s sa %s encrypt %s "
		"send_sci %s end_station %s scb off replay %s window %" PRIu32
		" offset %u\n",
		name, onoff(pol.protect), conf_validate_name(pol.validate),
		onoff(secy_rxsc_count(secy) > 1), onoff(enc >= 0),
		onoff(pol.encrypt), onoff(pol.include_sci), onoff(pol.use_es),
		onoff(pol.replay_protect), pol.replay_window, pol.offset);
	fprintf(fp, "    cipher suite: %s, using ICV length %d\n",
		cipher_suite_name(pol.cs), MACSEC_ICV_LEN);
	sci_format(s, secy_tx_sci(secy));
	if (enc >= 0)
		fprintf(fp, "    TXSC: %s on SA %d\n", s, enc);
	else
		fprintf(fp, "    TXSC: %s on SA none\n", s);
	for (an = 0; an < MACSEC_AN_COUNT; an++) {
		if (secy_txsa_info(secy, an, &en, &next, &exh, &ssci, &txst) ==
		    -1)
			continue;
		fprintf(fp, "        %u: PN %" PRIu64 ", state %s", an, next,
			exh ? "exhausted" : onoff(en));
		if (xpn)
			fprintf(fp, ", ssci %08" PRIx32, ssci);
		fputc('\n', fp);
	}
	for (i = 0; i < secy_rxsc_count(secy); i++) {
		if (secy_rxsc_info(secy, i, &sci, &scst) == -1)
			continue;
		sci_format(s, sci);
		fprintf(fp, "    RXSC: %s, state on\n", s);
		for (an = 0; an < MACSEC_AN_COUNT; an++) {
			if (secy_rxsa_info(secy, i, an, &en, &next, &lowest,
					   &ssci, &rxst) == -1)
				continue;
			fprintf(fp,
				"        %u: PN %" PRIu64 ", lowest PN %" PRIu64
				", state %s",
				an, next, lowest, onoff(en));
			if (xpn)
				fprintf(fp, ", ssci %08" PRIx32, ssci);
			fputc('\n', fp);
		}
	}
}

void
show_stats(const struct secy *secy, FILE *fp)
{
	const struct secy_stats *st = secy_stats(secy);
	struct secy_txsa_stats txst;
	struct secy_rxsa_stats rx;
	struct secy_rxsc_stats sc;
	bool en, exh;
	uint64_t sci, next, lowest;
	uint32_t ssci;
	char s[2 * MACSEC_SCI_LEN + 1];
	unsigned an;
	size_t i;

	fprintf(fp,
		"secy OutPktsUntagged=%" PRIu64 " OutPktsTooLong=%" PRIu64
		" OutPktsSAUnusable=%" PRIu64 " OutOctetsProtected=%" PRIu64
		" OutOctetsEncrypted=%" PRIu64 " InPktsUntagged=%" PRIu64
		" InPktsNoTag=%" PRIu64 " InPktsBadTag=%" PRIu64
		" InPktsUnknownSCI=%" PRIu64 " InPktsNoSCI=%" PRIu64
		" InPktsOverrun=%" PRIu64 " InOctetsValidated=%" PRIu64
		" InOctetsDecrypted=%" PRIu64 "\n",
		st->OutPktsUntagged, st->OutPktsTooLong, st->OutPktsSAUnusable,
		st->OutOctetsProtected, st->OutOctetsEncrypted,
		st->InPktsUntagged, st->InPktsNoTag, st->InPktsBadTag,
		st->InPktsUnknownSCI, st->InPktsNoSCI, st->InPktsOverrun,
		st->InOctetsValidated, st->InOctetsDecrypted);
	for (an = 0; an < MACSEC_AN_COUNT; an++) {
		if (secy_txsa_info(secy, an, &en, &next, &exh, &ssci, &txst) ==
		    -1)
			continue;
		fprintf(fp,
			"txsa an=%u OutPktsProtected=%" PRIu64
			" OutPktsEncrypted=%" PRIu64 "\n",
			an, txst.OutPktsProtected, txst.OutPktsEncrypted);
	}
	for (i = 0; i < secy_rxsc_count(secy); i++) {
		if (secy_rxsc_info(secy, i, &sci, &sc) == -1)
			continue;
		sci_format(s, sci);
		fprintf(fp,
			"rxsc sci=%s InPktsNotUsingSA=%" PRIu64
			" InPktsUnusedSA=%" PRIu64 "\n",
			s, sc.InPktsNotUsingSA, sc.InPktsUnusedSA);
		for (an = 0; an < MACSEC_AN_COUNT; an++) {
			if (secy_rxsa_info(secy, i, an, &en, &next, &lowest,
					   &ssci, &rx) == -1)
				continue;
			fprintf(fp,
				"rxsa sci=%s an=%u InPktsOK=%" PRIu64
				" InPktsInvalid=%" PRIu64
				" InPktsNotValid=%" PRIu64
				" InPktsUnchecked=%" PRIu64
				" InPktsDelayed=%" PRIu64 " InPktsLate=%" PRIu64
				"\n",
				s, an, rx.InPktsOK, rx.InPktsInvalid,
				rx.InPktsNotValid, rx.InPktsUnchecked,
				rx.InPktsDelayed, rx.InPktsLate);
		}
	}
}
