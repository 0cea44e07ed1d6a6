/*
 * test_qkd_model.c — the link model against published figures.
 *
 * Ma, Qi, Zhao & Lo, "Practical decoy state for quantum key
 * distribution", PRA 72, 012326 (2005), section III and Fig. 1, with the
 * GYS parameter set (Gobby, Yuan & Shields 2004): for infinitely many
 * decoys the optimal signal intensity is about 0.48 and the maximum
 * secure distance about 142 km.  Held here to +-0.03 and +-2 km.
 */
#include <math.h>

#include "harness.h"
#include "qkd_model.h"

static struct qkd_params
gys_at(double km)
{
	struct qkd_params p = qkd_preset_find("gys")->params;

	p.length_km = km;
	return p;
}

TEST(gys_maximum_distance_is_142_km)
{
	struct qkd_params p = gys_at(0);
	double max = qkd_model_max_length(&p, 0.01);

	printf("# GYS maximum distance %.2f km (published: about 142 km)\n",
	       max);
	ASSERT_TRUE(max > 140.0 && max < 144.0);
}

TEST(gys_optimal_mu_is_about_0_48)
{
	struct qkd_params p = gys_at(50);
	struct qkd_state st;

	qkd_model_eval(&p, NULL, QKD_QBER_ABORT_DEFAULT, &st);
	printf("# GYS at 50 km: mu %.3f, QBER %.4f, R %.3g per pulse\n", st.mu,
	       st.qber, st.key_per_pulse);
	ASSERT_TRUE(st.mu > 0.45 && st.mu < 0.51);
	ASSERT_INT_EQ(st.halt, QKD_RUNNING);
}

/*
 * Hand-computed from the formulas of Ma et al. (section II) at 0 km,
 * mu = 0.5: eta = 0.045, Q = Y0 + 1 - exp(-0.0225), E = (Y0/2 + e_d (1 -
 * exp(-0.0225))) / Q.  A check of the algebra, independent of the search.
 */
TEST(gys_gain_and_qber_follow_the_formulas)
{
	struct qkd_params p = gys_at(0);
	struct qkd_state st;
	double clicks = 1 - exp(-0.045 * 0.5);
	double q = 1.7e-6 + clicks;

	p.mu = 0.5;
	qkd_model_eval(&p, NULL, QKD_QBER_ABORT_DEFAULT, &st);
	ASSERT_TRUE(fabs(st.gain - q) < 1e-12);
	ASSERT_TRUE(fabs(st.qber - (0.85e-6 + 0.033 * clicks) / q) < 1e-12);
	ASSERT_TRUE(fabs(st.gain - 0.0222507) < 1e-6);
}

TEST(key_rate_falls_with_distance)
{
	struct qkd_state a, b, c;
	struct qkd_params p10 = gys_at(10), p50 = gys_at(50),
			  p100 = gys_at(100);

	qkd_model_eval(&p10, NULL, QKD_QBER_ABORT_DEFAULT, &a);
	qkd_model_eval(&p50, NULL, QKD_QBER_ABORT_DEFAULT, &b);
	qkd_model_eval(&p100, NULL, QKD_QBER_ABORT_DEFAULT, &c);
	ASSERT_TRUE(a.key_bps > b.key_bps && b.key_bps > c.key_bps);
	/* Roughly exponential: 50 km of 0.21 dB/km is 10.5 dB. */
	ASSERT_TRUE(b.key_bps / c.key_bps > 5 && b.key_bps / c.key_bps < 30);
}

/* Intercept-resend on every pulse: a sifted error rate of 1/4. */
TEST(full_intercept_resend_gives_qber_of_a_quarter_and_no_key)
{
	struct qkd_params p = gys_at(20);
	struct qkd_faults f = { .eve_fraction = 1.0 };
	struct qkd_state st;

	qkd_model_eval(&p, &f, QKD_QBER_ABORT_DEFAULT, &st);
	ASSERT_TRUE(st.qber > 0.24 && st.qber < 0.27);
	ASSERT_INT_EQ(st.halt, QKD_HALT_QBER);
	ASSERT_TRUE(st.key_bps == 0);
}

