"""Turn a feature frame into the numeric matrix the score models are fit on.

Numbers are imputed (median, plus a missing flag when the training data had gaps),
non-negative ones are log1p-compressed (RFM values are heavily right-skewed) and
standardised. For the linear model each non-negative number also keeps a standardised raw
copy (``<name>__raw``), so a logistic regression can fit either shape; ``tree_columns_``
leaves those copies out, since a tree is indifferent to monotone transforms. Datetimes
become days since 1970-01-01.

Text and categorical columns are one-hot encoded, losing nothing silently: a level seen in
fewer than ``min_frequency`` training rows (default 10), any level past the
``max_categories`` most common, and any level first seen at predict time all land in
``<name>=other``; a missing value is its own level "(missing)". ``groups_`` maps every
encoded column back to its source feature so contributions can be summed per feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

OTHER = "other"
MISSING = "(missing)"


class FeatureEncoder:
    """Fit on a feature frame (one row per customer); ``transform`` returns a float matrix.

    Learned: ``columns_`` (source features, in order), ``feature_names_out_`` (encoded names),
    ``groups_`` (source feature index of each encoded column), ``tree_columns_`` (mask of the
    encoded columns a tree model needs), ``numeric_``, ``categories_`` (kept levels per
    categorical column; everything else is "other"), ``grouped_`` (how many training levels
    went to "other", per categorical column).
    """

    def __init__(self, max_categories: int = 50, min_frequency: int = 10) -> None:
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        if frame.shape[1] == 0 or len(frame) == 0:
            raise ValueError("feature frame is empty")
        self.columns_ = [str(c) for c in frame.columns]
        self.numeric_: dict[str, dict[str, float | bool]] = {}
        self.categories_: dict[str, list[str]] = {}
        self.grouped_: dict[str, int] = {}
        names: list[str] = []
        groups: list[int] = []
        for index, (column, values) in enumerate(zip(self.columns_, _columns(frame), strict=True)):
            if _is_numeric(values):
                stats = self.numeric_[column] = _numeric_stats(_as_float(values))
                encoded = [column] + ([f"{column}__raw"] if stats["log"] else [])
                encoded += [f"{column}__missing"] if stats["flag"] else []
            else:
                counts = _as_text(values).value_counts()
                frequent = counts[counts >= self.min_frequency].index[: self.max_categories]
                self.categories_[column] = [str(c) for c in frequent]
                self.grouped_[column] = int(len(counts) - len(frequent))
                encoded = [f"{column}={level}" for level in [*self.categories_[column], OTHER]]
            names.extend(encoded)
            groups.extend([index] * len(encoded))
        self.feature_names_out_ = names
        self.groups_ = np.asarray(groups, dtype=np.int64)
        self.tree_columns_ = np.array([not n.endswith("__raw") for n in names])
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "columns_"):
            raise RuntimeError("FeatureEncoder is not fitted yet; call fit() first")
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise ValueError(f"feature frame lacks column(s) {missing} the model was trained on")
        blocks = []
        for column in self.columns_:
            values = frame[column]
            if column in self.numeric_:
                blocks.extend(_numeric_block(_as_float(values), self.numeric_[column]))
            else:
                levels = np.asarray([*self.categories_[column], OTHER], dtype=object)
                text = _as_text(values).to_numpy(dtype=object)
                text = np.where(np.isin(text, levels[:-1]), text, OTHER)
                blocks.append((text[:, None] == levels[None, :]).astype(float))
        return np.hstack(blocks)

    def transform_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """`transform` of one row given as {column: value}: the same numbers, no DataFrame."""
        if not hasattr(self, "columns_"):
            raise RuntimeError("FeatureEncoder is not fitted yet; call fit() first")
        missing = [c for c in self.columns_ if c not in values]
        if missing:
            raise ValueError(f"feature row lacks column(s) {missing} the model was trained on")
        out: list[float] = []
        for column in self.columns_:
            value = values[column]
            if column in self.numeric_:
                out.extend(_numeric_cells(_float(value), self.numeric_[column]))
            else:
                levels = self.categories_[column]
                text = MISSING if _absent(value) else str(value)
                hit = levels.index(text) if text in levels else len(levels)
                out.extend(1.0 if j == hit else 0.0 for j in range(len(levels) + 1))
        return np.asarray(out, dtype=float)


def _absent(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _float(value: Any) -> float:
    """`_as_float` of one value (numbers, booleans, timestamps; anything else is NaN)."""
    if _absent(value):
        return float("nan")
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
        return float((stamp - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1))
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _numeric_cells(raw: float, stats: dict[str, float | bool]) -> list[float]:
    """`_numeric_block` for one value, with numpy's float64 arithmetic so the numbers match."""
    gap = not np.isfinite(raw)
    filled = np.float64(stats["median"] if gap else raw)
    shaped = np.log1p(np.maximum(filled, 0.0)) if stats["log"] else filled
    out = [float((shaped - stats["mean"]) / stats["scale"])]
    if stats["log"]:
        out.append(float((filled - stats["raw_mean"]) / stats["raw_scale"]))
    if stats["flag"]:
        out.append(1.0 if gap else 0.0)
    return out


def _columns(frame: pd.DataFrame) -> list[pd.Series]:
    return [frame.iloc[:, i] for i in range(frame.shape[1])]


def _numeric_stats(values: pd.Series) -> dict[str, float | bool]:
    raw = values.to_numpy(dtype=float)
    finite = np.isfinite(raw)
    median = float(np.median(raw[finite])) if finite.any() else 0.0
    filled = np.where(finite, raw, median)
    log = bool(finite.any() and raw[finite].min() >= 0)
    shaped = np.log1p(filled) if log else filled
    return {"median": median, "log": log, "flag": bool(not finite.all()),
            "mean": float(shaped.mean()), "scale": _scale(shaped),
            "raw_mean": float(filled.mean()), "raw_scale": _scale(filled)}


def _scale(values: np.ndarray) -> float:
    scale = float(values.std())
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def _numeric_block(values: pd.Series, stats: dict[str, float | bool]) -> list[np.ndarray]:
    raw = values.to_numpy(dtype=float)
    gap = ~np.isfinite(raw)
    filled = np.where(gap, stats["median"], raw)
    shaped = np.log1p(np.maximum(filled, 0.0)) if stats["log"] else filled
    out = [((shaped - stats["mean"]) / stats["scale"])[:, None]]
    if stats["log"]:
        out.append(((filled - stats["raw_mean"]) / stats["raw_scale"])[:, None])
    if stats["flag"]:
        out.append(gap.astype(float)[:, None])
    return out


def _as_float(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values.dt.tz_convert("UTC").dt.tz_localize(None) if values.dt.tz is not None else values
        days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        return days.astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _as_text(values: pd.Series) -> pd.Series:
    return values.astype(str).where(values.notna(), MISSING)


def _is_numeric(values: pd.Series) -> bool:
    kind = values.dtype
    return bool(pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)
                or pd.api.types.is_datetime64_any_dtype(kind))
