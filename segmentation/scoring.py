"""Propensity, churn and conversion scores: train out of time, calibrate, explain, score.

``train_and_score`` runs one target end to end:

1. cutoffs one horizon apart, the last at ``as_of - horizon`` (see :mod:`segmentation.targets`);
2. features at each cutoff (``feature_fn``, default ``segmentation.features.build_features``)
   and labels from the window after it; rows of every cutoff but the last fit the models;
3. every candidate (logistic, gbm, each optionally with SMOTE) is fit on the older cutoffs and
   judged on the latest cutoff only, with probabilities from a calibrator cross-fitted on that
   cutoff (so the figures are out of time and out of sample); the lowest log-loss wins, PR AUC
   breaks ties;
4. the winner keeps its fit and gets a calibrator fitted on the whole latest cutoff, then
   scores every eligible customer at ``as_of`` with reason codes.

Attributes taken from the customers table are today's values at every cutoff (there is no
attribute history), so a fast-changing attribute can leak the label; behaviour features are
point in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmentation.calibration import Calibrator, cross_fitted_probabilities
from segmentation.classifiers import Classifier
from segmentation.encoding import FeatureEncoder
from segmentation.features import build_features
from segmentation.metrics import calibration_curve, classification_metrics
from segmentation.reasons import reason_codes
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
    ``calibration``: "sigmoid" (Platt) or "isotonic" (used only with >= 1000 of each class).
    ``max_train_rows``: the stacked training rows are subsampled (seeded) above this; the
    validation cutoff is always used whole.
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
    calibration: str = "sigmoid"
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


@dataclass
class ScoreModel:
    """A trained score: encoder + chosen classifier + calibrator. Picklable; ``score`` needs no retraining."""

    name: str
    kind: str
    chosen: str
    as_of: pd.Timestamp
    encoder: FeatureEncoder
    classifier: Classifier
    calibrator: Calibrator
    reason_codes: int = 3

    @property
    def version(self) -> str:
        return f"{self.name}-{self.as_of:%Y%m%dT%H%M%S}-{self.chosen}"

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability for each row of a feature frame (same columns as in training)."""
        return self.calibrator.predict(self.classifier.margin(self.encoder.transform(features)))

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """customer_id (the frame's index), <name> (probability), <name>_reasons (text)."""
        if self.reason_codes <= 0:
            probability = self.calibrator.predict(self.classifier.margin(self.encoder.transform(features)))
            return self._frame(features, probability, np.full(len(features), "", dtype=object))
        return self.score_and_drivers(features)[0]

    def score_and_drivers(self, features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """``score``'s frame, and the global drivers: mean |contribution| to the log-odds per source
        feature over these customers, largest first (a customer's reason codes, averaged)."""
        per_column = self.classifier.contributions(self.encoder.transform(features))
        # Contributions add up exactly to the margin, which spares a second pass over the trees.
        probability = self.calibrator.predict(self.classifier.expected_margin() + per_column.sum(axis=1))
        membership = np.eye(len(self.encoder.columns_))[self.encoder.groups_]  # encoded -> source
        per_feature = per_column @ membership
        if self.reason_codes > 0:
            reasons = reason_codes(per_feature, features[self.encoder.columns_], self.reason_codes)
        else:
            reasons = np.full(len(features), "", dtype=object)
        drivers = pd.Series(np.abs(per_feature).mean(axis=0) if len(features) else 0.0,
                            index=pd.Index(self.encoder.columns_, name="feature"), name="mean_abs_contribution")
        return self._frame(features, probability, reasons), drivers.sort_values(ascending=False, kind="stable")

    def _frame(self, features: pd.DataFrame, probability: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"customer_id": features.index.astype(str).to_numpy(), self.name: probability,
                             f"{self.name}_reasons": reasons})


@dataclass
class ScoreResult:
    """``scores``: customer_id, <name>, <name>_reasons; ``metrics``: per candidate (validation
    cutoff) plus "chosen" and "version"; ``calibration``: model, bin, count, mean_predicted,
    observed_rate on the validation cutoff; ``drivers``: mean |contribution| to the log-odds per
    feature over the scored customers, largest first."""

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


