"""Business rules on offers and the top-k selection under them.

Rules (all optional): products and categories never offered; eligibility per segment (a
segment named there is offered only the listed products or categories); products or
categories that are never offered again to someone who bought them (non-repeatable); and
diversity, at most N offers of one category per customer. Cross-sell mode is the rule "nothing
the customer already bought".
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmentation.offer_methods import OfferScorer, mask_owned, top_k
from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

CHUNK = 10_000


@dataclass(frozen=True)
class OfferRules:
    """Product ids and category names; `eligible` is keyed by segment id or segment name."""

    exclude_products: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    eligible: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    non_repeatable: tuple[str, ...] = ()
    max_per_category: int | None = None

    def compile(self, catalog: pd.DataFrame, signals: ProductSignals, segment_names: Mapping[str, str]) -> CompiledRules:
        """Against a catalog (index product_id, column category) and the signals' segments."""
        pid = catalog.index.astype(str)
        cat = catalog["category"].astype("string")

        def hit(names: tuple[str, ...]) -> np.ndarray:
            wanted = set(names)
            return (pid.isin(wanted) | cat.isin(wanted).fillna(False).to_numpy()).astype(bool)

        allowed = ~hit(self.exclude_products) & ~hit(self.exclude_categories)
        per_segment = np.ones((len(signals.segment_ids) + 1, len(pid)), dtype=bool)  # last row: unknown
        for row, seg in enumerate(signals.segment_ids):
            key = next((k for k in (str(seg), segment_names.get(str(seg))) if k is not None and k in self.eligible), None)
            if key is not None:
                per_segment[row] = hit(tuple(self.eligible[key]))
        codes = pd.factorize(cat)[0] if self.max_per_category else np.full(len(pid), -1)
        return CompiledRules(allowed, per_segment, hit(self.non_repeatable), codes, self.max_per_category)


@dataclass(frozen=True)
class CompiledRules:
    """Rules as arrays over the catalog's products (see OfferRules.compile)."""

    allowed: np.ndarray
    per_segment: np.ndarray
    non_repeatable: np.ndarray
    category_codes: np.ndarray
    max_per_category: int | None

    def apply(self, scores: np.ndarray, history: PurchaseHistory, codes: np.ndarray) -> np.ndarray:
        """Set every product a rule forbids for that customer to -inf (in place)."""
        scores[:, ~self.allowed] = -np.inf
        seg_rows = np.where(codes >= 0, codes, len(self.per_segment) - 1)
        scores[~self.per_segment[seg_rows]] = -np.inf
        if self.non_repeatable.any():
            owned = history.counts.tocoo()
            bad = self.non_repeatable[owned.col]
            scores[owned.row[bad], owned.col[bad]] = -np.inf
        return scores

    def allowed_at(self, cand: np.ndarray, history: PurchaseHistory, codes: np.ndarray) -> np.ndarray:
        """(n, K) bool: whether each candidate (catalog positions, -1 none) passes every rule."""
        safe = np.maximum(cand, 0)
        seg_rows = np.where(codes >= 0, codes, len(self.per_segment) - 1)
        ok = (cand >= 0) & self.allowed[safe] & self.per_segment[seg_rows[:, None], safe]
        if self.non_repeatable.any():
            ok &= ~(self.non_repeatable[safe] & (_owned_at(history, safe) > 0))
        return ok

    def diversify(self, cand: np.ndarray, k: int) -> np.ndarray:
        """Keep, in order, candidates within max_per_category of one category; first k of them."""
        if not self.max_per_category:
            return cand[:, :k]
        cats = np.where(cand >= 0, self.category_codes[np.maximum(cand, 0)], -1)
        same = (cats[:, :, None] == cats[:, None, :]) & (cats[:, :, None] >= 0)
        earlier = np.tril(np.ones((cand.shape[1],) * 2, dtype=bool), -1)
        keep = (cand >= 0) & ((same & earlier).sum(axis=2) < self.max_per_category)
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        return np.where(np.take_along_axis(keep, order, axis=1), np.take_along_axis(cand, order, axis=1), -1)


