"""Next best offer: the out-of-time table on Online Retail and on planted tastes, and top-3 at scale.

    .venv/bin/python benchmarks/bench_offers.py retail            # the out-of-time table, both modes
    .venv/bin/python benchmarks/bench_offers.py planted           # + an oracle that knows the tastes
    .venv/bin/python benchmarks/bench_offers.py scale --customers 1000000 --products 2000

retail: the shipped UCI Online Retail export, every row cleaned or quarantined, split at
2011-09-01 with the next 91 days as truth (the issue's reference split; `--cutoff 2011-06-01`
is the earlier split the ranker's settings were selected on); segments are
segsync's own (K-Means k=4 on RFM features as of the cutoff). Methods are trained on history
before the cutoff only. Intervals: 95 % percentile bootstrap over customers (500 draws),
paired for the lift over the best baseline.

planted: the population simulator (connector.sandbox.simulation, 20,000 customers by default,
`--customers`) with 200 real products (`--products`): every purchase of its 540 days holds 1-3
products drawn from its buyer's latent segment's planted taste. Split 90 days before the end.
The methods see segsync's own segments (K-Means on RFM), never the latent ones; the oracle
ranks products by the customer's true segment taste (Simulation.product_taste). The last table
is each method's precision@3 as a share of the oracle's.

retail and planted print wall and CPU seconds, peak RSS and the load average at their start.

scale: one process generates planted line items for N customers x P products (about 7 lines
per customer, categorical ids on int32 codes) and writes them as parquet; a fresh process
reads them and runs `recommend_offers` (ranker, rules on, no evaluation) for everyone, as the
offers step does with `n_jobs` = `--threads`. Each prints wall and CPU seconds, its own peak RSS (ru_maxrss, input
included) and the load average at its start; the top-3 step's clock starts after the input is
read and segsync's modules (numpy, scipy, scikit-learn) are imported, both reported apart
(`read_*`, `import_*`), as a running daemon has done both before its offers step. OpenMP/BLAS use `--threads` threads (1 by
default, as in the other compute benchmarks on this shared machine; inside the chunk threads
the tree predictor runs single-threaded, segmentation.offer_selection); `--profile` adds a
cProfile of the top-3 step on stderr, on the CPU clock (use it with `--threads 1`: it sees only
the main thread).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import pstats
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd

CUTOFF = pd.Timestamp("2011-09-01", tz="UTC")
SIM_START = pd.Timestamp("2026-03-01", tz="UTC")
SIM_HISTORY_DAYS = 540


def own_segments(items: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """segsync's own segments as of the cutoff (K-Means k=4 on RFM features of the purchases)."""
    from segmentation.engine import SegmentationParams, segment
    from segmentation.features import build_features

    tx = (items.assign(amount=items["quantity"] * items["unit_price"]).groupby("transaction_id")
          .agg(customer_id=("customer_id", "first"), occurred_at=("occurred_at", "first"), amount=("amount", "sum")).reset_index())
    feats = build_features(None, tx[tx["occurred_at"] < cutoff], cutoff)
    return segment(feats, SegmentationParams(k=4), None, cutoff).segments.set_index("customer_id")["segment_id"]


def retail_table(cutoff: pd.Timestamp = CUTOFF) -> pd.DataFrame:
    from connector.sandbox.online_retail import online_retail_line_items, read_online_retail
    from segmentation.line_items import clean_line_items
    from segmentation.offer_evaluation import evaluate_offers

    raw = read_online_retail()
    clean, rejected = clean_line_items(online_retail_line_items(raw))
    print(f"Online Retail: {len(raw):,} rows, {len(clean):,} used, {len(rejected):,} quarantined:")
    print(rejected["reason"].str.replace(r"[:(].*", "", regex=True).str.strip().value_counts().to_string())
    print(f"split at {cutoff.date()}, truth: the next 91 days")
    return evaluate_offers(clean, own_segments(clean, cutoff), cutoff, horizon_days=91, n_boot=500)


def planted_table(customers: int, products: int) -> pd.DataFrame:
    """The population simulator with products: its line items, judged against an oracle that
    knows each customer's latent segment and that segment's planted taste."""
    from connector.sandbox.clock import SandboxClock
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.products import PlantedOracle
    from connector.sandbox.simulation import Simulation
    from segmentation.offer_evaluation import evaluate_offers

    clock = SandboxClock(SIM_START, frozen=True)
    sim = Simulation.synthetic(customers, hubspot=HubSpotSandbox(clock, seed=1), clock=clock, random_state=1,
                               products=products, history_days=SIM_HISTORY_DAYS)
    items = sim.line_items()
    cutoff = SIM_START - pd.Timedelta(days=90)
    print(f"simulator: {customers:,} customers, {products} products, {len(items):,} line items, "
          f"{items['transaction_id'].nunique():,} purchases over {SIM_HISTORY_DAYS} days; split at {cutoff.date()}")
    truth = sim.truth().set_index("customer_id")["segment"].astype(str)
    # the methods see segsync's own RFM segments, never the latent ones; only the oracle knows those
    return evaluate_offers(items, own_segments(items, cutoff), cutoff, horizon_days=90, n_boot=300,
                           extra={"oracle": PlantedOracle(truth, sim.product_taste)})


