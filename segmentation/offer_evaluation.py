"""Out-of-time evaluation of offer methods: train on history to a cutoff, judge on what each
customer buys in the next window.

precision@3 is the share of the three offers the customer bought in the window (a short list
still counts three slots); hit@3 is the share of customers who bought at least one. Both are
averaged over customers who bought before the cutoff and bought something in the window (in
cross-sell mode: something new to them). Intervals are percentile bootstraps over customers,
paired between methods for the lift of one over another.

Other judged populations and precision denominators (`POPULATIONS`, `SLOTS`) exist to compare
with figures computed under other definitions (benchmarks/bench_offer_reference.py); the
defaults above are the protocol segsync is judged by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmentation.offer_methods import BASELINES, Baseline, OfferScorer
from segmentation.offer_ranker import OfferRanker
from segmentation.offer_selection import select_offers
from segmentation.offer_signals import ProductSignals
from segmentation.purchases import EncodedItems, PurchaseHistory, bought_between, lookup

K = 3
#: The ranker's training labels: what was bought in this many days after each earlier snapshot.
#: Short, recent windows (the latest ending at the snapshot being scored) beat one long window
#: that ends a horizon earlier; overlapping windows a week apart (12 snapshots, the oldest
#: about three months back) beat three disjoint ones: more examples of the same recent kind.
#: Both selected on the 2011-06-01 and 2011-05-01 splits of Online Retail (BENCHMARKS.md).
TRAIN_WINDOW_DAYS = 30
TRAIN_STRIDE_DAYS = 7
TRAINING_SNAPSHOTS = 12
#: Customers whose history the training snapshots are built from (a random sample above it):
#: the ranker learns from max_train_customers of them anyway, so a million-customer population
#: costs the same twelve snapshots as this many.
TRAINING_POPULATION = 200_000
#: Customers the out-of-time comparison of a refit runs on at most (segmentation.offers): a
#: seeded sample of this many above it, drawn as the training population is, so an engine that
#: holds customers in parts collects only theirs. It judges max_eval_customers of them anyway.
EVAL_POPULATION = 200_000
#: Who is judged. returning (the default): customers with history who bought in the window (in
#: cross-sell: something new to them); returning_any: the same customers in both modes (those who
#: only re-bought count as zeros in cross-sell); window: everyone who bought in the window, new
#: customers (no history) included; known: every customer with history, buyers in the window or not.
POPULATIONS = ("returning", "returning_any", "window", "known")
#: precision@3's denominator: k (a short list still counts three slots) or offered (the offers made).
SLOTS = ("k", "offered")


@dataclass(frozen=True)
class Snapshot:
    """History and signals as of a date, over fixed product and customer axes."""

    history: PurchaseHistory
    signals: ProductSignals

    @classmethod
    def build(cls, items: pd.DataFrame | EncodedItems, as_of: pd.Timestamp, products: pd.Index, customers: pd.Index,
              segments: pd.Series, n_jobs: int = 1) -> Snapshot:
        """n_jobs: threads for its independent parts (the same snapshot for any n_jobs)."""
        if isinstance(items, EncodedItems):
            items.sort(n_jobs)
        history = PurchaseHistory.build(items, as_of, products, customers)
        return cls(history, ProductSignals.build(history, segments, n_jobs=n_jobs))


def window_truth(items: pd.DataFrame | EncodedItems, start: pd.Timestamp, days: int, history: PurchaseHistory, cross_sell: bool) -> sp.csr_matrix:
    """customers x products of `history`: 1 where bought in [start, start + days); in cross-sell
    mode only products the customer had not bought before `start`. Encoded items must be on
    the history's axes."""
    stop = start + pd.Timedelta(days=days)
    if isinstance(items, EncodedItems):
        c, p = items.pairs_between(start, stop)
    else:
        pairs = bought_between(items, start, stop)
        c = history.customer_ids.get_indexer(pairs["customer_id"])
        p = history.product_ids.get_indexer(pairs["product_id"])
    ok = (c >= 0) & (p >= 0)
    truth = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (c[ok], p[ok])), shape=history.counts.shape)
    if cross_sell:
        truth = truth - truth.multiply(history.owned)
        truth.eliminate_zeros()
    return truth.tocsr()


