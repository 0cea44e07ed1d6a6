/*
 * mka_timers.h — every timer default of mka-agent, decided here.
 *
 * A zero in struct mka_kay_conf or struct mka_qkd_conf means "the
 * default"; mka_kay_new() and mka_qkd_new() call these once, so the rest
 * of the code reads the conf as it is.  The MKA timers are 802.1X-2020
 * Table 9-3 (mka_wire.h); the others are this project's choices
 * (docs/DESIGN.md, "QKD in MKA: the on-wire binding").
 */
#ifndef QKDLAB_MKA_TIMERS_H
#define QKDLAB_MKA_TIMERS_H

#include "mka_kay.h"
#include "mka_qkd.h"

#define MKA_SA_RETIRE_MS 3000 /* old SA kept after a switch */
#define MKA_QKD_LOOKUPS_PER_S 2
#define MKA_QKD_ANNOUNCE_MS 1000
#define MKA_QKD_DEAD_MS 15000 /* CA without a live peer */
#define MKA_QKD_FALLBACK_MS 30000 /* no live QKD CA: fallback CA */

/* Hello Time, Life Time, SA retire time. */
void mka_timers_kay(struct mka_kay_conf *c);
/* Lookup rate, announcement interval, dead time, fallback delay. */
void mka_timers_qkd(struct mka_qkd_conf *c);

#endif
