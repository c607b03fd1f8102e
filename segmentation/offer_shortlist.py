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

Columns (n, K) per candidate, from the CandidatePool (candidates with that evidence) and the product
signals: log1p(own count), owned, 1 / own recency in days, co-occurrence with the basket and with
the favourites, the log of segment share, popularity, recent popularity and taste.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from segmentation.offer_candidates import Candidates, basket_width, gather_candidates
from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

COLUMNS = ("log_own_count", "owned", "own_recency", "basket_similar", "similar", "log_segment_share", "log_popularity",
           "log_recent", "log_taste")
#: Candidates kept per customer: selected on Online Retail's 2011-06-01 split (BENCHMARKS.md).
KEEP = 10
_FLOOR = 1e-4  # below every real share of buyers that matters; keeps the logs finite


@dataclass(frozen=True)
class CandidatePool(Candidates):
    """Candidates with the cheap evidence about them, each (n, K) aligned with cand: together,
    summed similarity to everything the customer bought over how many products that is; taste,
    their expected taste (ProductSignals.taste_scores_at); count and last, history.counts and
    history.last_days at the candidate (0: never bought). Zero where cand is -1."""

    together: np.ndarray
    taste: np.ndarray
    count: np.ndarray
    last: np.ndarray

    def take(self, keep: np.ndarray) -> CandidatePool:
        """Only the candidates at `keep` ((n, m) positions along K, -1 none), in that order."""
        got = keep >= 0

        def pick(a: np.ndarray, empty: float) -> np.ndarray:
            return np.where(got, np.take_along_axis(a, np.maximum(keep, 0), axis=1), empty)

        return CandidatePool(pick(self.cand, -1), self.favourites, pick(self.similar, 0), pick(self.together, 0),
                             pick(self.taste, 0), pick(self.count, 0), pick(self.last, 0))

    def allowing(self, ok: np.ndarray) -> CandidatePool:
        """The same pool with the candidates where `ok` ((n, K) bool) is False set to none."""
        return self.take(np.where(ok & (self.cand >= 0), np.arange(self.cand.shape[1]), -1))


def candidate_pool(
    history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray, ks: tuple[int, int, int, int], cross_sell: bool,
) -> CandidatePool:
    """gather_candidates with whole-basket co-occurrence (from the sparse product's nonzeros, no
    dense customers x products row) and the cheap evidence about each candidate."""
    owned = history.owned
    basket = (owned @ signals.similarity).tocsr()
    floor = basket_floor(owned, signals.kth_similarity(basket_width(ks, cross_sell)))
    found = gather_candidates(history, signals, codes, ks, cross_sell, signals.neighbours, signals.similarity_lookup, basket,
                              basket_floor=floor)
    cand = found.cand
    n, k = cand.shape
    safe = np.maximum(cand, 0)
    rows = np.repeat(np.arange(n), k)
    together = basket_similarity(owned, cand, signals.similarity_lookup) / np.maximum(np.diff(owned.indptr), 1)[:, None]
    valid = cand >= 0
    count = np.where(valid, lookup(history.counts, rows, safe.ravel()).reshape(n, k), 0)
    last = np.where(valid, lookup(history.last_days, rows, safe.ravel()).reshape(n, k), 0)
    taste = np.where(valid, signals.taste_scores_at(history, safe), 0)
    return CandidatePool(cand, found.favourites, found.similar, together.astype(np.float32), taste, count, last)


def basket_floor(owned: sp.csr_matrix, kth: np.ndarray) -> np.ndarray:
    """(n,) a lower bound of each row's k-th best entry of owned @ similarity, so every entry
    below it can be skipped: similarities are non-negative, so a customer's basket score of each
    of an owned product's k nearest products is at least that product's k-th best similarity
    (`kth`, ProductSignals.kth_similarity), and the row's k-th best is at least the largest of
    those over what they own (usually most of a row's entries are below)."""
    floor = np.zeros(owned.shape[0], dtype=np.float32)
    counts = np.diff(owned.indptr)
    if owned.nnz:
        floor[counts > 0] = np.maximum.reduceat(kth[owned.indices], owned.indptr[:-1][counts > 0])
    return floor


def basket_similarity(owned: sp.csr_matrix, cand: np.ndarray, similarity: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """(n, K): each candidate's summed similarity to every product the customer owns (0 for -1)."""
    n, k = cand.shape
    rows = np.repeat(np.arange(n), np.diff(owned.indptr))
    if not len(rows):
        return np.zeros((n, k), dtype=np.float32)
    if isinstance(similarity, np.ndarray):  # one flat gather per owned product x candidate
        vals = similarity.ravel().take(owned.indices[:, None].astype(np.int64) * similarity.shape[1] + np.maximum(cand, 0)[rows])
    else:
        vals = lookup(similarity, np.repeat(owned.indices, k), np.maximum(cand, 0)[rows].ravel()).reshape(-1, k)
    out = np.zeros((n, k), dtype=np.float64)
    starts = owned.indptr[:-1]
    has = np.diff(owned.indptr) > 0
    out[has] = np.add.reduceat(vals, starts[has], axis=0)
    return np.where(cand >= 0, out, 0.0).astype(np.float32)


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