def make_scorer(
    method: str, items: pd.DataFrame | EncodedItems, snapshot: Snapshot, segments: pd.Series, *, horizon_days: int,
    cross_sell: bool, price: np.ndarray, training_snapshots: int = TRAINING_SNAPSHOTS, random_state: int = 0,
    ranker: OfferRanker | None = None, n_jobs: int = 1,
) -> OfferScorer:
    """A baseline, or the ranker (`ranker` unfitted, default settings when None) trained on the
    snapshots of `training_starts`, each labelled by what was bought in the TRAIN_WINDOW_DAYS
    after it (at most `horizon_days`), so every label ends by this snapshot's date: the same
    kind of out-of-time target it is judged on, as recent as possible. The snapshots are built
    by `n_jobs` threads (each is independent of the others, so the ranker is the same)."""
    if method in BASELINES:
        return Baseline(method)
    if method != "ranker":
        raise ValueError(f"unknown offer method {method!r}; expected one of {', '.join((*BASELINES, 'ranker'))}")
    h = snapshot.history
    return train_ranker(items, h.as_of, h.product_ids, h.customer_ids, segments, horizon_days=horizon_days,
                        cross_sell=cross_sell, price=price, training_snapshots=training_snapshots, random_state=random_state,
                        ranker=ranker, n_jobs=n_jobs)


def train_ranker(
    items: pd.DataFrame | EncodedItems, as_of: pd.Timestamp, products: pd.Index, customers: pd.Index, segments: pd.Series, *,
    horizon_days: int, cross_sell: bool, price: np.ndarray, training_snapshots: int = TRAINING_SNAPSHOTS, random_state: int = 0,
    ranker: OfferRanker | None = None, n_jobs: int = 1,
) -> OfferRanker:
    """make_scorer's ranker from the snapshot's date and axes alone (the snapshot itself is not
    read, so it can be built while the ranker trains): its training population, then fit_ranker."""
    if not isinstance(items, EncodedItems):
        items = EncodedItems.encode(items, products, customers)
    first = pd.Timestamp(items.seconds.min(), unit="s", tz="UTC")
    items, population = training_population(items, customers, TRAINING_POPULATION, random_state)
    return fit_ranker(items, population, segments, as_of, first, products, horizon_days=horizon_days,
                      cross_sell=cross_sell, price=price, training_snapshots=training_snapshots, random_state=random_state,
                      ranker=ranker, n_jobs=n_jobs)


def fit_ranker(
    items: EncodedItems, customers: pd.Index, segments: pd.Series, as_of: pd.Timestamp, first: pd.Timestamp,
    products: pd.Index, *, horizon_days: int, cross_sell: bool, price: np.ndarray,
    training_snapshots: int = TRAINING_SNAPSHOTS, random_state: int = 0, ranker: OfferRanker | None = None, n_jobs: int = 1,
) -> OfferRanker:
    """The ranker of `make_scorer`, from its training population's items on that population's own
    axis (`customers`, training_population); `first`: the first purchase of the whole history."""
    window = min(TRAIN_WINDOW_DAYS, horizon_days)
    starts = training_starts(as_of, first, window, TRAIN_STRIDE_DAYS, training_snapshots)
    examples = training_examples(items, starts, window, products, customers, segments, cross_sell, n_jobs)
    ranker = OfferRanker(random_state=random_state) if ranker is None else ranker
    return ranker.set_params(cross_sell=cross_sell, price=price).fit(examples, n_jobs=n_jobs)


def training_examples(
    items: EncodedItems, starts: Sequence[pd.Timestamp], window: int, products: pd.Index, customers: pd.Index,
    segments: pd.Series, cross_sell: bool, n_jobs: int = 1,
) -> list[tuple[PurchaseHistory, ProductSignals, sp.csr_matrix]]:
    """(history, signals, truth of the `window` days after) as of each start, in order, built by
    `n_jobs` threads: numpy, scipy's sparse products and the taste EM release the GIL."""
    def build(start: pd.Timestamp) -> tuple[PurchaseHistory, ProductSignals, sp.csr_matrix]:
        earlier = Snapshot.build(items, start, products, customers, segments)
        return earlier.history, earlier.signals, window_truth(items, start, window, earlier.history, cross_sell)

    if n_jobs <= 1 or len(starts) < 2:
        return [build(s) for s in starts]
    items.sort(n_jobs)  # the sorted lines every snapshot cuts: sorted once, before the threads share them
    with ThreadPoolExecutor(min(n_jobs, len(starts))) as pool:
        return list(pool.map(build, starts))


