"""Where segsync differs from gbstats 0.8.0 on purpose: each row of the parity table in
``experiments/__init__.py``, pinned against gbstats' own output.

The gbstats figures were computed with the PyPI wheel gbstats==0.8.0 (``TwoSidedTTest``,
``RegressionAdjustedStatistic``, ``EffectBayesianABTest``, ``utils.check_srm``) on the inputs
below; gbstats is not a dependency, so they are literals here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

import experiments
from experiments.bayes import bayesian_lift
from experiments.cuped import ArmSums, adjusted_moments, pooled_theta
from experiments.srm import srm_p_value
from experiments.stats import SampleMoments, frequentist_lift, lift_arrays

TOL = 1e-13


@pytest.mark.parametrize(("control", "treatment", "kwargs", "gbstats"), [
    ((3407, 1396.87, 52377.9767), (3461, 2422.7, 134698.29), {},
     (0.7073170731707317, -0.03526008906611777, 1.449894235407581, 0.06191182745618362)),
    ((3407, 1396.87, 52377.9767), (3461, 2422.7, 134698.29), {"relative": False},
     (0.29, 0.04537789255929012, 0.5346221074407098, 0.020158402643587037)),
    (SampleMoments.proportion(28, 14), SampleMoments.proportion(30, 16), {},
     (0.06666666666666665, -0.4776740282706786, 0.6110073616040119, 0.8070716832021887)),
    (SampleMoments.proportion(3000, 1396), SampleMoments.proportion(3461, 2422), {"sequential_tuning": 5000},
     (0.5038633516821496, 0.4009784966859415, 0.6067482066783577, 5.174716682839852e-44)),
], ids=["relative", "absolute", "binomial", "sequential"])
def test_where_nothing_changed_the_lift_is_gbstats_to_1e13(control, treatment, kwargs, gbstats):
    assert list(frequentist_lift(control, treatment, **kwargs)) == pytest.approx(list(gbstats), abs=TOL)


def test_same_prior_same_posterior_as_gbstats_to_1e13():
    gbstats = (0.05062977888312218, -0.0189298307428176, 0.12018938850906194, 0.9231499085772956)
    ours = bayesian_lift((10, 100, 1002.25), (10, 105, 1111.5), prior_mean=0.1, prior_sd=0.1**0.5)
    assert list(ours) == pytest.approx(list(gbstats), abs=TOL)


def test_the_package_docs_carry_the_parity_table():
    doc = experiments.__doc__ or ""
    assert "Parity with gbstats 0.8.0" in doc
    for case in ("relative lift, control mean < 0", "SRM with a zero-weight arm", "CUPED relative denominator",
                 "default Bayesian prior", "an arm whose values do not vary"):
        assert case in doc, case


def test_negative_control_mean_divides_by_its_magnitude_where_gbstats_keeps_the_sign():
    # SampleMeanStatistic(n=100, sum=-50, sum_squares=125) vs (100, -25, 106.25): treatment does better
    gbstats = (-0.5, -0.9431779707774509, -0.056822029222549086, 0.027219532742356334)
    ours = frequentist_lift((100, -50.0, 125.0), (100, -25.0, 106.25))
    assert ours.estimate == pytest.approx(-gbstats[0], abs=TOL) and ours.estimate > 0
    assert (ours.ci_low, ours.ci_high) == pytest.approx((-gbstats[2], -gbstats[1]), abs=TOL)
    assert ours.p_value == pytest.approx(gbstats[3], abs=TOL)


def test_srm_leaves_a_zero_weight_arm_out_where_gbstats_counts_its_units():
    gbstats = 0.36787944117144245  # check_srm([10, 50, 40], [0, 0.5, 0.5]): chi2 2.0 on 2 dof
    ours = srm_p_value([10, 50, 40], [0.0, 0.5, 0.5])
    assert ours == pytest.approx(sps.chisquare([50, 40]).pvalue, abs=TOL)
    assert abs(ours - gbstats) > 0.05
    # without a zero-weight arm both are the same test
    assert srm_p_value([60, 40], [0.5, 0.5]) == pytest.approx(sps.chisquare([60, 40]).pvalue, abs=TOL)


# per-arm sums (n, y, yy, x, xx, xy): 40 customers each, the treatment's covariate higher
CUPED_CONTROL = (40.0, 939.95, 26856.9269, 826.83, 22025.8537, 23348.1983)
CUPED_TREATMENT = (40.0, 1086.8, 35655.8784, 938.6, 27579.4616, 30425.9205)


def _cuped(control: tuple, treatment: tuple) -> tuple[np.ndarray, float, float]:
    c, t = (ArmSums(*(np.array([v]) for v in s)) for s in (control, treatment))
    theta = pooled_theta(c, t)
    mean_x = (c.x + t.x) / (c.n + t.n)
    (mc, vc), (mt, vt) = adjusted_moments(c, theta, mean_x, False), adjusted_moments(t, theta, mean_x, False)
    est, _, lo, hi, p = lift_arrays(mc, vc, c.n, mt, vt, t.n)
    return np.array([est[0], lo[0], hi[0], p[0]]), float(mc[0]), control[1] / control[0]


def test_cuped_relative_lift_divides_by_the_adjusted_control_mean_where_gbstats_uses_the_raw_one():
    gbstats = (0.055169667854331236, -0.08060145226181921, 0.1909407879704817, 0.42099094127955494)
    ours, adjusted_control, raw_control = _cuped(CUPED_CONTROL, CUPED_TREATMENT)
    assert abs(ours[0] - gbstats[0]) > 0.002  # the two estimates differ...
    # ...only by the denominator: the same adjusted difference
    assert ours[0] * adjusted_control / raw_control == pytest.approx(gbstats[0], abs=TOL)


def test_cuped_agrees_with_gbstats_when_the_arms_are_balanced_on_the_covariate():
    treatment = (40.0, 1086.8, 35655.8784, 826.83, 22025.8537, 26000.0)  # the control's covariate sums
    gbstats = (0.1562317144528963, -0.007874452438907414, 0.3203378813447, 0.06171519500973188)
    ours, adjusted_control, raw_control = _cuped(CUPED_CONTROL, treatment)
    assert adjusted_control == pytest.approx(raw_control, abs=TOL)
    assert ours.tolist() == pytest.approx(list(gbstats), abs=TOL)


def test_default_prior_is_proper_and_prior_sd_none_is_gbstats_default():
    control, treatment = SampleMoments.proportion(100, 49), SampleMoments.proportion(100, 51)
    gbstats = (0.04081632653061228, -0.24779335974122607, 0.3294260128024506, 0.6091813095808981)  # EffectBayesianABTest()
    flat = bayesian_lift(control, treatment, prior_sd=None)
    assert list(flat) == pytest.approx(list(gbstats), abs=TOL)
    ours = bayesian_lift(control, treatment)
    assert 0 < ours.estimate < flat.estimate and ours.ci_high - ours.ci_low < flat.ci_high - flat.ci_low


def test_an_arm_that_does_not_vary_gets_no_lift_where_gbstats_gives_its_placeholder():
    # gbstats TwoSidedTTest, absolute, 0/300 vs 5/300: expected 0, ci [0, 0], p_value 1 (error message set)
    res = frequentist_lift(SampleMoments.proportion(300, 0), SampleMoments.proportion(300, 5), relative=False)
    assert np.isnan(list(res)).all()
