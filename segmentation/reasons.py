"""Reason codes: the features that raise a customer's score most, as text for a CRM field.

Input is one contribution per source feature and customer (log-odds, from
:mod:`segmentation.contributions`); output is e.g. "recency 94 days; frequency 1; total spend
35.20". Only drivers that push the score up are listed, strongest first, so a low-score
customer may get fewer than ``top`` reasons (or an empty string).
"""

from __future__ import annotations

import re
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


# Usage features (segmentation.events): a marketer reads "logins down 60 % over the last 14 days".
_EVENT_FEATURE = re.compile(r"^(?:(?P<type>[a-z0-9_]+?)_(?P<what>count|trend)_(?P<days>\d+)d|days_since_(?P<since>[a-z0-9_]+)"
                            r"|(?P<adopted>features_adopted))$")
_EVENT_NOUNS = {"login": ("login", "logins"), "feature_used": ("feature use", "feature uses"),
                "ticket": ("support ticket", "support tickets")}
#: A trend smaller than this share of the level reads "steady".
_STEADY = 0.05


def _nouns(event_type: str) -> tuple[str, str]:
    word = event_type.replace("_", " ")
    return _EVENT_NOUNS.get(event_type, (f"{word} event", f"{word} events"))


def _describe_event(match: re.Match[str], values: np.ndarray) -> np.ndarray:
    """Words for one usage feature: "3 logins in the last 7 days", "logins down 60 % over the
    last 14 days", "no login for 21 days", "used 5 features"."""
    numbers = np.asarray(values, dtype=float)
    gap = ~np.isfinite(numbers)
    whole = np.where(gap, 0, np.round(numbers)).astype(np.int64)
    if match["adopted"]:
        text = np.strings.add(np.strings.add("used ", whole.astype(str)), np.where(whole == 1, " feature", " features"))
        return np.where(gap, "features used unknown", text).astype(object)
    if match["since"]:
        one, _ = _nouns(match["since"])
        text = np.strings.add(np.strings.add(f"no {one} for ", whole.astype(str)), np.where(whole == 1, " day", " days"))
        text = np.where(whole == 0, f"{one} today", text)
        return np.where(gap, f"no {one} yet", text).astype(object)
    one, many = _nouns(match["type"])
    days = int(match["days"])
    if match["what"] == "count":
        noun = np.where(whole == 1, f" {one}", f" {many}")
        return np.strings.add(np.strings.add(whole.astype(str), noun), f" in the last {days} days").astype(object)
    # The feature is the fitted change over the window relative to its mean level (r); relative
    # to the fitted start level (what "down 60 %" means) that is r / (1 - r / 2).
    r = np.where(gap, 0.0, numbers)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(r < 1.9, r / (1 - r / 2), np.inf)
    points = np.round(np.minimum(np.abs(change), 1e6) * 100).astype(np.int64)
    percent = np.where(change < 0, np.minimum(points, 100), points).astype(str)
    moved = np.strings.add(np.strings.add(np.where(change < 0, f"{many} down ", f"{many} up "), percent),
                           f" % over the last {days} days")
    moved = np.where(np.isinf(change), f"{many} picking up from almost none over the last {days} days", moved)
    return np.where(gap | (np.abs(change) < _STEADY), f"{many} steady over the last {days} days", moved).astype(object)


def describe(name: str, values: np.ndarray) -> np.ndarray:
    """Text for one feature's values, e.g. describe("recency_days", [94.2]) -> ["recency 94 days"]."""
    values = np.asarray(values)
    event = _EVENT_FEATURE.match(name) if name not in _WORDING else None
    if event is not None and values.dtype.kind in "fiub":
        return _describe_event(event, values)
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
