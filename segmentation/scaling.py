"""Turn a feature frame into the standardised matrix clustering works on.

Skewed non-negative values (money, counts, days) get log1p, then every numeric column is
clipped to its fitted [1 %, 99 %] quantiles, missing values take the fitted median, and the
result is standardised. Categorical attributes become one-hot columns for their most common
categories (the rest share an "other" column). Everything learned in `fit` is stored, so the
same customer always maps to the same point until the next retrain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

_SKEW_LIMIT = 1.0
_MAX_CATEGORIES = 10


class FeatureScaler:
    """Log, clip, impute, one-hot and standardise; scikit-learn style (fit returns self).

    Parameters: columns (the feature names to use), clip (lower and upper quantile).
    Learned: log_ (columns that get log1p), low_, high_, median_ (per numeric column, after
    the log), categories_ (per categorical column), mean_, scale_, columns_out_.
    """

    def __init__(self, columns: Sequence[str], clip: tuple[float, float] = (0.01, 0.99)) -> None:
        self.columns = columns
        self.clip = clip

    def fit(self, frame: pd.DataFrame) -> FeatureScaler:
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            raise ValueError(f"feature column(s) {absent} are missing from the features table")
        self.numeric_ = [c for c in self.columns if _is_numeric(frame[c])]
        self.categories_ = {
            c: _top_categories(frame[c]) for c in self.columns if c not in self.numeric_
        }
        self.log_ = [c for c in self.numeric_ if _is_skewed(frame[c])]
        raw = self._numeric(frame)
        # One quantile call per column (np.nanquantile over a 2-D array is several times slower).
        qs = np.zeros((3, raw.shape[1]))
        for j in range(raw.shape[1]):
            col = raw[:, j]
            col = col[~np.isnan(col)]
            if len(col):
                qs[:, j] = np.quantile(col, [self.clip[0], 0.5, self.clip[1]])
        self.low_, self.median_, self.high_ = qs
        dense = self._dense(frame, raw)
        self.mean_ = dense.mean(axis=0)
        scale = dense.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.columns_out_ = self.numeric_ + [
            f"{c}={v}" for c, values in self.categories_.items() for v in [*values, "other"]
        ]
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Matrix (n_rows, len(columns_out_)), float64, standardised on the fitted data."""
        if not hasattr(self, "mean_"):
            raise ValueError("FeatureScaler is not fitted; call fit first")
        dense = self._dense(frame, self._numeric(frame))
        dense -= self.mean_
        dense /= self.scale_
        return dense

    def transform_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """`transform` of one row given as {column: value}, without a DataFrame (the real-time
        API's one-customer path); the same numbers as the row of `transform`'s matrix."""
        if not hasattr(self, "mean_"):
            raise ValueError("FeatureScaler is not fitted; call fit first")
        raw = np.array([_number(values.get(c)) for c in self.numeric_], dtype="float64")
        for j, c in enumerate(self.numeric_):
            if c in self.log_:
                raw[j] = _signed_log1p(raw[j : j + 1])[0]
        raw = np.where(np.isnan(raw), self.median_, raw)
        np.clip(raw, self.low_, self.high_, out=raw)
        parts = [raw]
        for c, levels in self.categories_.items():
            value = values.get(c)
            text = None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
            onehot = np.zeros(len(levels) + 1)
            onehot[levels.index(text) if text in levels else -1] = 1.0
            parts.append(onehot)
        dense = np.concatenate(parts) if len(parts) > 1 else raw
        dense -= self.mean_
        dense /= self.scale_
        return dense

    def translate(self, points: np.ndarray, source: FeatureScaler) -> np.ndarray | None:
        """Points standardised by `source` (e.g. last model's centres), re-expressed in this
        scaler's space; None when the two disagree on columns or log transforms."""
        if source.columns_out_ != self.columns_out_ or source.log_ != self.log_:
            return None
        return (np.asarray(points) * source.scale_ + source.mean_ - self.mean_) / self.scale_

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit(frame).transform(frame)

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.numeric_)), dtype="float64")
        for j, c in enumerate(self.numeric_):
            col = pd.to_numeric(frame[c], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            out[:, j] = _signed_log1p(col) if c in self.log_ else col
        return out

    def _dense(self, frame: pd.DataFrame, raw: np.ndarray) -> np.ndarray:
        raw = np.where(np.isnan(raw), self.median_, raw)
        np.clip(raw, self.low_, self.high_, out=raw)
        blocks = [raw]
        for c, values in self.categories_.items():
            present = frame[c].notna().to_numpy()
            col = frame[c].astype(str).to_numpy()
            onehot = np.zeros((len(frame), len(values) + 1))
            known = np.zeros(len(frame), dtype=bool)
            for j, v in enumerate(values):
                hit = present & (col == v)
                onehot[hit, j] = 1.0
                known |= hit
            onehot[~known, -1] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if len(blocks) > 1 else raw


def _number(value: Any) -> float:
    """pd.to_numeric(errors="coerce") of one value: NaN for None and text that is not a number."""
    if value is None or isinstance(value, bool):
        return float("nan") if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values)


def _is_skewed(values: pd.Series) -> bool:
    col = pd.to_numeric(values, errors="coerce").dropna()
    if len(col) < 3 or col.std() == 0:
        return False
    return bool(col.skew() > _SKEW_LIMIT)


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _top_categories(values: pd.Series) -> list[str]:
    counts = values.dropna().astype(str).value_counts()
    # Sort by count then by value so the columns do not depend on row order.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [v for v, _ in ordered[:_MAX_CATEGORIES]]
