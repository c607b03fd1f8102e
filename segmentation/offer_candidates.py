"""Candidate products per customer for the ranker, without a dense customers x products matrix.

Four sources, each adding its best products not yet taken, in this order:
- own: the customer's purchases, most often then most recently bought first (skipped in
  cross-sell, where they are excluded instead);
- similar: neighbours (item-item co-occurrence) of the customer's TOP_OWN favourite products,
  ranked by their summed similarity to those favourites;
- segment: the customer's segment's most popular products;
- recent: what sells most lately.

Everything is (customers, k) integer arrays of catalog positions, -1 for "none", so a million
customers cost a few sorts of their own purchases rather than 2,000 scores each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

TOP_OWN = 5
NEIGHBOURS_PER_FAVOURITE = 10


@dataclass(frozen=True)
class Candidates:
    """cand: (n, K) catalog positions (-1 none); favourites: each customer's TOP_OWN most bought
    products (n, TOP_OWN); similar: (n, K) summed similarity of each candidate to them."""

    cand: np.ndarray
    favourites: np.ndarray
    similar: np.ndarray


def own_ranked(history: PurchaseHistory, k: int) -> np.ndarray:
    """(n, k): each customer's products by purchase count, then recency (-1 past the end)."""
    coo = history.counts.tocoo()
    last = history.last_days_at(coo.row, coo.col)
    score = coo.data + 1.0 / (1.0 + last)
    return _top_per_row(coo.row, coo.col, score, k, history.counts.shape[0])


def gather_candidates(
    history: PurchaseHistory, signals: ProductSignals, codes: np.ndarray, ks: tuple[int, int, int, int],
    cross_sell: bool, neighbours: np.ndarray, similarity: np.ndarray | sp.csr_matrix,
    basket: np.ndarray | sp.csr_matrix | None = None, *, basket_floor: np.ndarray | None = None,
) -> Candidates:
    """ks: how many from own, similar, segment, recent. neighbours: (products, m) each product's
    most similar products (-1 none); similarity: the same similarities, dense or csr; basket:
    (n, products) co-occurrence with everything each customer bought (dense, or csr: only its
    nonzeros are read), when given the similar products are its best instead of the
    favourites' neighbours (in cross-sell, also the own products' slots go to them);
    basket_floor: (n,) per customer, basket entries below it are not among their best (see
    segmentation.offer_shortlist.basket_floor) and are skipped."""
    n = history.counts.shape[0]
    favourites = own_ranked(history, max(TOP_OWN, ks[0]))
    # products already taken per customer (and, in cross-sell, everything they bought), as one
    # dense chunk x products mask: a gather per option instead of a search per option and block
    taken = np.zeros((n, history.counts.shape[1]), dtype=bool)
    if cross_sell:
        taken[np.repeat(np.arange(n), np.diff(history.counts.indptr)), history.counts.indices] = True
    blocks: list[np.ndarray] = []
    if ks[0] and not cross_sell:
        blocks.append(_take(taken, favourites[:, : ks[0]]))
    fav = favourites[:, :TOP_OWN]
    n_similar = ks[1] + (ks[0] if cross_sell else 0)
    if basket is not None:
        near = _best_of(basket, basket_width(ks, cross_sell), basket_floor)
    else:
        near = _favourites_neighbours(fav, neighbours, similarity)
    blocks.append(_first_free(near, taken, n_similar))
    seg_rows = np.where(codes >= 0, codes, len(signals.segment_share))
    width = sum(ks) + TOP_OWN
    seg_order = np.argsort(-np.vstack([signals.segment_share, signals.popularity[None, :]]), axis=1, kind="stable")[:, :width]
    blocks.append(_first_free(seg_order[seg_rows], taken, ks[2]))
    latest = np.argsort(-signals.recent, kind="stable")[:width]
    recent = np.broadcast_to(latest, (n, len(latest)))
    blocks.append(_first_free(recent, taken, ks[3]))
    cand = np.hstack(blocks)
    return Candidates(cand, fav, similarity_to(fav, cand, similarity))


def basket_width(ks: tuple[int, int, int, int], cross_sell: bool) -> int:
    """How many of the basket's best products gather_candidates reads (some are taken already)."""
    return ks[1] + (ks[0] + TOP_OWN * 4 if cross_sell else ks[0])


