"""The learned offer ranker: gradient boosting on customer x product candidate features.

Candidates per customer are the union of a few products from each cheap signal (their own
purchases, co-occurrence with them, their segment's favourites, what sells lately); each
candidate gets features (own frequency and recency with the product, co-occurrence, share in
the segment, popularity overall and lately, price fit, the customer's activity) and the model,
trained on an earlier snapshot with "bought it in the next window" as the label, ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from segmentation.offer_methods import repeat_scores, top_k
from segmentation.offer_signals import ProductSignals, cooccurrence_scores
from segmentation.purchases import PurchaseHistory, lookup

FEATURES = (
    "own_count", "own_days", "cooc", "segment_share", "popularity", "recent", "price_fit",
    "txn_count", "last_any_days", "owned", "own_share", "repeat_rate",
    "rank_own", "rank_recency", "rank_cooc", "rank_segment", "rank_recent",
)
CHUNK = 10_000


class OfferRanker(BaseEstimator):
    """fit(history, signals, truth) on a snapshot, then scores(history, signals, codes).

    `candidates`: products taken from each signal in turn (own, co-occurrence, segment,
    recent); `cross_sell` drops the customer's own products from the candidates and labels.
    Learned: model_ (the classifier), n_train_rows_, positive_rate_.
    """

    def __init__(
        self, candidates: tuple[int, int, int, int] = (10, 12, 5, 3), cross_sell: bool = False,
        price: np.ndarray | None = None, max_train_customers: int = 30_000, max_iter: int = 150,
        random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.cross_sell = cross_sell
        self.price = price
        self.max_train_customers = max_train_customers
        self.max_iter = max_iter
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
            max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=31, early_stopping=True,
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
        check_is_fitted(self, "model_")
        cand, feats = self._features(history, signals, codes)
        out = np.full((len(cand), history.counts.shape[1]), -np.inf, dtype=np.float32)
        valid = cand >= 0
        prob = np.full(cand.shape, -np.inf, dtype=np.float32)
        prob[valid] = self.model_.predict_proba(feats[valid.ravel()])[:, 1]
        rows = np.repeat(np.arange(len(cand)), cand.shape[1]).reshape(cand.shape)
        out[rows[valid], cand[valid]] = prob[valid]
        return out

    def _features(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(candidates (n, K), -1 for none) and their features ((n*K, len(FEATURES)))."""
        counts = history.counts.toarray()
        last = history.last_days.toarray()
        cooc = cooccurrence_scores(history, signals.similarity)
        seg = signals.segment_rows(codes)
        n, p = counts.shape
        recent = np.broadcast_to(signals.recent.astype(np.float32), (n, p))
        own = repeat_scores(history) if not self.cross_sell else np.zeros((n, p), np.float32)
        cand = _union_candidates([own, cooc, seg, recent], self.candidates, counts > 0, self.cross_sell)
        safe = np.maximum(cand, 0)

        def pick(a: np.ndarray) -> np.ndarray:
            return np.take_along_axis(a, safe, axis=1).ravel()

        k = cand.shape[1]
        own_days = pick(last)
        price = self.price if self.price is not None else np.full(p, np.nan)
        fit = np.abs(np.log(price[safe]) - np.log(history.spend_price)[:, None]).ravel()
        feats = np.column_stack([
            pick(counts), np.where(own_days > 0, own_days, np.nan), pick(cooc), pick(seg),
            signals.popularity[safe].ravel(), signals.recent[safe].ravel(), fit,
            np.repeat(history.txn_count, k), np.repeat(history.last_any_days, k), (pick(counts) > 0),
            pick(counts) / np.maximum(np.repeat(history.txn_count, k), 1), signals.repeat_rate[safe].ravel(),
            *(_row_ranks(a, cand) for a in (own, np.where(last > 0, -last, -np.inf), cooc, seg, recent)),
        ])
        # -1 is below every real value of these non-negative features: "unknown" without NaN,
        # which the binner refuses when a whole column is missing (cross-sell has no own_days)
        return cand, np.nan_to_num(feats, nan=-1.0).astype(np.float32)


def _row_ranks(values: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Each candidate's rank (0 = best) by `values` among the customer's candidates: what a
    pointwise model needs to rank within a customer rather than across customers."""
    v = np.where(cand >= 0, np.take_along_axis(values, np.maximum(cand, 0), axis=1), -np.inf)
    return np.argsort(np.argsort(-v, axis=1, kind="stable"), axis=1).ravel().astype(np.float32)


def _union_candidates(signals: list[np.ndarray], ks: tuple[int, ...], owned: np.ndarray, cross_sell: bool) -> np.ndarray:
    """Up to sum(ks) distinct products per row: each signal adds its best not yet taken."""
    n = owned.shape[0]
    taken = owned.copy() if cross_sell else np.zeros_like(owned)
    out = []
    rows = np.arange(n)[:, None]
    for i, (score, k) in enumerate(zip(signals, ks, strict=True)):
        if k == 0:
            continue
        s = np.where(taken, -np.inf, score)
        if i == 0:  # own purchases: only products actually bought
            s = np.where(owned, s, -np.inf)
        idx = top_k(s, k)
        ok = np.isfinite(np.take_along_axis(s, idx, axis=1))
        taken[np.broadcast_to(rows, idx.shape)[ok], idx[ok]] = True
        out.append(np.where(ok, idx, -1))
    return np.hstack(out)

