"""Propensity, churn and conversion scores: train out of time, calibrate, explain, score.

``train_and_score`` runs one target end to end:

1. cutoffs one horizon apart, the last at ``as_of - horizon`` (see :mod:`segmentation.targets`);
2. features at each cutoff (``feature_fn``, default ``segmentation.features.build_features``)
   and labels from the window after it, stacked with each row's cutoff;
3. a :class:`segmentation.propensity.PropensityClassifier` with the cutoff as its time
   column: every candidate (logistic over C, gbm over capacity with early stopping, each
   optionally with SMOTE) is judged on time-ordered folds (each later cutoff validates a model
   fitted on cutoffs at least a horizon older, so no training label window reaches into it),
   the calibration too; the winner is refit on every cutoff;
4. every eligible customer at ``as_of`` is scored, with reason codes when asked.

Attributes taken from the customers table are today's values at every cutoff (there is no
attribute history), so a fast-changing attribute can leak the label; behaviour features are
point in time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmentation.event_features import with_event_features
from segmentation.events import EventFeatureSpec, EventLog
from segmentation.features import build_features
from segmentation.metrics import calibration_curve, classification_metrics
from segmentation.propensity import PropensityClassifier
from segmentation.reasons import reason_codes, reason_text
from segmentation.targets import (
    FeatureFn,
    PurchaseIndex,
    attribute_history,
    cutoff_dates,
    eligible_and_labels,
    training_set,
    utc,
)


@dataclass(frozen=True)
class ScoreParams:
    """One score target. ``kind``: propensity | churn | conversion (needs ``field``, ``value``).
    ``models``: candidates among "logistic", "gbm"; ``smote`` adds a SMOTE variant of each.
    ``spacing_days``: gap between training cutoffs (default: the horizon).
    ``class_weight``: None or "balanced" (the calibrator undoes its prior shift).
    ``calibration``: "auto" (chosen by cross-validation), "sigmoid" (Platt) or "isotonic".
    ``max_train_rows``: the final refit uses at most this many stacked rows (seeded
    subsample); the model search at most 50,000 (see PropensityClassifier).
    ``attributes``: customer columns the default feature function adds."""

    name: str
    kind: str
    horizon_days: int = 30
    field: str | None = None
    value: str | None = None
    cutoffs: int = 4
    reason_codes: int = 3
    models: tuple[str, ...] = ("logistic", "gbm")
    smote: bool = False
    random_state: int = 0
    attributes: tuple[str, ...] = ()
    class_weight: str | None = None
    calibration: str = "auto"
    max_train_rows: int = 250_000
    spacing_days: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "conversion" and (self.field is None or self.value is None):
            raise ValueError(f"score {self.name!r}: kind conversion needs field and value")
        if not self.models:
            raise ValueError(f"score {self.name!r}: models must name at least one candidate")

    @classmethod
    def from_config(cls, target: Any, scoring: Any, attributes: tuple[str, ...] = ()) -> ScoreParams:
        """From connector.config ScoreTarget and ScoringConfig (duck-typed: the core never imports connector)."""
        return cls(name=target.name, kind=target.kind, horizon_days=target.horizon_days, field=target.field,
                   value=target.value, cutoffs=scoring.cutoffs, reason_codes=scoring.reason_codes,
                   models=tuple(scoring.models), smote=scoring.smote, random_state=scoring.random_state,
                   attributes=tuple(attributes))

    def estimator(self) -> PropensityClassifier:
        """The estimator that learns this target from stacked cutoffs (time column ``CUTOFF``)."""
        return PropensityClassifier(
            models=self.models, time_column=CUTOFF, time_gap=pd.Timedelta(days=self.horizon_days),
            cv=max(2, self.cutoffs - 1), calibration=self.calibration, class_weight=self.class_weight,
            smote=self.smote, max_fit_rows=self.max_train_rows, random_state=self.random_state)


CUTOFF = "_cutoff"


@dataclass
class ScoreModel:
    """A trained score: a fitted PropensityClassifier (label 1 = the target happened).
    Picklable; ``score`` needs no retraining."""

    name: str
    kind: str
    chosen: str
    as_of: pd.Timestamp
    estimator: PropensityClassifier
    reason_codes: int = 3

    @property
    def version(self) -> str:
        return f"{self.name}-{self.as_of:%Y%m%dT%H%M%S}-{self.chosen}"

    def _inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "estimator"):
            raise ValueError(f"score model {self.name!r} was stored by an older segsync; it must be retrained")
        columns = list(self.estimator.encoder_.columns_)
        missing = [c for c in columns if c not in features.columns]
        if missing:
            raise ValueError(f"feature frame lacks column(s) {missing} the model was trained on")
        return features[columns]

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability for each row of a feature frame (same columns as in training)."""
        inputs = self._inputs(features)  # first: it names a model stored by an older segsync
        return self.estimator.predict_proba(inputs)[:, 1]

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """customer_id (the frame's index), <name> (probability), <name>_reasons (text)."""
        if self.reason_codes <= 0:
            probability = self.estimator.predict_proba(self._inputs(features))[:, 1]
            return self._frame(features, probability, np.full(len(features), "", dtype=object))
        return self.score_and_drivers(features)[0]

    def score_and_drivers(self, features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """``score``'s frame, and the global drivers: mean |contribution| to the log-odds per source
        feature over these customers, largest first (a customer's reason codes, averaged)."""
        inputs = self._inputs(features)
        shares = self.estimator.contributions(inputs).to_numpy()
        # Contributions add up exactly to the margin, which spares a second pass over the trees.
        margin = self.estimator.base_margin() + shares.sum(axis=1)
        probability = self.estimator.probabilities_from_margin(margin)[:, 1]
        if self.reason_codes > 0:
            reasons = reason_codes(shares, inputs, self.reason_codes)
        else:
            reasons = np.full(len(features), "", dtype=object)
        drivers = pd.Series(np.abs(shares).mean(axis=0) if len(features) else 0.0,
                            index=pd.Index(list(inputs.columns), name="feature"), name="mean_abs_contribution")
        return self._frame(features, probability, reasons), drivers.sort_values(ascending=False, kind="stable")

    def score_row(self, values: Mapping[str, Any]) -> tuple[float, str]:
        """(probability, reason codes) of one customer given as {feature: value}: what ``score``
        gives for that row (the same contributions and margin), without a DataFrame."""
        if not hasattr(self, "estimator"):
            raise ValueError(f"score model {self.name!r} was stored by an older segsync; it must be retrained")
        estimator = self.estimator
        shares = estimator.contributions_row(values)
        margin = estimator.base_margin() + shares.sum()
        probability = float(estimator.probabilities_from_margin(np.asarray([margin]))[0, 1])
        columns = estimator.encoder_.columns_
        return probability, reason_text(shares, [values[c] for c in columns], columns, self.reason_codes)

    def _frame(self, features: pd.DataFrame, probability: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"customer_id": features.index.astype(str).to_numpy(), self.name: probability,
                             f"{self.name}_reasons": reasons})


