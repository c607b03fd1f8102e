"""Simulation study: what daily peeking does to a fixed-horizon test, and what it does not
do to the confidence sequence.

Many replicate experiments run for ``days`` days; each day ``daily_per_arm`` new
customers enter each arm, and the daemon reads the cumulative result after every day.
A replicate "rejects" when any daily look says significant; an interval "covers" when it
contains the true relative lift. All replicates and days are computed at once with numpy
(``lift_arrays`` over an ``(n_sims, days)`` grid).

Metrics: ``"conversion"`` (Bernoulli, simulated as daily binomial counts) and
``"revenue"`` (zero-inflated lognormal per customer: buy with ``baseline_rate``, spend
lognormal; the treatment multiplies the purchase rate by ``1 + relative_effect``, so the
mean revenue moves by exactly that factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from experiments.stats import lift_arrays

__all__ = ["PeekingStudy", "simulate_daily_looks"]


@dataclass(frozen=True)
class PeekingStudy:
    """Rates over the replicates (each a share in [0, 1])."""

    n_sims: int
    days: int
    relative_effect: float
    fixed_any_look: float  # fixed-horizon test significant at some daily look
    fixed_final: float  # fixed-horizon test significant at the last look only
    sequential_any_look: float  # confidence sequence excludes 0 at some daily look
    fixed_final_coverage: float  # fixed-horizon CI at the last look contains the truth
    fixed_uniform_coverage: float  # fixed-horizon CI contains the truth at every look
    sequential_uniform_coverage: float  # confidence sequence contains the truth at every look


def _daily_moments(rng: np.random.Generator, metric: str, n_sims: int, days: int, n_day: int, p: float):
    """Cumulative (sum, sum of squares) per replicate and day for one arm."""
    if metric == "conversion":
        s = rng.binomial(n_day, p, size=(n_sims, days)).astype(float)
        return np.cumsum(s, axis=1), np.cumsum(s, axis=1)
    buys = rng.random((n_sims, days, n_day)) < p
    spend = rng.lognormal(mean=3.0, sigma=1.0, size=(n_sims, days, n_day)) * buys
    return np.cumsum(spend.sum(axis=2), axis=1), np.cumsum((spend * spend).sum(axis=2), axis=1)


def _arm_stats(sums: np.ndarray, squares: np.ndarray, n: np.ndarray, binary: bool):
    mean = sums / n
    if binary:
        return mean, mean * (1 - mean)
    return mean, (squares - sums**2 / n) / (n - 1)


def simulate_daily_looks(
    *,
    n_sims: int = 1000,
    days: int = 60,
    daily_per_arm: int = 100,
    baseline_rate: float = 0.1,
    relative_effect: float = 0.0,
    metric: Literal["conversion", "revenue"] = "conversion",
    alpha: float = 0.05,
    sequential_tuning: float | None = None,
    random_state: int | None = None,
) -> PeekingStudy:
    """Run the study; ``sequential_tuning`` defaults to the final total sample ``2 * days * daily``."""
    rng = np.random.default_rng(random_state)
    tuning = float(sequential_tuning or 2 * days * daily_per_arm)
    n = np.broadcast_to(daily_per_arm * np.arange(1, days + 1, dtype=float), (n_sims, days))
    binary = metric == "conversion"
    sa, qa = _daily_moments(rng, metric, n_sims, days, daily_per_arm, baseline_rate)
    sb, qb = _daily_moments(rng, metric, n_sims, days, daily_per_arm, baseline_rate * (1 + relative_effect))
    ma, va = _arm_stats(sa, qa, n, binary)
    mb, vb = _arm_stats(sb, qb, n, binary)
    _, _, flo, fhi, fp = lift_arrays(ma, va, n, mb, vb, n, alpha=alpha)
    _, _, slo, shi, sp = lift_arrays(ma, va, n, mb, vb, n, alpha=alpha, sequential_tuning=tuning)
    truth = relative_effect
    # An untestable look (no conversions yet: NaN) neither rejects nor fails to cover.
    f_cover = ~((flo > truth) | (fhi < truth))
    s_cover = ~((slo > truth) | (shi < truth))
    return PeekingStudy(
        n_sims=n_sims,
        days=days,
        relative_effect=relative_effect,
        fixed_any_look=float(np.mean((fp < alpha).any(axis=1))),
        fixed_final=float(np.mean(fp[:, -1] < alpha)),
        sequential_any_look=float(np.mean((sp < alpha).any(axis=1))),
        fixed_final_coverage=float(np.mean(f_cover[:, -1])),
        fixed_uniform_coverage=float(np.mean(f_cover.all(axis=1))),
        sequential_uniform_coverage=float(np.mean(s_cover.all(axis=1))),
    )