def select_offers(
    scorer: OfferScorer, history: PurchaseHistory, signals: ProductSignals, *, cross_sell: bool = False,
    rules: CompiledRules | None = None, k: int = 3, rows: np.ndarray | None = None, chunk: int = CHUNK,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(products (customers, k) as catalog positions, -1 for none; their scores, NaN for none).

    `rows`: positions in `history` (which `signals` was built from) to serve; all by default.
    Customers are served `chunk` at a time, by `n_jobs` threads (numpy and the model's predict
    release the GIL; each chunk writes only its own rows, so the answer does not depend on it).
    """
    rows = np.arange(history.counts.shape[0]) if rows is None else rows
    n = len(rows)
    picks = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, k), np.nan, dtype=np.float32)
    wide = k * 4 if rules is not None and rules.max_per_category else k

    def serve(start: int) -> None:
        sel = rows[start:start + chunk]
        part, codes = history.take(sel), signals.segment_codes[sel]
        ranked, ranked_scores = _ranked(scorer, part, signals, codes, cross_sell, rules, wide)
        cand = rules.diversify(ranked, k) if rules is not None else ranked
        cand = cand[:, :k]
        picks[start:start + len(cand), : cand.shape[1]] = cand
        at = np.argmax(cand[:, :, None] == ranked[:, None, :], axis=2)  # where each pick sat in the ranking
        got = np.take_along_axis(ranked_scores, at, axis=1)
        values[start:start + len(cand), : cand.shape[1]] = np.where(cand >= 0, got, np.nan)

    starts = list(range(0, n, chunk))
    if starts:
        serve(starts[0])  # first alone: it builds the signals' lazy tables the threads then share
    if n_jobs <= 1:
        for start in starts[1:]:
            serve(start)
        return picks, values
    def serve_alone(start: int) -> None:
        # the chunks are the parallelism: OpenMP teams inside each thread (the tree predictor's)
        # would put n_jobs x cores threads on the cores, which spin at their barriers. The limit
        # is the calling thread's own (an OpenMP setting per thread), so it stays in the pool.
        with threadpool_limits(1, user_api="openmp"):
            serve(start)

    with ThreadPoolExecutor(n_jobs) as pool:
        list(pool.map(serve_alone, starts[1:]))
    return picks, values


def _ranked(scorer, part, signals, codes, cross_sell, rules, wide) -> tuple[np.ndarray, np.ndarray]:
    """(candidates best first, -1 none; their scores, -inf for none)."""
    by_candidates = getattr(scorer, "candidate_scores", None)
    if by_candidates is not None:  # the ranker: a few candidates each, never a dense row
        def allowed(cand: np.ndarray) -> np.ndarray:
            ok = cand >= 0
            if rules is not None:
                ok &= rules.allowed_at(cand, part, codes)
            if cross_sell:
                ok &= _owned_at(part, np.maximum(cand, 0)) == 0
            return ok

        # the rules go in before the ranker's first stage, so forbidden products take no place on its short list
        cand, sc = by_candidates(part, signals, codes, allowed)
        sc = np.where(np.isfinite(sc) & allowed(cand), sc, -np.inf)
        order = np.lexsort((cand, -sc), axis=1)  # ties: lower catalog position, as top_k
        cand, sc = np.take_along_axis(cand, order, axis=1), np.take_along_axis(sc, order, axis=1)
        return np.where(np.isfinite(sc), cand, -1), sc
    s = scorer.scores(part, signals, codes)
    if cross_sell:
        s = mask_owned(s, part)
    if rules is not None:
        s = rules.apply(s, part, codes)
    cand = top_k(s, wide)
    sc = np.take_along_axis(s, cand, axis=1)
    return np.where(np.isfinite(sc), cand, -1), sc


def _owned_at(history: PurchaseHistory, products: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(products.shape[0]), products.shape[1])
    return lookup(history.counts, rows, products.ravel()).reshape(products.shape)
