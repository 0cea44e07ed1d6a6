/*
 * mka_status.h — the text mka-agent answers on its status socket:
 * "status" gives one line of key=value pairs per port, "metrics" the same
 * numbers in the Prometheus text exposition format.
 */
#ifndef QKDLAB_MKA_STATUS_H
#define QKDLAB_MKA_STATUS_H

#include "mka_kay.h"
#include "mka_qkd.h"

#include <stdio.h>

/* qc is NULL for PSK ports. */
void mka_status_line(FILE *f, const char *port, const char *cak_source,
		     const struct mka_kay_status *st,
		     const struct mka_qkd_counters *qc);
void mka_status_metrics(FILE *f, const char *port, const char *cak_source,
			const struct mka_kay_status *st,
			const struct mka_qkd_counters *qc);

#endif
