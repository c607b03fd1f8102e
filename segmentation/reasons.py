"""Reason codes: the features that raise a customer's score most, as text for a CRM field.

Input is one contribution per source feature and customer (log-odds, from
:mod:`segmentation.contributions`); output is e.g. "recency 94 days; frequency 1; total spend
35.20". Only drivers that push the score up are listed, strongest first, so a low-score
customer may get fewer than ``top`` reasons (or an empty string).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# Wording, decimals and unit for the behaviour columns of segmentation.features.build_features.
_WORDING = {
    "recency_days": ("recency", 0, " days"),
    "frequency": ("frequency", 0, ""),
    "monetary_total": ("total spend", 2, ""),
    "monetary_mean": ("average order", 2, ""),
    "tenure_days": ("tenure", 0, " days"),
    "ipt_mean_days": ("days between purchases", 0, ""),
}
# What a missing value means for those columns (features.py leaves ipt NaN below two purchases).
_MISSING = {"ipt_mean_days": "days between purchases none (single purchase)"}


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Fixed-point text of finite floats with numpy string ufuncs (a million rows in C, not Python)."""
    if not len(values):  # numpy's zfill fails on an empty array (every value of the column missing)
        return np.asarray([], dtype=str)
    scale = 10**decimals
    units = np.round(np.abs(values) * scale).astype(np.int64)
    text = (units // scale).astype(str)
    if decimals:
        text = np.strings.add(np.strings.add(text, "."), np.strings.zfill((units % scale).astype(str), decimals))
    return np.where((values < 0) & (units > 0), np.strings.add("-", text), text)


def describe(name: str, values: np.ndarray) -> np.ndarray:
    """Text for one feature's values, e.g. describe("recency_days", [94.2]) -> ["recency 94 days"]."""
    values = np.asarray(values)
    label, decimals, unit = _WORDING.get(name, (name.replace("_", " "), None, ""))
    out = np.empty(len(values), dtype=object)
    if values.dtype.kind in "fiub":
        numbers = values.astype(float)
        gap = ~np.isfinite(numbers)
        out[gap] = _MISSING.get(name, f"{label} unknown")
        if decimals is not None:
            out[~gap] = np.strings.add(np.strings.add(f"{label} ", _fixed(numbers[~gap], decimals)), unit)
        else:
            out[~gap] = [f"{label} {v:.4g}" for v in numbers[~gap]]
        return out
    for i, value in enumerate(values):
        missing = value is None or (isinstance(value, float) and not np.isfinite(value))
        out[i] = f"{label} unknown" if missing else f"{label} {value}"
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


def reason_text(contributions: np.ndarray, values: Sequence[Any], names: Sequence[str], top: int = 3,
                separator: str = "; ") -> str:
    """`reason_codes` of one row: ``contributions`` and ``values`` in the order of ``names``."""
    contributions = np.asarray(contributions, dtype=float)
    if top <= 0:
        return ""
    order = np.argsort(-contributions, kind="stable")[:top]
    parts = [describe(str(names[j]), _one(values[j]))[0] for j in order.tolist() if contributions[j] > 0]
    return separator.join(parts)


def _one(value: Any) -> np.ndarray:
    """A one-element array of the dtype a DataFrame column of this value would have (a
    missing value reads as a numeric gap: the same words either way, and the special ones
    of `_MISSING` for the behaviour columns)."""
    if value is None or isinstance(value, bool | int | float | np.number):
        return np.asarray([np.nan if value is None else value], dtype=float)
    return np.asarray([value], dtype=object)


def top_reasons(contributions: np.ndarray, features: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The ``top`` largest contributions of each row, strongest first, as a frame indexed like
    ``features``: ``reason_i`` (text of the feature's value), ``feature_i`` (column name) and
    ``contribution_i`` (log-odds; negative when even the i-th strongest lowers the score)."""
    contributions = np.asarray(contributions, dtype=float)
    if contributions.shape != features.shape:
        raise ValueError(f"contributions {contributions.shape} do not match features {features.shape}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    names = np.asarray([str(c) for c in features.columns], dtype=object)
    out: dict[str, np.ndarray] = {}
    for rank in range(order.shape[1]):
        picked = order[:, rank]
        text = np.empty(len(features), dtype=object)
        for j, name in enumerate(names):
            rows = np.flatnonzero(picked == j)
            if len(rows):
                text[rows] = describe(name, features.iloc[:, j].to_numpy()[rows])
        out[f"reason_{rank + 1}"] = text
        out[f"feature_{rank + 1}"] = names[picked]
        out[f"contribution_{rank + 1}"] = contributions[np.arange(len(features)), picked]
    return pd.DataFrame(out, index=features.index)
