/*
 * kme_link_model.c — the physics behind a KME link with link_model =
 * decoy-bb84 (kme-sim.conf(5)): the model's state for the configured
 * parameters and the injected faults, the rate the pool grows at, and
 * the cause when the link makes no key.  A constant-rate link grows at
 * key_rate and never halts.
 */
#include "kme.h"

#include <cjson/cJSON.h>
#include <stdio.h>

void
kme_link_model_update(struct kme_peer *p)
{
	if (!p->cfg->model)
		return;
	qkd_model_eval(&p->cfg->qkd, &p->qf, p->cfg->qber_abort, &p->qs);
}

double
kme_link_model_rate(const struct kme_peer *p)
{
	return p->cfg->model ? p->qs.key_bps : (double)p->cfg->key_rate;
}

bool
kme_link_model_halted(const struct kme *k, const struct kme_peer *p, char *why,
		      size_t cap)
{
	const struct qkd_state *st = &p->qs;

	if (!p->cfg->model || st->halt == QKD_RUNNING)
		return false;
	switch (st->halt) {
	case QKD_HALT_QBER:
		snprintf(why, cap,
			 "QKD link %s-%s halted: QBER %.3g above abort "
			 "threshold %.3g (eavesdropper?)",
			 k->cfg.kme_id, p->cfg->id, st->qber,
			 p->cfg->qber_abort);
		break;
	case QKD_HALT_CUT:
		snprintf(why, cap, "QKD link %s-%s halted: fibre cut",
			 k->cfg.kme_id, p->cfg->id);
		break;
	default:
		snprintf(why, cap,
			 "QKD link %s-%s halted: no secret key at "
			 "%.1f dB loss (QBER %.3g)",
			 k->cfg.kme_id, p->cfg->id, st->loss_db, st->qber);
		break;
	}
	return true;
}

cJSON *
kme_link_model_json(const struct kme *k, const struct kme_peer *p)
{
	const struct qkd_state *st = &p->qs;
	char why[KME_ERR_MAX];
	cJSON *o;

	if (!p->cfg->model || (o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "model", "decoy-bb84");
	cJSON_AddStringToObject(o, "preset", p->cfg->preset->name);
	cJSON_AddNumberToObject(o, "length_km", p->cfg->qkd.length_km);
	cJSON_AddNumberToObject(o, "loss_db", st->loss_db);
	cJSON_AddNumberToObject(o, "mu", st->mu);
	cJSON_AddNumberToObject(o, "gain", st->gain);
	cJSON_AddNumberToObject(o, "qber", st->qber);
	cJSON_AddNumberToObject(o, "qber_abort", p->cfg->qber_abort);
	cJSON_AddNumberToObject(o, "key_rate_bps", st->key_bps);
	cJSON_AddNumberToObject(o, "key_per_pulse", st->key_per_pulse);
	cJSON_AddStringToObject(o, "state", qkd_halt_name(st->halt));
	cJSON_AddBoolToObject(o, "halted", st->halt != QKD_RUNNING);
	if (kme_link_model_halted(k, p, why, sizeof(why)))
		cJSON_AddStringToObject(o, "reason", why);
	cJSON_AddNumberToObject(o, "eve_fraction", p->qf.eve_fraction);
	cJSON_AddNumberToObject(o, "added_loss_db", p->qf.added_loss_db);
	cJSON_AddBoolToObject(o, "cut", p->qf.cut);
	cJSON_AddNumberToObject(o, "pool_keys",
				(double)(p->pool_bits / k->cfg.key_size));
	return o;
}
