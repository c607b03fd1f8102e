"""Quality figures of a probability score, as marketers and data scientists read them.

Ranking: ROC AUC, PR AUC (average precision), top-decile lift and capture. Probability
quality: Brier score, log-loss, calibration intercept and slope (logistic recalibration of the
outcome on the score's log-odds; 0 and 1 when calibrated) and the binned calibration curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

_EPS = 1e-6


def top_share_lift(y: np.ndarray, score: np.ndarray, share: float = 0.1) -> tuple[float, float]:
    """(lift, capture) of the top ``share`` by score: positive rate there over the base rate,
    and the fraction of all positives found there. Ties at the boundary are broken stably."""
    y = np.asarray(y, dtype=float)
    n_top = max(1, int(round(share * len(y))))
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:n_top]
    positives = y.sum()
    if positives == 0:
        return float("nan"), float("nan")
    return float(y[top].mean() / y.mean()), float(y[top].sum() / positives)


def calibration_fit(y: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of logit P(y=1) = intercept + slope * logit(probability)."""
    logit = _logit(probability)[:, None]
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    model = LogisticRegression(C=1e6, max_iter=1000).fit(logit, y)
    return float(model.intercept_[0]), float(model.coef_[0, 0])


def calibration_curve(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Quantile bins of the probability: columns bin, count, mean_predicted, observed_rate."""
    probability = np.asarray(probability, dtype=float)
    order = np.argsort(probability, kind="stable")
    labels = np.empty(len(order), dtype=np.int64)
    labels[order] = np.arange(len(order)) * bins // max(len(order), 1)
    frame = pd.DataFrame({"bin": labels, "p": probability, "y": np.asarray(y, dtype=float)})
    table = frame.groupby("bin").agg(
        count=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")
    )
    return table.reset_index()


def classification_metrics(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Every figure above for one model on one (out-of-time) validation set."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(probability, dtype=float), _EPS, 1 - _EPS)
    both = len(np.unique(y)) == 2
    lift, capture = top_share_lift(y, p, 0.1)
    intercept, slope = calibration_fit(y, p)
    return {
        "n": int(len(y)),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "top_decile_lift": lift,
        "top_decile_capture": capture,
        "calibration_intercept": intercept,
        "calibration_slope": slope,
    }


def _logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)