@dataclass
class ScoreResult:
    """``scores``: customer_id, <name>, <name>_reasons; ``metrics``: per candidate (out of
    time, out of fold) plus "chosen", "settings", "calibration" and "version"; ``calibration``:
    model, bin, count, mean_predicted, observed_rate of the out-of-fold probabilities;
    ``drivers``: mean |contribution| to the log-odds per feature over the scored customers,
    largest first."""

    scores: pd.DataFrame
    model: ScoreModel
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    drivers: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def _default_features(attributes: tuple[str, ...]) -> FeatureFn:
    """build_features, with the customer ids made categorical once for all the cutoffs of a
    training set (the per-call factorisation of 10M id strings was most of its cost)."""
    seen: dict[str, pd.DataFrame] = {}

    def features(customers: pd.DataFrame | None, transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        if seen.get("source") is not transactions:
            seen["source"] = transactions
            seen["coded"] = transactions.assign(customer_id=transactions["customer_id"].astype(str).astype("category"))
        return build_features(customers, seen["coded"], cutoff, attributes=attributes)
    return features


def fit_model(params: ScoreParams, frame: pd.DataFrame, y: np.ndarray, cutoffs: np.ndarray,
              as_of: pd.Timestamp | str) -> tuple[ScoreModel, dict[str, dict[str, float]], pd.DataFrame]:
    """Fit ``params.estimator()`` on stacked rows (``cutoffs``: each row's cutoff). Returns
    (model, out-of-fold metrics per candidate, out-of-fold calibration curves)."""
    if len(np.unique(y)) < 2:
        raise ValueError(f"score {params.name!r}: the training cutoffs hold a single class; "
                         "widen the horizon, add cutoffs or add history")
    estimator = params.estimator().fit(frame.assign(**{CUTOFF: pd.DatetimeIndex(cutoffs)}), y)
    search = estimator.search_
    metrics = {name: classification_metrics(search.labels, p) for name, p in search.probabilities.items()}
    curves = pd.concat([calibration_curve(search.labels, p).assign(model=name)
                        for name, p in search.probabilities.items()], ignore_index=True)
    model = ScoreModel(params.name, params.kind, estimator.chosen_, utc(as_of), estimator, params.reason_codes)
    return model, metrics, curves


def train_and_score(
    customers: pd.DataFrame | None, transactions: pd.DataFrame, params: ScoreParams, as_of: pd.Timestamp | str,
    feature_fn: FeatureFn | None = None, history: pd.DataFrame | None = None,
    usage: tuple[EventLog, EventFeatureSpec] | None = None,
) -> ScoreResult:
    """Train ``params`` on data before ``as_of`` and score every eligible customer at ``as_of``.

    ``usage`` (an event log and its spec, see :mod:`segmentation.events`) adds the usage features
    as of every cutoff to what ``feature_fn`` builds.

    ``transactions`` must be clean (``segmentation.features.clean_transactions``). ``history``
    (customer_id, value, changed_at) is the attribute history for conversion targets; without
    it the customers table needs ``<field>`` and ``<field>_changed_at``.
    """
    as_of = utc(as_of)
    feature_fn = feature_fn or _default_features(params.attributes)
    if usage is not None:
        feature_fn = with_event_features(feature_fn, *usage)
    if params.kind == "conversion" and history is None:
        history = attribute_history(customers, str(params.field))
    cutoffs = cutoff_dates(as_of, params.horizon_days, params.cutoffs, params.spacing_days)
    purchases = PurchaseIndex(transactions) if params.kind != "conversion" else None
    frame, y, which = training_set(customers, transactions, params.kind, params.horizon_days, cutoffs,
                                   feature_fn, history, params.value, purchases)
    model, metrics, curves = fit_model(params, frame, y, np.asarray(cutoffs)[which], as_of)
    current = feature_fn(customers, transactions, as_of)
    eligible, _ = eligible_and_labels(params.kind, current.index, transactions, as_of, params.horizon_days,
                                      history, params.value, purchases)
    scored = current.loc[eligible]
    if params.reason_codes > 0:
        scores, drivers = model.score_and_drivers(scored)
    else:  # the scores need no contributions: the drivers come from an even sample of at most ~20,000
        scores = model.score(scored)
        drivers = model.score_and_drivers(scored.iloc[:: max(1, len(scored) // 20_000)])[1]
    estimator = model.estimator
    summary: dict[str, Any] = {"chosen": model.chosen, "settings": estimator.settings_,
                               "calibration": estimator.calibration_, "version": model.version, "models": metrics,
                               "cutoffs": [c.isoformat() for c in cutoffs],
                               "n_train": int(min(len(y), params.max_train_rows)),
                               "n_validation": int(len(estimator.search_.rows))}
    return ScoreResult(scores=scores, model=model, metrics=summary, calibration=curves, drivers=drivers)
