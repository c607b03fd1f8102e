"""Map a model's raw log-odds to calibrated probabilities, fitted on later data than the model.

Platt scaling (a one-feature logistic regression on the margin) by default; isotonic
regression only with plenty of positives and negatives, since scikit-learn's docs warn it
overfits below about a thousand calibration samples. Both are monotone, so rankings (ROC AUC,
lift) are unchanged and only the probability scale moves; this is also what undoes the prior
shift of class weights or resampling.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

ISOTONIC_MIN_SAMPLES = 1000


class Calibrator:
    """``fit(margin, y)`` then ``predict(margin)`` -> probability. ``method_`` is what was used:
    "sigmoid"; "isotonic" when asked for and both classes have >= ``isotonic_min_samples`` rows
    (0 when cross-validation already judged isotonic on this much data); "none" (the model's
    own probability, 1 / (1 + exp(-margin))) when asked for."""

    def __init__(self, method: str = "sigmoid", isotonic_min_samples: int = ISOTONIC_MIN_SAMPLES) -> None:
        if method not in ("sigmoid", "isotonic", "none"):
            raise ValueError(f"calibration method must be sigmoid, isotonic or none, got {method!r}")
        self.method = method
        self.isotonic_min_samples = isotonic_min_samples

    def fit(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        margin, y = np.asarray(margin, dtype=float).ravel(), np.asarray(y, dtype=int).ravel()
        if len(np.unique(y)) < 2:
            raise ValueError(
                "calibration data has a single class; widen the horizon or add cutoffs"
            )
        enough = min(np.sum(y == 1), np.sum(y == 0)) >= self.isotonic_min_samples
        self.method_ = "sigmoid" if self.method == "isotonic" and not enough else self.method
        if self.method_ == "none":
            return self
        if self.method_ == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(
                margin, y
            )
        else:
            self.model_ = _platt(margin, y)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float).ravel()
        if self.method_ == "none":
            return np.asarray(expit(margin))
        if self.method_ == "isotonic":
            return np.asarray(self.model_.predict(margin))
        slope, intercept = self.model_
        return np.asarray(expit(slope * margin + intercept))


def _platt(margin: np.ndarray, y: np.ndarray, ridge: float = 1e-6, steps: int = 50) -> tuple[float, float]:
    """(slope, intercept) of logit P(y=1) = slope * margin + intercept by Newton's method, with a
    tiny ridge on the slope so separable data stays finite (LogisticRegression(C=1e6) does the
    same, at twenty times the cost on the few thousand rows a cross-validation calibrates)."""
    design = np.column_stack([margin, np.ones(len(margin))])
    beta = np.array([1.0, 0.0])
    penalty = np.diag([ridge, 0.0])
    for _ in range(steps):
        p = expit(design @ beta)
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def cross_fitted_probabilities(
    margin: np.ndarray, y: np.ndarray, method: str, random_state: int = 0, folds: int = 2,
    fold_of: np.ndarray | None = None, isotonic_min_samples: int = ISOTONIC_MIN_SAMPLES,
) -> np.ndarray:
    """Calibrated probabilities for the calibration set itself, each row predicted by a
    calibrator fitted on the other folds, so that metrics on it are not in-sample. ``fold_of``
    gives each row's fold (default: ``folds`` random ones; a single given fold: halves)."""
    margin, y = np.asarray(margin, dtype=float), np.asarray(y, dtype=int)
    if fold_of is None or len(np.unique(fold_of)) < 2:
        fold_of = np.random.default_rng(random_state).permutation(len(y)) % folds
    out = np.empty(len(y))
    for k in np.unique(fold_of):
        train = fold_of != k
        if len(np.unique(y[train])) < 2:
            raise ValueError("too few positives in the validation rows to calibrate")
        calibrator = Calibrator(method, isotonic_min_samples).fit(margin[train], y[train])
        out[fold_of == k] = calibrator.predict(margin[fold_of == k])
    return out
