/*
 * mka_status_view.c — a port's status view: its fields, the changes
 * logged as events, and the text, JSON and metrics renderings.
 */
#include "mka_status_view.h"

#include "encoding.h"
#include "log.h"
#include "mka_pdu.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

/* Logs what changed since the last view as structured events. */
static void
mka_status_track(struct mka_status_track *tr, const struct mka_status_view *v)
{
	time_t now = time(NULL);
	const char *p = v->port;

	if (strcmp(tr->ckn, v->ckn) != 0) {
		str_copy(tr->ckn, sizeof(tr->ckn), v->ckn);
		tr->ckn_since = now;
		if (v->ckn[0] != '\0')
			LOG_EV(LOG_LVL_INFO, "cak_in_use",
			       LOG_FIELDS(LOG_S("port", p),
					  LOG_S("ckn", v->ckn),
					  LOG_S("peer", v->peer),
					  LOG_S("cak_source", v->cak_in_use)),
			       "%s: CA %s (%s) is principal", p, v->ckn,
			       v->cak_in_use);
	}
	if (v->st.latest_kn != tr->kn || v->st.latest_an != tr->an) {
		tr->kn = v->st.latest_kn;
		tr->an = v->st.latest_an;
		tr->sak_since = now;
		if (tr->kn != 0)
			LOG_EV(LOG_LVL_INFO, "sak_in_use",
			       LOG_FIELDS(
				   LOG_S("port", p), LOG_S("ckn", v->ckn),
				   LOG_N("kn", tr->kn), LOG_N("an", tr->an)),
			       "%s: SAK KN %u AN %u is the latest key", p,
			       (unsigned)tr->kn, tr->an);
	}
	if (v->st.secured != tr->secured) {
		tr->secured = v->st.secured;
		LOG_EV(LOG_LVL_INFO, tr->secured ? "secured" : "unsecured",
		       LOG_FIELDS(LOG_S("port", p), LOG_S("ckn", v->ckn),
				  LOG_N("kn", v->st.latest_kn),
				  LOG_N("an", v->st.latest_an),
				  LOG_N("live_peers", v->st.live_peers)),
		       "%s: %s", p, tr->secured ? "secured" : "not secured");
	}
	if (v->qkd && v->qc.keys_fetched != tr->keys_fetched) {
		tr->keys_fetched = v->qc.keys_fetched;
		LOG_EV(LOG_LVL_INFO, "key_fetched",
		       LOG_FIELDS(LOG_S("port", p),
				  LOG_S("cak_source",
					mka_cak_source_name(v->source)),
				  LOG_N("keys_fetched", v->qc.keys_fetched)),
		       "%s: key %" PRIu64 " fetched from the key service", p,
		       v->qc.keys_fetched);
	}
	if (v->qkd && v->qc.fallbacks != tr->fallbacks) {
		tr->fallbacks = v->qc.fallbacks;
		LOG_EV(LOG_LVL_WARN, "fallback",
		       LOG_FIELDS(LOG_S("port", p), LOG_S("ckn", v->ckn)),
		       "%s: fallback CA taken", p);
	}
	tr->seen = true;
}

void
mka_status_view_fill(struct mka_status_view *v, struct mka_status_track *tr,
		     const char *port, enum mka_cak_source source,
		     struct mka_kay *kay, const struct mka_qkd *qkd)
{
	struct mka_participant *pp = mka_kay_principal(kay);

	memset(v, 0, sizeof(*v));
	v->port = port;
	v->source = source;
	mka_kay_get_status(kay, &v->st);
	v->peer = "";
	v->cak_in_use = "none";
	if (qkd != NULL) {
		v->qkd = true;
		mka_qkd_get_counters(qkd, &v->qc);
	}
	if (pp != NULL) {
		size_t len;
		const uint8_t *ckn = mka_participant_ckn(pp, &len);
		const char *peer =
		    qkd != NULL ? mka_qkd_peer_of(qkd, pp) : NULL;

		hex_encode(v->ckn, ckn, len);
		if (peer != NULL)
			v->peer = peer;
		v->cak_in_use = qkd == NULL    ? "psk"
				: peer != NULL ? mka_cak_source_name(source)
					       : "fallback";
	}
	mka_status_track(tr, v);
	v->ckn_since = tr->ckn_since;
	v->sak_since = tr->sak_since;
}

