"""The learned offer ranker: gradient boosting on customer x product candidate features.

Candidates per customer are the union of a few products from each cheap signal (their own
purchases, co-occurrence with their whole basket, their segment's favourites, what sells
lately); each candidate gets features (own frequency, recency and repurchase cycle with the
product, co-occurrence, share in the segment, popularity overall and lately, trend, price fit,
the customer's activity and visit cycle) and the model, trained on earlier snapshots with
"bought it in the next window" as the label (segmentation.offer_evaluation.make_scorer), ranks
them. The defaults (candidates, trees, learning rate) were selected on Online Retail's
2011-06-01 split, never on the 2011-09-01 split the benchmark reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from segmentation.offer_candidates import gather_candidates
from segmentation.offer_signals import ProductSignals, cooccurrence_scores
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


class OfferRanker(BaseEstimator):
    """fit(history, signals, truth) on a snapshot, then scores(history, signals, codes).

    `candidates`: products taken from each signal in turn (own, co-occurrence, segment,
    recent); `cross_sell` drops the customer's own products from the candidates and labels.
    Learned: model_ (the classifier), n_train_rows_, positive_rate_.
    """

    def __init__(
        self, candidates: tuple[int, int, int, int] = (20, 6, 4, 6), cross_sell: bool = False,
        price: np.ndarray | None = None, max_train_customers: int = 20_000, max_iter: int = 150,
        learning_rate: float = 0.05, max_leaf_nodes: int = 15, random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.cross_sell = cross_sell
        self.price = price
        self.max_train_customers = max_train_customers
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state

    def fit(self, snapshots: Sequence[tuple[PurchaseHistory, ProductSignals, sp.csr_matrix]]) -> OfferRanker:
        """Each snapshot: (history, its signals, truth), truth customers x products nonzero where
        the customer bought the product in the window after history.as_of (same axes)."""
        rng = np.random.default_rng(self.random_state)
        cap = max(self.max_train_customers // max(len(snapshots), 1), 1)
        parts = [self._examples(h, s, t, rng, cap) for h, s, t in snapshots]
        Xa, ya = np.vstack([x for x, _ in parts]), np.concatenate([y for _, y in parts])
        if not len(ya) or ya.min() == ya.max():
            raise ValueError("the training windows have no (or only) purchases among the candidates: nothing to learn")
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes, early_stopping=True,
            validation_fraction=0.1, n_iter_no_change=10, random_state=self.random_state,
        ).fit(Xa, ya)
        self.n_train_rows_, self.positive_rate_ = len(ya), float(ya.mean())
        return self

    def _examples(self, history, signals, truth, rng, cap) -> tuple[np.ndarray, np.ndarray]:
        # judged like the evaluation: customers with a history who bought in the window; the
        # others teach "who buys at all", not which product a buyer picks
        bought = np.diff(truth.indptr) > 0
        rows = np.flatnonzero((history.txn_count > 0) & bought)
        if len(rows) > cap:
            rows = np.sort(rng.choice(rows, cap, replace=False))
        X, y = [np.zeros((0, len(FEATURES)), np.float32)], [np.zeros(0, bool)]
        for start in range(0, len(rows), CHUNK):
            sel = rows[start:start + CHUNK]
            cand, feats = self._features(history.take(sel), signals, signals.segment_codes[sel])
            label = lookup(truth, np.repeat(sel, cand.shape[1]), np.maximum(cand, 0).ravel()) > 0
            valid = (cand >= 0).ravel()
            X.append(feats[valid])
            y.append(label[valid])
        return np.vstack(X), np.concatenate(y)

    def scores(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> np.ndarray:
        """(n, products): the model's probability for candidates, -inf elsewhere."""
        cand, prob = self.candidate_scores(history, signals, codes)
        out = np.full((len(cand), history.counts.shape[1]), -np.inf, dtype=np.float32)
        valid = cand >= 0
        rows = np.broadcast_to(np.arange(len(cand))[:, None], cand.shape)
        out[rows[valid], cand[valid]] = prob[valid]
        return out

    def candidate_scores(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(candidates (n, K) catalog positions, -1 none; their probabilities, -inf for none)."""
        check_is_fitted(self, "model_")
        cand, feats = self._features(history, signals, codes)
        valid = cand >= 0
        prob = np.full(cand.shape, -np.inf, dtype=np.float32)
        if valid.any():
            prob[valid] = self.model_.predict_proba(feats[valid.ravel()])[:, 1]
        return cand, prob

    def _features(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(candidates (n, K), -1 for none) and their features ((n*K, len(FEATURES)))."""
        basket = cooccurrence_scores(history, signals.similarity)
        found = gather_candidates(
            history, signals, codes, self.candidates, self.cross_sell, signals.neighbours, signals.similarity_lookup, basket)
        cand = found.cand
        n, k = cand.shape
        safe = np.maximum(cand, 0)
        together = np.take_along_axis(basket, safe, axis=1) / np.maximum(history.counts.getnnz(axis=1), 1)[:, None]
        taste = np.take_along_axis(signals.taste_scores(history), safe, axis=1)
        rows = np.repeat(np.arange(n), k)
        count = lookup(history.counts, rows, safe.ravel()).reshape(n, k)
        last = lookup(history.last_days, rows, safe.ravel()).reshape(n, k)
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
        feats = np.stack([np.asarray(c, dtype=np.float32).ravel() for c in columns], axis=1)
        # -1 is below every real value of these non-negative features: "unknown" without NaN,
        # which the binner refuses when a whole column is missing (cross-sell has no own_days)
        return cand, np.nan_to_num(feats, nan=-1.0)


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
