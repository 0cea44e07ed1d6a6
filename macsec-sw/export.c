/*
 * export.c — the SecY for machines: JSON (`show-json` on the control
 * socket, GET /show.json) and the Prometheus exposition (GET /metrics).
 * Counter names are the 802.1AE / IEEE8021-SECY-MIB ones, in snake case
 * for Prometheus.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "macsec_sw.h"
#include "metrics.h"
#include "util.h"

/* One counter of a stats struct: its MIB name, Prometheus name, offset. */
struct export_ctr {
	const char *mib, *prom, *help;
	size_t off;
};

#define C(s, m, p, h) \
	{ \
#m, p, h, offsetof(struct s, m) \
	}
static const struct export_ctr secy_ctrs[] = {
	C(secy_stats, OutPktsUntagged, "out_pkts_untagged",
	  "Frames sent without MACsec (protectFrames off)."),
	C(secy_stats, OutPktsTooLong, "out_pkts_too_long",
	  "Frames discarded: too long once protected."),
	C(secy_stats, OutPktsSAUnusable, "out_pkts_sa_unusable",
	  "Frames discarded: no usable transmit SA."),
	C(secy_stats, OutOctetsProtected, "out_octets_protected",
	  "Octets integrity protected, not encrypted."),
	C(secy_stats, OutOctetsEncrypted, "out_octets_encrypted",
	  "Octets encrypted."),
	C(secy_stats, InPktsUntagged, "in_pkts_untagged",
	  "Frames received without a SecTAG (validateFrames not strict)."),
	C(secy_stats, InPktsNoTag, "in_pkts_no_tag",
	  "Frames discarded: no SecTAG (validateFrames strict)."),
	C(secy_stats, InPktsBadTag, "in_pkts_bad_tag",
	  "Frames discarded: invalid SecTAG."),
	C(secy_stats, InPktsUnknownSCI, "in_pkts_unknown_sci",
	  "Frames of an unknown SCI (validateFrames not strict)."),
	C(secy_stats, InPktsNoSCI, "in_pkts_no_sci",
	  "Frames discarded: unknown SCI."),
	C(secy_stats, InPktsOverrun, "in_pkts_overrun",
	  "Frames lost before the SecY (receive queue full)."),
	C(secy_stats, InOctetsValidated, "in_octets_validated",
	  "Octets validated, not decrypted."),
	C(secy_stats, InOctetsDecrypted, "in_octets_decrypted",
	  "Octets decrypted."),
};
static const struct export_ctr txsa_ctrs[] = {
	C(secy_txsa_stats, OutPktsProtected, "out_pkts_protected",
	  "Frames integrity protected by the transmit SA."),
	C(secy_txsa_stats, OutPktsEncrypted, "out_pkts_encrypted",
	  "Frames encrypted by the transmit SA."),
};
static const struct export_ctr rxsc_ctrs[] = {
	C(secy_rxsc_stats, InPktsNotUsingSA, "in_pkts_not_using_sa",
	  "Frames discarded: SA not in use."),
	C(secy_rxsc_stats, InPktsUnusedSA, "in_pkts_unused_sa",
	  "Frames of an SA not in use (validateFrames not strict)."),
};
static const struct export_ctr rxsa_ctrs[] = {
	C(secy_rxsa_stats, InPktsOK, "in_pkts_ok",
	  "Frames validated by the receive SA."),
	C(secy_rxsa_stats, InPktsInvalid, "in_pkts_invalid",
	  "Frames discarded: ICV check failed (validateFrames check)."),
	C(secy_rxsa_stats, InPktsNotValid, "in_pkts_not_valid",
	  "Frames discarded: ICV check failed."),
	C(secy_rxsa_stats, InPktsUnchecked, "in_pkts_unchecked",
	  "Frames not validated (validateFrames disabled)."),
	C(secy_rxsa_stats, InPktsDelayed, "in_pkts_delayed",
	  "Frames with a PN below the lowest acceptable (no replay protection)."),
	C(secy_rxsa_stats, InPktsLate, "in_pkts_late",
	  "Frames discarded: replayed (PN below the window)."),
};
#undef C

static uint64_t
ctr(const void *st, const struct export_ctr *c)
{
	return *(const uint64_t *)(const void *)((const char *)st + c->off);
}

