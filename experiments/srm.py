"""Sample ratio mismatch: are the arms the sizes the weights promise?

Pearson chi-square of observed arm counts against ``total * weight`` with ``k - 1``
degrees of freedom over the arms with a positive weight. gbstats 0.8.0 ``utils.check_srm``
differs when an arm has weight 0: it leaves that arm out of the statistic but counts its
units in the total (so every expected count is too high) and the arm in ``k - 1``. Here a
zero-weight arm is left out entirely: its members are sticky assignments from before its
weight was set to 0, and say nothing about whether the live arms are the sizes their
weights promise. GrowthBook
and Eppo both warn at p < 0.001 (``docs/app/experiment-results.mdx``): a mismatch means
assignment or data collection is broken, so the lifts of that segment are not to be
trusted. Changing arm weights mid-experiment also trips it, rightly: the arms then mix
periods in different proportions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

__all__ = ["SRM_THRESHOLD", "srm_p_value"]

SRM_THRESHOLD = 0.001


def srm_p_value(counts: Sequence[float], weights: Sequence[float]) -> float:
    """P-value of the chi-square test of ``counts`` against ``weights`` (normalised).

    Returns 1.0 when there is nothing to test (no units, or fewer than two weighted arms).
    """
    observed = np.asarray(counts, dtype=float)
    w = np.asarray(weights, dtype=float)
    if observed.shape != w.shape:
        raise ValueError(f"counts and weights differ in length ({len(observed)} vs {len(w)})")
    live = w > 0
    total = observed[live].sum()
    if total <= 0 or live.sum() < 2:
        return 1.0
    expected = total * w[live] / w[live].sum()
    statistic = float((((observed[live] - expected) ** 2) / expected).sum())
    return float(sps.chi2.sf(statistic, live.sum() - 1))
