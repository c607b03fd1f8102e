"""The offer ranker's first stage: a cheap score over every candidate that keeps the best few.

The full ranker (segmentation.offer_ranker) describes each candidate with a few dozen features
and sums a hundred-odd trees over them: at a million customers and 36 candidates each, that is
most of the cost of a cycle's offers. Most candidates are never close to a customer's top
three, and the evidence that says so is already at hand when the candidates are gathered (how
often and how lately the customer bought it, its co-occurrence with their basket and their
favourites, its share in their segment, its popularity overall and lately, their expected
taste). A logistic regression on those few columns, fitted on the same training examples as
the full model, keeps each customer's `keep` best candidates; only those get the full features
and the full model (a cascade, as in two-stage recommenders: a cheap high-recall retriever, then
a precise ranker over its short list).

Columns (n, K) per candidate, from segmentation.offer_candidates.CandidatePool and the product
signals: log1p(own count), owned, 1 / own recency in days, co-occurrence with the basket and with
the favourites, the log of segment share, popularity, recent popularity and taste.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from segmentation.offer_candidates import CandidatePool
from segmentation.offer_signals import ProductSignals

COLUMNS = ("log_own_count", "owned", "own_recency", "basket_similar", "similar", "log_segment_share", "log_popularity",
           "log_recent", "log_taste")
#: Candidates kept per customer: selected on Online Retail's 2011-06-01 split (BENCHMARKS.md).
KEEP = 10
_FLOOR = 1e-4  # below every real share of buyers that matters; keeps the logs finite


def shortlist_columns(pool: CandidatePool, signals: ProductSignals, codes: np.ndarray) -> np.ndarray:
    """(n * K, len(COLUMNS)) float32, rows in the pool's (customer, slot) order."""
    safe = np.maximum(pool.cand, 0)
    with np.errstate(divide="ignore"):
        recency = np.where(pool.last > 0, 1.0 / np.maximum(pool.last, 1.0), 0.0)
    columns = [
        np.log1p(pool.count), pool.count > 0, recency, pool.together, pool.similar,
        np.log(signals.segment_rows_at(codes, safe) + _FLOOR), np.log(signals.popularity[safe] + _FLOOR),
        np.log(signals.recent[safe] + _FLOOR), np.log(pool.taste + _FLOOR * 1e-2),
    ]
    return np.stack([np.asarray(c, dtype=np.float32).ravel() for c in columns], axis=1)


class Shortlist(BaseEstimator):
    """fit(X, y) on shortlist_columns of training candidates and their labels (bought in the
    window), then best(pool, signals, codes): each customer's `keep` best slots.

    Learned: mean_, scale_ (standardisation), coef_, intercept_ (the logistic regression on the
    standardised columns).
    """

    def __init__(self, keep: int = KEEP, C: float = 1.0) -> None:
        self.keep = keep
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> Shortlist:
        if X.shape[1] != len(COLUMNS):
            raise ValueError(f"the shortlist needs its {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {X.shape[1]}")
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, max_iter=500).fit((X - self.mean_) / self.scale_, y)
        self.coef_ = (model.coef_.ravel() / self.scale_).astype(np.float32)
        self.intercept_ = float(model.intercept_[0] - (model.coef_.ravel() * self.mean_ / self.scale_).sum())
        return self

    def scores(self, pool: CandidatePool, signals: ProductSignals, codes: np.ndarray) -> np.ndarray:
        """(n, K) the first stage's log-odds per candidate, -inf where there is none."""
        check_is_fitted(self, "coef_")
        n, k = pool.cand.shape
        logit = (shortlist_columns(pool, signals, codes) @ self.coef_ + self.intercept_).reshape(n, k)
        return np.where(pool.cand >= 0, logit, -np.inf)

    def best(self, pool: CandidatePool, signals: ProductSignals, codes: np.ndarray) -> np.ndarray:
        """(n, keep) positions along the pool's K of each customer's best candidates by the first
        stage's score, best first (ties: the earlier slot), -1 past the valid ones."""
        s = self.scores(pool, signals, codes)
        keep = min(self.keep, s.shape[1])
        order = np.argsort(-s, axis=1, kind="stable")[:, :keep]
        return np.where(np.isfinite(np.take_along_axis(s, order, axis=1)), order, -1)
