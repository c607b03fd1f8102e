"""Statistics: experiments.md §2 reference values to 5 decimals, plus gbstats' other vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from experiments.bayes import bayesian_lift
from experiments.correction import adjust_p_values
from experiments.srm import srm_p_value
from experiments.stats import (
    FEW_UNITS,
    ZERO_CONTROL,
    ZERO_VARIANCE,
    LiftResult,
    SampleMoments,
    frequentist_lift,
    refusal_reasons,
)

CONTROL = (3407, 1396.87, 52377.9767)  # (n, sum, sum_squares): gbstats SampleMeanStatistic
TREATMENT = (3461, 2422.7, 134698.29)


def r5(x: float) -> float:
    return round(x, 5)


def test_reference_relative_lift():
    res = frequentist_lift(CONTROL, TREATMENT)
    assert (r5(res.estimate), r5(res.ci_low), r5(res.ci_high), r5(res.p_value)) == (0.70732, -0.03526, 1.44989, 0.06191)


def test_reference_absolute_lift():
    res = frequentist_lift(CONTROL, TREATMENT, relative=False)
    assert (r5(res.estimate), r5(res.ci_low), r5(res.ci_high), r5(res.p_value)) == (0.29, 0.04538, 0.53462, 0.02016)


def test_reference_binomial():
    res = frequentist_lift(SampleMoments.proportion(28, 14), SampleMoments.proportion(30, 16))
    assert r5(res.p_value) == 0.80707
    assert (r5(res.estimate), r5(res.ci_low), r5(res.ci_high)) == (0.06667, -0.47767, 0.61101)  # gbstats test_tests.py


def test_reference_sequential():
    res = frequentist_lift((3000, 1396.87, 52377.9767), TREATMENT, sequential_tuning=1000)
    assert (r5(res.estimate), r5(res.ci_low), r5(res.ci_high)) == (0.50336, -0.55844, 1.56516)
    assert res.p_value == 1.0  # gbstats expects pValue=1 for this case too


def test_gbstats_sequential_proportion_default_tuning():
    res = frequentist_lift(SampleMoments.proportion(3000, 1396), SampleMoments.proportion(3461, 2422), sequential_tuning=5000)
    assert (r5(res.estimate), r5(res.ci_low), r5(res.ci_high), r5(res.p_value)) == (0.50386, 0.40098, 0.60675, 0.0)


def test_gbstats_bayesian_vectors():
    flat = bayesian_lift(SampleMoments.proportion(100, 49), SampleMoments.proportion(100, 51), prior_sd=None)
    assert tuple(map(r5, flat)) == (0.04082, -0.24779, 0.32943, 0.60918)
    informative = bayesian_lift((10, 100, 1002.25), (10, 105, 1111.5), prior_mean=0.1, prior_sd=math.sqrt(0.1))
    assert tuple(map(r5, informative)) == (0.05063, -0.01893, 0.12019, 0.92315)


def test_prior_shrinks_toward_zero_and_absolute_prior_is_scaled():
    flat = bayesian_lift((50, 50, 100), (50, 80, 200), prior_sd=None)
    tight = bayesian_lift((50, 50, 100), (50, 80, 200), prior_sd=0.05)
    assert 0 < tight.estimate < flat.estimate and tight.chance_to_win < flat.chance_to_win
    rel = bayesian_lift((100, 1000, 200000), (100, 1100, 200005), prior_mean=1, prior_sd=1)
    ab = bayesian_lift((100, 1000, 200000), (100, 1100, 200005), relative=False, prior_mean=1, prior_sd=1)
    assert rel.chance_to_win == pytest.approx(ab.chance_to_win, abs=0.01)


def test_result_is_a_named_tuple_and_accepts_objects():
    class Stat:
        n, sum, sum_squares = CONTROL

    est, lo, hi, p = frequentist_lift(Stat(), SampleMoments(*TREATMENT))
    assert isinstance(frequentist_lift(CONTROL, TREATMENT), LiftResult) and lo < est < hi and 0 < p < 1
    with pytest.raises(TypeError, match="n, sum, sum_squares"):
        frequentist_lift("x", TREATMENT)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((1, 5, 25), TREATMENT), ((100, 0, 0), (100, 5, 5)), ((10, 30, 90), (10, 40, 160))],
    ids=["one-unit", "zero-control-mean", "zero-variance"],
)
def test_untestable_input_gives_nan_not_a_fake_answer(control, treatment):
    res = frequentist_lift(control, treatment)
    assert all(math.isnan(v) for v in res)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="alpha"):
        frequentist_lift(CONTROL, TREATMENT, alpha=1.5)
    with pytest.raises(ValueError, match="sequential_tuning"):
        frequentist_lift(CONTROL, TREATMENT, sequential_tuning=0)


def test_sequential_interval_is_wider_and_tightest_near_tuning():
    fixed = frequentist_lift(CONTROL, TREATMENT)
    widths = {
        n: (lambda r: r.ci_high - r.ci_low)(frequentist_lift(CONTROL, TREATMENT, sequential_tuning=n))
        for n in (10, 6868, 1_000_000)
    }
    assert widths[6868] > fixed.ci_high - fixed.ci_low
    assert widths[6868] < widths[10] and widths[6868] < widths[1_000_000]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    n=st.integers(20, 5000), pa=st.floats(0.02, 0.9), lift=st.floats(-0.5, 0.5),
    tuning=st.integers(100, 100_000), alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_sequential_p_value_agrees_with_interval(n, pa, lift, tuning, alpha):
    pb = min(pa * (1 + lift), 0.99)
    res = frequentist_lift(
        SampleMoments.proportion(n, round(n * pa)), SampleMoments.proportion(n, round(n * pb)),
        alpha=alpha, sequential_tuning=tuning,
    )
    if math.isnan(res.p_value) or abs(res.p_value - alpha) < 1e-9:
        return
    excludes_zero = res.ci_low > 0 or res.ci_high < 0
    assert (res.p_value < alpha) == excludes_zero


def test_srm_matches_chisquare_and_flags_mismatch():
    assert srm_p_value([5000, 5000], [0.5, 0.5]) == 1.0
    assert srm_p_value([5200, 4800], [0.5, 0.5]) == pytest.approx(sps.chisquare([5200, 4800]).pvalue)
    assert srm_p_value([3100, 6900], [0.3, 0.7]) == pytest.approx(sps.chisquare([3100, 6900], [3000, 7000]).pvalue)
    assert srm_p_value([5300, 4700], [0.5, 0.5]) < 0.001
    assert srm_p_value([0, 0], [0.5, 0.5]) == 1.0
    assert srm_p_value([10, 50, 40], [0.0, 0.5, 0.5]) == pytest.approx(sps.chisquare([50, 40]).pvalue)


def test_holm_and_bh_by_hand_and_against_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    assert np.allclose(adjust_p_values(p, "holm")[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjust_p_values(p, "holm")[4])
    assert np.allclose(adjust_p_values(p, "bh")[:4], [0.02, 0.04, 0.04, 0.02])
    rng = np.random.default_rng(7)
    q = rng.random(40) ** 3
    assert np.allclose(adjust_p_values(q, "bh"), sps.false_discovery_control(q, method="bh"))
    assert np.array_equal(adjust_p_values(q, "none"), q)
    with pytest.raises(ValueError, match="correction"):
        adjust_p_values(q, "bonferroni")


ZERO_VARIANCE_CASES = {
    "control-converted-nobody": (SampleMoments.proportion(300, 0), SampleMoments.proportion(300, 8)),
    "treatment-converted-nobody": (SampleMoments.proportion(300, 8), SampleMoments.proportion(300, 0)),
    "control-converted-everyone": (SampleMoments.proportion(300, 300), SampleMoments.proportion(300, 290)),
    "constant-revenue-in-control": (SampleMoments.from_values(np.full(50, 20.0)), SampleMoments.from_values(np.arange(50.0))),
}


@pytest.mark.parametrize("case", list(ZERO_VARIANCE_CASES))
@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
@pytest.mark.parametrize("tuning", [None, 600], ids=["fixed", "sequential"])
def test_an_arm_whose_values_do_not_vary_is_refused(case, relative, tuning):
    """Before, the test ran on the other arm's variance alone: 0/300 against 8/300 gave an
    absolute lift with p = 0.004, a false winner in most A/A runs with a zero arm."""
    control, treatment = ZERO_VARIANCE_CASES[case]
    res = frequentist_lift(control, treatment, relative=relative, sequential_tuning=tuning)
    assert all(math.isnan(v) for v in res), res
    posterior = bayesian_lift(control, treatment, relative=relative)
    assert math.isnan(posterior.estimate) and posterior.chance_to_win == 0.5


def test_refusal_reasons_name_the_first_reason_that_applies():
    n = np.array([300, 1, 300, 300, 300])
    mean_a = np.array([0.0, 0.5, 0.5, 1.0, 0.2])
    var_a = mean_a * (1 - mean_a)
    var_b = np.array([0.01, 0.2, 0.0, 0.2, 0.16])
    rel = refusal_reasons(mean_a, var_a, n, var_b, np.full(5, 300), relative=True)
    assert rel.tolist() == [ZERO_CONTROL, FEW_UNITS, ZERO_VARIANCE, ZERO_VARIANCE, ""]
    absolute = refusal_reasons(mean_a, var_a, n, var_b, np.full(5, 300), relative=False)
    assert absolute.tolist() == [ZERO_VARIANCE, FEW_UNITS, ZERO_VARIANCE, ZERO_VARIANCE, ""]
    assert ZERO_CONTROL == "the control mean is 0, so a relative lift is undefined"
