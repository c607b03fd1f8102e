"""Next best offer: the out-of-time table on Online Retail and on planted tastes, and top-3 at scale.

    .venv/bin/python benchmarks/bench_offers.py retail            # the out-of-time table, both modes
    .venv/bin/python benchmarks/bench_offers.py planted           # + an oracle that knows the tastes
    .venv/bin/python benchmarks/bench_offers.py scale --customers 1000000 --products 2000

retail: the shipped UCI Online Retail export, every row cleaned or quarantined, split at
2011-09-01 with the next 91 days as truth (the issue's reference split); segments are
segsync's own (K-Means k=4 on RFM features as of the cutoff). Methods are trained on history
before the cutoff only. Intervals: 95 % percentile bootstrap over customers (500 draws),
paired for the lift over the best baseline.

planted: connector.sandbox.products with latent segments whose tastes are known; the oracle
ranks products by the customer's true segment taste. The methods are not told the latent
segments (one segment for all): they must recover the tastes from what customers bought.

scale: one process generates planted line items for N customers x P products (about 7 lines
per customer, categorical ids on int32 codes) and writes them as parquet; a fresh process
reads them and runs `recommend_offers` (ranker, rules on, no evaluation) for everyone, as the
offers step does with `n_jobs` = `--threads`. Each prints wall and CPU seconds, its own peak RSS (ru_maxrss, input
included) and the load average at its start. OpenMP/BLAS use `--threads` threads (1 by
default, as in the other compute benchmarks on this shared machine); `--profile` adds a
cProfile of the top-3 step on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd

CUTOFF = pd.Timestamp("2011-09-01", tz="UTC")


def retail_table() -> pd.DataFrame:
    from connector.sandbox.online_retail import online_retail_line_items, read_online_retail
    from segmentation.engine import SegmentationParams, segment
    from segmentation.features import build_features
    from segmentation.line_items import clean_line_items
    from segmentation.offer_evaluation import evaluate_offers

    raw = read_online_retail()
    clean, rejected = clean_line_items(online_retail_line_items(raw))
    print(f"Online Retail: {len(raw):,} rows, {len(clean):,} used, {len(rejected):,} quarantined:")
    print(rejected["reason"].str.replace(r"[:(].*", "", regex=True).str.strip().value_counts().to_string())
    tx = (clean.assign(amount=clean["quantity"] * clean["unit_price"]).groupby("transaction_id")
          .agg(customer_id=("customer_id", "first"), occurred_at=("occurred_at", "first"), amount=("amount", "sum")).reset_index())
    feats = build_features(None, tx[tx["occurred_at"] < CUTOFF], CUTOFF)
    segs = segment(feats, SegmentationParams(k=4), None, CUTOFF).segments.set_index("customer_id")["segment_id"]
    return evaluate_offers(clean, segs, CUTOFF, horizon_days=91, n_boot=500)


def planted_table(customers: int, products: int) -> pd.DataFrame:
    from connector.sandbox.products import planted_oracle, planted_products
    from segmentation.offer_evaluation import evaluate_offers

    world = planted_products(customers, products, seed=1)
    end = world.items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    cutoff = end - pd.Timedelta(days=90)
    # the methods are not told the latent segments (segsync's own segments are RFM groups, blind to
    # taste): they must recover tastes from behaviour; only the oracle knows them
    segs = pd.Series("all", index=world.segments["customer_id"])
    return evaluate_offers(world.items, segs, cutoff, horizon_days=90, n_boot=300,
                           extra={"oracle": planted_oracle(world)})


def generate_child(customers: int, products: int, data: str) -> dict:
    """Planted line items and segments, written to `data` as parquet (categorical ids kept)."""
    from connector.sandbox.products import planted_products

    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    world = planted_products(customers, products, seed=2)
    world.items.to_parquet(os.path.join(data, "items.parquet"))
    world.segments.to_parquet(os.path.join(data, "segments.parquet"))
    return {"stage": "generate", "line_items": len(world.items), **_usage(load, t0, c0)}


def top3_child(data: str, profile: bool, threads: int) -> dict:
    """`recommend_offers` as the offers step calls it (ranker, rules on, no evaluation, n_jobs =
    threads), for everyone in the input; the input is read first and its cost reported apart."""
    from segmentation.offer_selection import OfferRules
    from segmentation.offers import OfferParams, recommend_offers

    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    items = pd.read_parquet(os.path.join(data, "items.parquet"))
    segments = pd.read_parquet(os.path.join(data, "segments.parquet"))
    read = _usage(load, t0, c0)
    as_of = items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    prof = cProfile.Profile() if profile else None
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    result = recommend_offers(items, segments, as_of, OfferParams(method="ranker", evaluate=False, n_jobs=threads),
                              OfferRules(exclude_products=("P00000",), max_per_category=2))
    if prof:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    top3 = _usage(load, t0, c0)
    return {"stage": "top3", "customers": len(result.offers), "line_items": len(items),
            "with_three_offers": int(result.offers["offer_3"].notna().sum()),
            "read_wall_s": read["wall_s"], "read_cpu_s": read["cpu_s"], "rss_after_read_gb": read["peak_rss_gb"], **top3}


def _usage(load: tuple[float, float, float], t0: float, c0: float) -> dict:
    """Wall and CPU seconds since (t0, c0), this process's peak RSS so far, load average at start."""
    return {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
            "load_avg_at_start": [round(x, 2) for x in load]}


def scale(args: argparse.Namespace) -> None:
    """Generate in one process, recommend in a fresh one: each peak RSS is its own."""
    env = {**os.environ, **{k: str(args.threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    with tempfile.TemporaryDirectory(prefix="bench_offers_") as data:
        base = [sys.executable, __file__]
        gen = [*base, "_generate", "--customers", str(args.customers), "--products", str(args.products), "--data", data]
        top3 = [*base, "_top3", "--data", data, "--threads", str(args.threads), *(["--profile"] if args.profile else [])]
        for cmd in (gen, top3):
            out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            print(json.loads(out.strip().splitlines()[-1]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["retail", "planted", "scale", "_generate", "_top3"])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", help="(internal) where scale's generator writes its parquet files")
    ap.add_argument("--profile", action="store_true", help="scale: cProfile of the top-3 step on stderr")
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    if args.what in ("_generate", "_top3"):
        out = generate_child(args.customers, args.products, args.data) if args.what == "_generate" else top3_child(args.data, args.profile, args.threads)
        print(json.dumps(out))
        return
    if args.what == "scale":
        scale(args)
        return
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, str(args.threads))
    started = time.perf_counter()
    table = retail_table() if args.what == "retail" else planted_table(20_000 if args.customers == 1_000_000 else args.customers, 500)
    cols = ["mode", "method", "customers", "precision_at_3", "precision_lo", "precision_hi", "hit_at_3", "hit_lo", "hit_hi",
            "best_baseline", "lift_vs_best_baseline", "lift_lo", "lift_hi"]
    print(table[[c for c in cols if c in table]].round(3).to_string(index=False))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
