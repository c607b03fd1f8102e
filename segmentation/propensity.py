"""``PropensityClassifier``: a scikit-learn estimator for any binary outcome on a table.

    model = PropensityClassifier(pos_label="MM").fit(frame, labels)
    model.predict_proba(frame)[:, 1]     # calibrated P(label == "MM") (column order: classes_)
    model.reasons(frame, k=3)            # the top drivers of each row, as text and log-odds

Fitting (1) encodes the frame (:mod:`segmentation.encoding`: rare and unseen levels go to
"other", numbers are imputed and flagged), (2) cross-validates every candidate
(:mod:`segmentation.selection`: logistic regressions over ``C`` and gradient boosting over
leaves / learning rate / regularisation with early stopping) on time-ordered folds when
``time_column`` is given (:mod:`segmentation.folds`), stratified k-fold otherwise, picking the
model and its calibration (sigmoid or isotonic) with the lowest out-of-fold log-loss, then
(3) refits the winner on all rows and fits the calibrator on the out-of-fold margins.

Cost stays bounded on large tables: the search runs on at most ``max_search_rows`` rows and
the refit on at most ``max_fit_rows`` (seeded subsamples). Plain scoring builds no
explanation tables; ``contributions`` and ``reasons`` build them on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data

from segmentation.calibration import Calibrator
from segmentation.classifiers import Classifier
from segmentation.encoding import FeatureEncoder
from segmentation.folds import Fold, stratified_folds, time_folds, time_values
from segmentation.reasons import top_reasons
from segmentation.selection import CALIBRATIONS, Search, candidates, cross_validate


class PropensityClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated binary classifier chosen by cross-validation and refit on all rows.

    Parameters: ``models`` (families among "logistic", "gbm"); ``time_column`` (a column of X
    holding each row's time: folds are then time-ordered and the column is not a feature);
    ``time_gap`` (rows at least this much older than a validation block train for it: a
    Timedelta for datetimes, a number otherwise); ``pos_label`` (default: the larger of the
    two sorted labels); ``cv`` (folds); ``calibration`` ("auto" = chosen by CV among "none"
    (the model's own probability), "sigmoid" and "isotonic"; or one of them); ``class_weight`` (None or "balanced"); ``smote`` (add SMOTE twins);
    ``min_frequency`` / ``max_categories`` (categorical levels kept; the rest is "other");
    ``max_search_rows`` / ``max_fit_rows`` (cost caps); ``random_state``. Class weights shift
    the prior and the calibrator, fitted on unweighted out-of-fold rows, undoes that shift:
    probabilities stay calibrated, which is why scikit-learn's check_class_weight_classifiers
    (it expects weights to move predictions) is the one estimator check that fails.

    Learned: ``classes_``, ``pos_label_``, ``encoder_``, ``classifier_`` (the refit winner),
    ``calibrator_``, ``chosen_`` (candidate name), ``settings_``, ``calibration_``,
    ``cv_results_`` (one row per candidate setting and calibration, best first),
    ``search_`` (out-of-fold margins and probabilities), ``n_features_in_``,
    ``feature_names_in_`` (DataFrame input with string column names).
    """

    def __init__(self, models: tuple[str, ...] = ("logistic", "gbm"), time_column: str | None = None,
                 time_gap: Any = None, pos_label: Any = None, cv: int = 3, calibration: str = "auto",
                 class_weight: str | None = None, smote: bool = False, min_frequency: int = 10,
                 max_categories: int = 50, max_search_rows: int = 50_000, max_fit_rows: int = 250_000,
                 random_state: int = 0) -> None:
        self.models = models
        self.time_column = time_column
        self.time_gap = time_gap
        self.pos_label = pos_label
        self.cv = cv
        self.calibration = calibration
        self.class_weight = class_weight
        self.smote = smote
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.max_search_rows = max_search_rows
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> PropensityClassifier:
        frame, times = self._frame(X, reset=True)
        target = self._labels(y, len(frame))
        if self.calibration not in ("auto", *CALIBRATIONS):
            raise ValueError(f"calibration must be 'auto', 'none', 'sigmoid' or 'isotonic', got {self.calibration!r}")
        rng = np.random.default_rng(self.random_state)
        rows, fit_rows = (_subsample(len(target), cap, rng) for cap in (self.max_search_rows, self.max_fit_rows))
        # Levels and medians come from the refit's rows: all of them below max_fit_rows.
        self.encoder_ = FeatureEncoder(self.max_categories, self.min_frequency).fit(frame.iloc[fit_rows])
        folds = self._folds(target[rows], times, rows)
        methods = CALIBRATIONS if self.calibration == "auto" else (self.calibration,)
        self.search_ = cross_validate(self.encoder_.transform(frame.iloc[rows]), target[rows], folds,
                                      candidates(tuple(self.models), self.smote), methods,
                                      self.encoder_.tree_columns_, self.class_weight, self.random_state)
        self._refit(self.encoder_.transform(frame.iloc[fit_rows]), target[fit_rows], self.search_)
        return self

    def _refit(self, encoded: np.ndarray, target: np.ndarray, search: Search) -> None:
        chosen = search.chosen
        columns = self.encoder_.tree_columns_ if chosen.family == "gbm" else None
        self.classifier_ = Classifier(chosen, columns, self.class_weight, self.random_state)
        self.classifier_.fit(encoded, target)
        self.calibrator_ = Calibrator(search.calibration, isotonic_min_samples=0).fit(search.margin, search.labels)
        self.chosen_, self.settings_, self.calibration_ = chosen.name, chosen.settings, search.calibration
        self.cv_results_ = search.results

    def _folds(self, target: np.ndarray, times: pd.Series | None, rows: np.ndarray) -> list[Fold]:
        if self.cv < 2:
            raise ValueError(f"cv must be at least 2, got {self.cv}")
        if times is None:
            return stratified_folds(target, self.cv, self.random_state)
        values, gap = time_values(times, self.time_gap)
        return time_folds(values[rows], target, self.cv, gap)

    def _labels(self, y: Any, n_rows: int) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        if len(y) != n_rows:
            raise ValueError(f"X has {n_rows} rows but y has {len(y)} labels")
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"y has only one class ({classes.tolist()[0]!r} in all {len(y)} rows); "
                             "a propensity model needs rows of both outcomes to train")
        if len(classes) > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is multiclass: "
                             f"y has {len(classes)} classes, {classes[:10].tolist()}")
        positive = classes[1] if self.pos_label is None else self.pos_label
        if positive not in set(classes.tolist()):
            raise ValueError(f"pos_label {positive!r} is not one of the labels {classes.tolist()}")
        self.classes_, self.pos_label_ = classes, positive
        return np.asarray(y == positive, dtype=int)

    def _frame(self, X: Any, reset: bool) -> tuple[pd.DataFrame, pd.Series | None]:
        """The feature frame (string column names) and the time column's values, if any."""
        times = None
        if isinstance(X, pd.DataFrame):
            if self.time_column is not None and self.time_column in X.columns:
                times, X = X[self.time_column], X.drop(columns=[self.time_column])
            elif self.time_column is not None and reset:
                raise ValueError(f"time_column {self.time_column!r} is not a column of X")
            validate_data(self, X, reset=reset, skip_check_array=True)
            if len(X) == 0:
                raise ValueError("X has 0 rows; at least 1 is required")
            return X.set_axis([str(c) for c in X.columns], axis=1), times
        if self.time_column is not None and reset:
            raise ValueError("time_column needs X as a DataFrame with that column")
        array = check_array(X, dtype="numeric", ensure_all_finite="allow-nan")
        validate_data(self, array, reset=reset, skip_check_array=True)
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])]), times

    def _encoded(self, X: Any) -> tuple[pd.DataFrame, np.ndarray]:
        check_is_fitted(self, "classifier_")
        frame = self._frame(X, reset=False)[0]
        return frame, self.encoder_.transform(frame)

    def margin(self, X: Any) -> np.ndarray:
        """The refit model's log-odds for ``pos_label_`` before calibration."""
        encoded = self._encoded(X)[1]
        return self.classifier_.margin(encoded)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2): calibrated probabilities, columns in the order of ``classes_``."""
        return self.probabilities_from_margin(self.margin(X))

    def probabilities_from_margin(self, margin: np.ndarray) -> np.ndarray:
        positive = self.calibrator_.predict(margin)
        both = np.column_stack([1 - positive, positive])
        return both if self.classes_[1] == self.pos_label_ else both[:, ::-1]

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]

    def base_margin(self) -> float:
        """The margin that ``contributions`` are measured from (see classifiers.Classifier)."""
        check_is_fitted(self, "classifier_")
        return self.classifier_.expected_margin()

    def contributions(self, X: Any) -> pd.DataFrame:
        """Per source feature, the exact additive share of ``margin(X) - base_margin()``."""
        frame, encoded = self._encoded(X)
        per_column = self.classifier_.contributions(encoded)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(per_column @ self._membership(), columns=self.encoder_.columns_, index=index)

    def contributions_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """``contributions`` of one row given as {feature: value}, in ``encoder_.columns_`` order:
        the same numbers without a DataFrame, for the real-time API's one customer."""
        check_is_fitted(self, "classifier_")
        per_column = self.classifier_.contributions_row(self.encoder_.transform_row(values))
        return per_column @ self._membership()

    def _membership(self) -> np.ndarray:
        if not hasattr(self, "membership_"):
            self.membership_ = np.eye(len(self.encoder_.columns_))[self.encoder_.groups_]  # encoded -> source
        return self.membership_

    def reasons(self, X: Any, k: int = 3) -> pd.DataFrame:
        """The ``k`` features that raise each row's P(``pos_label_``) most, strongest first:
        ``reason_i`` (text, e.g. "tenure 2"), ``feature_i`` and ``contribution_i`` (log-odds)."""
        shares = self.contributions(X)
        frame = self._frame(X, reset=False)[0].set_axis(shares.index)
        return top_reasons(shares.to_numpy(), frame[self.encoder_.columns_], k)


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """All rows, or ``cap`` of them drawn without replacement (sorted)."""
    if n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))
