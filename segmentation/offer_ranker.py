"""The learned offer ranker: gradient boosting on customer x product candidate features.

Candidates per customer are the union of a few products from each cheap signal (their own
purchases, co-occurrence with their whole basket, their segment's favourites, what sells
lately); each candidate gets features (own frequency, recency and repurchase cycle with the
product, co-occurrence, share in the segment, popularity overall and lately, trend, price fit,
the customer's activity and visit cycle) and the model, trained on earlier snapshots with
"bought it in the next window" as the label (segmentation.offer_evaluation.make_scorer), ranks
them. Two stages: a logistic regression on the cheap evidence every candidate already has
(segmentation.offer_shortlist) keeps each customer's best `shortlist`, and only those get the
full features and model, trained on the same stage's survivors of the training snapshots. The
defaults (candidates, short list, trees, learning rate) were selected on Online Retail's
2011-06-01 split, never on the 2011-09-01 split the benchmark reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from segmentation.offer_shortlist import (
    KEEP,
    CandidatePool,
    Shortlist,
    candidate_pool,
    shortlist_columns,
)
from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

FEATURES = (
    "own_count", "own_days", "similar", "segment_share", "popularity", "recent", "price_fit",
    "txn_count", "last_any_days", "owned", "own_share", "repeat_rate",
    "rank_own", "rank_recency", "rank_similar", "rank_segment", "rank_recent",
    # the repurchase cycle: how long the customer has known the product, their own interval
    # between purchases of it and how overdue the next one is (days since / interval)
    "own_first_days", "own_interval", "own_due", "own_decayed", "rank_decayed", "in_last_visit",
    "first_any_days", "recent_txn", "visit_interval", "visit_due", "trend", "product_age",
    # co-occurrence with the whole basket (as the co-occurrence baseline), per product owned
    "basket_similar", "rank_basket",
    # the customer's expected taste under latent taste groups fitted to who bought what
    "taste", "rank_taste",
)
CHUNK = 10_000
PREDICT_BLOCK = 5_000
#: Features the rows are sorted by before the trees walk them (OfferRanker._predict).
SORT_KEYS = 2


class OfferRanker(BaseEstimator):
    """fit(history, signals, truth) on a snapshot, then scores(history, signals, codes).

    `candidates`: products taken from each signal in turn (own, co-occurrence, segment,
    recent); `cross_sell` drops the customer's own products from the candidates and labels;
    `shortlist`: candidates per customer a first stage (segmentation.offer_shortlist) keeps for
    the full features and model, 0 for all of them.
    Learned: model_ (the classifier), shortlist_ (the first stage, None without one),
    n_train_rows_, positive_rate_.
    """

    def __init__(
        self, candidates: tuple[int, int, int, int] = (20, 6, 4, 6), cross_sell: bool = False,
        price: np.ndarray | None = None, max_train_customers: int = 20_000, max_iter: int = 150,
        learning_rate: float = 0.05, max_leaf_nodes: int = 15, random_state: int = 0, shortlist: int = KEEP,
    ) -> None:
        self.candidates = candidates
        self.cross_sell = cross_sell
        self.price = price
        self.max_train_customers = max_train_customers
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state
        self.shortlist = shortlist

    def __setstate__(self, state: dict) -> None:
        # a ranker stored before the first stage existed was trained on every candidate: it
        # scores them all, as it did
        state.setdefault("shortlist", 0)
        super().__setstate__(state)

    def fit(self, snapshots: Sequence[tuple[PurchaseHistory, ProductSignals, sp.csr_matrix]], n_jobs: int = 1) -> OfferRanker:
        """Each snapshot: (history, its signals, truth), truth customers x products nonzero where
        the customer bought the product in the window after history.as_of (same axes). n_jobs:
        threads that gather the snapshots' candidates (the customers are drawn first, in order,
        so the model does not depend on it)."""
        rng = np.random.default_rng(self.random_state)
        cap = max(self.max_train_customers // max(len(snapshots), 1), 1)
        picked = [_training_rows(h, t, rng, cap) for h, _, t in snapshots]

        def pools_of(i: int) -> list[_Chunk]:
            return self._pools(*snapshots[i], picked[i])

        if n_jobs > 1 and len(snapshots) > 1:
            with ThreadPoolExecutor(min(n_jobs, len(snapshots))) as pool:
                pools = list(pool.map(pools_of, range(len(snapshots))))
        else:
            pools = [pools_of(i) for i in range(len(snapshots))]
        self.shortlist_ = self._fit_shortlist(pools)
        parts = [self._examples(chunks) for chunks in pools]
        Xa, ya = np.vstack([x for x, _ in parts]), np.concatenate([y for _, y in parts])
        if not len(ya) or ya.min() == ya.max():
            raise ValueError("the training windows have no (or only) purchases among the candidates: nothing to learn")
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes, early_stopping=True,
            validation_fraction=0.1, n_iter_no_change=10, random_state=self.random_state,
        ).fit(Xa, ya)
        self.n_train_rows_, self.positive_rate_ = len(ya), float(ya.mean())
        return self

    def _pools(self, history, signals, truth, rows) -> list[_Chunk]:
        out = []
        for start in range(0, len(rows), CHUNK):
            sel = rows[start:start + CHUNK]
            part, codes = history.take(sel), signals.segment_codes[sel]
            out.append(_Chunk(part, signals, codes, self._pool(part, signals, codes), truth[sel]))
        return out

    def _fit_shortlist(self, pools: list[list[_Chunk]]) -> Shortlist | None:
        """The first stage, on every training candidate (None when it would keep them all)."""
        chunks = [c for snapshot in pools for c in snapshot]
        if not self.shortlist or not chunks or self.shortlist >= chunks[0].pool.cand.shape[1]:
            return None
        valid = np.concatenate([(c.pool.cand >= 0).ravel() for c in chunks])
        X = np.vstack([shortlist_columns(c.pool, c.signals, c.codes) for c in chunks])[valid]
        y = np.concatenate([c.labels(c.pool.cand) for c in chunks])[valid]
        if not len(y) or y.min() == y.max():
            return None
        return Shortlist(keep=self.shortlist).fit(X, y)

    def _examples(self, chunks: list[_Chunk]) -> tuple[np.ndarray, np.ndarray]:
        """The full model's examples: each chunk's short-listed candidates, their features and labels."""
        X, y = [np.zeros((0, len(FEATURES)), np.float32)], [np.zeros(0, bool)]
        for c in chunks:
            cand, feats = self._features(c.history, c.signals, c.codes, self._shortlisted(c.pool, c.signals, c.codes))
            valid = (cand >= 0).ravel()
            X.append(feats[valid])
            y.append(c.labels(cand)[valid])
        return np.vstack(X), np.concatenate(y)

    def scores(
        self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray,
        allowed: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """(n, products): the model's probability for short-listed candidates, -inf elsewhere
        (`allowed` as in candidate_scores)."""
        cand, prob = self.candidate_scores(history, signals, codes, allowed)
        out = np.full((len(cand), history.counts.shape[1]), -np.inf, dtype=np.float32)
        valid = cand >= 0
        rows = np.broadcast_to(np.arange(len(cand))[:, None], cand.shape)
        out[rows[valid], cand[valid]] = prob[valid]
        return out

    def candidate_scores(
        self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray,
        allowed: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidates (n, K) catalog positions, -1 none; their probabilities, -inf for none).

        `allowed`: (n, K) candidates -> (n, K) bool, the business rules; candidates they forbid
        are dropped before the first stage, so they never take a place on the short list.
        Only the short-listed candidates get the full features and model."""
        check_is_fitted(self, "model_")
        pool = self._pool(history, signals, codes)
        if allowed is not None:
            pool = pool.allowing(allowed(pool.cand))
        cand, feats = self._features(history, signals, codes, self._shortlisted(pool, signals, codes))
        valid = cand >= 0
        prob = np.full(cand.shape, -np.inf, dtype=np.float32)
        if valid.any():
            prob[valid] = self._predict(feats[valid.ravel()])
        return cand, prob

    def candidate_sets(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(every gathered candidate, the first stage's short list), each (n, K) catalog
        positions, -1 none: what the model can choose from (segmentation.offer_headroom)."""
        check_is_fitted(self, "model_")
        pool = self._pool(history, signals, codes)
        return pool.cand, self._shortlisted(pool, signals, codes).cand

    def _predict(self, X: np.ndarray) -> np.ndarray:
        """P(bought) per row, PREDICT_BLOCK rows at a time: each tree then walks rows that stay
        in cache (about 30 % less CPU than one call over a chunk's rows). The rows go in sorted
        by the features the trees split on most, so neighbouring rows take the same branches
        (fewer mispredicted ones), as float64 columns (the predictor's dtype, converted once per
        block; a split reads one column). A row's value depends on that row alone, so the
        answer is the same bit for bit in any order."""
        keys = split_features(self.model_)[:SORT_KEYS]
        order = np.lexsort(tuple(X[:, f] for f in reversed(keys))) if keys else np.arange(len(X))
        out = np.empty(len(X), dtype=np.float64)
        for i in range(0, len(X), PREDICT_BLOCK):
            rows = order[i:i + PREDICT_BLOCK]
            out[rows] = self.model_.predict_proba(np.asfortranarray(X[rows], dtype=np.float64))[:, 1]
        return out

    def _pool(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> CandidatePool:
        return candidate_pool(history, signals, codes, self.candidates, self.cross_sell)

    def _shortlisted(self, pool: CandidatePool, signals: ProductSignals, codes: np.ndarray) -> CandidatePool:
        first = getattr(self, "shortlist_", None)
        return pool if first is None else pool.take(first.best(pool, signals, codes))

    def _features(
        self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray, pool: CandidatePool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidates (n, K), -1 for none) and their features ((n*K, len(FEATURES))); `pool`:
        the candidates to describe (by default every gathered one)."""
        found = self._pool(history, signals, codes) if pool is None else pool
        cand = found.cand
        n, k = cand.shape
        safe = np.maximum(cand, 0)
        together, taste, count, last = found.together, found.taste, found.count, found.last
        rows = np.repeat(np.arange(n), k)
        seg = signals.segment_rows_at(codes, safe)
        price = self.price if self.price is not None else np.full(history.counts.shape[1], np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = np.abs(np.log(price[safe]) - np.log(history.spend_price)[:, None])
        recency = np.where(last > 0, -last, -np.inf)
        columns = [
            count, np.where(last > 0, last, np.nan), found.similar, seg, signals.popularity[safe], signals.recent[safe], fit,
            _per_customer(history.txn_count, k), _per_customer(history.last_any_days, k),
            (count > 0), count / np.maximum(history.txn_count, 1)[:, None], signals.repeat_rate[safe],
            *(_row_ranks(v, cand) for v in (count + np.where(last > 0, 1 / (1 + last), 0), recency, found.similar, seg, signals.recent[safe])),
            *_cycle_columns(history, rows, cand, count, last),
            _per_customer(history.first_any_days, k), _per_customer(history.recent_txn, k), *_visit_cycle(history, k),
            signals.trend[safe], signals.product_age[safe], together, _row_ranks(together, cand),
            taste, _row_ranks(taste, cand),
        ]
        # one row per feature, transposed on return: each column is written contiguously, and a
        # tree's split reads one column
        feats = np.empty((len(columns), n * k), dtype=np.float32)
        for row, column in zip(feats, columns, strict=True):
            row[:] = np.ravel(column)
        # -1 is below every real value of these non-negative features: "unknown" without NaN,
        # which the binner refuses when a whole column is missing (cross-sell has no own_days)
        return cand, np.nan_to_num(feats, copy=False, nan=-1.0).T


class _Chunk:
    """Training customers of one snapshot: their history, signals, segment codes, candidate
    pool and truth (customers x products bought in the window)."""

    def __init__(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray, pool: CandidatePool, truth) -> None:
        self.history, self.signals, self.codes, self.pool, self.truth = history, signals, codes, pool, truth

    def labels(self, cand: np.ndarray) -> np.ndarray:
        """(n * K,) whether each candidate was bought in the window."""
        return lookup(self.truth, np.repeat(np.arange(len(cand)), cand.shape[1]), np.maximum(cand, 0).ravel()) > 0


def _training_rows(history: PurchaseHistory, truth: sp.csr_matrix, rng: np.random.Generator, cap: int) -> np.ndarray:
    """The snapshot's customers the ranker learns from (at most `cap`, drawn from rng): judged
    like the evaluation, customers with a history who bought in the window; the others teach
    "who buys at all", not which product a buyer picks."""
    bought = np.diff(truth.indptr) > 0
    rows = np.flatnonzero((history.txn_count > 0) & bought)
    return np.sort(rng.choice(rows, cap, replace=False)) if len(rows) > cap else rows


def split_features(model: HistGradientBoostingClassifier) -> list[int]:
    """The features a fitted model's trees split on, most splits first (ties: lower index)."""
    trees = [tree.nodes for iteration in getattr(model, "_predictors", []) for tree in iteration]
    used = np.concatenate([nodes["feature_idx"][nodes["is_leaf"] == 0] for nodes in trees]) if trees else np.zeros(0, np.int64)
    counts = np.bincount(used.astype(np.int64))
    return [int(f) for f in np.argsort(-counts, kind="stable") if counts[f]]


def _row_ranks(values: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Each candidate's rank (0 = best; ties share the best rank) by `values` (n, K) among the
    customer's candidates: what a pointwise model needs to rank within a customer rather than
    across customers. Ties sharing a rank keeps it independent of slot order and padding, so a
    customer's features do not depend on the chunk they are scored in."""
    v = np.where(cand >= 0, -values, np.inf)
    order = np.argsort(v, axis=1, kind="stable")
    s = np.take_along_axis(v, order, axis=1)
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    start = np.maximum.accumulate(np.where(new, np.arange(s.shape[1]), 0), axis=1)
    out = np.empty_like(start)
    np.put_along_axis(out, order, start, axis=1)
    return out.astype(np.float32)


def _per_customer(values: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.float64)[:, None], k, axis=1)


def _cycle_columns(history: PurchaseHistory, rows: np.ndarray, cand: np.ndarray, count: np.ndarray, last: np.ndarray) -> list[np.ndarray]:
    """own_first_days, own_interval, own_due, own_decayed, rank_decayed, in_last_visit (n, K)."""
    n, k = cand.shape
    safe = np.maximum(cand, 0)
    first = lookup(history.first_days, rows, safe.ravel()).reshape(n, k)
    decayed = lookup(history.decayed, rows, safe.ravel()).reshape(n, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where(count > 1, (first - last) / np.maximum(count - 1, 1), np.nan)
        due = (last - 1) / interval
    in_last = (last > 0) & (last - 1 - history.last_any_days[:, None] < 1.0)
    return [np.where(first > 0, first, np.nan), interval, due, decayed, _row_ranks(decayed, np.where(count > 0, cand, -1)), in_last]


def _visit_cycle(history: PurchaseHistory, k: int) -> list[np.ndarray]:
    """The customer's own interval between visits and how overdue the next one is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where(
            history.txn_count > 1, (history.first_any_days - history.last_any_days) / np.maximum(history.txn_count - 1, 1), np.nan)
        due = history.last_any_days / interval
    return [_per_customer(interval, k), _per_customer(due, k)]
