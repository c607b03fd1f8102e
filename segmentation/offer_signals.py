"""Product-level signals every offer method shares: popularity overall, lately and per segment,
and item-item co-occurrence ("customers who bought A also bought B").

Built once per history snapshot (segmentation.purchases.PurchaseHistory) and then read chunk by
chunk of customers, so scoring a million customers never holds a dense customers x products
matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmentation.offer_tastes import TasteMixture
from segmentation.purchases import PurchaseHistory, lookup

#: Co-occurrence neighbours kept per product: enough for a top-3 list after rules and the
#: customer's own items are removed, small enough that scoring is a sparse product.
NEIGHBOURS = 100
RECENT_DAYS = 30
DENSE_PRODUCTS = 5000  # 100 MB of float32 similarities at most


@dataclass(frozen=True)
class ProductSignals:
    """popularity / recent: share of customers who bought each product (ever / in the last
    RECENT_DAYS); segment_share: segments x products share within each segment (row -1 of
    `segment_codes` falls back to popularity); similarity: products x products cosine of
    co-purchase, diagonal zero, NEIGHBOURS kept per row; repeat_rate: share of a product's buyers
    who bought it in more than one transaction; segment_codes: per customer of the
    history, the row of segment_share (-1 unknown); segment_ids: the segment id of each row;
    trend: recent / popularity (above one: selling more lately than over the whole history);
    product_age: days since the product was first bought; tastes: latent taste groups fitted
    to who bought what (segmentation.offer_tastes), so `taste_scores` is each customer's few
    purchases smoothed into a taste over the whole catalogue."""

    popularity: np.ndarray
    recent: np.ndarray
    segment_share: np.ndarray
    segment_ids: pd.Index
    segment_codes: np.ndarray
    similarity: sp.csr_matrix
    repeat_rate: np.ndarray
    trend: np.ndarray
    product_age: np.ndarray
    tastes: TasteMixture

    @classmethod
    def build(cls, history: PurchaseHistory, segments: pd.Series, neighbours: int = NEIGHBOURS, n_jobs: int = 1) -> ProductSignals:
        """`segments`: segment_id indexed by customer_id (customers not in it get code -1);
        n_jobs > 1: the taste mixture is fitted on a thread beside the rest (the same signals)."""
        owned = history.owned
        if n_jobs > 1:
            with ThreadPoolExecutor(1) as side:
                tastes = side.submit(TasteMixture.fit, owned)
                return cls._build(history, segments, neighbours, owned, tastes.result)
        return cls._build(history, segments, neighbours, owned, lambda: TasteMixture.fit(owned))

    @classmethod
    def _build(cls, history: PurchaseHistory, segments: pd.Series, neighbours: int, owned: sp.csr_matrix,
               tastes: Callable[[], TasteMixture]) -> ProductSignals:
        buyers = max(int((history.txn_count > 0).sum()), 1)
        popularity = np.asarray(owned.sum(axis=0)).ravel() / buyers
        recent_pat = history.last_days.copy()
        recent_pat.data = ((recent_pat.data > 0) & (recent_pat.data <= RECENT_DAYS + 1)).astype(np.float32)
        active = max(int((history.last_any_days <= RECENT_DAYS).sum()), 1)
        recent = np.asarray(recent_pat.sum(axis=0)).ravel() / active
        seg = segments.reindex(history.customer_ids)
        seg_ids = pd.Index(pd.unique(seg.dropna()))
        codes = seg_ids.get_indexer(seg).astype(np.int64)
        share = _segment_share(owned, codes, len(seg_ids))
        again = history.counts.copy()
        again.data = (again.data > 1).astype(np.float32)
        repeat_rate = np.asarray(again.sum(axis=0)).ravel() / np.maximum(np.asarray(owned.sum(axis=0)).ravel(), 1)
        trend = recent / np.maximum(popularity, 1.0 / buyers)
        age = np.asarray(history.first_days.max(axis=0).todense()).ravel() - 1.0
        return cls(popularity, recent, share, seg_ids, codes, cosine_neighbours(owned, neighbours), repeat_rate, trend, age,
                   tastes())

    def taste_scores(self, history: PurchaseHistory) -> np.ndarray:
        """(n, products): each customer's (rows of `history`) expected taste given their purchases."""
        return self.tastes.scores(history.owned)

    def taste_scores_at(self, history: PurchaseHistory, products: np.ndarray) -> np.ndarray:
        """(n, k): `taste_scores` at `products` (n, k catalog positions) only."""
        return self.tastes.scores_at(history.owned, products)

    @cached_property
    def neighbours(self) -> np.ndarray:
        """(products, m): each product's most similar products, best first, -1 past the end."""
        from segmentation.offer_candidates import neighbour_table

        return neighbour_table(self.similarity)

    def kth_similarity(self, k: int) -> np.ndarray:
        """(products,) each product's k-th best similarity (0 when it has fewer than k
        neighbours), worked out once per k: every chunk of customers prunes its basket with it."""
        if k not in self._kth:
            from segmentation.offer_candidates import best_nonzeros

            kth = np.zeros(self.similarity.shape[0], dtype=np.float32)
            best = best_nonzeros(self.similarity, k)[:, -1] if k else np.full(self.similarity.shape[0], -1)
            has = best >= 0
            kth[has] = lookup(self.similarity, np.flatnonzero(has), best[has])
            self._kth[k] = kth
        return self._kth[k]

    @cached_property
    def _kth(self) -> dict[int, np.ndarray]:
        return {}

    @cached_property
    def similarity_lookup(self) -> np.ndarray | sp.csr_matrix:
        """The similarity matrix dense when it is small enough for fast random access."""
        return self.similarity.toarray() if self.similarity.shape[0] <= DENSE_PRODUCTS else self.similarity

    def segment_rows_at(self, codes: np.ndarray, products: np.ndarray) -> np.ndarray:
        """(n, k) share of `products` (n, k positions) in each customer's segment (popularity when unknown)."""
        table = np.vstack([self.segment_share, self.popularity[None, :]]).astype(np.float32)
        return table[np.where(codes >= 0, codes, len(self.segment_share))[:, None], products]

    def segment_rows(self, codes: np.ndarray) -> np.ndarray:
        """(n, products) share in each customer's segment; overall popularity when unknown."""
        table = np.vstack([self.segment_share, self.popularity[None, :]]).astype(np.float32)
        return table[np.where(codes >= 0, codes, len(self.segment_share))]


