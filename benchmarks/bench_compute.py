"""Compute at scale: features, segmentation and scoring, next to a plain pandas + sklearn script.

    .venv/bin/python benchmarks/bench_compute.py                        # 1M customers / 10M purchases
    .venv/bin/python benchmarks/bench_compute.py --customers 100000 1000000 3000000   # cost growth
    .venv/bin/python benchmarks/bench_compute.py --threads 1    # OpenMP/BLAS pinned (a busy machine)

On a shared machine OpenMP's spinning threads (HistGradientBoosting, KMeans) lose badly to
other processes; `--threads 1` gives steadier figures there. Wall and CPU seconds are shown.

Data: seeded synthetic customers (about 10 purchases each) who start buying on a random day
of two years, buy as a Poisson process at their own rate and stop for good at an exponential
time, spending lognormal amounts around their own mean: so recency predicts the next 90 days
and a propensity model has signal. Generated once per size, written to Parquet; each side
reads it in its own subprocess, so its peak memory (ru_maxrss, input data included) is its own.

Three runs per size, each in the same process tree, one after the other:
- baseline: what a data scientist writes by hand: RFM per customer with pandas, log +
  standardise, KMeans(k=4), and a HistGradientBoostingClassifier propensity model (buys in
  the next 90 days) trained at one cutoff, validated (AUC) at the next, scored at the end.
- segsync-same: segsync doing that same work through its own core: clean_transactions,
  build_features, segment(kmeans, k=4) with naming, profiles and drift snapshot, and
  train_and_score(propensity 90 d, gbm only, 2 cutoffs, no reason codes) with calibration.
- segsync-full: the product defaults: k chosen automatically (k=2..10 on a sample), one
  propensity target with 4 stacked cutoffs, logistic and gbm compared out of time, Platt
  calibration, 3 reason codes per customer (exact TreeSHAP), plus BG/NBD + Gamma-Gamma CLV.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
DAYS, HORIZON, SEED = 730, 90, 0


def generate(n_customers: int, seed: int = SEED) -> pd.DataFrame:
    """Canonical clean transactions: transaction_id, customer_id, occurred_at, amount, source."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, DAYS, n_customers)
    life = rng.exponential(rng.choice([60.0, 240.0, 900.0], n_customers, p=[0.4, 0.35, 0.25]))
    end = np.minimum(start + life, DAYS)
    rate = rng.gamma(1.5, 0.02, n_customers) * 2.0  # purchases per day while active
    counts = 1 + rng.poisson(rate * (end - start))
    cust = np.repeat(np.arange(n_customers), counts)
    first = np.zeros(len(cust), dtype=bool)
    first[np.concatenate([[0], np.cumsum(counts)[:-1]])] = True
    day = np.where(first, start[cust], start[cust] + rng.random(len(cust)) * (end - start)[cust])
    amount = np.round(rng.lognormal(rng.normal(3.5, 0.5, n_customers)[cust], 0.5), 2)
    ids = np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), 8))
    origin = AS_OF - pd.Timedelta(days=DAYS)
    return pd.DataFrame({
        "transaction_id": np.arange(len(cust)).astype(str),
        "customer_id": pd.array(ids[cust], dtype="str"),
        "occurred_at": origin + pd.to_timedelta(np.round(day * 86400), unit="s"),
        "amount": amount,
        "source": "bench",
    })


# --------------------------------------------------------------------------- the plain script