def training_population(items: EncodedItems, customers: pd.Index, size: int, random_state: int) -> tuple[EncodedItems, pd.Index]:
    """All customers' items and axis when there are at most `size`, else a random `size` of them
    on their own axis (the same draw for the same random_state)."""
    picked = training_sample(len(customers), size, random_state)
    if picked is None:
        return items, customers
    return items.restrict(picked), pd.Index(customers[picked])


def training_sample(customers: int, size: int, random_state: int) -> np.ndarray | None:
    """The positions (sorted) on a customer axis of `customers` that training_population keeps;
    None for all of them."""
    if customers <= size:
        return None
    return np.sort(np.random.default_rng(random_state).choice(customers, size, replace=False))


def evaluation_population(past: pd.DataFrame, random_state: int) -> pd.DataFrame:
    """The rows of `past` (line items: customer_id) of the customers the out-of-time comparison
    runs on: all of them up to EVAL_POPULATION, else those at training_sample's positions on the
    sorted customer ids."""
    ids = np.sort(past["customer_id"].astype(str).unique())
    picked = training_sample(len(ids), EVAL_POPULATION, random_state)
    if picked is None:
        return past
    return past[past["customer_id"].astype(str).isin(ids[picked]).to_numpy()]


def training_starts(as_of: pd.Timestamp, first: pd.Timestamp, window: int, stride: int, count: int) -> list[pd.Timestamp]:
    """The training snapshots' dates, latest first: as_of - window, then `stride` days earlier
    each, at most `count`; each label window [start, start + window) ends by as_of. A snapshot
    with less than `window` days of history before it is dropped (always keeping the latest)."""
    starts = [as_of - pd.Timedelta(days=window + stride * j) for j in range(count)]
    return starts[:1] + [s for s in starts[1:] if s - first >= pd.Timedelta(days=window)]


def evaluate_offers(
    items: pd.DataFrame, segments: pd.Series, cutoff: pd.Timestamp, *, horizon_days: int = 90,
    methods: Sequence[str] = (*BASELINES, "ranker"), modes: Sequence[str] = ("any", "cross_sell"),
    max_customers: int | None = None, n_boot: int = 500, random_state: int = 0,
    extra: Mapping[str, OfferScorer] | None = None, population: str = "returning", slots: str = "k",
) -> pd.DataFrame:
    """One row per (mode, method): customers, precision_at_3 (+ _lo, _hi), hit_at_3 (+ _lo, _hi),
    lift_vs_best_baseline (relative precision@3 over the mode's best baseline, + _lo, _hi).

    items: clean line items; segments: segment_id by customer_id as of the cutoff; extra:
    more scorers to judge alongside (e.g. an oracle that knows planted tastes); population: who
    is judged (POPULATIONS); slots: precision's denominator (SLOTS).
    """
    if population not in POPULATIONS or slots not in SLOTS:
        raise ValueError(f"population must be one of {POPULATIONS} and slots one of {SLOTS}; got {population!r}, {slots!r}")
    past = items[items["occurred_at"] < cutoff]
    products = pd.Index(np.sort(past["product_id"].unique()))
    known = past if population != "window" else items[items["occurred_at"] < cutoff + pd.Timedelta(days=horizon_days)]
    customers = pd.Index(np.sort(known["customer_id"].unique()))
    encoded = EncodedItems.encode(items, products, customers)
    snap = Snapshot.build(encoded, cutoff, products, customers, segments)
    price = past.groupby("product_id")["unit_price"].median().reindex(products).to_numpy(dtype="float64")
    rows = []
    for mode in modes:
        cross = mode == "cross_sell"
        truth = window_truth(encoded, cutoff, horizon_days, snap.history, cross)
        judged = judged_customers(items, cutoff, horizon_days, snap.history, truth, cross, max_customers, random_state, population)
        scorers = {m: make_scorer(m, encoded, snap, segments, horizon_days=horizon_days, cross_sell=cross, price=price,
                                  random_state=random_state) for m in methods} | dict(extra or {})
        hits, offered = {}, {}
        for name, scorer in scorers.items():
            picks, _ = select_offers(scorer, snap.history, snap.signals, cross_sell=cross, rows=judged, k=K)
            hits[name], offered[name] = offer_hits(picks, truth[judged]), (picks >= 0).sum(axis=1)
        rows.extend(_summarise(mode, hits, n_boot, random_state, offered if slots == "offered" else None))
    return pd.DataFrame(rows)


