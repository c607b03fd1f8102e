"""Multiple-testing correction across every segment x arm x metric of an experiment.

The family is the whole experiment, as GrowthBook pools every dimension row x variation x
metric (``packages/shared/src/experiments/experiments.ts``, ``adjustPValuesHolmBonferroni``
and ``adjustPValuesBenjaminiHochberg``). Holm controls the family-wise error rate; BH the
false discovery rate, the better fit when many segments are read for "where does it work".
NaN p-values (untestable cells) are left out of the family and stay NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["Correction", "adjust_p_values"]

Correction = Literal["holm", "bh", "none"]


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, m / np.arange(1, m + 1) * p[order])
    out = np.empty(m)
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return out


def adjust_p_values(p_values: np.ndarray, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values (same order as given): ``"holm"``, ``"bh"`` or ``"none"``."""
    p = np.asarray(p_values, dtype=float)
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"correction must be 'holm', 'bh' or 'none' (got {method!r})")
    out = p.copy()
    finite = ~np.isnan(p)
    if method != "none" and finite.any():
        out[finite] = (_holm if method == "holm" else _bh)(p[finite])
    return out