def rfm(tx: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    seen = tx[tx["occurred_at"] <= cutoff]
    g = seen.groupby("customer_id").agg(last=("occurred_at", "max"), first=("occurred_at", "min"),
                                        frequency=("amount", "size"), monetary=("amount", "sum"))
    day = pd.Timedelta(days=1)
    return pd.DataFrame({"recency": (cutoff - g["last"]) / day, "frequency": g["frequency"],
                         "monetary": g["monetary"], "mean_spend": g["monetary"] / g["frequency"],
                         "tenure": (cutoff - g["first"]) / day})


def bought(tx: pd.DataFrame, index: pd.Index, cutoff: pd.Timestamp) -> np.ndarray:
    window = tx[(tx["occurred_at"] > cutoff) & (tx["occurred_at"] <= cutoff + pd.Timedelta(days=HORIZON))]
    return index.isin(window["customer_id"].unique())


def run_baseline(tx: pd.DataFrame, phases: dict) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    t = time.perf_counter()
    f = rfm(tx, AS_OF)
    phases["features"] = time.perf_counter() - t
    t = time.perf_counter()
    X = StandardScaler().fit_transform(np.log1p(f))
    labels = KMeans(4, random_state=SEED, n_init=1).fit_predict(X)
    profile = f.groupby(labels).mean()
    phases["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    train_at, valid_at = AS_OF - pd.Timedelta(days=2 * HORIZON), AS_OF - pd.Timedelta(days=HORIZON)
    f_train, f_valid = rfm(tx, train_at), rfm(tx, valid_at)
    model = HistGradientBoostingClassifier(random_state=SEED).fit(f_train, bought(tx, f_train.index, train_at))
    auc = roc_auc_score(bought(tx, f_valid.index, valid_at), model.predict_proba(f_valid)[:, 1])
    scores = model.predict_proba(f)[:, 1]
    phases["score"] = time.perf_counter() - t
    return {"customers": len(f), "segments": len(profile), "auc": auc, "mean_score": float(scores.mean())}


# --------------------------------------------------------------------------- segsync


def run_segsync(tx: pd.DataFrame, phases: dict, full: bool) -> dict:
    from segmentation.clv import clv_scores
    from segmentation.engine import SegmentationParams, segment
    from segmentation.features import build_features, clean_transactions
    from segmentation.scoring import ScoreParams, train_and_score

    t = time.perf_counter()
    clean, rejected = clean_transactions(tx)
    features = build_features(None, clean, AS_OF)
    phases["features"] = time.perf_counter() - t
    t = time.perf_counter()
    seg = segment(features, SegmentationParams(k="auto" if full else 4), None, AS_OF)
    phases["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    params = ScoreParams(name="buy_90d", kind="propensity", horizon_days=HORIZON) if full else \
        ScoreParams(name="buy_90d", kind="propensity", horizon_days=HORIZON, cutoffs=2, models=("gbm",), reason_codes=0)
    scored = train_and_score(None, clean, params, AS_OF)
    phases["score"] = time.perf_counter() - t
    out = {"customers": len(features), "segments": int(seg.segments["segment_id"].nunique()), "rejected": len(rejected),
           "auc": scored.metrics["models"][scored.model.chosen].get("roc_auc"), "chosen": scored.model.chosen,
           "mean_score": float(scored.scores["buy_90d"].mean())}
    if full:
        t = time.perf_counter()
        clv = clv_scores(clean, AS_OF, 365, 0.10)
        phases["clv"] = time.perf_counter() - t
        out["mean_clv"] = float(clv["clv"].mean())
    return out


def child(mode: str, data: str) -> None:
    import sklearn.ensemble  # noqa: F401 - imports are not part of the timed work

    import segmentation.scoring  # noqa: F401

    tx = pd.read_parquet(data)
    tx["customer_id"] = tx["customer_id"].astype("str")
    phases: dict[str, float] = {}
    cpu, t0 = time.process_time(), time.perf_counter()
    out = run_baseline(tx, phases) if mode == "baseline" else run_segsync(tx, phases, full=mode == "segsync-full")
    out.update(phases=phases, total_s=time.perf_counter() - t0, cpu_s=time.process_time() - cpu,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out, default=float))


def measure(n: int, threads: int | None) -> dict[str, dict]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "transactions.parquet")
        tx = generate(n)
        print(f"\n{n:,} customers, {len(tx):,} transactions; load average {os.getloadavg()}", flush=True)
        tx.to_parquet(data)
        del tx
        env = dict(os.environ)
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        for mode in ("baseline", "segsync-same", "segsync-full"):
            done = subprocess.run([sys.executable, __file__, "--child", mode, f"--data={data}"],
                                  capture_output=True, text=True, check=True, env=env)
            r = results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            phases = "  ".join(f"{k} {v:6.1f} s" for k, v in r["phases"].items())
            print(f"  {mode:13s} total {r['total_s']:6.1f} s wall ({r['cpu_s']:6.1f} s CPU)  peak RSS "
                  f"{r['peak_rss_mb'] / 1024:5.2f} GB  | {phases}  | auc {r['auc']:.3f}", flush=True)
    same = results["segsync-same"]["total_s"] / results["baseline"]["total_s"]
    print(f"  segsync-same / baseline: {same:.2f}x (target <= 1.3x); load average after {os.getloadavg()}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--threads", type=int, help="OpenMP/BLAS threads per side (default: the libraries' own)")
    parser.add_argument("--child", choices=["baseline", "segsync-same", "segsync-full"])
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, threads {args.threads or 'library default'}")
    for n in args.customers:
        measure(n, args.threads)


if __name__ == "__main__":
    main()
