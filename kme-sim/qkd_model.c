/*
 * qkd_model.c — decoy-state BB84 in the asymptotic limit (qkd_model.h).
 *
 * With infinitely many decoy intensities the single-photon yield and error
 * rate are known exactly (Lo, Ma & Chen 2005), and the GLLP key rate per
 * pulse is
 *
 *   R = q [ Q_1 (1 - h(e_1)) - Q_mu f h(E_mu) ]
 *
 * with, for a channel and detector of overall transmittance eta
 * (Ma, Qi, Zhao & Lo 2005, section II):
 *
 *   Y_1   = Y_0 + eta - Y_0 eta               single-photon yield
 *   e_1   = (Y_0 / 2 + e_d eta) / Y_1         its error rate
 *   Q_1   = Y_1 mu exp(-mu)                   single-photon gain
 *   Q_mu  = Y_0 + 1 - exp(-eta mu)            signal gain
 *   E_mu  = (Y_0 / 2 + e_d (1 - exp(-eta mu))) / Q_mu
 */
#include "qkd_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/*
 * gys: the parameters of Gobby, Yuan & Shields, APL 84, 3762 (2004), as
 * Ma, Qi, Zhao & Lo use them (PRA 72, 012326, Table I): 1550 nm,
 * 0.21 dB/km, Bob's efficiency 4.5 %, Y_0 = 1.7e-6, e_d = 3.3 %,
 * f = 1.22, standard BB84 sifting (q = 1/2).  The repetition rate is not
 * part of that analysis; 2 MHz is the order of systems of that time.
 *
 * high-rate: a GHz-clocked system with superconducting detectors over
 * standard fibre, after the figures Grünenfelder et al. report (Nat.
 * Photon. 17, 422 (2023): 2.5 GHz, about 3 Mb/s at 102 km).  The values
 * are representative, not theirs; this asymptotic model has no detector
 * saturation, so it overstates short links (their 10 km figure is
 * 64 Mb/s).
 *
 * field: a deployed metro link with avalanche photodiodes, more loss and
 * more misalignment than a laboratory; tens of kb/s at 50 km.
 */
const struct qkd_preset qkd_presets[] = {
	{ "gys",
	  "Gobby, Yuan & Shields 2004, as used by Ma et al., "
	  "PRA 72, 012326 (2005)",
	  { .length_km = 50,
	    .atten_db_km = 0.21,
	    .extra_loss_db = 0,
	    .det_eff = 0.045,
	    .dark_yield = 1.7e-6,
	    .misalign = 0.033,
	    .ec_ineff = 1.22,
	    .rep_rate_hz = 2e6,
	    .mu = 0,
	    .sift = 0.5 } },
	{ "high-rate",
	  "representative of a 2.5 GHz system with SNSPDs "
	  "(Grünenfelder et al., Nat. Photon. 2023)",
	  { .length_km = 10,
	    .atten_db_km = 0.2,
	    .extra_loss_db = 0,
	    .det_eff = 0.6,
	    .dark_yield = 1e-8,
	    .misalign = 0.01,
	    .ec_ineff = 1.1,
	    .rep_rate_hz = 2.5e9,
	    .mu = 0,
	    .sift = 1.0 } },
	{ "field",
	  "representative of a deployed metro link with InGaAs "
	  "avalanche photodiodes",
	  { .length_km = 50,
	    .atten_db_km = 0.25,
	    .extra_loss_db = 3,
	    .det_eff = 0.2,
	    .dark_yield = 1e-6,
	    .misalign = 0.02,
	    .ec_ineff = 1.16,
	    .rep_rate_hz = 1e9,
	    .mu = 0,
	    .sift = 0.9 } },
	{ .name = NULL },
};

