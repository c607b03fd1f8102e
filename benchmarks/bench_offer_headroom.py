"""Online Retail: how far re-ranking can take the any-product offers (issue 17's +10 % target).

    .venv/bin/python benchmarks/bench_offer_headroom.py                         # both selection splits
    .venv/bin/python benchmarks/bench_offer_headroom.py --cutoff 2011-09-01     # the reported split

Per split (truth: the next 91 days, customers judged as in bench_offers.py retail, any mode):
- the candidate sets' recall and the best precision@3 any ordering of them could score
  (segmentation.offer_headroom): the ranker's 36 gathered candidates, its first stage's short
  list, everything the customer bought before the cutoff;
- repeat, the ranker, and the best per-customer choice between their two lists (an oracle: it
  reads the truth);
- a learned per-customer choice (repeat's list or the ranker's) from customer features (visits,
  distinct and repeated products, visit interval, recency, activity lately): a gradient-boosted
  regressor of the ranker's hits minus repeat's, cross-fitted in 5 folds ON THE JUDGED CUSTOMERS'
  OWN TRUTH, so an optimistic bound on what such a choice trained out of time could do;
- repeat's own products ordered by log(count) + w log(popularity), the best w on the truth
  (again optimistic): the best blend of repeat and popularity.
Prints wall and CPU seconds, peak RSS and the load average at the start.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd

SELECTION = ("2011-06-01", "2011-05-01")
HORIZON = 91
WEIGHTS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)


def split_figures(clean: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    from bench_offers import own_segments

    from segmentation.offer_evaluation import (
        K,
        Snapshot,
        judged_customers,
        make_scorer,
        offer_hits,
        window_truth,
    )
    from segmentation.offer_headroom import candidate_recall
    from segmentation.offer_selection import select_offers
    from segmentation.purchases import EncodedItems

    segments = own_segments(clean, cutoff)
    past = clean[clean["occurred_at"] < cutoff]
    products, customers = pd.Index(np.sort(past["product_id"].unique())), pd.Index(np.sort(past["customer_id"].unique()))
    encoded = EncodedItems.encode(clean, products, customers)
    snap = Snapshot.build(encoded, cutoff, products, customers, segments)
    price = past.groupby("product_id")["unit_price"].median().reindex(products).to_numpy(dtype="float64")
    truth = window_truth(encoded, cutoff, HORIZON, snap.history, False)
    judged = judged_customers(clean, cutoff, HORIZON, snap.history, truth, False, None, 0)
    hits = {}
    for method in ("repeat", "ranker"):
        scorer = make_scorer(method, encoded, snap, segments, horizon_days=HORIZON, cross_sell=False, price=price)
        hits[method] = offer_hits(select_offers(scorer, snap.history, snap.signals, rows=judged, k=K)[0], truth[judged])
        if method == "ranker":
            ranker = scorer
    history, judged_truth = snap.history.take(judged), truth[judged]
    pool, short = ranker.candidate_sets(history, snap.signals, snap.signals.segment_codes[judged])  # type: ignore[attr-defined]
    sets = {"ranker: gathered candidates": pool, "ranker: first stage's short list": short, "everything bought before": history.owned}
    print(f"\nsplit at {cutoff.date()}: {len(judged):,} judged customers, {judged_truth.nnz / len(judged):.1f} products bought each in the next {HORIZON} days")
    print(candidate_recall(sets, judged_truth, K).round(4).to_string())
    rep, rank = hits["repeat"], hits["ranker"]
    rows = [("repeat", rep.mean() / K), ("ranker", rank.mean() / K),
            ("oracle choice of repeat or ranker per customer", np.maximum(rep, rank).mean() / K),
            ("learned choice, cross-fitted on the test customers (optimistic)", learned_choice(history, rep, rank).mean() / K)]
    rows += [(f"own products by log(count) + {w} log(popularity)", blend_hits(history, snap.signals.popularity, judged_truth, w).mean() / K)
             for w in WEIGHTS]
    print(pd.DataFrame(rows, columns=["method", "precision_at_3"]).round(4).to_string(index=False))


def learned_choice(history, rep: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Hits of a per-customer choice between the two lists, predicted out of fold."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold

    distinct = np.diff(history.owned.indptr)
    repeated = np.asarray((history.counts > 1).sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where(history.txn_count > 1, (history.first_any_days - history.last_any_days) / np.maximum(history.txn_count - 1, 1), -1)
    X = np.column_stack([history.txn_count, distinct, repeated, interval, history.last_any_days, history.recent_txn,
                         history.first_any_days, repeated / np.maximum(distinct, 1), distinct / np.maximum(history.txn_count, 1)])
    y = (rank - rep).astype(float)
    pred = np.zeros(len(y))
    for fit, held in KFold(5, shuffle=True, random_state=0).split(X):
        model = HistGradientBoostingRegressor(max_iter=50, max_leaf_nodes=7, min_samples_leaf=40, random_state=0)
        pred[held] = model.fit(X[fit], y[fit]).predict(X[held])
    return np.where(pred >= 0, rank, rep)


def blend_hits(history, popularity: np.ndarray, truth, w: float) -> np.ndarray:
    """Hits@3 of the customer's own products ordered by log(count) + w log(popularity) (then by
    popularity to fill a short list, as the baselines do)."""
    from segmentation.purchases import lookup

    counts = history.counts.toarray().astype(np.float64)
    score = np.where(counts > 0, np.log(np.maximum(counts, 1)) + w * np.log(popularity + 1e-4)[None, :], -1e9) + 1e-6 * popularity
    if w == 0:  # repeat's own tie-break: the more recent, then the more popular
        last = history.last_days.toarray()
        score += np.where(counts > 0, 1e-3 / (1.0 + last), 0.0)
    top = np.argsort(-score, axis=1, kind="stable")[:, :3]
    return (lookup(truth, np.repeat(np.arange(len(top)), 3), top.ravel()).reshape(-1, 3) > 0).sum(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cutoff", action="append", help="a split (repeatable); default: the two selection splits")
    args = ap.parse_args()
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, "1")
    pd.set_option("display.width", 200)
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    from connector.sandbox.online_retail import online_retail_line_items, read_online_retail
    from segmentation.line_items import clean_line_items

    clean, _ = clean_line_items(online_retail_line_items(read_online_retail()))
    for cutoff in args.cutoff or SELECTION:
        split_figures(clean, pd.Timestamp(cutoff, tz="UTC"))
    print({"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
           "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
           "load_avg_at_start": [round(x, 2) for x in load]})


if __name__ == "__main__":
    main()
