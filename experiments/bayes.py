"""Bayesian lift with a Gaussian prior on the effect (the model of gbstats ``EffectBayesianABTest``).

The likelihood of the true lift is normal around the delta-method estimate with its
variance; a proper Gaussian prior ``N(prior_mean, prior_sd^2)`` on the *relative* lift is
updated conjugately (precision-weighted), as gbstats does. The *default* prior is not
gbstats': gbstats 0.8.0 defaults to an improper flat prior (``GaussianPrior(mean=0,
variance=1, proper=False)``: the posterior is the likelihood), which is ``prior_sd=None``
here. segsync's default, a proper ``N(0, 0.3^2)`` on the relative lift, shrinks implausibly
large lifts from small segments, which matters when dozens of segment x arm cells are read
at once. For an absolute lift the prior is scaled by ``|mean_control|`` so the same setting
means the same thing (gbstats rescales a relative prior the same way).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats as sps

from experiments.stats import _as_moments, lift_arrays

__all__ = ["BayesResult", "bayesian_lift", "posterior_arrays"]

DEFAULT_PRIOR_SD = 0.3


class BayesResult(NamedTuple):
    """Posterior mean of the lift, its credible interval, and P(treatment beats control)."""

    estimate: float
    ci_low: float
    ci_high: float
    chance_to_win: float


def posterior_arrays(
    estimate, std_error, *, alpha: float = 0.05, prior_mean=0.0, prior_sd=DEFAULT_PRIOR_SD
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised posterior: ``(mean, ci_low, ci_high, chance_to_win)``.

    NaN estimates give chance 0.5 like gbstats' missing-data output, but NaN intervals.
    """
    est = np.asarray(estimate, dtype=float)
    var = np.asarray(std_error, dtype=float) ** 2
    if prior_sd is None:
        mean, post_var = est, var
    else:
        prior_var = np.asarray(prior_sd, dtype=float) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = 1 / var + 1 / prior_var
            mean = (est / var + prior_mean / prior_var) / precision
            post_var = 1 / precision
    sd = np.sqrt(post_var)
    z = sps.norm.ppf(1 - alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = sps.norm.sf(0, loc=mean, scale=sd)
    chance = np.where(np.isnan(mean), 0.5, chance)
    return mean, mean - z * sd, mean + z * sd, chance


def bayesian_lift(
    control: object,
    treatment: object,
    relative: bool = True,
    alpha: float = 0.05,
    prior_mean: float = 0.0,
    prior_sd: float | None = DEFAULT_PRIOR_SD,
) -> BayesResult:
    """Posterior of the lift of ``treatment`` over ``control`` (each ``(n, sum, sum_squares)``).

    ``prior_mean``/``prior_sd`` describe the prior on the relative lift; ``prior_sd=None``
    is the improper flat prior. The credible interval is the central ``1 - alpha``.
    """
    a, b = _as_moments(control), _as_moments(treatment)
    est, se, *_ = lift_arrays(a.mean, a.variance, a.n, b.mean, b.variance, b.n, relative=relative, alpha=alpha)
    scale = 1.0 if relative else abs(a.mean)
    sd = None if prior_sd is None else prior_sd * scale
    mean, lo, hi, chance = posterior_arrays(est, se, alpha=alpha, prior_mean=prior_mean * scale, prior_sd=sd)
    return BayesResult(float(mean), float(lo), float(hi), float(chance))
