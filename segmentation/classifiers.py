"""The candidate models a score chooses from, behind one small interface.

Each candidate is fit on the encoded matrix of :class:`segmentation.encoding.FeatureEncoder`
and exposes ``margin`` (log-odds, before calibration) and ``contributions`` (exact additive
per-column decomposition of that margin, used for reason codes).

- "logistic": L2 logistic regression, the baseline.
- "gbm": scikit-learn's HistGradientBoostingClassifier with small, regularised trees and a
  fixed number of rounds (early stopping would need a random in-time split, which scoring
  avoids), explained with exact TreeSHAP.
Either can add SMOTE (training rows only) and class weights; both shift the prior, which the
calibrator fitted on the later cutoff undoes.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from segmentation.contributions import TreeExplainer, linear_contributions
from segmentation.smote import smote

FAMILIES = ("logistic", "gbm")


class Classifier:
    """One candidate: ``family`` in FAMILIES, optional ``use_smote`` and ``class_weight``."""

    def __init__(self, family: str, use_smote: bool = False, class_weight: str | None = None,
                 random_state: int = 0, gbm_max_iter: int = 150) -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown model {family!r}; expected one of {FAMILIES}")
        self.family = family
        self.use_smote = use_smote
        self.class_weight = class_weight
        self.random_state = random_state
        self.gbm_max_iter = gbm_max_iter

    @property
    def name(self) -> str:
        return self.family + ("+smote" if self.use_smote else "")

    def fit(self, X: np.ndarray, y: np.ndarray) -> Classifier:
        # The average real customer (before any synthetic rows) is the reference point of the
        # linear contributions; one-hot and missing-flag columns are not centred by the encoder.
        self.center_ = np.asarray(X, dtype=float).mean(axis=0)
        if self.use_smote:
            X, y = smote(X, y, random_state=self.random_state)
        if self.family == "logistic":
            self.estimator_ = LogisticRegression(C=1.0, max_iter=2000, class_weight=self.class_weight)
        else:
            self.estimator_ = HistGradientBoostingClassifier(
                learning_rate=0.1, max_iter=self.gbm_max_iter, max_leaf_nodes=15,
                min_samples_leaf=max(20, len(y) // 2000), l2_regularization=1.0,
                early_stopping=False, class_weight=self.class_weight, random_state=self.random_state,
            )
        self.estimator_.fit(X, y)
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds. For gbm the explainer's cell tables give the same numbers as
        ``decision_function`` in one numpy lookup per tree; sklearn's per-tree OpenMP loop
        was 5-20x slower on a busy 2-core machine (benchmarks/bench_scoring.py)."""
        if self.family == "gbm":
            return self._explainer().margin(X)
        return np.asarray(self.estimator_.decision_function(X), dtype=float).ravel()

    def expected_margin(self) -> float:
        """The reference margin that ``contributions`` are measured from."""
        if self.family == "logistic":
            return float(self.margin(self.center_[None, :])[0])
        return float(self._explainer().expected_value_)

    def _explainer(self) -> TreeExplainer:
        if not hasattr(self, "explainer_"):
            self.explainer_ = TreeExplainer(self.estimator_)
        return self.explainer_

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per encoded column; rows sum to ``margin(X) - expected``: the margin of the mean
        training row (logistic) or the cover-weighted mean margin (gbm)."""
        if self.family == "logistic":
            return linear_contributions(self.estimator_.coef_, X - self.center_)
        return self._explainer().contributions(X)
