"""Choose a score model and its calibration by cross-validation.

Every candidate (a family and its capacity, :class:`segmentation.classifiers.Candidate`) is
fit on each fold's training rows and gives margins on its validation rows. Gradient boosting
stops early on the validation rows' log-loss and the rounds it needed are averaged for the
refit; its settings first race on the first fold and only the winner runs on the others. Each candidate's
out-of-fold margins are then calibrated (left as they are, sigmoid, isotonic), cross-fitted
over the same folds so no row is calibrated by a map fitted on itself, and the (candidate,
calibration) pair is chosen on out-of-fold log-loss, by the one-standard-error rule: the
simplest pair (logistic before gbm, smaller C / fewer leaves first, no calibration before
sigmoid before isotonic) whose log-loss is within one standard error of the best. Log-loss
punishes the overconfident 0 and 1 that isotonic calibration gives on small data, which
Brier barely sees but ROC AUC does (its steps tie rows that the model ranked).
The boosting candidates' rounds and the logistic ``C`` are tuned on the same out-of-fold
rows that judge them, for every family alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segmentation.calibration import cross_fitted_probabilities
from segmentation.classifiers import FAMILIES, Candidate, Classifier
from segmentation.folds import Fold

LOGISTIC_C = (0.1, 1.0, 10.0)  # simplest (strongest penalty) first
# (max_leaf_nodes, learning_rate, l2_regularization, min_samples_leaf): from small and heavily
# regularised (few hundred rows) to scikit-learn's default capacity (rich data).
GBM_SETTINGS = ((7, 0.1, 1.0, 20), (31, 0.1, 0.0, 20))  # simplest first
CALIBRATIONS = ("none", "sigmoid", "isotonic")


def candidates(models: tuple[str, ...], use_smote: bool) -> list[Candidate]:
    """The search grid for the named families (each with a SMOTE twin when asked)."""
    unknown = [family for family in models if family not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; expected among {FAMILIES}")
    out = []
    for family in (f for f in FAMILIES if f in models):  # simplest first: the order ties are settled in
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
    grid, first = _race(X, y, folds[0], grid, tree_columns, class_weight, random_state)
    for candidate in grid:
        margin, rounds = _out_of_fold(X, y, folds, candidate, tree_columns, class_weight, random_state,
                                      first.get(candidate))
        tuned[candidate] = candidate.with_rounds(rounds) if candidate.family == "gbm" else candidate
        margins[candidate] = margin[rows]
        for method in calibrations:
            p = cross_fitted_probabilities(margins[candidate], y[rows], method, random_state, fold_of=fold_of,
                                            isotonic_min_samples=0)
            records.append({"candidate": candidate, "name": candidate.name, "settings": tuned[candidate].settings,
                            "calibration": method, "probability": p, "log_loss": float(_row_log_loss(y[rows], p).mean()),
                            "brier": float(np.mean((p - y[rows]) ** 2))})
    table = pd.DataFrame(records)
    table["chosen"] = np.arange(len(table)) == _simplest_within_one_se(table, y[rows])
    table = table.sort_values(["chosen", "log_loss", "brier"], ascending=[False, True, True], kind="stable")
    best = table.iloc[0]
    probabilities = {name: group.iloc[0]["probability"] for name, group in table.groupby("name", sort=False)}
    return Search(tuned[best["candidate"]], str(best["calibration"]), rows, y[rows], margins[best["candidate"]],
                  table.drop(columns=["candidate", "probability"]).reset_index(drop=True), probabilities)


def _simplest_within_one_se(table: pd.DataFrame, y: np.ndarray) -> int:
    """Index of the first (simplest) record whose mean log-loss is within one standard error of
    the best's, the error taken over the per-row paired differences (the one-standard-error
    rule of Hastie, Tibshirani & Friedman, ESL 7.10): a close call goes to the simpler model."""
    losses = np.vstack([_row_log_loss(y, p) for p in table["probability"]])
    best = losses[int(np.argmin(losses.mean(axis=1)))]
    gap = losses - best
    tolerance = gap.std(axis=1, ddof=1) / np.sqrt(len(y)) if len(y) > 1 else np.zeros(len(losses))
    return int(np.flatnonzero(gap.mean(axis=1) <= tolerance)[0])


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))


def _race(X: np.ndarray, y: np.ndarray, fold: Fold, grid: list[Candidate], tree_columns: np.ndarray | None,
          class_weight: str | None, random_state: int) -> tuple[list[Candidate], dict[Candidate, FoldFit]]:
    """Gradient-boosting settings race on the first fold (validation log-loss at their best
    round); only the winner of each name runs on the other folds, so the search costs about
    one boosting fit per fold more than a single setting would."""
    first: dict[Candidate, FoldFit] = {}
    for candidate in (c for c in grid if c.family == "gbm"):
        model = _fit_fold(X, y, fold, candidate, tree_columns, class_weight, random_state)
        first[candidate] = (model.margin(X[fold[1]]), model.best_iter_, float(np.max(model.estimator_.validation_score_)))
    keep = []
    for candidate in grid:
        rivals = [c for c in first if c.name == candidate.name]
        if candidate.family != "gbm" or candidate == max(rivals, key=lambda c: first[c][2]):
            keep.append(candidate)
    return keep, first


FoldFit = tuple[np.ndarray, int, float]  # margins on the fold's validation rows, best round, score


def _fit_fold(X: np.ndarray, y: np.ndarray, fold: Fold, candidate: Candidate, tree_columns: np.ndarray | None,
              class_weight: str | None, random_state: int) -> Classifier:
    train, valid = fold
    model = Classifier(candidate, tree_columns if candidate.family == "gbm" else None, class_weight, random_state)
    if candidate.family == "gbm":
        return model.fit(X[train], y[train], X[valid], y[valid])
    return model.fit(X[train], y[train])


def _out_of_fold(X: np.ndarray, y: np.ndarray, folds: list[Fold], candidate: Candidate,
                 tree_columns: np.ndarray | None, class_weight: str | None, random_state: int,
                 first: FoldFit | None = None) -> tuple[np.ndarray, float]:
    """Margins of every validated row from the fold model that did not see it; mean best round.
    ``first``: the first fold's result when the race already fitted it."""
    margin, rounds = np.full(len(y), np.nan), []
    for k, fold in enumerate(folds):
        if k == 0 and first is not None:
            margin[fold[1]], best = first[0], first[1]
        else:
            model = _fit_fold(X, y, fold, candidate, tree_columns, class_weight, random_state)
            margin[fold[1]], best = model.margin(X[fold[1]]), getattr(model, "best_iter_", 0)
        rounds.append(best)
    return margin, float(np.mean(rounds))
