"""Power: the MDE is the lift that is detected with the promised probability."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.power import minimum_detectable_effect, plan_experiment
from experiments.spec import ArmSpec, ExperimentSpec, HoldoutSpec
from experiments.stats import lift_arrays


def simulated_power(n: int, p: float, lift: float, reps: int = 20_000, seed: int = 5) -> float:
    rng = np.random.default_rng(seed)
    a = rng.binomial(n, p, reps) / n
    b = rng.binomial(n, p * (1 + lift), reps) / n
    *_, pv = lift_arrays(a, a * (1 - a), n, b, b * (1 - b), n)
    return float(np.mean(pv < 0.05))


@pytest.mark.parametrize(("n", "p"), [(2000, 0.1), (5000, 0.03), (800, 0.5)])
def test_mde_is_detected_with_80_percent_power(n, p):
    mde = minimum_detectable_effect(n, p)
    assert simulated_power(n, p, mde) == pytest.approx(0.8, abs=0.015)


def test_mde_shrinks_with_sample_and_grows_with_peeking():
    assert minimum_detectable_effect(40_000, 0.1) < minimum_detectable_effect(10_000, 0.1)
    assert minimum_detectable_effect(10_000, 0.1, sequential_tuning=20_000) > minimum_detectable_effect(10_000, 0.1)
    assert minimum_detectable_effect(10_000, 0.1, power=0.9) > minimum_detectable_effect(10_000, 0.1)


def test_mean_metric_mde_by_simulation_and_undetectable():
    n, mu, sd = 3000, 20.0, 40.0
    mde = minimum_detectable_effect(n, mu, baseline_sd=sd)
    rng = np.random.default_rng(11)
    # Arm means and sample variances of normal data, drawn from their exact distributions.
    reps = 20_000
    ma = rng.normal(mu, sd / math.sqrt(n), reps)
    mb = rng.normal(mu * (1 + mde), sd / math.sqrt(n), reps)
    va = sd**2 * rng.chisquare(n - 1, reps) / (n - 1)
    vb = sd**2 * rng.chisquare(n - 1, reps) / (n - 1)
    *_, pv = lift_arrays(ma, va, n, mb, vb, n)
    assert float(np.mean(pv < 0.05)) == pytest.approx(0.8, abs=0.015)
    assert minimum_detectable_effect(10, 0.001) == math.inf


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="baseline_rate"):
        minimum_detectable_effect(100, 1.5)
    with pytest.raises(ValueError, match="at least 2 units"):
        minimum_detectable_effect(1, 0.1)


def test_plan_experiment_sizes_arms_from_segment_sizes():
    spec = ExperimentSpec(
        key="e", arms=[ArmSpec("c", 0.5, True), ArmSpec("t1", 0.25), ArmSpec("t2", 0.25)],
        coverage=0.8, segments=("a", "b"),
    )
    plan = plan_experiment(pd.Series({"a": 100_000, "b": 4000, "z": 9}), pd.Series({"a": 0.1, "b": 0.05, "z": 0.1}), spec, HoldoutSpec(0.1))
    assert plan["segment_id"].tolist() == ["a", "a", "b", "b"]
    row = plan.iloc[0]
    assert row["n_control"] == pytest.approx(100_000 * 0.9 * 0.8 * 0.5)
    assert row["n_treatment"] == pytest.approx(100_000 * 0.9 * 0.8 * 0.25)
    assert row["mde"] == pytest.approx(minimum_detectable_effect(18_000, 0.1, n_control=36_000))
    assert plan.iloc[2]["mde"] > row["mde"]
