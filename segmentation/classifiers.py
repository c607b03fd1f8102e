"""The candidate models a score chooses from, behind one small interface.

Each candidate is fit on the encoded matrix of :class:`segmentation.encoding.FeatureEncoder`
(optionally on a subset of its columns, ``columns``) and exposes ``margin`` (log-odds, before
calibration) and ``contributions`` (exact additive per-column decomposition of that margin,
used only for reason codes: plain scoring never builds the explainer's tables).

- "logistic": L2 logistic regression with inverse strength ``C``.
- "gbm": scikit-learn's HistGradientBoostingClassifier with ``max_leaf_nodes``,
  ``learning_rate``, ``l2_regularization``, ``min_samples_leaf`` and ``max_iter`` rounds;
  given validation rows (``fit(..., X_val, y_val)``) it stops early on their log-loss and
  records the best round in ``best_iter_``. Explained with exact TreeSHAP.
Either can add SMOTE (training rows only) and class weights; both shift the prior, which the
calibrator undoes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from segmentation.contributions import TreeExplainer, linear_contributions
from segmentation.smote import smote

FAMILIES = ("logistic", "gbm")


@dataclass(frozen=True)
class Candidate:
    """One point of the search: a family and its capacity. ``name`` is what metrics are keyed by."""

    family: str
    use_smote: bool = False
    C: float = 1.0
    max_leaf_nodes: int = 15
    learning_rate: float = 0.1
    l2_regularization: float = 1.0
    min_samples_leaf: int = 20
    max_iter: int = 300

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model {self.family!r}; expected one of {FAMILIES}")

    @property
    def name(self) -> str:
        return self.family + ("+smote" if self.use_smote else "")

    @property
    def settings(self) -> str:
        if self.family == "logistic":
            return f"C={self.C:g}"
        return (f"leaves={self.max_leaf_nodes} lr={self.learning_rate:g} l2={self.l2_regularization:g} "
                f"min_leaf={self.min_samples_leaf} rounds={self.max_iter}")

    def with_rounds(self, rounds: float) -> Candidate:
        return replace(self, max_iter=max(1, round(rounds)))


class Classifier:
    """A fitted candidate; ``columns`` (boolean mask over the encoded columns) selects its
    inputs. Columns constant in the training rows are left out too (``columns_``): they carry
    nothing, and left in, a linear model would give weight to a level never seen varying."""

    def __init__(self, candidate: Candidate, columns: np.ndarray | None = None, class_weight: str | None = None,
                 random_state: int = 0) -> None:
        self.candidate = candidate
        self.columns = columns
        self.class_weight = class_weight
        self.random_state = random_state

    @property
    def name(self) -> str:
        return self.candidate.name

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, self.columns_]

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> Classifier:
        X = np.asarray(X, dtype=float)
        wanted = np.ones(X.shape[1], dtype=bool) if self.columns is None else np.asarray(self.columns, dtype=bool)
        varies = wanted & (np.nanmax(X, axis=0) > np.nanmin(X, axis=0)) if len(X) else wanted
        self.columns_ = varies if varies.any() else wanted
        X, y = self._inputs(X), np.asarray(y, dtype=int)
        # The average real customer (before any synthetic rows) is the reference point of the
        # linear contributions; one-hot and missing-flag columns are not centred by the encoder.
        self.center_ = X.mean(axis=0)
        if self.candidate.use_smote:
            X, y = smote(X, y, random_state=self.random_state)
        c = self.candidate
        if c.family == "logistic":
            # Newton-Cholesky converges in a few steps on the tall, narrow matrices scores see.
            solver = "newton-cholesky" if X.shape[1] <= 500 else "lbfgs"
            self.estimator_ = LogisticRegression(C=c.C, solver=solver, max_iter=2000, class_weight=self.class_weight)
            self.estimator_.fit(X, y)
            return self
        validation = None if X_val is None or y_val is None else (self._inputs(X_val), np.asarray(y_val, dtype=int))
        stop = validation is not None
        self.estimator_ = HistGradientBoostingClassifier(
            learning_rate=c.learning_rate, max_iter=c.max_iter, max_leaf_nodes=c.max_leaf_nodes,
            min_samples_leaf=c.min_samples_leaf, l2_regularization=c.l2_regularization,
            early_stopping=stop, n_iter_no_change=10, class_weight=self.class_weight,
            random_state=self.random_state)
        if validation is not None:
            self.estimator_.fit(X, y, X_val=validation[0], y_val=validation[1])
            # validation_score_[0] is the constant model's; entry i follows round i.
            self.best_iter_ = max(1, int(np.argmax(self.estimator_.validation_score_)))
        else:
            self.estimator_.fit(X, y)
            self.best_iter_ = int(self.estimator_.n_iter_)
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds. For gbm fitted with validation rows: the margin after ``best_iter_`` rounds."""
        X = self._inputs(X)
        if self.candidate.family == "gbm" and self.best_iter_ < self.estimator_.n_iter_:
            for stage, margin in enumerate(self.estimator_.staged_decision_function(X), start=1):
                if stage == self.best_iter_:
                    return np.asarray(margin, dtype=float).ravel()
        return np.asarray(self.estimator_.decision_function(X), dtype=float).ravel()

    def expected_margin(self) -> float:
        """The reference margin that ``contributions`` are measured from (computed once)."""
        if not hasattr(self, "expected_margin_"):
            if self.candidate.family == "logistic":
                self.expected_margin_ = float(self.estimator_.decision_function(self.center_[None, :])[0])
            else:
                self.expected_margin_ = float(self._explainer().expected_value_)
        return self.expected_margin_

    def _explainer(self) -> TreeExplainer:
        if not hasattr(self, "explainer_"):
            self.explainer_ = TreeExplainer(self.estimator_)
        return self.explainer_

    def contributions_row(self, x: np.ndarray) -> np.ndarray:
        """``contributions`` of one encoded row (1-D), without the batch path's per-call overhead."""
        inputs = np.asarray(x, dtype=float)[self.columns_]
        if self.candidate.family == "logistic":
            part = (inputs - self.center_) * np.asarray(self.estimator_.coef_, dtype=float).ravel()
        else:
            part = self._explainer().contributions_row(inputs)
        out = np.zeros(len(self.columns_))
        out[self.columns_] = part
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per encoded column (zero where ``columns`` leaves one out); rows sum to
        ``margin(X) - expected_margin()``: the margin of the mean training row (logistic)
        or the cover-weighted mean margin (gbm)."""
        inputs = self._inputs(X)
        if self.candidate.family == "logistic":
            part = linear_contributions(self.estimator_.coef_, inputs - self.center_)
        else:
            part = self._explainer().contributions(inputs)
        out = np.zeros((len(inputs), len(self.columns_)))
        out[:, self.columns_] = part
        return out