def _favourites_neighbours(fav: np.ndarray, neighbours: np.ndarray, similarity: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """(n, TOP_OWN * m): the favourites' neighbours, once each, by summed similarity to them."""
    n = len(fav)
    m = min(neighbours.shape[1], NEIGHBOURS_PER_FAVOURITE)
    near = neighbours[np.maximum(fav, 0)][:, :, :m].reshape(n, -1)
    near = np.where(np.repeat(fav >= 0, m, axis=1), near, -1)
    near = _dedupe_rows(near)
    near_score = similarity_to(fav, near, similarity)
    order = np.argsort(-np.where(near >= 0, near_score, -np.inf), axis=1, kind="stable")
    return np.take_along_axis(near, order, axis=1)


def neighbour_table(similarity: sp.csr_matrix, m: int = NEIGHBOURS_PER_FAVOURITE) -> np.ndarray:
    """(products, m): each product's m most similar products, best first, -1 past the end."""
    coo = similarity.tocoo()
    return _top_per_row(coo.row, coo.col, coo.data, m, similarity.shape[0])


def similarity_to(fav: np.ndarray, cand: np.ndarray, similarity: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """(n, K): for each candidate, its summed similarity to the customer's favourites."""
    n, f = fav.shape
    k = cand.shape[1]
    if isinstance(similarity, np.ndarray):  # one gather from the flat matrix, no (n*f*k) index pairs
        flat = np.maximum(fav, 0)[:, :, None] * similarity.shape[1] + np.maximum(cand, 0)[:, None, :]
        vals = similarity.ravel().take(flat)
    else:
        a = np.repeat(np.maximum(fav, 0), k, axis=1).ravel()
        b = np.tile(np.maximum(cand, 0), (1, f)).ravel()
        vals = lookup(similarity, a, b).reshape(n, f, k)
    ok = (fav >= 0)[:, :, None] & (cand >= 0)[:, None, :]
    return np.where(ok, vals, 0.0).sum(axis=1).astype(np.float32)


def _top_per_row(rows: np.ndarray, cols: np.ndarray, score: np.ndarray, k: int, n: int) -> np.ndarray:
    order = np.lexsort((cols, -score, rows))
    rows, cols = rows[order], cols[order]
    start = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - start[rows]
    width = min(k, int(rank.max()) + 1) if len(rank) else 0
    out = np.full((n, max(width, 1) if k else 0), -1, dtype=np.int64)
    keep = rank < width
    out[rows[keep], rank[keep]] = cols[keep]
    return out


def _dedupe_rows(a: np.ndarray) -> np.ndarray:
    """Later repeats of a value within a row become -1 (first occurrence kept, order kept)."""
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    dup = np.zeros_like(s, dtype=bool)
    dup[:, 1:] = s[:, 1:] == s[:, :-1]
    out = a.copy()
    np.put_along_axis(out, order, np.where(dup, -1, s), axis=1)
    return out


def _take(taken: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Mark a block's products (-1 none) as taken for their customers; the block unchanged."""
    got = block >= 0
    taken[np.broadcast_to(np.arange(len(block))[:, None], block.shape)[got], block[got]] = True
    return block


def _first_free(options: np.ndarray, taken: np.ndarray, k: int) -> np.ndarray:
    """(n, k): the first k options per row that are valid and not yet taken (customers x
    products mask), which then become taken."""
    if not k:
        return np.zeros((options.shape[0], 0), dtype=np.int64)
    rows = np.broadcast_to(np.arange(options.shape[0])[:, None], options.shape)
    ok = (options >= 0) & ~taken[rows, np.maximum(options, 0)]
    rank = np.cumsum(ok, axis=1) - 1
    sel = ok & (rank < k)
    out = np.full((options.shape[0], k), -1, dtype=np.int64)
    out[rows[sel], rank[sel]] = options[sel]
    return _take(taken, out)


def _best_of(scores: np.ndarray | sp.csr_matrix, k: int, floor: np.ndarray | None = None) -> np.ndarray:
    """(n, k) positions of each row's k highest positive scores, best first, -1 past them
    (floor: see best_nonzeros; dense scores need none)."""
    if sp.issparse(scores):
        return best_nonzeros(scores, k, floor=floor)
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
    return np.where(vals > 0, top, -1)


def best_nonzeros(scores: sp.csr_matrix, k: int, block: int = 2048, floor: np.ndarray | None = None) -> np.ndarray:
    """(n, k) column positions of each row's k highest positive entries, best first (ties: lower
    column), -1 past them. floor: (n,) per row, a value its k-th best is known to reach, so
    entries below it are dropped before the sort (the caller's guarantee: the answer is the
    same). Per block of rows, one sort of the nonzeros packed as (row, descending
    value, column) into one uint64 (positive float32 bits order like their values): a value sort
    runs several times faster than an argsort, a customer's few hundred co-occurring products
    cost far less than a pass over all of the catalogue's columns, and blocks keep the
    temporaries small enough to be reused rather than page-faulted in afresh."""
    n, p = scores.shape
    csr = scores.tocsr()
    out = np.full((n, k), -1, dtype=np.int64)
    for start in range(0, n if k else 0, block):
        stop = min(start + block, n)
        lo, hi = csr.indptr[start], csr.indptr[stop]
        per_row = np.diff(csr.indptr[start:stop + 1])
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), per_row)
        least = None if floor is None else np.repeat(floor[start:stop], per_row)
        _best_in_block(np.asarray(csr.data[lo:hi], dtype=np.float32), rows, csr.indices[lo:hi], p, out[start:stop], least)
    return out


def _best_in_block(data: np.ndarray, rows: np.ndarray, cols: np.ndarray, p: int, out: np.ndarray, least: np.ndarray | None) -> None:
    """best_nonzeros for one block of rows (entries in row order), written into `out`; least:
    per entry, its row's floor (None: none)."""
    n, k = out.shape
    pos = data > 0 if least is None else (data > 0) & (data >= least)
    if not pos.all():
        data, rows, cols = data[pos], rows[pos], cols[pos]
    if not len(rows):
        return
    col_bits, row_bits = max(int(p - 1).bit_length(), 1), max(int(n - 1).bit_length(), 1)
    if col_bits + row_bits + 32 > 64:  # too wide to pack: the same order by a lexsort
        order = np.lexsort((cols, -data, rows))
        r, c = rows[order], cols[order].astype(np.int64)
    else:
        desc = np.uint64(0xFFFFFFFF) - data.view(np.uint32).astype(np.uint64)
        key = np.sort((rows.astype(np.uint64) << np.uint64(32 + col_bits)) | (desc << np.uint64(col_bits)) | cols.astype(np.uint64))
        r = (key >> np.uint64(32 + col_bits)).astype(np.int64)
        c = (key & np.uint64((1 << col_bits) - 1)).astype(np.int64)
    per_row = np.bincount(r, minlength=n)
    rank = np.arange(len(r)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    keep = rank < k
    out[r[keep], rank[keep]] = c[keep]
