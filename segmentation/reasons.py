"""Reason codes: the features that raise a customer's score most, as text for a CRM field.

Input is one contribution per source feature and customer (log-odds, from
:mod:`segmentation.contributions`); output is e.g. "recency 94 days; frequency 1; total spend
35.20". Only drivers that push the score up are listed, strongest first, so a low-score
customer may get fewer than ``top`` reasons (or an empty string).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Wording and unit for the behaviour columns of segmentation.features.build_features.
_WORDING = {
    "recency_days": ("recency", "{:.0f} days"),
    "frequency": ("frequency", "{:.0f}"),
    "monetary_total": ("total spend", "{:.2f}"),
    "monetary_mean": ("average order", "{:.2f}"),
    "tenure_days": ("tenure", "{:.0f} days"),
    "ipt_mean_days": ("days between purchases", "{:.0f}"),
}
# What a missing value means for those columns (features.py leaves ipt NaN below two purchases).
_MISSING = {"ipt_mean_days": "days between purchases none (single purchase)"}


def describe(name: str, values: np.ndarray) -> list[str]:
    """Text for one feature's values, e.g. describe("recency_days", [94.2]) -> ["recency 94 days"]."""
    label, pattern = _WORDING.get(name, (name.replace("_", " "), None))
    out = []
    for value in values:
        if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
            if name in _MISSING:
                out.append(_MISSING[name])
                continue
            text = "unknown"
        elif pattern is not None:
            text = pattern.format(float(value))
        elif isinstance(value, (float, np.floating)):
            text = f"{float(value):.4g}"
        else:
            text = str(value)
        out.append(f"{label} {text}")
    return out


def reason_codes(contributions: np.ndarray, features: pd.DataFrame, top: int = 3, separator: str = "; ") -> np.ndarray:
    """One string per row of ``features`` (columns = the contribution columns, in order)."""
    contributions = np.asarray(contributions, dtype=float)
    if contributions.shape != features.shape:
        raise ValueError(f"contributions {contributions.shape} do not match features {features.shape}")
    n = len(features)
    if top <= 0 or n == 0:
        return np.full(n, "", dtype=object)
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(contributions, order, axis=1) > 0
    parts = np.full((n, order.shape[1]), "", dtype=object)
    for j, name in enumerate(features.columns):
        rows, ranks = np.nonzero((order == j) & picked)
        if len(rows):
            parts[rows, ranks] = describe(str(name), features[name].to_numpy()[rows])
    text = parts[:, 0].copy()
    for rank in range(1, order.shape[1]):
        more = parts[:, rank] != ""
        text[more] = text[more] + separator + parts[more, rank]
    return text
