/*
 * mka_timers.c — the timer defaults of the KaY and the QKD binding.
 */
#include "mka_timers.h"

#include "mka_wire.h"

void
mka_timers_kay(struct mka_kay_conf *c)
{
	if (c->hello_ms == 0)
		c->hello_ms = MKA_HELLO_TIME_MS;
	if (c->life_ms == 0)
		c->life_ms = MKA_LIFE_TIME_MS;
	if (c->retire_ms == 0)
		c->retire_ms = MKA_SA_RETIRE_MS;
}

void
mka_timers_qkd(struct mka_qkd_conf *c)
{
	if (c->lookups_per_s == 0)
		c->lookups_per_s = MKA_QKD_LOOKUPS_PER_S;
	if (c->announce_ms == 0)
		c->announce_ms = MKA_QKD_ANNOUNCE_MS;
	if (c->dead_ms == 0)
		c->dead_ms = MKA_QKD_DEAD_MS;
	if (c->fallback_after_ms == 0)
		c->fallback_after_ms = MKA_QKD_FALLBACK_MS;
}
