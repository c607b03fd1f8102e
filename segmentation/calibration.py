"""Map a model's raw log-odds to calibrated probabilities, fitted on later data than the model.

Platt scaling (a one-feature logistic regression on the margin) by default; isotonic
regression only with plenty of positives and negatives, since scikit-learn's docs warn it
overfits below about a thousand calibration samples. Both are monotone, so rankings (ROC AUC,
lift) are unchanged and only the probability scale moves; this is also what undoes the prior
shift of class weights or resampling.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

ISOTONIC_MIN_SAMPLES = 1000


class Calibrator:
    """``fit(margin, y)`` then ``predict(margin)`` -> probability. ``method_`` is what was used:
    "sigmoid", or "isotonic" when asked for and both classes have >= ISOTONIC_MIN_SAMPLES rows."""

    def __init__(self, method: str = "sigmoid") -> None:
        if method not in ("sigmoid", "isotonic"):
            raise ValueError(f"calibration method must be sigmoid or isotonic, got {method!r}")
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        margin, y = np.asarray(margin, dtype=float).ravel(), np.asarray(y, dtype=int).ravel()
        if len(np.unique(y)) < 2:
            raise ValueError(
                "calibration data has a single class; widen the horizon or add cutoffs"
            )
        enough = min(np.sum(y == 1), np.sum(y == 0)) >= ISOTONIC_MIN_SAMPLES
        self.method_ = "isotonic" if self.method == "isotonic" and enough else "sigmoid"
        if self.method_ == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(
                margin, y
            )
        else:
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(margin[:, None], y)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float).ravel()
        if self.method_ == "isotonic":
            return np.asarray(self.model_.predict(margin))
        return self.model_.predict_proba(margin[:, None])[:, 1]


def cross_fitted_probabilities(
    margin: np.ndarray, y: np.ndarray, method: str, random_state: int, folds: int = 2
) -> np.ndarray:
    """Calibrated probabilities for the calibration set itself, each row predicted by a
    calibrator fitted on the other fold(s), so that metrics on it are not in-sample."""
    margin, y = np.asarray(margin, dtype=float), np.asarray(y, dtype=int)
    fold = np.random.default_rng(random_state).permutation(len(y)) % folds
    out = np.empty(len(y))
    for k in range(folds):
        train = fold != k
        if len(np.unique(y[train])) < 2:
            raise ValueError("too few positives in the validation cutoff to calibrate")
        out[fold == k] = Calibrator(method).fit(margin[train], y[train]).predict(margin[fold == k])
    return out