/* One field of the text and JSON forms. */
enum mka_field_kind {
	F_STR,
	F_U64,
	F_BOOL,
	F_TIME
};
struct mka_field {
	const char *key;
	enum mka_field_kind kind;
	const char *s;
	uint64_t u;
};

#define MKA_STATUS_FIELDS 40

/* The fields of one port, in the order they are printed. */
static size_t
mka_status_fields(const struct mka_status_view *v, struct mka_field *f,
		  char *ks, const char **suite)
{
	const struct mka_kay_status *st = &v->st;
	size_t n = 0;

	hex_encode(ks, st->ks_sci, sizeof(st->ks_sci));
	*suite = st->suite != 0 ? mka_cs_name(st->suite) : "none";
#define S(k, v) f[n++] = (struct mka_field){ k, F_STR, v, 0 }
#define U(k, v) \
	f[n++] = (struct mka_field) \
	{ \
		k, F_U64, NULL, v \
	}
#define B(k, v) \
	f[n++] = (struct mka_field) \
	{ \
		k, F_BOOL, NULL, v \
	}
#define T(k, v) \
	f[n++] = (struct mka_field) \
	{ \
		k, F_TIME, NULL, (uint64_t)(v) \
	}
	S("port", v->port);
	S("state", st->secured ? "secured" : mka_connect_name(st->connect));
	B("secured", st->secured);
	S("cp", mka_cp_state_name(st->cp));
	S("connect", mka_connect_name(st->connect));
	S("cak_source", mka_cak_source_name(v->source));
	S("cak_in_use", v->cak_in_use);
	S("ckn", v->ckn);
	S("peer_sae_id", v->peer);
	B("key_server", st->key_server);
	S("ks_sci", ks);
	U("live_peers", st->live_peers);
	U("potential_peers", st->potential_peers);
	S("cipher_suite", *suite);
	U("kn", st->latest_kn);
	U("an", st->latest_an);
	T("cak_since", v->ckn_since);
	T("sak_since", v->sak_since);
	U("rekeys_pn", st->c.rekeys_pn);
	U("rekeys_peers", st->c.rekeys_peers);
	U("sak_generated", st->c.sak_generated);
	U("sak_installed", st->c.sak_installed);
	U("tx_mkpdus", st->c.tx_mkpdus);
	U("rx_mkpdus", st->c.rx_mkpdus);
	U("rx_invalid", st->c.rx_invalid);
	U("rx_bad_icv", st->c.rx_bad_icv);
	U("rx_unknown_ckn", st->c.rx_unknown_ckn);
	U("rx_replayed", st->c.rx_replayed);
	U("secy_errors", st->c.secy_errors);
	if (v->qkd) {
		B("fallback", v->qc.fallback_active);
		U("keys_fetched", v->qc.keys_fetched);
		U("key_errors", v->qc.key_errors);
		U("keys_rejected_icv", v->qc.keys_rejected_icv);
		U("rollovers", v->qc.rollovers);
		U("fallbacks", v->qc.fallbacks);
		U("announcements", v->qc.announcements_sent);
	}
	S("last_error", st->last_error != NULL ? st->last_error : "");
#undef S
#undef U
#undef B
#undef T
	return n;
}

