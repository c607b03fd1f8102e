"""The baseline offer methods and what every method shares: a score per customer x product.

A method scores one chunk of customers at a time, `(history chunk, signals) -> (n, products)`
float32, higher is better and -inf never offered. Baselines:

- popularity: the share of all customers who bought the product;
- segment_popularity: the share within the customer's segment;
- repeat: the customer's own purchases, most often then most recently bought first;
- cooccurrence: item-item cosine of co-purchase summed over what the customer bought.

Each breaks ties (and fills a short list) with overall popularity, so every method offers
three products to everyone when three are allowed.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from segmentation.offer_signals import ProductSignals, cooccurrence_scores
from segmentation.purchases import PurchaseHistory

BASELINES = ("popularity", "segment_popularity", "repeat", "cooccurrence")
METHODS = (*BASELINES, "ranker")
MODES = ("any", "cross_sell")
_TIE = np.float32(1e-4)


class OfferScorer(Protocol):
    def scores(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> np.ndarray: ...


class Baseline:
    """One of BASELINES as an OfferScorer; nothing to fit."""

    def __init__(self, method: str) -> None:
        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}")
        self.method = method

    def scores(self, history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray) -> np.ndarray:
        """(n, products) for the chunk `history`; `codes` are the chunk's segment codes."""
        n = history.counts.shape[0]
        pop = np.broadcast_to(signals.popularity.astype(np.float32), (n, len(signals.popularity)))
        if self.method == "popularity":
            return np.array(pop)
        if self.method == "segment_popularity":
            return signals.segment_rows(codes) + _TIE * pop
        if self.method == "repeat":
            return repeat_scores(history) + _TIE * pop
        return cooccurrence_scores(history, signals.similarity) + _TIE * pop


def repeat_scores(history: PurchaseHistory) -> np.ndarray:
    """Own purchase count, ties broken by recency (a fraction below one), 0 when never bought."""
    counts = history.counts.toarray()
    last = history.last_days.toarray()
    recency = np.where(last > 0, 1.0 / (1.0 + last), 0.0).astype(np.float32)
    return (counts + recency).astype(np.float32)


def mask_owned(scores: np.ndarray, history: PurchaseHistory) -> np.ndarray:
    """Cross-sell: products the customer already bought are never offered."""
    owned = history.counts
    rows = np.repeat(np.arange(owned.shape[0]), np.diff(owned.indptr))
    scores[rows, owned.indices] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) column indices of the k best scores per row, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