def _split(params: ScoreParams, y: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fit_rows, valid_rows = np.flatnonzero(which < params.cutoffs - 1), np.flatnonzero(which == params.cutoffs - 1)
    for label, rows in (("training cutoffs", fit_rows), ("validation cutoff", valid_rows)):
        if len(np.unique(y[rows])) < 2:
            raise ValueError(f"score {params.name!r}: the {label} hold a single class; "
                             "widen the horizon, add cutoffs or add history")
    if len(fit_rows) > params.max_train_rows:
        rng = np.random.default_rng(params.random_state)
        fit_rows = np.sort(rng.choice(fit_rows, params.max_train_rows, replace=False))
    return fit_rows, valid_rows


def _candidates(params: ScoreParams) -> list[Classifier]:
    variants = (False, True) if params.smote else (False,)
    return [Classifier(family, use_smote, params.class_weight, params.random_state)
            for family in params.models for use_smote in variants]


def _evaluate(params: ScoreParams, X_fit, y_fit, X_valid, y_valid):
    """Fit every candidate; return (fitted by name, metrics by name, curves, validation margins)."""
    fitted, metrics, curves, margins = {}, {}, [], {}
    for candidate in _candidates(params):
        candidate.fit(X_fit, y_fit)
        margin = candidate.margin(X_valid)
        probability = cross_fitted_probabilities(margin, y_valid, params.calibration, params.random_state)
        fitted[candidate.name], margins[candidate.name] = candidate, margin
        metrics[candidate.name] = classification_metrics(y_valid, probability)
        curves.append(calibration_curve(y_valid, probability).assign(model=candidate.name))
    return fitted, metrics, pd.concat(curves, ignore_index=True), margins


def select_model(
    params: ScoreParams, fit_frame: pd.DataFrame, y_fit: np.ndarray, valid_frame: pd.DataFrame,
    y_valid: np.ndarray, as_of: pd.Timestamp | str,
) -> tuple[ScoreModel, dict[str, dict[str, float]], pd.DataFrame]:
    """Fit every candidate on ``fit_frame``, judge them on ``valid_frame`` (a later cutoff, or a
    plain holdout for data without time), calibrate the winner on the whole validation set.
    Returns (model, metrics per candidate, calibration curves)."""
    encoder = FeatureEncoder().fit(fit_frame)
    X_fit, X_valid = encoder.transform(fit_frame), encoder.transform(valid_frame)
    fitted, metrics, curves, margins = _evaluate(params, X_fit, np.asarray(y_fit), X_valid, np.asarray(y_valid))
    chosen = min(metrics, key=lambda n: (round(metrics[n]["log_loss"], 6), -metrics[n]["pr_auc"]))
    calibrator = Calibrator(params.calibration).fit(margins[chosen], y_valid)
    model = ScoreModel(params.name, params.kind, chosen, utc(as_of), encoder, fitted[chosen], calibrator,
                       params.reason_codes)
    return model, metrics, curves


def train_and_score(
    customers: pd.DataFrame | None, transactions: pd.DataFrame, params: ScoreParams, as_of: pd.Timestamp | str,
    feature_fn: FeatureFn | None = None, history: pd.DataFrame | None = None,
) -> ScoreResult:
    """Train ``params`` on data before ``as_of`` and score every eligible customer at ``as_of``.

    ``transactions`` must be clean (``segmentation.features.clean_transactions``). ``history``
    (customer_id, value, changed_at) is the attribute history for conversion targets; without
    it the customers table needs ``<field>`` and ``<field>_changed_at``.
    """
    as_of = utc(as_of)
    feature_fn = feature_fn or _default_features(params.attributes)
    if params.kind == "conversion" and history is None:
        history = attribute_history(customers, str(params.field))
    cutoffs = cutoff_dates(as_of, params.horizon_days, params.cutoffs, params.spacing_days)
    purchases = PurchaseIndex(transactions) if params.kind != "conversion" else None
    frame, y, which = training_set(customers, transactions, params.kind, params.horizon_days, cutoffs,
                                   feature_fn, history, params.value, purchases)
    fit_rows, valid_rows = _split(params, y, which)
    model, metrics, curves = select_model(params, frame.iloc[fit_rows], y[fit_rows], frame.iloc[valid_rows],
                                          y[valid_rows], as_of)
    current = feature_fn(customers, transactions, as_of)
    eligible, _ = eligible_and_labels(params.kind, current.index, transactions, as_of, params.horizon_days,
                                      history, params.value, purchases)
    scored = current.loc[eligible]
    if params.reason_codes > 0:
        scores, drivers = model.score_and_drivers(scored)
    else:  # the scores need no contributions: the drivers come from an even sample of at most ~20,000
        scores = model.score(scored)
        drivers = model.score_and_drivers(scored.iloc[:: max(1, len(scored) // 20_000)])[1]
    summary: dict[str, Any] = {"chosen": model.chosen, "version": model.version, "models": metrics,
                               "cutoffs": [c.isoformat() for c in cutoffs],
                               "n_train": int(len(fit_rows)), "n_validation": int(len(valid_rows))}
    return ScoreResult(scores=scores, model=model, metrics=summary, calibration=curves, drivers=drivers)