static void
mka_status_time(char *out, size_t cap, time_t t)
{
	struct tm tm;

	out[0] = '\0';
	if (t != 0 && gmtime_r(&t, &tm) != NULL)
		strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
mka_status_text(FILE *f, const struct mka_status_view *v, size_t n)
{
	struct mka_field fl[MKA_STATUS_FIELDS];
	char ks[17], when[32];
	const char *suite;

	for (size_t i = 0; i < n; i++) {
		size_t nf = mka_status_fields(&v[i], fl, ks, &suite);

		if (i > 0)
			fputc('\n', f);
		for (size_t j = 0; j < nf; j++) {
			switch (fl[j].kind) {
			case F_STR:
				/* Quoted when it may hold spaces. */
				if (strcmp(fl[j].key, "last_error") == 0)
					fprintf(f, "%s=\"%s\"\n", fl[j].key,
						fl[j].s);
				else
					fprintf(f, "%s=%s\n", fl[j].key,
						fl[j].s);
				break;
			case F_U64:
				fprintf(f, "%s=%" PRIu64 "\n", fl[j].key,
					fl[j].u);
				break;
			case F_BOOL:
				fprintf(f, "%s=%s\n", fl[j].key,
					fl[j].u ? "yes" : "no");
				break;
			case F_TIME:
				mka_status_time(when, sizeof(when),
						(time_t)fl[j].u);
				fprintf(f, "%s=%s\n", fl[j].key, when);
				break;
			}
		}
	}
}

char *
mka_status_json(const struct mka_status_view *v, size_t n)
{
	struct mka_field fl[MKA_STATUS_FIELDS];
	cJSON *root = cJSON_CreateObject(), *arr;
	char ks[17], when[32], *s = NULL;
	const char *suite;
	bool ok = root != NULL;

	arr = ok ? cJSON_AddArrayToObject(root, "ports") : NULL;
	ok = arr != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		size_t nf = mka_status_fields(&v[i], fl, ks, &suite);
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			ok = false;
			break;
		}
		for (size_t j = 0; ok && j < nf; j++) {
			switch (fl[j].kind) {
			case F_STR:
				ok = cJSON_AddStringToObject(o, fl[j].key,
							     fl[j].s) != NULL;
				break;
			case F_U64:
				ok = cJSON_AddNumberToObject(
					 o, fl[j].key, (double)fl[j].u) != NULL;
				break;
			case F_BOOL:
				ok = cJSON_AddBoolToObject(
					 o, fl[j].key, fl[j].u != 0) != NULL;
				break;
			case F_TIME:
				mka_status_time(when, sizeof(when),
						(time_t)fl[j].u);
				ok = (fl[j].u == 0
					  ? cJSON_AddNullToObject(o, fl[j].key)
					  : cJSON_AddStringToObject(
						o, fl[j].key, when)) != NULL;
				break;
			}
		}
	}
	if (ok)
		s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* A family of one sample per port. */
struct mka_family {
	const char *name, *type, *help;
	bool qkd_only;
	uint64_t (*get)(const struct mka_status_view *v);
};

#define GET(fn, expr) \
	static uint64_t fn(const struct mka_status_view *v) \
	{ \
		return (expr); \
	}
GET(g_secured, v->st.secured)
GET(g_key_server, v->st.key_server)
GET(g_live, v->st.live_peers)
GET(g_potential, v->st.potential_peers)
GET(g_kn, v->st.latest_kn)
GET(g_an, v->st.latest_an)
GET(g_rekeys_pn, v->st.c.rekeys_pn)
GET(g_rekeys_peers, v->st.c.rekeys_peers)
GET(g_sak_gen, v->st.c.sak_generated)
GET(g_sak_inst, v->st.c.sak_installed)
GET(g_tx, v->st.c.tx_mkpdus)
GET(g_rx, v->st.c.rx_mkpdus)
GET(g_rx_invalid, v->st.c.rx_invalid)
GET(g_rx_icv, v->st.c.rx_bad_icv)
GET(g_rx_ckn, v->st.c.rx_unknown_ckn)
GET(g_rx_replay, v->st.c.rx_replayed)
GET(g_secy_err, v->st.c.secy_errors)
GET(g_cak_since, (uint64_t)v->ckn_since)
GET(g_fb_active, v->qc.fallback_active)
GET(g_fetched, v->qc.keys_fetched)
GET(g_key_err, v->qc.key_errors)
GET(g_rej_icv, v->qc.keys_rejected_icv)
GET(g_rollovers, v->qc.rollovers)
GET(g_fallbacks, v->qc.fallbacks)
GET(g_announce, v->qc.announcements_sent)
#undef GET

