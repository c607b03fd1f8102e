"""Frequentist lift of a treatment over the control, as gbstats computes it.

* Fixed horizon: Welch two-sample t-test (Welch-Satterthwaite degrees of freedom). The
  relative lift ``(mu_t - mu_c) / |mu_c|`` gets its variance from the delta method
  (gbstats ``frequentist_variance`` / ``variance_of_ratios`` with zero covariance).
* Sequential: the asymptotic confidence sequence of Waudby-Smith et al. (arXiv
  2103.06476, eqs. 9, 155, 161), gbstats ``SequentialTwoSidedTTest``. It stays valid
  however often it is read, which is what a daemon that reports every day needs. The
  tuning ``N*`` is the total sample of the two arms at which the sequence is tightest.

Reference values from gbstats' own tests are reproduced to 5 decimals in
``tests/experiments/test_exp_stats.py``. ``lift_arrays`` is the vectorised core; the pipeline
and the simulation study call it on whole arrays at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

__all__ = ["LiftResult", "SampleMoments", "frequentist_lift", "lift_arrays", "sequential_rho"]


@dataclass(frozen=True)
class SampleMoments:
    """Sufficient statistics of one arm: ``n``, ``sum`` and ``sum_squares`` of the values.

    ``binary`` marks a proportion (0/1 values): its variance is ``p(1 - p)``, as gbstats'
    ``ProportionStatistic``; otherwise the unbiased sample variance (``SampleMeanStatistic``).
    """

    n: float
    sum: float
    sum_squares: float
    binary: bool = False

    @classmethod
    def proportion(cls, n: float, successes: float) -> SampleMoments:
        return cls(n, successes, successes, True)

    @classmethod
    def from_values(cls, values: np.ndarray, binary: bool = False) -> SampleMoments:
        v = np.asarray(values, dtype=float)
        return cls(len(v), float(v.sum()), float((v * v).sum()), binary)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        if self.binary:
            return self.mean * (1 - self.mean) if self.n > 0 else math.nan
        if self.n < 2:
            return math.nan
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)


class LiftResult(NamedTuple):
    """Lift of treatment over control: point estimate, interval and two-sided p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float


def _as_moments(x: object) -> SampleMoments:
    if isinstance(x, SampleMoments):
        return x
    if isinstance(x, tuple | list) and len(x) == 3:
        n, total, squares = (float(v) for v in x)
        return SampleMoments(n, total, squares)
    try:
        return SampleMoments(float(x.n), float(x.sum), float(x.sum_squares))  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError(f"expected (n, sum, sum_squares) or SampleMoments, got {type(x).__name__}") from None


def sequential_rho(alpha: float, tuning: float | np.ndarray) -> float | np.ndarray:
    """Mixing parameter of the normal-mixture confidence sequence (Waudby-Smith et al. eq. 161)."""
    l2 = -2 * np.log(alpha)
    return np.sqrt((l2 + np.log(l2 + 1)) / tuning)


def _effect(mean_a, var_a, n_a, mean_b, var_b, n_b, relative: bool):
    """Point estimate and its variance (delta method for the relative lift)."""
    va, vb = var_a / n_a, var_b / n_b
    if relative:
        est = (mean_b - mean_a) / np.abs(mean_a)
        variance = vb / mean_a**2 + va * mean_b**2 / mean_a**4
    else:
        est = mean_b - mean_a
        variance = va + vb
    return est, variance


def lift_arrays(
    mean_a, var_a, n_a, mean_b, var_b, n_b, *, relative: bool = True, alpha: float = 0.05,
    sequential_tuning=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised lift: ``(estimate, std_error, ci_low, ci_high, p_value)`` arrays.

    Inputs broadcast; ``var_*`` are per-observation variances. Rows that cannot be tested
    (fewer than two units, zero variance, or a zero control mean for a relative lift) get
    NaN everywhere, like gbstats' default output but without pretending p = 1.
    """
    arrs = [np.asarray(x, dtype=float) for x in (mean_a, var_a, n_a, mean_b, var_b, n_b)]
    mean_a, var_a, n_a, mean_b, var_b, n_b = np.broadcast_arrays(*arrs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        est, variance = _effect(mean_a, var_a, n_a, mean_b, var_b, n_b, relative)
        bad = ~(variance > 0) | (n_a < 2) | (n_b < 2) | ~np.isfinite(est)
        if relative:
            bad |= mean_a == 0
        se = np.sqrt(variance)
        z = est / se
        if sequential_tuning is None:
            wa, wb = var_a / n_a, var_b / n_b
            dof = (wa + wb) ** 2 / (wa**2 / (n_a - 1) + wb**2 / (n_b - 1))
            half = sps.t.ppf(1 - alpha / 2, dof) * se
            p = 2 * sps.t.sf(np.abs(z), dof)
        else:
            n = n_a + n_b
            nr2 = n * sequential_rho(alpha, np.asarray(sequential_tuning, dtype=float)) ** 2
            # Half-width sqrt(s2) * sqrt(2(n rho^2 + 1) ln(sqrt(n rho^2 + 1)/alpha) / (n rho)^2)
            # with s2 = n * var(effect), i.e. se * sqrt(2 (nr2 + 1) ln(...) / nr2).
            half = se * np.sqrt(2 * (nr2 + 1) * np.log(np.sqrt(nr2 + 1) / alpha) / nr2)
            # Always-valid p = 1 / e-value, e = exp(nr2 z^2 / (2 (nr2 + 1))) / sqrt(nr2 + 1).
            p = np.minimum(1.0, np.sqrt(nr2 + 1) * np.exp(-nr2 * z**2 / (2 * (nr2 + 1))))
    out = [est, se, est - half, est + half, p]
    return tuple(np.where(bad, np.nan, a) for a in out)  # type: ignore[return-value]


def frequentist_lift(
    control: object,
    treatment: object,
    relative: bool = True,
    alpha: float = 0.05,
    sequential_tuning: float | None = None,
) -> LiftResult:
    """Lift of ``treatment`` over ``control``, each ``(n, sum, sum_squares)`` or ``SampleMoments``.

    ``relative=True`` gives ``(mean_t - mean_c) / |mean_c|``; else ``mean_t - mean_c``.
    With ``sequential_tuning=N`` (N* of gbstats, the expected total of both arms) the
    interval is the always-valid confidence sequence and the p-value is always valid:
    ``p_value < alpha`` exactly when the interval excludes 0. Untestable input gives NaNs.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha!r})")
    if sequential_tuning is not None and not sequential_tuning >= 1:
        raise ValueError(f"sequential_tuning must be >= 1 (got {sequential_tuning!r})")
    a, b = _as_moments(control), _as_moments(treatment)
    est, _, lo, hi, p = lift_arrays(
        a.mean, a.variance, a.n, b.mean, b.variance, b.n,
        relative=relative, alpha=alpha, sequential_tuning=sequential_tuning,
    )
    return LiftResult(float(est), float(lo), float(hi), float(p))
