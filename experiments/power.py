"""Power: the smallest relative lift a planned experiment can detect.

The test that will be run is the delta-method test of the relative lift ``d`` (treatment
mean ``mu (1 + d)``); ``_power`` gives its rejection probability and the MDE is the ``d``
at which that equals ``power``, found by root finding (the
textbook ``(z_a + z_b) sqrt(2 p (1-p) / n)`` shortcut is off by several points of power
for large lifts; the study in tests/experiments/test_exp_power.py checks by simulation).
``m`` is ``z_{1-alpha/2}`` for a fixed horizon, or the confidence-sequence half-width over
the standard error when results are read sequentially (the price of peeking, as in
GrowthBook's sequential-aware calculator, ``docs/statistics/power-technical.md``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from experiments.spec import ExperimentSpec, HoldoutSpec
from experiments.stats import sequential_rho

__all__ = ["minimum_detectable_effect", "plan_experiment"]


def _critical(alpha: float, n_total: float, sequential_tuning: float | None) -> float:
    if sequential_tuning is None:
        return float(sps.norm.ppf(1 - alpha / 2))
    nr2 = n_total * float(sequential_rho(alpha, sequential_tuning)) ** 2
    return math.sqrt(2 * (nr2 + 1) * math.log(math.sqrt(nr2 + 1) / alpha) / nr2)


def _power(mu_c: float, mu_t: float, n_c: float, n_t: float, crit: float, sd: float | None) -> float:
    """P(reject) of the relative-lift test, from the delta method applied to its z statistic.

    The test computes ``z = (m_t - m_c) / T`` with ``T = sqrt(v_t/n_t + v_c (m_t/m_c)^2 / n_c)``
    (``m_c`` times the delta-method standard error of the relative lift). T moves with the
    data (a low control mean inflates it), so z's spread under the alternative is taken
    from its gradient; it is 1 under the null. A plain ``d / se`` rule overstates power by
    several points for large lifts.
    """
    if sd is None:
        v_c, v_t = mu_c * (1 - mu_c), mu_t * (1 - mu_t)
        dh_t = (1 - 2 * mu_t) / n_t + 2 * (1 - mu_c) * mu_t / (mu_c * n_c)
        dh_c = -(mu_t**2) / (mu_c**2 * n_c)
    else:
        v_c = v_t = sd**2
        dh_t = 2 * sd**2 * mu_t / (mu_c**2 * n_c)
        dh_c = -2 * sd**2 * mu_t**2 / (mu_c**3 * n_c)
    t = math.sqrt(v_t / n_t + v_c * (mu_t / mu_c) ** 2 / n_c)
    gap = mu_t - mu_c
    # dz/dm = (+-1) / T - gap * (dT/dm) / T^2, with dT/dm = (dh/dm) / (2 T).
    grad_t = 1 / t - gap * dh_t / (2 * t**3)
    grad_c = -1 / t - gap * dh_c / (2 * t**3)
    spread = math.sqrt(grad_t**2 * v_t / n_t + grad_c**2 * v_c / n_c)
    z = gap / t
    return float(sps.norm.cdf((z - crit) / spread) + sps.norm.cdf((-z - crit) / spread))


def minimum_detectable_effect(
    n_per_arm: float,
    baseline_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    n_control: float | None = None,
    baseline_sd: float | None = None,
    sequential_tuning: float | None = None,
) -> float:
    """Minimum detectable relative lift (e.g. 0.12 = +12 %) of a treatment over control.

    ``n_per_arm`` units in the treatment (and in the control unless ``n_control`` says
    otherwise); ``baseline_rate`` is the control conversion rate, or the control mean when
    ``baseline_sd`` (the per-unit standard deviation, assumed equal in both arms) is given
    for a mean metric. Returns ``inf`` when no lift up to +1000 % is detectable.
    """
    n_t = float(n_per_arm)
    n_c = float(n_control if n_control is not None else n_per_arm)
    if n_t < 2 or n_c < 2:
        raise ValueError(f"need at least 2 units per arm (got {n_t:g} and {n_c:g})")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1) (got {alpha!r}, {power!r})")
    if baseline_sd is None and not 0 < baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in (0, 1) for a conversion (got {baseline_rate!r})")
    if baseline_sd is not None and not (baseline_rate > 0 and baseline_sd > 0):
        raise ValueError("a mean metric needs a positive baseline mean and a positive baseline_sd")
    crit = _critical(alpha, n_t + n_c, sequential_tuning)
    mu = float(baseline_rate)

    def shortfall(d: float) -> float:
        return _power(mu, mu * (1 + d), n_c, n_t, crit, baseline_sd) - power

    upper = 10.0 if baseline_sd is not None else min(10.0, (1 - mu) / mu - 1e-9)
    if shortfall(upper) < 0:
        return math.inf
    return float(optimize.brentq(shortfall, 1e-12, upper, xtol=1e-10))


def plan_experiment(
    segment_sizes: pd.Series,
    baseline_rates: pd.Series | float,
    spec: ExperimentSpec,
    holdout: HoldoutSpec | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    sequential_tuning: float | None = None,
) -> pd.DataFrame:
    """MDE per segment x treatment arm for ``segsync plan``.

    ``segment_sizes``: customers per segment_id (index); ``baseline_rates``: conversion
    rate per segment_id, or one rate for all. Arm sizes are size x (1 - holdout share) x
    coverage x weight. Returns ``segment_id, arm, n_control, n_treatment, baseline_rate,
    mde`` (relative lift; inf when not detectable or too few customers).
    """
    share = holdout.share if holdout is not None else 0.0
    weight = dict(zip(spec.arm_names, spec.weights, strict=True))
    rows = []
    for segment_id, size in segment_sizes.items():
        if spec.segments and str(segment_id) not in spec.segments:
            continue
        rate = float(baseline_rates[segment_id] if isinstance(baseline_rates, pd.Series) else baseline_rates)
        enrolled = float(size) * (1 - share) * spec.coverage
        n_c = enrolled * weight[spec.control]
        for arm in spec.treatments:
            n_t = enrolled * weight[arm]
            ok = n_t >= 2 and n_c >= 2 and 0 < rate < 1
            mde = (
                minimum_detectable_effect(n_t, rate, alpha, power, n_control=n_c, sequential_tuning=sequential_tuning)
                if ok else math.inf
            )
            rows.append((segment_id, arm, n_c, n_t, rate, mde))
    cols = ["segment_id", "arm", "n_control", "n_treatment", "baseline_rate", "mde"]
    return pd.DataFrame(rows, columns=cols).astype({"mde": np.float64})