static bool
json_ctrs(cJSON *o, const void *st, const struct export_ctr *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cJSON_AddNumberToObject(o, c[i].mib,
					    (double)ctr(st, &c[i])) == NULL)
			return false;
	return true;
}

static cJSON *
json_txsas(const struct secy *secy)
{
	cJSON *arr = cJSON_CreateArray();
	struct secy_txsa_stats st;
	uint64_t next;
	uint32_t ssci;
	bool en, exh;

	for (unsigned an = 0; arr != NULL && an < MACSEC_AN_COUNT; an++) {
		cJSON *o;

		if (secy_txsa_info(secy, an, &en, &next, &exh, &ssci, &st) ==
		    -1)
			continue;
		if ((o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddNumberToObject(o, "an", an) == NULL ||
		    cJSON_AddNumberToObject(o, "next_pn", (double)next) ==
			NULL ||
		    cJSON_AddBoolToObject(o, "enabled", en) == NULL ||
		    cJSON_AddBoolToObject(o, "exhausted", exh) == NULL ||
		    !json_ctrs(o, &st, txsa_ctrs, ARRAY_LEN(txsa_ctrs))) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

static cJSON *
json_rxscs(const struct secy *secy)
{
	cJSON *arr = cJSON_CreateArray();
	struct secy_rxsc_stats sc;
	struct secy_rxsa_stats st;
	uint64_t sci, next, lowest;
	uint32_t ssci;
	char s[2 * MACSEC_SCI_LEN + 1];
	bool en;

	for (size_t i = 0; arr != NULL && i < secy_rxsc_count(secy); i++) {
		cJSON *o, *sas;

		if (secy_rxsc_info(secy, i, &sci, &sc) == -1)
			continue;
		sci_format(s, sci);
		if ((o = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, o) ||
		    cJSON_AddStringToObject(o, "sci", s) == NULL ||
		    !json_ctrs(o, &sc, rxsc_ctrs, ARRAY_LEN(rxsc_ctrs)) ||
		    (sas = cJSON_AddArrayToObject(o, "sas")) == NULL)
			goto err;
		for (unsigned an = 0; an < MACSEC_AN_COUNT; an++) {
			cJSON *a;

			if (secy_rxsa_info(secy, i, an, &en, &next, &lowest,
					   &ssci, &st) == -1)
				continue;
			if ((a = cJSON_CreateObject()) == NULL ||
			    !cJSON_AddItemToArray(sas, a) ||
			    cJSON_AddNumberToObject(a, "an", an) == NULL ||
			    cJSON_AddNumberToObject(a, "next_pn",
						    (double)next) == NULL ||
			    cJSON_AddNumberToObject(a, "lowest_pn",
						    (double)lowest) == NULL ||
			    cJSON_AddBoolToObject(a, "enabled", en) == NULL ||
			    !json_ctrs(a, &st, rxsa_ctrs, ARRAY_LEN(rxsa_ctrs)))
				goto err;
		}
	}
	return arr;
err:
	cJSON_Delete(arr);
	return NULL;
}

char *
export_json(const struct secy *secy, const char *name)
{
	struct secy_policy pol;
	cJSON *root = cJSON_CreateObject(), *o, *tx, *rx;
	char s[2 * MACSEC_SCI_LEN + 1], *out = NULL;
	int enc = secy_encoding_an(secy);

	secy_get_policy(secy, &pol);
	sci_format(s, secy_tx_sci(secy));
	tx = json_txsas(secy);
	rx = json_rxscs(secy);
	if (root == NULL || tx == NULL || rx == NULL ||
	    cJSON_AddStringToObject(root, "port", name) == NULL ||
	    cJSON_AddStringToObject(root, "cipher_suite",
				    cipher_suite_name(pol.cs)) == NULL ||
	    cJSON_AddBoolToObject(root, "protect", pol.protect) == NULL ||
	    cJSON_AddStringToObject(root, "validate",
				    conf_validate_name(pol.validate)) == NULL ||
	    cJSON_AddBoolToObject(root, "encrypt", pol.encrypt) == NULL ||
	    cJSON_AddBoolToObject(root, "replay_protect", pol.replay_protect) ==
		NULL ||
	    cJSON_AddNumberToObject(root, "replay_window", pol.replay_window) ==
		NULL ||
	    cJSON_AddStringToObject(root, "tx_sci", s) == NULL ||
	    (enc >= 0 ? cJSON_AddNumberToObject(root, "encoding_an", enc)
		      : cJSON_AddNullToObject(root, "encoding_an")) == NULL ||
	    (o = cJSON_AddObjectToObject(root, "stats")) == NULL ||
	    !json_ctrs(o, secy_stats(secy), secy_ctrs, ARRAY_LEN(secy_ctrs)) ||
	    !cJSON_AddItemToObject(root, "txsas", tx)) {
		cJSON_Delete(tx);
		cJSON_Delete(rx);
		cJSON_Delete(root);
		return NULL;
	}
	if (cJSON_AddItemToObject(root, "rxscs", rx))
		out = cJSON_PrintUnformatted(root);
	else
		cJSON_Delete(rx);
	cJSON_Delete(root);
	return out;
}

static void
family(struct metrics_buf *mb, const struct export_ctr *c)
{
	metrics_buf_printf(
	    mb, "# HELP macsec_%s_total %s\n# TYPE macsec_%s_total counter\n",
	    c->prom, c->help, c->prom);
}

char *
export_metrics(const struct secy *secy, const char *name)
{
	struct metrics_buf *mb = metrics_buf_new(8192);
	const struct secy_stats *st = secy_stats(secy);
	struct secy_txsa_stats tx;
	struct secy_rxsc_stats sc;
	struct secy_rxsa_stats rx;
	uint64_t sci, next, lowest;
	uint32_t ssci;
	char s[2 * MACSEC_SCI_LEN + 1];
	bool en, exh;

	if (mb == NULL)
		return NULL;
	metrics_build_info(mb, "macsec_sw");
	for (size_t c = 0; c < ARRAY_LEN(secy_ctrs); c++) {
		family(mb, &secy_ctrs[c]);
		metrics_buf_printf(mb,
				   "macsec_%s_total{port=\"%s\"} %" PRIu64 "\n",
				   secy_ctrs[c].prom, name,
				   ctr(st, &secy_ctrs[c]));
	}
	for (size_t c = 0; c < ARRAY_LEN(txsa_ctrs); c++) {
		family(mb, &txsa_ctrs[c]);
		for (unsigned an = 0; an < MACSEC_AN_COUNT; an++)
			if (secy_txsa_info(secy, an, &en, &next, &exh, &ssci,
					   &tx) == 0)
				metrics_buf_printf(
				    mb,
				    "macsec_%s_total{port=\"%s\",an=\"%u\"} %" PRIu64
				    "\n",
				    txsa_ctrs[c].prom, name, an,
				    ctr(&tx, &txsa_ctrs[c]));
	}
	for (size_t c = 0; c < ARRAY_LEN(rxsc_ctrs); c++) {
		family(mb, &rxsc_ctrs[c]);
		for (size_t i = 0; i < secy_rxsc_count(secy); i++) {
			if (secy_rxsc_info(secy, i, &sci, &sc) == -1)
				continue;
			sci_format(s, sci);
			metrics_buf_printf(
			    mb,
			    "macsec_%s_total{port=\"%s\",sci=\"%s\"} %" PRIu64
			    "\n",
			    rxsc_ctrs[c].prom, name, s,
			    ctr(&sc, &rxsc_ctrs[c]));
		}
	}
	for (size_t c = 0; c < ARRAY_LEN(rxsa_ctrs); c++) {
		family(mb, &rxsa_ctrs[c]);
		for (size_t i = 0; i < secy_rxsc_count(secy); i++) {
			if (secy_rxsc_info(secy, i, &sci, &sc) == -1)
				continue;
			sci_format(s, sci);
			for (unsigned an = 0; an < MACSEC_AN_COUNT; an++)
				if (secy_rxsa_info(secy, i, an, &en, &next,
						   &lowest, &ssci, &rx) == 0)
					metrics_buf_printf(
					    mb,
					    "macsec_%s_total{port=\"%s\",sci=\"%s\",an=\"%u\"} %" PRIu64
					    "\n",
					    rxsa_ctrs[c].prom, name, s, an,
					    ctr(&rx, &rxsa_ctrs[c]));
		}
	}
	metrics_buf_printf(
	    mb,
	    "# HELP macsec_encoding_an AN of the transmit SA in use (-1: none).\n"
	    "# TYPE macsec_encoding_an gauge\nmacsec_encoding_an{port=\"%s\"} %d\n",
	    name, secy_encoding_an(secy));
	return metrics_buf_finish(mb);
}