static const struct mka_family mka_families[] = {
	{ "mka_secured", "gauge", "1 when a SAK is in use in both directions.",
	  false, g_secured },
	{ "mka_key_server", "gauge",
	  "1 when this KaY is the elected key server.", false, g_key_server },
	{ "mka_live_peers", "gauge", "Live peers of the principal CA.", false,
	  g_live },
	{ "mka_potential_peers", "gauge",
	  "Potential peers of the principal CA.", false, g_potential },
	{ "mka_latest_key_number", "gauge", "Key Number of the latest SAK.",
	  false, g_kn },
	{ "mka_latest_an", "gauge", "Association Number of the latest SAK.",
	  false, g_an },
	{ "mka_cak_since_seconds", "gauge",
	  "Unix time the principal CA last changed (0: never).", false,
	  g_cak_since },
	{ "mka_rekeys_pn_total", "counter", "New SAKs because a PN ran out.",
	  false, g_rekeys_pn },
	{ "mka_rekeys_peers_total", "counter",
	  "New SAKs because the live peers changed.", false, g_rekeys_peers },
	{ "mka_sak_generated_total", "counter",
	  "SAKs this key server generated.", false, g_sak_gen },
	{ "mka_sak_installed_total", "counter", "SAKs installed into the SecY.",
	  false, g_sak_inst },
	{ "mka_tx_mkpdus_total", "counter", "MKPDUs sent.", false, g_tx },
	{ "mka_rx_mkpdus_total", "counter", "MKPDUs received.", false, g_rx },
	{ "mka_rx_invalid_total", "counter", "MKPDUs discarded as malformed.",
	  false, g_rx_invalid },
	{ "mka_rx_bad_icv_total", "counter", "MKPDUs discarded for a bad ICV.",
	  false, g_rx_icv },
	{ "mka_rx_unknown_ckn_total", "counter",
	  "MKPDUs of a CA this port does not know.", false, g_rx_ckn },
	{ "mka_rx_replayed_total", "counter", "MKPDUs discarded as replayed.",
	  false, g_rx_replay },
	{ "mka_secy_errors_total", "counter", "Requests the SecY refused.",
	  false, g_secy_err },
	{ "mka_fallback_active", "gauge", "1 while the fallback CA is running.",
	  true, g_fb_active },
	{ "mka_qkd_keys_fetched_total", "counter",
	  "CAKs obtained from the key service.", true, g_fetched },
	{ "mka_qkd_key_errors_total", "counter",
	  "Key service requests that failed.", true, g_key_err },
	{ "mka_qkd_keys_rejected_icv_total", "counter",
	  "QKD keys that did not verify the MKPDU ICV.", true, g_rej_icv },
	{ "mka_qkd_rollovers_total", "counter", "CAK rollovers completed.",
	  true, g_rollovers },
	{ "mka_qkd_fallbacks_total", "counter",
	  "Times the fallback CA was taken.", true, g_fallbacks },
	{ "mka_qkd_announcements_total", "counter", "EAPOL-Announcements sent.",
	  true, g_announce },
};

char *
mka_status_metrics(const struct mka_status_view *v, size_t n)
{
	struct metrics_buf *mb = metrics_buf_new(8192);

	if (mb == NULL)
		return NULL;
	metrics_build_info(mb, "mka_agent");
	for (size_t f = 0; f < sizeof(mka_families) / sizeof(*mka_families);
	     f++) {
		const struct mka_family *fa = &mka_families[f];

		metrics_buf_printf(mb, "# HELP %s %s\n# TYPE %s %s\n", fa->name,
				   fa->help, fa->name, fa->type);
		for (size_t i = 0; i < n; i++)
			if (!fa->qkd_only || v[i].qkd)
				metrics_buf_printf(
				    mb, "%s{port=\"%s\"} %" PRIu64 "\n",
				    fa->name, v[i].port, fa->get(&v[i]));
	}
	metrics_buf_printf(mb,
			   "# HELP mka_cp_state Controlled Port state "
			   "(802.1X-2020 Figure 12-2), 1 for the current one.\n"
			   "# TYPE mka_cp_state gauge\n");
	for (size_t i = 0; i < n; i++)
		metrics_buf_printf(mb,
				   "mka_cp_state{port=\"%s\",state=\"%s\"} 1\n",
				   v[i].port, mka_cp_state_name(v[i].st.cp));
	metrics_buf_printf(mb, "# HELP mka_cak_source Where the CAK in use "
			       "came from, 1 for the current one.\n"
			       "# TYPE mka_cak_source gauge\n");
	for (size_t i = 0; i < n; i++)
		metrics_buf_printf(mb,
				   "mka_cak_source{port=\"%s\",source=\"%s\","
				   "configured=\"%s\"} 1\n",
				   v[i].port, v[i].cak_in_use,
				   mka_cak_source_name(v[i].source));
	return metrics_buf_finish(mb);
}
