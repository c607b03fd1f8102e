"""CUPED: regression adjustment on a pre-period covariate (Deng et al., WSDM 2013).

Each unit's value becomes ``y - theta * (x - mean_x)``, with ``theta = cov(x, y) / var(x)``
pooled over the two arms compared (gbstats ``compute_theta`` pools control and
treatment too, so theta cannot absorb the treatment effect's own arm). The adjusted mean
of arm ``k`` is ``mean_y_k - theta * (mean_x_k - mean_x)`` and its per-unit variance
``var_y + theta^2 var_x - 2 theta cov_xy``: lower by the share of variance the covariate
explains, unbiased because assignment is independent of the pre-period. The relative
lift is the ratio of adjusted means, through the usual delta method, so the estimate and its
variance describe the same ratio. gbstats 0.8.0 differs: it divides the adjusted difference
by the *raw* control mean and takes the delta-method variance from the raw means. The two
agree when the arms are balanced on the covariate (then adjusted and raw means coincide).
A raw control mean of 0 is refused by both (``experiments.analysis`` checks the raw values:
the adjustment would give a control that converted nobody a non-zero mean).

Everything here works on per-arm sums so whole tables of segment x arm cells adjust at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ArmSums", "adjusted_moments", "pooled_theta"]


@dataclass(frozen=True)
class ArmSums:
    """Per-cell sums (arrays broadcast): ``n``, ``y``, ``yy``, ``x``, ``xx``, ``xy``."""

    n: np.ndarray
    y: np.ndarray
    yy: np.ndarray
    x: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    def __add__(self, other: ArmSums) -> ArmSums:
        return ArmSums(*(getattr(self, f) + getattr(other, f) for f in ("n", "y", "yy", "x", "xx", "xy")))


def _centred(total_ab: np.ndarray, total_a: np.ndarray, total_b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sample covariance ``(sum ab - sum a sum b / n) / (n - 1)``; NaN below two units."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 1, (total_ab - total_a * total_b / n) / (n - 1), np.nan)


def pooled_theta(control: ArmSums, treatment: ArmSums) -> np.ndarray:
    """``cov(x, y) / var(x)`` over both arms; 0 where the covariate does not vary."""
    both = control + treatment
    cov = _centred(both.xy, both.x, both.y, both.n)
    var_x = _centred(both.xx, both.x, both.x, both.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = cov / var_x
    return np.where(np.isfinite(theta) & (var_x > 0), theta, 0.0)


def adjusted_moments(
    arm: ArmSums, theta: np.ndarray, mean_x: np.ndarray, binary: bool
) -> tuple[np.ndarray, np.ndarray]:
    """CUPED-adjusted ``(mean, per-unit variance)`` of one arm.

    ``binary`` uses ``p (1 - p)`` for the outcome variance (gbstats ``ProportionStatistic``).
    With ``theta = 0`` this is the plain mean and variance.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_y = arm.y / arm.n
        mean_xk = arm.x / arm.n
        var_y = mean_y * (1 - mean_y) if binary else _centred(arm.yy, arm.y, arm.y, arm.n)
    var_x = np.nan_to_num(_centred(arm.xx, arm.x, arm.x, arm.n))
    cov = np.nan_to_num(_centred(arm.xy, arm.x, arm.y, arm.n))
    mean = mean_y - theta * (mean_xk - mean_x)
    variance = np.maximum(var_y + theta**2 * var_x - 2 * theta * cov, 0.0)
    return mean, variance