/* A share p of the pulses raises the QBER by p/4 (less p times its own). */
TEST(partial_eavesdropper_raises_qber_by_a_quarter_of_its_share)
{
	struct qkd_params p = gys_at(20);
	struct qkd_faults f = { .eve_fraction = 0.2 };
	struct qkd_state clean, eve;

	p.mu = 0.48;
	qkd_model_eval(&p, NULL, QKD_QBER_ABORT_DEFAULT, &clean);
	qkd_model_eval(&p, &f, QKD_QBER_ABORT_DEFAULT, &eve);
	ASSERT_TRUE(fabs(eve.qber - (0.8 * clean.qber + 0.05)) < 1e-12);
	ASSERT_TRUE(eve.key_bps < clean.key_bps);
}

TEST(cut_fibre_makes_no_key)
{
	struct qkd_params p = gys_at(5);
	struct qkd_faults f = { .cut = true };
	struct qkd_state st;

	qkd_model_eval(&p, &f, QKD_QBER_ABORT_DEFAULT, &st);
	ASSERT_INT_EQ(st.halt, QKD_HALT_CUT);
	ASSERT_TRUE(st.key_bps == 0);
	ASSERT_TRUE(fabs(st.qber - 0.5) < 1e-9);
}

/* 10 dB of added loss is 10 dB/0.21 dB/km = 47.6 km more fibre. */
TEST(added_loss_is_equivalent_fibre)
{
	struct qkd_params p = gys_at(20), q = gys_at(20 + 10 / 0.21);
	struct qkd_faults f = { .added_loss_db = 10 };
	struct qkd_state a, b;

	qkd_model_eval(&p, &f, QKD_QBER_ABORT_DEFAULT, &a);
	qkd_model_eval(&q, NULL, QKD_QBER_ABORT_DEFAULT, &b);
	ASSERT_TRUE(fabs(a.key_bps - b.key_bps) <= 1e-9 * b.key_bps);
	ASSERT_TRUE(fabs(a.loss_db - 14.2) < 1e-9);
}

/*
 * The high-rate preset against its source's 102 km figure (about
 * 3 Mb/s): within a factor of two.
 */
TEST(high_rate_preset_at_102_km_is_megabits)
{
	struct qkd_params p = qkd_preset_find("high-rate")->params;
	struct qkd_state st;

	p.length_km = 102;
	qkd_model_eval(&p, NULL, QKD_QBER_ABORT_DEFAULT, &st);
	printf("# high-rate at 102 km: %.3g b/s\n", st.key_bps);
	ASSERT_TRUE(st.key_bps > 1.5e6 && st.key_bps < 6e6);
}

TEST(bad_parameters_are_named)
{
	struct qkd_params p = gys_at(10);
	char why[128];

	ASSERT_INT_EQ(qkd_params_check(&p, why, sizeof(why)), 0);
	p.det_eff = 0;
	ASSERT_INT_EQ(qkd_params_check(&p, why, sizeof(why)), -1);
	ASSERT_TRUE(strstr(why, "detector_efficiency") != NULL);
	p = gys_at(10);
	p.ec_ineff = 0.9;
	ASSERT_INT_EQ(qkd_params_check(&p, why, sizeof(why)), -1);
	ASSERT_TRUE(strstr(why, "ec_inefficiency") != NULL);
	p = gys_at(NAN);
	ASSERT_INT_EQ(qkd_params_check(&p, why, sizeof(why)), -1);
	ASSERT_TRUE(strstr(why, "length_km") != NULL);
	ASSERT_TRUE(qkd_preset_find("nope") == NULL);
}

TEST_MAIN(TEST_CASE(gys_maximum_distance_is_142_km),
	  TEST_CASE(gys_optimal_mu_is_about_0_48),
	  TEST_CASE(gys_gain_and_qber_follow_the_formulas),
	  TEST_CASE(key_rate_falls_with_distance),
	  TEST_CASE(full_intercept_resend_gives_qber_of_a_quarter_and_no_key),
	  TEST_CASE(partial_eavesdropper_raises_qber_by_a_quarter_of_its_share),
	  TEST_CASE(cut_fibre_makes_no_key),
	  TEST_CASE(added_loss_is_equivalent_fibre),
	  TEST_CASE(high_rate_preset_at_102_km_is_megabits),
	  TEST_CASE(bad_parameters_are_named))
