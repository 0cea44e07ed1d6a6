/*
 * mka_status_view.h — what mka-agent tells about its ports: `status` as one
 * key=value field per line (a blank line between ports, like wpa_cli
 * status), the same fields as JSON (`status --json`, GET /status.json),
 * and the Prometheus exposition (GET /metrics, `metrics`).
 *
 * A view is one port's state at one moment; mka_status_view_fill() also
 * notices what changed since the last view of that port (CAK in use, SAK,
 * secured, key fetched, fallback), logs it as a structured event and keeps
 * the time of the last CAK rollover.
 */
#ifndef QKDLAB_MKA_STATUS_VIEW_H
#define QKDLAB_MKA_STATUS_VIEW_H

#include "metrics.h"
#include "mka_conf.h"
#include "mka_kay.h"
#include "mka_qkd.h"

#include <stdio.h>
#include <time.h>

/* What mka_status_view_fill() remembers of a port between views. */
struct mka_status_track {
	bool seen;
	char ckn[2 * MKA_CKN_MAX + 1];
	uint32_t kn;
	uint8_t an;
	bool secured;
	uint64_t keys_fetched, fallbacks;
	time_t ckn_since, sak_since; /* wall clock; 0: not yet */
};

struct mka_status_view {
	const char *port;
	enum mka_cak_source source; /* configured */
	struct mka_kay_status st;
	bool qkd; /* qc is valid */
	struct mka_qkd_counters qc;
	/* The principal CA: CKN in hex ("" if none), its peer SAE ID. */
	char ckn[2 * MKA_CKN_MAX + 1];
	const char *peer; /* "" when not a QKD CA */
	const char *cak_in_use; /* skip, etsi014, psk, fallback, none */
	time_t ckn_since, sak_since; /* 0: never */
};

/* qkd is NULL for PSK ports. */
void mka_status_view_fill(struct mka_status_view *v,
			  struct mka_status_track *tr, const char *port,
			  enum mka_cak_source source, struct mka_kay *kay,
			  const struct mka_qkd *qkd);

void mka_status_text(FILE *f, const struct mka_status_view *v, size_t n);
/* {"ports":[{...}]} as a heap string; NULL if out of memory. */
char *mka_status_json(const struct mka_status_view *v, size_t n);
/* The whole metrics page; NULL if out of memory. */
char *mka_status_metrics(const struct mka_status_view *v, size_t n);

#endif
