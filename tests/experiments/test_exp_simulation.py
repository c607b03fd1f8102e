"""Simulation study (small): daily peeking for 60 days.

Under no effect the fixed-horizon test, read every day, says "significant" far more often
than alpha; the confidence sequence does not. Under a planted effect the fixed interval
at the planned end covers the truth about 1 - alpha of the time, and the confidence
sequence covers it at every one of the 60 looks at least that often. The bigger run is
benchmarks/bench_sequential.py.
"""

from __future__ import annotations

import pytest

from experiments.simulation import simulate_daily_looks

ALPHA = 0.05


def test_null_effect_daily_looks_fixed_horizon_inflates_sequential_does_not():
    study = simulate_daily_looks(n_sims=1500, days=60, daily_per_arm=100, baseline_rate=0.1, random_state=20261128)
    assert study.sequential_any_look <= ALPHA
    assert study.fixed_any_look > 3 * ALPHA  # peeking at a fixed-horizon test
    assert study.fixed_final == pytest.approx(ALPHA, abs=0.015)  # one look is fine


@pytest.mark.parametrize("effect", [0.05, 0.15])
def test_planted_effect_coverage(effect):
    study = simulate_daily_looks(
        n_sims=1500, days=60, daily_per_arm=100, baseline_rate=0.1, relative_effect=effect, random_state=7
    )
    assert study.fixed_final_coverage == pytest.approx(1 - ALPHA, abs=0.015)
    assert study.sequential_uniform_coverage >= 1 - ALPHA - 0.01
    assert study.fixed_uniform_coverage < 1 - 3 * ALPHA


def test_revenue_metric_null():
    study = simulate_daily_looks(n_sims=300, days=60, daily_per_arm=200, metric="revenue", random_state=3)
    assert study.sequential_any_look <= ALPHA
    assert study.fixed_any_look > 3 * ALPHA
