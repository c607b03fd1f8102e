"""Conversion studies: one row per user at their own cutoff, a chronological split by period.

``study_conversion`` trains a gradient-boosted, calibrated :class:`PropensityClassifier` on the
rows of the earlier periods (e.g. users who signed up in months 1-6) and judges it on the
validation period (month 7): ROC AUC and the other figures of
:func:`segmentation.metrics.classification_metrics`, and the global drivers (mean |contribution|
to the log-odds per feature over the validation rows, the average of each user's reason codes).

Inside the training rows the folds are time-ordered by cutoff with a gap of one label window,
so the model search never validates on a window its training labels reach into. Columns equal
to an earlier column on the training rows (a 90-day count of users watched for 28 days is their
30-day count) carry nothing new and would split one driver's credit in two: they are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segmentation.metrics import classification_metrics
from segmentation.propensity import PropensityClassifier

_TIME = "_cutoff"


@dataclass
class ConversionStudy:
    """``validation``: customer_id index, probability, label; ``metrics``: figures on it;
    ``drivers``: mean |contribution| per feature over the validation rows, largest first;
    ``dropped``: columns left out as repeats of an earlier column."""

    model: PropensityClassifier
    validation: pd.DataFrame
    metrics: dict[str, float]
    drivers: pd.Series
    dropped: list[str]


def repeated_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose values (missing ones included) equal those of an earlier column."""
    kept: list[np.ndarray] = []
    repeated = []
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=float, na_value=np.nan)
        if any(np.array_equal(values, other, equal_nan=True) for other in kept):
            repeated.append(str(name))
        else:
            kept.append(values)
    return repeated


def study_conversion(features: pd.DataFrame, labels: pd.Series, cutoffs: pd.Series, periods: pd.Series,
                     validate_period: int, horizon_days: int, random_state: int = 0,
                     models: tuple[str, ...] = ("gbm",)) -> ConversionStudy:
    """Train on rows with period < ``validate_period``, judge on period == ``validate_period``.

    ``features``: numeric columns indexed by customer_id; ``labels`` (0/1), ``cutoffs`` (UTC,
    each row's cutoff) and ``periods`` (int) are aligned on that index."""
    labels, cutoffs, periods = (s.reindex(features.index) for s in (labels, cutoffs, periods))
    if labels.isna().any() or cutoffs.isna().any() or periods.isna().any():
        raise ValueError("labels, cutoffs and periods must cover every row of features")
    train = (periods < validate_period).to_numpy()
    valid = (periods == validate_period).to_numpy()
    if not train.any() or not valid.any():
        raise ValueError(f"need rows before and in period {validate_period} (got {int(train.sum())} and {int(valid.sum())})")
    dropped = repeated_columns(features[train])
    columns = [c for c in features.columns if c not in dropped]
    model = PropensityClassifier(models=models, time_column=_TIME, time_gap=pd.Timedelta(days=horizon_days),
                                 cv=3, random_state=random_state)
    model.fit(features.loc[train, columns].assign(**{_TIME: cutoffs[train].to_numpy()}),
              labels[train].astype(int).to_numpy())
    held = features.loc[valid, columns]
    probability = model.predict_proba(held)[:, 1]
    y = labels[valid].astype(int).to_numpy()
    shares = model.contributions(held)
    drivers = shares.abs().mean().sort_values(ascending=False, kind="stable").rename("mean_abs_contribution")
    validation = pd.DataFrame({"probability": probability, "label": y}, index=held.index)
    return ConversionStudy(model, validation, classification_metrics(y, probability), drivers, dropped)