const struct qkd_preset *
qkd_preset_find(const char *name)
{
	for (const struct qkd_preset *p = qkd_presets; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int
check_range(const char *what, double v, double lo, double hi, bool lo_open,
	    char *why, size_t why_len)
{
	/* !(a <= b) also catches NaN. */
	if (!(v <= hi) || !(lo_open ? v > lo : v >= lo)) {
		snprintf(why, why_len, "%s must be %s %g and <= %g", what,
			 lo_open ? ">" : ">=", lo, hi);
		return -1;
	}
	return 0;
}

int
qkd_params_check(const struct qkd_params *p, char *why, size_t why_len)
{
	if (check_range("length_km", p->length_km, 0, 10000, false, why,
			why_len) == -1 ||
	    check_range("attenuation (dB/km)", p->atten_db_km, 0, 10, false,
			why, why_len) == -1 ||
	    check_range("extra_loss (dB)", p->extra_loss_db, 0, 100, false, why,
			why_len) == -1 ||
	    check_range("detector_efficiency", p->det_eff, 0, 1, true, why,
			why_len) == -1 ||
	    check_range("dark_count_yield", p->dark_yield, 0, 0.1, false, why,
			why_len) == -1 ||
	    check_range("misalignment", p->misalign, 0, 0.5, false, why,
			why_len) == -1 ||
	    check_range("ec_inefficiency", p->ec_ineff, 1, 3, false, why,
			why_len) == -1 ||
	    check_range("repetition_rate (Hz)", p->rep_rate_hz, 0, 1e11, true,
			why, why_len) == -1 ||
	    check_range("mu", p->mu, 0, 10, false, why, why_len) == -1 ||
	    check_range("sifting", p->sift, 0, 1, true, why, why_len) == -1)
		return -1;
	return 0;
}

double
qkd_h2(double x)
{
	if (!(x > 0 && x < 1))
		return 0;
	return -x * log2(x) - (1 - x) * log2(1 - x);
}

/* The model at one signal intensity; st->halt is left to the caller. */
static void
eval_at(const struct qkd_params *p, double eta, double eve, double mu,
	struct qkd_state *st)
{
	double y0 = p->dark_yield, ed = p->misalign;
	double clicks = 1 - exp(-eta * mu);

	st->mu = mu;
	st->eta = eta;
	st->y1 = y0 + eta - y0 * eta;
	st->gain = y0 + clicks;
	/* No click at all (a cut fibre, no dark counts): a coin toss. */
	st->e1 = st->y1 > 0 ? (y0 / 2 + ed * eta) / st->y1 : 0.5;
	st->qber = st->gain > 0 ? (y0 / 2 + ed * clicks) / st->gain : 0.5;
	/*
	 * Intercept-resend on a share of the pulses: Eve measures in a random
	 * basis, so half of her resent states are in the wrong basis and half
	 * of those give Bob the wrong bit — a sifted error rate of 1/4 on
	 * that share, for single photons and signals alike.
	 */
	st->e1 = (1 - eve) * st->e1 + eve / 4;
	st->qber = (1 - eve) * st->qber + eve / 4;
	st->key_per_pulse =
	    p->sift * (st->y1 * mu * exp(-mu) * (1 - qkd_h2(st->e1)) -
		       st->gain * p->ec_ineff * qkd_h2(st->qber));
}

void
qkd_model_eval(const struct qkd_params *p, const struct qkd_faults *faults,
	       double qber_abort, struct qkd_state *st)
{
	struct qkd_faults none = { 0 };
	double eta, eve, loss, best_mu, lo, hi;
	struct qkd_state cur;

	if (faults == NULL)
		faults = &none;
	eve = faults->eve_fraction < 0	 ? 0
	      : faults->eve_fraction > 1 ? 1
					 : faults->eve_fraction;
	loss = p->length_km * p->atten_db_km + p->extra_loss_db +
	       (faults->added_loss_db > 0 ? faults->added_loss_db : 0);
	eta = faults->cut ? 0 : p->det_eff * pow(10, -loss / 10);

	if (p->mu > 0) {
		eval_at(p, eta, eve, p->mu, st);
	} else {
		/*
		 * The rate is unimodal in mu: a coarse scan, then a
		 * golden-section search around the best point.
		 */
		best_mu = 0.01;
		eval_at(p, eta, eve, best_mu, st);
		for (double mu = 0.02; mu <= 1.5; mu += 0.01) {
			eval_at(p, eta, eve, mu, &cur);
			if (cur.key_per_pulse > st->key_per_pulse) {
				*st = cur;
				best_mu = mu;
			}
		}
		lo = best_mu - 0.01;
		hi = best_mu + 0.01;
		for (int i = 0; i < 30; i++) {
			double a = hi - (hi - lo) * 0.618034;
			double b = lo + (hi - lo) * 0.618034;
			struct qkd_state sa, sb;

			eval_at(p, eta, eve, a, &sa);
			eval_at(p, eta, eve, b, &sb);
			if (sa.key_per_pulse > sb.key_per_pulse)
				hi = b;
			else
				lo = a;
		}
		eval_at(p, eta, eve, (lo + hi) / 2, &cur);
		if (cur.key_per_pulse > st->key_per_pulse)
			*st = cur;
	}
	st->loss_db = loss;
	st->halt = faults->cut		    ? QKD_HALT_CUT
		   : st->qber > qber_abort  ? QKD_HALT_QBER
		   : st->key_per_pulse <= 0 ? QKD_HALT_NO_KEY
					    : QKD_RUNNING;
	if (st->halt != QKD_RUNNING)
		st->key_per_pulse = 0;
	st->key_bps = st->key_per_pulse * p->rep_rate_hz;
}

double
qkd_model_max_length(const struct qkd_params *p, double tol_km)
{
	struct qkd_params q = *p;
	struct qkd_state st;
	double lo = 0, hi = 1;

	q.length_km = 0;
	qkd_model_eval(&q, NULL, 0.5, &st);
	if (st.halt != QKD_RUNNING)
		return 0;
	/* Grow hi until it yields no key, then bisect. */
	for (;;) {
		q.length_km = hi;
		qkd_model_eval(&q, NULL, 0.5, &st);
		if (st.halt != QKD_RUNNING || hi >= 10000)
			break;
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > tol_km) {
		q.length_km = (lo + hi) / 2;
		qkd_model_eval(&q, NULL, 0.5, &st);
		if (st.halt == QKD_RUNNING)
			lo = q.length_km;
		else
			hi = q.length_km;
	}
	return lo;
}

const char *
qkd_halt_name(enum qkd_halt h)
{
	switch (h) {
	case QKD_RUNNING:
		return "running";
	case QKD_HALT_CUT:
		return "fibre cut";
	case QKD_HALT_QBER:
		return "QBER above the abort threshold";
	case QKD_HALT_NO_KEY:
		return "no secret key at this loss";
	}
	return "unknown";
}
