"""Product-level signals every offer method shares: popularity overall, lately and per segment,
and item-item co-occurrence ("customers who bought A also bought B").

Built once per history snapshot (segmentation.purchases.PurchaseHistory) and then read chunk by
chunk of customers, so scoring a million customers never holds a dense customers x products
matrix.
"""

from __future__ import annotations

import copy
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
        n_jobs > 1: the taste mixture is fitted on a thread beside the sums (the same signals)."""
        seg = segments.reindex(history.customer_ids)
        seg_ids = pd.Index(pd.unique(seg.dropna()))
        codes = seg_ids.get_indexer(seg).astype(np.int64)
        if n_jobs > 1:
            with ThreadPoolExecutor(1) as side:
                tastes = side.submit(TasteMixture.fit, history.owned)
                return cls.from_sums(SignalSums.of(history, codes, len(seg_ids)), seg_ids, codes, tastes.result(), neighbours)
        return cls.from_sums(SignalSums.of(history, codes, len(seg_ids)), seg_ids, codes, TasteMixture.fit(history.owned),
                             neighbours)

    @classmethod
    def from_sums(cls, sums: SignalSums, segment_ids: pd.Index, codes: np.ndarray, tastes: TasteMixture,
                  neighbours: int = NEIGHBOURS) -> ProductSignals:
        """The signals from their sums over every customer (SignalSums, added up over parts of the
        customers), the segments' ids in code order, the codes of the customers they are read for and
        the fitted tastes: what an engine that holds the customers in parts hands over."""
        buyers = max(sums.buyers, 1)
        bought = sums.owned.astype(np.float32)
        popularity = bought / buyers
        recent = sums.recent.astype(np.float32) / max(sums.active, 1)
        share = sums.segment_owned.astype(np.float32) / np.maximum(sums.segment_buyers.astype(np.float32), 1)[:, None]
        repeat_rate = sums.again.astype(np.float32) / np.maximum(bought, 1)
        trend = recent / np.maximum(popularity, 1.0 / buyers)
        age = sums.first_max.astype(np.float32) - 1.0
        return cls(popularity, recent, share, segment_ids, codes, neighbours_of(sums.cooccurrence, neighbours), repeat_rate,
                   trend, age, tastes)

    def for_customers(self, codes: np.ndarray) -> ProductSignals:
        """The same signals read for other customers (their segment codes), keeping every table
        already worked out (neighbours, similarity look-up, k-th similarities)."""
        out = copy.copy(self)
        object.__setattr__(out, "segment_codes", codes)
        return out

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


@dataclass(frozen=True)
class SignalSums:
    """What ProductSignals are worked out from, as sums over customers, so parts of the customers
    can be summed apart and added (every entry a count, except first_max, a maximum). Per product:
    owned (its buyers), recent (bought in the last RECENT_DAYS), again (bought in more than one
    transaction), first_max (1 + days since its first purchase); segment_owned (segments x
    products buyers) and segment_buyers (buyers per segment); cooccurrence (products x products:
    customers who bought both); buyers and active (customers with a purchase, and within RECENT_DAYS)."""

    buyers: int
    active: int
    owned: np.ndarray
    recent: np.ndarray
    again: np.ndarray
    first_max: np.ndarray
    segment_owned: np.ndarray
    segment_buyers: np.ndarray
    cooccurrence: sp.csr_matrix

    @classmethod
    def of(cls, history: PurchaseHistory, codes: np.ndarray, n_segments: int) -> SignalSums:
        """The sums over the customers of `history`, whose segment codes (rows of 0..n_segments-1,
        -1 unknown) are `codes`."""
        owned = history.owned
        recent = history.last_days.copy()
        recent.data = ((recent.data > 0) & (recent.data <= RECENT_DAYS + 1)).astype(np.float32)
        again = history.counts.copy()
        again.data = (again.data > 1).astype(np.float32)
        seg_owned, seg_buyers = _segment_counts(owned, codes, n_segments)
        return cls(
            int((history.txn_count > 0).sum()), int((history.last_any_days <= RECENT_DAYS).sum()), _column_sums(owned),
            _column_sums(recent), _column_sums(again), np.asarray(history.first_days.max(axis=0).todense()).ravel(),
            seg_owned, seg_buyers, (owned.T @ owned).tocsr().astype(np.float32),
        )

    def add(self, other: SignalSums) -> SignalSums:
        """The sums over both parts' customers (disjoint parts, the same product and segment axes)."""
        return SignalSums(
            self.buyers + other.buyers, self.active + other.active, self.owned + other.owned, self.recent + other.recent,
            self.again + other.again, np.maximum(self.first_max, other.first_max), self.segment_owned + other.segment_owned,
            self.segment_buyers + other.segment_buyers, (self.cooccurrence + other.cooccurrence).tocsr(),
        )


def _column_sums(matrix: sp.csr_matrix) -> np.ndarray:
    """Per column, as float64: counts of ones added exactly whatever the number of parts."""
    return np.asarray(matrix.sum(axis=0, dtype=np.float64)).ravel()


def _segment_counts(owned: sp.csr_matrix, codes: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """(segments x products buyers, buyers per segment), both float64 counts."""
    if not n_segments:
        return np.zeros((0, owned.shape[1])), np.zeros(0)
    known = codes >= 0
    member = sp.csr_matrix(
        (np.ones(int(known.sum())), (codes[known], np.flatnonzero(known))), shape=(n_segments, owned.shape[0]),
    )
    buyers = np.asarray(member @ (np.diff(owned.indptr) > 0).astype(np.float64)).ravel()
    return np.asarray((member @ owned.astype(np.float64)).todense()), buyers


def cosine_neighbours(owned: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """Item-item cosine similarity of co-purchase, each row cut to its `neighbours` best."""
    return neighbours_of((owned.T @ owned).tocsr().astype(np.float32), neighbours)


def neighbours_of(cooccurrence: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """Item-item cosine similarity from the co-purchase counts (products x products, the diagonal
    each product's buyers), each row cut to its `neighbours` best."""
    co = cooccurrence.astype(np.float32, copy=True).tocsr()
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
    shape = cooccurrence.shape
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)

def cooccurrence_scores(history: PurchaseHistory, similarity: sp.csr_matrix) -> np.ndarray:
    """(customers, products) dense: sum of similarity to each product the customer bought."""
    return np.asarray((history.owned @ similarity).todense(), dtype=np.float32)
