/*
 * mka_status.c — status and metrics text for one port.
 */
#include "mka_status.h"

#include "encoding.h"
#include "mka_pdu.h"

#include <inttypes.h>

void
mka_status_line(FILE *f, const char *port, const char *cak_source,
		const struct mka_kay_status *st,
		const struct mka_qkd_counters *qc)
{
	char ks[17];

	hex_encode(ks, st->ks_sci, sizeof(st->ks_sci));
	fprintf(f,
		"port=%s state=%s cp=%s connect=%s key_server=%s "
		"ks_sci=%s live_peers=%zu potential_peers=%zu "
		"cipher_suite=%s kn=%" PRIu32 " an=%u cak_source=%s "
		"rekeys_pn=%" PRIu64 " rekeys_peers=%" PRIu64
		" sak_generated=%" PRIu64 " sak_installed=%" PRIu64
		" tx_mkpdus=%" PRIu64 " rx_mkpdus=%" PRIu64
		" rx_invalid=%" PRIu64 " rx_bad_icv=%" PRIu64
		" rx_unknown_ckn=%" PRIu64 " rx_replayed=%" PRIu64
		" secy_errors=%" PRIu64,
		port, st->secured ? "secured" : mka_connect_name(st->connect),
		mka_cp_state_name(st->cp), mka_connect_name(st->connect),
		st->key_server ? "yes" : "no", ks, st->live_peers,
		st->potential_peers,
		st->suite != 0 ? mka_cs_name(st->suite) : "none",
		st->latest_kn, st->latest_an, cak_source, st->c.rekeys_pn,
		st->c.rekeys_peers, st->c.sak_generated, st->c.sak_installed,
		st->c.tx_mkpdus, st->c.rx_mkpdus, st->c.rx_invalid,
		st->c.rx_bad_icv, st->c.rx_unknown_ckn, st->c.rx_replayed,
		st->c.secy_errors);
	if (qc != NULL)
		fprintf(f, " fallback=%s keys_fetched=%" PRIu64
			" key_errors=%" PRIu64 " keys_rejected_icv=%" PRIu64
			" rollovers=%" PRIu64 " fallbacks=%" PRIu64
			" announcements=%" PRIu64,
			qc->fallback_active ? "yes" : "no", qc->keys_fetched,
			qc->key_errors, qc->keys_rejected_icv, qc->rollovers,
			qc->fallbacks, qc->announcements_sent);
	/* Last, quoted: it may contain spaces. */
	fprintf(f, " last_error=\"%s\"\n",
		st->last_error != NULL ? st->last_error : "");
}

static void
metric(FILE *f, const char *name, const char *port, uint64_t v)
{
	fprintf(f, "mka_%s{port=\"%s\"} %" PRIu64 "\n", name, port, v);
}

void
mka_status_metrics(FILE *f, const char *port, const char *cak_source,
		   const struct mka_kay_status *st,
		   const struct mka_qkd_counters *qc)
{
	metric(f, "secured", port, st->secured);
	metric(f, "key_server", port, st->key_server);
	metric(f, "live_peers", port, st->live_peers);
	metric(f, "potential_peers", port, st->potential_peers);
	metric(f, "latest_key_number", port, st->latest_kn);
	metric(f, "rekeys_pn_total", port, st->c.rekeys_pn);
	metric(f, "rekeys_peers_total", port, st->c.rekeys_peers);
	metric(f, "sak_generated_total", port, st->c.sak_generated);
	metric(f, "tx_mkpdus_total", port, st->c.tx_mkpdus);
	metric(f, "rx_mkpdus_total", port, st->c.rx_mkpdus);
	metric(f, "rx_invalid_total", port, st->c.rx_invalid);
	metric(f, "rx_bad_icv_total", port, st->c.rx_bad_icv);
	metric(f, "secy_errors_total", port, st->c.secy_errors);
	if (qc != NULL) {
		metric(f, "fallback_active", port, qc->fallback_active);
		metric(f, "qkd_keys_fetched_total", port, qc->keys_fetched);
		metric(f, "qkd_key_errors_total", port, qc->key_errors);
		metric(f, "qkd_rollovers_total", port, qc->rollovers);
		metric(f, "qkd_fallbacks_total", port, qc->fallbacks);
	}
	fprintf(f, "mka_cp_state{port=\"%s\",state=\"%s\"} 1\n", port,
		mka_cp_state_name(st->cp));
	fprintf(f, "mka_cak_source{port=\"%s\",source=\"%s\"} 1\n", port,
		cak_source);
}
