/*
 * qkd_model.h — the physics of a simulated QKD link: decoy-state BB84 with
 * weak coherent pulses, in the asymptotic limit (GLLP with infinitely many
 * decoy states: Lo, Ma & Chen, PRL 94, 230504 (2005); the channel and
 * detector model of Ma, Qi, Zhao & Lo, PRA 72, 012326 (2005)).
 *
 * A pure function of the link's parameters and its faults: it yields the
 * signal gain, the QBER and the secret key rate, which the KME link turns
 * into the rate at which the shared pool grows.
 */
#ifndef QKDLAB_QKD_MODEL_H
#define QKDLAB_QKD_MODEL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Intercept-resend on every pulse gives a sifted error rate of 1/4; the
 * asymptotic BB84 key with one-way error correction vanishes near 11 %.
 */
#define QKD_QBER_ABORT_DEFAULT 0.11

struct qkd_params {
	double length_km; /* fibre length */
	double atten_db_km; /* fibre attenuation, dB/km */
	double extra_loss_db; /* connectors, splices, Bob's optics */
	double det_eff; /* Bob's detection efficiency, 0..1 */
	double dark_yield; /* Y0: background yield per pulse */
	double misalign; /* e_d: optical misalignment error */
	double ec_ineff; /* f >= 1: error-correction inefficiency */
	double rep_rate_hz; /* pulse repetition rate */
	double mu; /* signal mean photon number; 0: optimised */
	double sift; /* q: fraction of pulses kept by sifting */
};

/* Faults of the physical link (the KME admin API injects them). */
struct qkd_faults {
	double eve_fraction; /* intercept-resend on this share, 0..1 */
	double added_loss_db; /* e.g. a bent or damaged fibre */
	bool cut; /* no light reaches Bob */
};

enum qkd_halt {
	QKD_RUNNING = 0,
	QKD_HALT_CUT, /* fibre cut: no signal */
	QKD_HALT_QBER, /* QBER above the abort threshold */
	QKD_HALT_NO_KEY, /* below threshold, yet no secret key */
};

struct qkd_state {
	double eta; /* channel transmittance x detector */
	double mu; /* the signal intensity used */
	double gain; /* Q_mu: detections per signal pulse */
	double qber; /* E_mu */
	double y1, e1; /* single-photon yield and error rate */
	double key_per_pulse; /* secret bits per pulse sent, >= 0 */
	double key_bps; /* secret bits per second, >= 0 */
	double loss_db; /* total loss, detector excluded */
	enum qkd_halt halt;
};

struct qkd_preset {
	const char *name;
	const char *source; /* where the figures come from */
	struct qkd_params params;
};

/* The named presets, NULL-terminated by name. */
extern const struct qkd_preset qkd_presets[];

/* Returns the preset called name, or NULL. */
const struct qkd_preset *qkd_preset_find(const char *name);

/*
 * Checks every parameter's range; on failure returns -1 with a message
 * naming the parameter in why (why_len bytes).
 */
int qkd_params_check(const struct qkd_params *p, char *why, size_t why_len);

/* Binary entropy h(x) in bits; 0 outside (0, 1). */
double qkd_h2(double x);

/*
 * Evaluates the link: the state for the parameters and faults, with key
 * production halted when the QBER exceeds qber_abort.  p must have passed
 * qkd_params_check; faults may be NULL.
 */
void qkd_model_eval(const struct qkd_params *p, const struct qkd_faults *faults,
		    double qber_abort, struct qkd_state *st);

/*
 * The longest fibre (km) over which the parameters still yield a secret
 * key, within tol_km; 0 when none does at 0 km.
 */
double qkd_model_max_length(const struct qkd_params *p, double tol_km);

const char *qkd_halt_name(enum qkd_halt h);

#endif