def _segment_share(owned: sp.csr_matrix, codes: np.ndarray, n_segments: int) -> np.ndarray:
    known = codes >= 0
    if not n_segments:
        return np.zeros((0, owned.shape[1]), dtype=np.float32)
    member = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (codes[known], np.flatnonzero(known))),
        shape=(n_segments, owned.shape[0]),
    )
    buyers = np.asarray(member @ (np.asarray(owned.sum(axis=1)).ravel() > 0)).ravel()
    share = np.asarray((member @ owned).todense(), dtype=np.float32)
    return share / np.maximum(buyers, 1)[:, None]


def cosine_neighbours(owned: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """Item-item cosine similarity of co-purchase, each row cut to its `neighbours` best."""
    co = (owned.T @ owned).tocsr().astype(np.float32)
    n = np.sqrt(co.diagonal())
    co.setdiag(0.0)
    co.eliminate_zeros()
    n[n == 0] = 1.0
    scale = sp.diags(1.0 / n).astype(np.float32)
    cos = (scale @ co @ scale).tocsr()
    rows, cols, vals = [], [], []
    for start in range(0, cos.shape[0], 1000):  # dense blocks of rows: argpartition, not a sort of all pairs
        block = cos[start:start + 1000].toarray()
        k = min(neighbours, block.shape[1])
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        v = np.take_along_axis(block, top, axis=1)
        keep = v > 0
        rows.append(np.broadcast_to(np.arange(start, start + len(block))[:, None], top.shape)[keep])
        cols.append(top[keep])
        vals.append(v[keep])
    shape = (owned.shape[1], owned.shape[1])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)

def cooccurrence_scores(history: PurchaseHistory, similarity: sp.csr_matrix) -> np.ndarray:
    """(customers, products) dense: sum of similarity to each product the customer bought."""
    return np.asarray((history.owned @ similarity).todense(), dtype=np.float32)