def recovery(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's precision@3 as a share of the oracle's, per mode."""
    oracle = table[table["method"] == "oracle"].set_index("mode")["precision_at_3"]
    out = table[["mode", "method", "precision_at_3"]].copy()
    out["share_of_oracle"] = out["precision_at_3"] / out["mode"].map(oracle)
    return out[out["method"] != "oracle"]


def generate_child(customers: int, products: int, data: str) -> dict:
    """Planted line items and segments, written to `data` as parquet (categorical ids kept)."""
    from connector.sandbox.products import planted_products

    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    world = planted_products(customers, products, seed=2)
    world.items.to_parquet(os.path.join(data, "items.parquet"))
    world.segments.to_parquet(os.path.join(data, "segments.parquet"))
    return {"stage": "generate", "line_items": len(world.items), **_usage(load, t0, c0)}


def top3_child(data: str, profile: bool, threads: int, cached: bool = False) -> dict:
    """`recommend_offers` as the offers step calls it (ranker, rules on, no evaluation, n_jobs =
    threads), for everyone in the input; the input is read first and its cost reported apart.
    cached: the daily cycle between retrains: the offer model and the current offers that
    `fit_child` stored are read with the input, and the run only scores (and keeps each
    customer's offers unless materially beaten), as the offers step does with a cached model."""
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    items = pd.read_parquet(os.path.join(data, "items.parquet"))
    segments = pd.read_parquet(os.path.join(data, "segments.parquet"))
    previous, current = None, None
    if cached:
        with open(os.path.join(data, "model.pickle"), "rb") as f:
            previous = pickle.load(f)  # noqa: S301 - written by fit_child of this benchmark
        current = pd.read_parquet(os.path.join(data, "current.parquet"))
    read = _usage(load, t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    import segmentation.offers  # noqa: F401 - loaded before the clock starts, as in a running daemon
    imports = {"import_wall_s": round(time.perf_counter() - t0, 1), "import_cpu_s": round(time.process_time() - c0, 1)}
    as_of = items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    prof = cProfile.Profile(time.process_time) if profile else None  # CPU clock: the load does not inflate it
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    result = _recommend(items, segments, as_of, threads, previous, current)
    if prof:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    top3 = _usage(load, t0, c0)
    out = {"stage": "top3 (cached model)" if cached else "top3", "customers": len(result.offers), "line_items": len(items),
           "with_three_offers": int(result.offers["offer_3"].notna().sum())}
    if cached:
        out |= {"retrained": result.retrained, "kept_offers": int(result.stability.kept.sum()) if result.stability else None}
    return out | {"read_wall_s": read["wall_s"], "read_cpu_s": read["cpu_s"], "rss_after_read_gb": read["peak_rss_gb"], **imports, **top3}


def fit_child(data: str, threads: int) -> dict:
    """The offer model fitted the day before (as of the scale input's last day), stored with
    that day's offers as each customer's current ones: what a daily cycle finds in its store."""
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    items = pd.read_parquet(os.path.join(data, "items.parquet"))
    segments = pd.read_parquet(os.path.join(data, "segments.parquet"))
    yesterday = items["occurred_at"].max().normalize()
    result = _recommend(items, segments, yesterday, threads, None, None)
    with open(os.path.join(data, "model.pickle"), "wb") as f:
        pickle.dump(result.model, f)
    ids = ["customer_id", *(f"offer_{j}_id" for j in (1, 2, 3))]
    result.offers[ids].to_parquet(os.path.join(data, "current.parquet"))
    return {"stage": "fit (the day before)", "as_of": str(yesterday.date()), **_usage(load, t0, c0)}


def _recommend(items: pd.DataFrame, segments: pd.DataFrame, as_of: pd.Timestamp, threads: int, previous, current):  # noqa: ANN001, ANN202
    from segmentation.offer_selection import OfferRules
    from segmentation.offers import OfferParams, recommend_offers

    return recommend_offers(items, segments, as_of, OfferParams(method="ranker", evaluate=False, n_jobs=threads),
                            OfferRules(exclude_products=("P00000",), max_per_category=2), previous=previous, current=current)


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
        steps = [gen, [*base, "_fit", "--data", data, "--threads", str(args.threads)], [*top3, "--cached"]] if args.cached else [gen, top3]
        for cmd in steps:
            out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            print(json.loads(out.strip().splitlines()[-1]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["retail", "planted", "scale", "_generate", "_fit", "_top3"])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cutoff", default=str(CUTOFF.date()), help="retail: the split (2011-06-01: where the ranker's settings were chosen)")
    ap.add_argument("--data", help="(internal) where scale's generator writes its parquet files")
    ap.add_argument("--profile", action="store_true", help="scale: cProfile of the top-3 step on stderr")
    ap.add_argument("--cached", action="store_true",
                    help="scale: the daily cycle: the offer model fitted the day before (not timed) is reused, offers kept unless beaten")
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    if args.what in ("_generate", "_fit", "_top3"):
        if args.what == "_generate":
            out = generate_child(args.customers, args.products, args.data)
        else:
            out = fit_child(args.data, args.threads) if args.what == "_fit" else top3_child(args.data, args.profile, args.threads, args.cached)
        print(json.dumps(out))
        return
    if args.what == "scale":
        scale(args)
        return
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, str(args.threads))
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    customers = 20_000 if args.customers == 1_000_000 else args.customers
    table = retail_table(pd.Timestamp(args.cutoff, tz="UTC")) if args.what == "retail" else planted_table(customers, 200 if args.products == 2000 else args.products)
    cols = ["mode", "method", "customers", "precision_at_3", "precision_lo", "precision_hi", "hit_at_3", "hit_lo", "hit_hi",
            "best_baseline", "lift_vs_best_baseline", "lift_lo", "lift_hi"]
    print(table[[c for c in cols if c in table]].round(3).to_string(index=False))
    if args.what == "planted":
        print(recovery(table).round(3).to_string(index=False))
    print(_usage(load, t0, c0))


if __name__ == "__main__":
    main()
