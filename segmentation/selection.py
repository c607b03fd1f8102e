"""Choose a score model and its calibration by cross-validation.

Every candidate (a family and its capacity, :class:`segmentation.classifiers.Candidate`) is
fit on each fold's training rows and gives margins on its validation rows. Gradient boosting
stops early on the validation rows' log-loss and the rounds it needed are averaged for the
refit, so its search costs about one long fit per fold and setting. Each candidate's
out-of-fold margins are then calibrated (left as they are, sigmoid, isotonic), cross-fitted
over the same folds so no row is calibrated by a map fitted on itself, and the (candidate,
calibration) pair with the lowest out-of-fold log-loss wins (Brier breaks ties): log-loss
punishes the overconfident 0 and 1 that isotonic calibration gives on small data, which
Brier barely sees but ROC AUC does (its steps tie rows that the model ranked).
The boosting candidates' rounds and the logistic ``C`` are tuned on the same out-of-fold
rows that judge them, for every family alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from segmentation.calibration import cross_fitted_probabilities
from segmentation.classifiers import FAMILIES, Candidate, Classifier
from segmentation.folds import Fold

LOGISTIC_C = (0.1, 1.0, 10.0)
# (max_leaf_nodes, learning_rate, l2_regularization, min_samples_leaf): from small and heavily
# regularised (few hundred rows) to scikit-learn's default capacity (rich data).
GBM_SETTINGS = ((7, 0.1, 1.0, 20), (31, 0.1, 0.0, 20))
CALIBRATIONS = ("none", "sigmoid", "isotonic")


def candidates(models: tuple[str, ...], use_smote: bool) -> list[Candidate]:
    """The search grid for the named families (each with a SMOTE twin when asked)."""
    out = []
    for family in models:
        if family not in FAMILIES:
            raise ValueError(f"unknown model {family!r}; expected one of {FAMILIES}")
        for smote in (False, True) if use_smote else (False,):
            if family == "logistic":
                out += [Candidate("logistic", smote, C=c) for c in LOGISTIC_C]
            else:
                out += [Candidate("gbm", smote, max_leaf_nodes=leaves, learning_rate=rate, l2_regularization=l2,
                                  min_samples_leaf=leaf) for leaves, rate, l2, leaf in GBM_SETTINGS]
    return out


@dataclass
class Search:
    """Outcome: ``chosen`` (rounds set to the folds' mean best round), ``calibration``,
    ``margin`` (chosen's out-of-fold margins on ``rows``), ``labels`` (y on ``rows``),
    ``results`` (one row per candidate and calibration), ``probabilities`` (out-of-fold
    calibrated probabilities of the best setting of each candidate name)."""

    chosen: Candidate
    calibration: str
    rows: np.ndarray
    labels: np.ndarray
    margin: np.ndarray
    results: pd.DataFrame
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)


def cross_validate(X: np.ndarray, y: np.ndarray, folds: list[Fold], grid: list[Candidate],
                   calibrations: tuple[str, ...], tree_columns: np.ndarray | None = None,
                   class_weight: str | None = None, random_state: int = 0) -> Search:
    """Run the whole grid over ``folds`` and pick the winner (see the module docstring)."""
    rows = np.unique(np.concatenate([valid for _, valid in folds]))
    position = np.searchsorted(rows, np.arange(len(y)))
    fold_of = np.full(len(rows), -1)
    for k, (_, valid) in enumerate(folds):
        fold_of[position[valid]] = k
    records, margins, tuned = [], {}, {}
    for candidate in grid:
        margin, rounds = _out_of_fold(X, y, folds, candidate, tree_columns, class_weight, random_state)
        tuned[candidate] = candidate.with_rounds(rounds) if candidate.family == "gbm" else candidate
        margins[candidate] = margin[rows]
        for method in calibrations:
            p = cross_fitted_probabilities(margins[candidate], y[rows], method, random_state, fold_of=fold_of,
                                            isotonic_min_samples=0)
            records.append({"candidate": candidate, "name": candidate.name, "settings": tuned[candidate].settings,
                            "calibration": method, "probability": p, **_losses(y[rows], p)})
    table = pd.DataFrame(records).sort_values(["log_loss", "brier"], kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    probabilities = {name: group.iloc[0]["probability"] for name, group in table.groupby("name", sort=False)}
    return Search(tuned[best["candidate"]], str(best["calibration"]), rows, y[rows], margins[best["candidate"]],
                  table.drop(columns=["candidate", "probability"]), probabilities)


def _losses(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return {"brier": float(np.mean((p - y) ** 2)), "roc_auc": float(roc_auc_score(y, p)),
            "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))}


def _out_of_fold(X: np.ndarray, y: np.ndarray, folds: list[Fold], candidate: Candidate,
                 tree_columns: np.ndarray | None, class_weight: str | None, random_state: int) -> tuple[np.ndarray, float]:
    """Margins of every validated row from the fold model that did not see it; mean best round."""
    margin, rounds = np.full(len(y), np.nan), []
    columns = tree_columns if candidate.family == "gbm" else None
    for train, valid in folds:
        model = Classifier(candidate, columns, class_weight, random_state)
        if candidate.family == "gbm":
            model.fit(X[train], y[train], X[valid], y[valid])
            rounds.append(model.best_iter_)
        else:
            model.fit(X[train], y[train])
        margin[valid] = model.margin(X[valid])
    return margin, float(np.mean(rounds)) if rounds else 0.0
