"""Champion and challenger: judge two fitted score models on the same out-of-time window.

The window is the latest fully observed one at ``as_of``: features at ``as_of - horizon`` and
labels from ``(as_of - horizon, as_of]``, the validation cutoff of ``segmentation.scoring``.
Both models are scored on exactly those rows, so their figures compare like for like. A
champion retrained more often than its horizon may have seen part of that window; that
favours the champion, so a challenger that wins anyway has really won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from segmentation.event_features import with_event_features
from segmentation.features import build_features
from segmentation.metrics import classification_metrics
from segmentation.targets import attribute_history, training_set, utc

#: Promotion metrics and whether higher is better.
METRICS = {"roc_auc": True, "pr_auc": True, "top_decile_lift": True, "brier": False, "log_loss": False}


class ProbabilityModel(Protocol):
    def predict_proba(self, features: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Decision:
    """``promote``: the challenger becomes champion; ``reason``: one line a person reads."""

    promote: bool
    reason: str


def out_of_time_metrics(models: dict[str, Any], customers: pd.DataFrame | None, transactions: pd.DataFrame,
                        params: Any, as_of: pd.Timestamp | str, usage: tuple[Any, Any] | None = None
                        ) -> dict[str, dict[str, float]]:
    """classification_metrics of each model on the latest fully observed window at ``as_of``.
    ``params`` is a segmentation.scoring.ScoreParams (kind, horizon_days, value, field, attributes);
    ``usage`` (EventLog, EventFeatureSpec) adds the usage features, as in training."""
    as_of = utc(as_of)
    cutoff = as_of - pd.Timedelta(days=params.horizon_days)
    history = attribute_history(customers, str(params.field)) if params.kind == "conversion" else None

    def base(c: pd.DataFrame | None, tx: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
        return build_features(c, tx, at, attributes=tuple(params.attributes))

    features = base if usage is None else with_event_features(base, *usage)

    frame, y, _ = training_set(customers, transactions, params.kind, params.horizon_days, [cutoff], features,
                               history, params.value)
    return {name: classification_metrics(y, _probability(model, frame)) for name, model in models.items()}


def _probability(model: Any, frame: pd.DataFrame) -> np.ndarray:
    p = np.asarray(model.predict_proba(frame), dtype=float)
    return p[:, 1] if p.ndim == 2 else p


def decide(metric: str, margin: float, challenger: float | None, champion: float | None) -> Decision:
    """Promote when the challenger beats the champion on ``metric`` by at least ``margin``."""
    if metric not in METRICS:
        raise ValueError(f"unknown promotion metric {metric!r}; one of {', '.join(METRICS)}")
    if champion is None or not np.isfinite(champion):
        return Decision(True, f"the champion has no out-of-time {metric} to defend: the challenger becomes champion")
    if challenger is None or not np.isfinite(challenger):
        return Decision(False, f"the challenger has no out-of-time {metric}: the champion stays")
    higher = METRICS[metric]
    gain = (challenger - champion) if higher else (champion - challenger)
    verb = "beats" if gain >= margin else "does not beat"
    text = (f"challenger {metric} {challenger:.4f} {verb} champion {champion:.4f} by the margin {margin:g} "
            f"({'+' if gain >= 0 else ''}{gain:.4f})")
    return Decision(gain >= margin, text)