def judged_customers(
    items: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, history: PurchaseHistory, truth: sp.csr_matrix,
    cross: bool, max_customers: int | None, random_state: int, population: str = "returning",
) -> np.ndarray:
    """Positions in `history` of the customers with history who bought (something new, in
    cross-sell) in the window, even products never seen before the cutoff (those count as
    misses); a random `max_customers` of them when there are more. `population` (POPULATIONS)
    widens that: returning_any judges cross-sell on the any-product customers, window adds
    customers without history (when they are on the history's axis), known every customer with
    history."""
    window = bought_between(items, cutoff, cutoff + pd.Timedelta(days=horizon_days))
    pos = history.customer_ids.get_indexer(window["customer_id"])
    p = history.product_ids.get_indexer(window["product_id"])
    if cross and population in ("returning", "window"):  # unseen products are new to everyone; seen ones count if not owned
        owned = np.asarray(history.owned[pos[pos >= 0], np.maximum(p[pos >= 0], 0)]).ravel() > 0
        fresh = (p[pos >= 0] < 0) | ~owned
        pos = pos[pos >= 0][fresh]
    rows = np.unique(pos[pos >= 0]) if population != "known" else np.arange(len(history.customer_ids))
    if population != "window":
        rows = rows[history.txn_count[rows] > 0]
    if max_customers is not None and len(rows) > max_customers:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, max_customers, replace=False))
    return rows


def offer_hits(picks: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """(n,) how many of each customer's picks ((n, k) catalog positions, -1 none) are in their
    truth row (rows aligned)."""
    got = lookup(truth, np.repeat(np.arange(len(picks)), picks.shape[1]), np.maximum(picks, 0).ravel()).reshape(picks.shape) > 0
    return (got & (picks >= 0)).sum(axis=1)


def _summarise(
    mode: str, hits: dict[str, np.ndarray], n_boot: int, random_state: int, offered: dict[str, np.ndarray] | None = None,
) -> list[dict]:
    """The table's rows; precision per customer is hits / K, or hits / offers made when `offered`
    is given (0 for a customer offered nothing)."""
    n = len(next(iter(hits.values())))
    idx = np.random.default_rng(random_state).integers(0, n, size=(n_boot, n)) if n else np.zeros((n_boot, 0), int)
    prec = {m: (h / K if offered is None else h / np.maximum(offered[m], 1)) for m, h in hits.items()}
    boot = {m: p[idx].mean(axis=1) if n else np.zeros(n_boot) for m, p in prec.items()}
    base = [m for m in hits if m in BASELINES]
    best = max(base, key=lambda m: prec[m].mean()) if base else None
    out = []
    for m, p in prec.items():
        hit = (hits[m] > 0).astype(float)
        hb = hit[idx].mean(axis=1) if n else np.zeros(n_boot)
        row = {"mode": mode, "method": m, "customers": n, "precision_at_3": p.mean() if n else np.nan,
               "precision_lo": np.quantile(boot[m], 0.025), "precision_hi": np.quantile(boot[m], 0.975),
               "hit_at_3": hit.mean() if n else np.nan, "hit_lo": np.quantile(hb, 0.025), "hit_hi": np.quantile(hb, 0.975),
               "best_baseline": best}
        if best is not None and n:
            rel = boot[m] / np.maximum(boot[best], 1e-12) - 1.0
            row |= {"lift_vs_best_baseline": p.mean() / max(prec[best].mean(), 1e-12) - 1.0,
                    "lift_lo": np.quantile(rel, 0.025), "lift_hi": np.quantile(rel, 0.975)}
        out.append(row)
    return out
