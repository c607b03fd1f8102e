"""Frequentist lift of a treatment over the control, with the tests gbstats uses.

Where segsync's answers differ from gbstats 0.8.0, and why: the parity table in
``experiments/__init__.py``.

* Fixed horizon: Welch two-sample t-test (Welch-Satterthwaite degrees of freedom), as
  gbstats ``TwoSidedTTest``. The relative lift ``(mu_t - mu_c) / |mu_c|`` gets its variance
  from the delta method (gbstats ``frequentist_variance``, zero covariance). gbstats 0.8.0
  divides by the *signed* control mean, so against a negative control a treatment that does
  better reads as a negative lift; with ``|mu_c|`` the sign of the lift is the sign of the
  difference. Both agree whenever the control mean is positive (every conversion and revenue
  metric).
* Sequential: the asymptotic confidence sequence of Waudby-Smith et al. (arXiv
  2103.06476, eqs. 9, 155, 161), gbstats ``SequentialTwoSidedTTest``. It stays valid
  however often it is read, which is what a daemon that reports every day needs. The
  tuning ``N*`` is the total sample of the two arms at which the sequence is tightest.

Comparisons that cannot be made are refused, with a reason (``refusal_reasons``): fewer than
two units in an arm, a control mean of 0 for a relative lift, and **an arm whose values do
not vary** (0 % or 100 % conversion, a constant metric). In that last case the Welch test
would run on the other arm's variance alone, as if the constant arm's mean were known
exactly; in A/A tests at p = 0.01 with 300 per arm, 36 % of the runs with a zero-conversion
arm came out "significant". gbstats refuses these too (its placeholder: estimate 0, p = 1);
segsync gives NaN rather than a p-value that looks like evidence. Refusing is the honest
answer there: given that one arm converted nobody, a test's false-positive rate depends on the
unknown rate (Fisher's exact test, exact overall, rejects 8.5 % of such A/A runs).
``benchmarks/bench_aa_zero_arm.py`` measures it; the parity table with gbstats 0.8.0 is in
the package docs (``experiments/__init__.py``).

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

__all__ = ["LiftResult", "SampleMoments", "frequentist_lift", "lift_arrays", "refusal_reasons", "sequential_rho"]

FEW_UNITS = "fewer than 2 units in an arm"
ZERO_CONTROL = "the control mean is 0, so a relative lift is undefined"
ZERO_VARIANCE = "an arm's values do not vary (0 % or 100 % conversion, or a constant value), so no test is valid"


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


def refusal_reasons(mean_a, var_a, n_a, var_b, n_b, *, relative: bool = True) -> np.ndarray:
    """Why each comparison cannot be made, ``""`` where it can (an object array of str).

    Give the *raw* moments (CUPED-adjusted ones hide a zero control mean and a constant arm).
    The first reason that applies is given: too few units, a zero control mean (relative
    lift only), then an arm whose values do not vary.
    """
    arrs = [np.asarray(x, dtype=float) for x in (mean_a, var_a, n_a, var_b, n_b)]
    mean_a, var_a, n_a, var_b, n_b = np.broadcast_arrays(*arrs)
    few = (n_a < 2) | (n_b < 2)
    zero_control = (mean_a == 0) if relative else np.zeros(mean_a.shape, dtype=bool)
    constant = ~(var_a > 0) | ~(var_b > 0)
    return np.select([few, zero_control, constant], [FEW_UNITS, ZERO_CONTROL, ZERO_VARIANCE], "").astype(object)


def lift_arrays(
    mean_a, var_a, n_a, mean_b, var_b, n_b, *, relative: bool = True, alpha: float = 0.05,
    sequential_tuning=None, refused=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised lift: ``(estimate, std_error, ci_low, ci_high, p_value)`` arrays.

    Inputs broadcast; ``var_*`` are per-observation variances. Rows that cannot be tested
    (``refusal_reasons`` of these moments, or True in ``refused``: the caller's verdict on
    the raw moments behind adjusted ones) get NaN everywhere, like gbstats' placeholder but
    without pretending p = 1.
    """
    arrs = [np.asarray(x, dtype=float) for x in (mean_a, var_a, n_a, mean_b, var_b, n_b)]
    mean_a, var_a, n_a, mean_b, var_b, n_b = np.broadcast_arrays(*arrs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        est, variance = _effect(mean_a, var_a, n_a, mean_b, var_b, n_b, relative)
        bad = ~(variance > 0) | ~np.isfinite(est) | (refusal_reasons(mean_a, var_a, n_a, var_b, n_b, relative=relative) != "")
        if refused is not None:
            bad |= np.asarray(refused, dtype=bool)
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
