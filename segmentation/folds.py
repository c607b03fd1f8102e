"""Cross-validation folds for choosing a score model: time-ordered when rows have a time,
stratified otherwise. Each fold is (training rows, validation rows) as index arrays.

Time-ordered folds cut the rows, sorted by time, into ``k + 1`` blocks of about equal size
without ever splitting rows that share a time (stacked cutoffs stay whole); fold i validates
block i + 1 and trains only on rows at least ``gap`` older than that block's first time (so a
label window that reaches into the validation period is never trained on). Folds left with no
training rows or a single class in either part are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

Fold = tuple[np.ndarray, np.ndarray]


def stratified_folds(y: np.ndarray, k: int, random_state: int) -> list[Fold]:
    """Shuffled stratified k-fold; ``k`` shrinks to the size of the smaller class."""
    y = np.asarray(y, dtype=int)
    smaller = int(min(np.sum(y == 1), np.sum(y == 0)))
    if smaller < 2:
        raise ValueError(f"cross-validation needs at least 2 rows of each class; the smaller class has {smaller}")
    splitter = StratifiedKFold(n_splits=min(k, smaller), shuffle=True, random_state=random_state)
    return [(train, valid) for train, valid in splitter.split(np.zeros(len(y)), y)]


def time_values(times: pd.Series | np.ndarray, gap: object = None) -> tuple[np.ndarray, float]:
    """(times as float, gap in the same unit): datetimes become seconds since 1970, the gap a Timedelta."""
    series = pd.Series(times)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = pd.to_datetime(series, utc=True)
        if stamps.isna().any():
            raise ValueError("the time column has missing values")
        second = pd.Timedelta(seconds=1)
        values = ((stamps - pd.Timestamp(0, tz="UTC")) / second).to_numpy(dtype=float)
        return values, pd.Timedelta(gap) / second if gap is not None else 0.0  # type: ignore[arg-type]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("the time column must be datetimes or finite numbers")
    return values, float(gap) if gap is not None else 0.0  # type: ignore[arg-type]


def time_folds(times: np.ndarray, y: np.ndarray, k: int, gap: float = 0.0) -> list[Fold]:
    """Expanding-window folds over ``times`` (floats, see ``time_values``), oldest first."""
    times, y = np.asarray(times, dtype=float), np.asarray(y, dtype=int)
    ordered = np.sort(times)
    edges = np.unique(ordered[(np.arange(1, k + 1) * len(times)) // (k + 1)])
    folds = []
    for start, end in zip(edges, [*edges[1:], np.inf], strict=True):
        valid = np.flatnonzero((times >= start) & (times < end))
        train = np.flatnonzero(times <= start - gap) if gap > 0 else np.flatnonzero(times < start)
        if len(np.unique(y[train])) == 2 and len(np.unique(y[valid])) == 2:
            folds.append((train, valid))
    if not folds:
        raise ValueError("no time-ordered fold has both classes in its training and validation rows; "
                         "add history, widen the horizon or add cutoffs")
    return folds
