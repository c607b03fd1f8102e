"""Power: the smallest relative lift a planned experiment can detect.

For a two-sided test at ``alpha``, the lift ``d`` is detectable with ``power`` when
``Phi(d / se(d) - m) + Phi(-d / se(d) - m) >= power``, where ``se(d)`` is the delta-method
standard error of the relative lift *at that lift* (the treatment mean is
``baseline * (1 + d)``) and ``m`` the critical multiplier: ``z_{1-alpha/2}`` for a fixed
horizon, or the confidence-sequence half-width over ``se`` when the results will be read
sequentially (the price of peeking, as in GrowthBook's sequential-aware calculator,
``docs/statistics/power-technical.md``). Solved by root finding, not the usual
equal-variance shortcut, so it stays right for high baseline rates.
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
    if baseline_sd is not None and (baseline_rate == 0 or baseline_sd <= 0):
        raise ValueError("a mean metric needs a non-zero baseline mean and a positive baseline_sd")
    crit = _critical(alpha, n_t + n_c, sequential_tuning)
    mu = float(baseline_rate)

    def se(d: float) -> float:
        mu_t = mu * (1 + d)
        var_c = baseline_sd**2 if baseline_sd is not None else mu * (1 - mu)
        var_t = baseline_sd**2 if baseline_sd is not None else min(max(mu_t * (1 - mu_t), 1e-12), 0.25)
        return math.sqrt(var_t / n_t / mu**2 + var_c / n_c * mu_t**2 / mu**4)

    def shortfall(d: float) -> float:
        z = d / se(d)
        return float(sps.norm.cdf(z - crit) + sps.norm.cdf(-z - crit)) - power

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
            tuning = sequential_tuning if sequential_tuning is not None else None
            mde = minimum_detectable_effect(n_t, rate, alpha, power, n_control=n_c, sequential_tuning=tuning) if ok else math.inf
            rows.append((segment_id, arm, n_c, n_t, rate, mde))
    cols = ["segment_id", "arm", "n_control", "n_treatment", "baseline_rate", "mde"]
    return pd.DataFrame(rows, columns=cols).astype({"mde": np.float64})
