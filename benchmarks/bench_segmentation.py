"""Segmentation at scale: segsync against a plain pandas + scikit-learn script, same run.

Both sides start from the same seeded synthetic transactions (generated here with numpy)
and do the same work: RFM/tenure/inter-purchase features per customer, log + standardise,
K-Means with k chosen automatically (k = 2..10 fitted on a 20,000-row sample, silhouette on
5,000 rows, Calinski-Harabasz and Davies-Bouldin on the sample; then one warm-started
Lloyd run on everyone), quality metrics on everyone, segment names from profiles relative
to the population, and a profile table (size, share, revenue share, means, medians).
segsync also keeps what the product needs on top (PSI snapshot, registry, ids, effect sizes).

The data is generated once and written to a temporary Parquet file; each side reads it in
its own subprocess, so peak memory (ru_maxrss) is its own. The peak includes the input data;
the resident size right after loading it is printed too. Run by hand:

    .venv/bin/python benchmarks/bench_segmentation.py --customers 1000000 --transactions 10000000
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

CUTOFF = pd.Timestamp("2026-01-01", tz="UTC")
SAMPLE, SIL_ROWS, SEED = 20_000, 5_000, 0


def generate(n_customers: int, n_transactions: int, seed: int = 7) -> pd.DataFrame:
    """Canonical transactions for four behaviour groups (occasional, regular, loyal, whales)."""
    rng = np.random.default_rng(seed)
    group = rng.choice(4, n_customers, p=[0.45, 0.3, 0.2, 0.05])
    weight = np.array([0.3, 1.0, 2.5, 6.0])[group] * rng.lognormal(0, 0.5, n_customers)
    counts = rng.multinomial(n_transactions, weight / weight.sum())
    cust = np.repeat(np.arange(n_customers), counts)
    start = rng.uniform(0, 700, n_customers)
    span = np.array([60.0, 300.0, 600.0, 700.0])[group] * rng.uniform(0.3, 1.0, n_customers)
    end = np.minimum(start + span, 730.0)
    day = start[cust] + rng.random(len(cust)) * (end - start)[cust]
    spend = np.array([3.0, 3.5, 3.8, 5.5])[group]
    amount = np.round(rng.lognormal(spend[cust], 0.6), 2)
    ids = np.array([f"C{i:07d}" for i in range(n_customers)], dtype=object)
    origin = CUTOFF - pd.Timedelta(days=730)
    return pd.DataFrame(
        {
            "transaction_id": np.arange(len(cust)),
            "customer_id": pd.array(ids[cust], dtype="str"),
            "occurred_at": origin + pd.to_timedelta(np.round(day * 86400), unit="s"),
            "amount": amount,
            "source": "bench",
        }
    )


def run_segsync(tx: pd.DataFrame) -> dict:
    from segmentation.engine import SegmentationParams, segment
    from segmentation.features import build_features

    t0 = time.perf_counter()
    features = build_features(None, tx, CUTOFF)
    t1 = time.perf_counter()
    result = segment(features, SegmentationParams(sample_size=SAMPLE), None, CUTOFF)
    t2 = time.perf_counter()
    return {
        "features_s": t1 - t0,
        "segment_s": t2 - t1,
        "k": result.metrics["k"],
        "silhouette": result.metrics["silhouette"],
        "segments": result.profiles[
            ["segment_id", "segment_name", "size", "revenue_share"]
        ].to_dict("records"),
    }


def run_baseline(tx: pd.DataFrame) -> dict:
    """What a data scientist writes by hand with pandas and scikit-learn."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    tx = tx[tx["occurred_at"] <= CUTOFF]
    g = tx.groupby("customer_id").agg(
        last=("occurred_at", "max"),
        first=("occurred_at", "min"),
        frequency=("amount", "size"),
        monetary_total=("amount", "sum"),
    )
    day = pd.Timedelta(days=1)
    f = pd.DataFrame(
        {
            "recency_days": (CUTOFF - g["last"]) / day,
            "frequency": g["frequency"],
            "monetary_total": g["monetary_total"],
            "monetary_mean": g["monetary_total"] / g["frequency"],
            "tenure_days": (CUTOFF - g["first"]) / day,
        }
    )
    f["ipt_mean_days"] = (f["tenure_days"] - f["recency_days"]) / (f["frequency"] - 1).where(
        f["frequency"] > 1
    )
    t1 = time.perf_counter()
    cols = ["recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days"]
    skewed = f[cols].skew() > 1.0
    logged = f[cols].apply(lambda c: np.log1p(c) if skewed[c.name] else c)
    logged = logged.clip(lower=logged.quantile(0.01), upper=logged.quantile(0.99), axis=1)
    X = StandardScaler().fit_transform(logged.fillna(logged.median()))
    rng = np.random.default_rng(SEED)
    sample = X[np.sort(rng.choice(len(X), SAMPLE, replace=False))]
    scores = []
    for k in range(2, 11):
        km = KMeans(k, n_init=3, random_state=SEED).fit(sample)
        rows = np.random.default_rng(SEED).choice(len(sample), SIL_ROWS, replace=False)
        sil = silhouette_score(sample[rows], km.labels_[rows])
        db = davies_bouldin_score(sample, km.labels_)
        calinski_harabasz_score(sample, km.labels_)
        scores.append((sil, db, k, km))
    # Same rule as segsync: best silhouette, near-ties (0.02) to the lowest Davies-Bouldin.
    top = max(s[0] for s in scores)
    _, _, k, seed = min((s for s in scores if s[0] >= top - 0.02), key=lambda s: (s[1], s[2]))
    model = KMeans(k, init=seed.cluster_centers_, n_init=1).fit(X)
    labels = model.labels_
    sils = []
    for draw in range(3):
        rows = np.random.default_rng(SEED + draw).choice(len(X), SIL_ROWS, replace=False)
        sils.append(silhouette_score(X[rows], labels[rows]))
    calinski_harabasz_score(X, labels), davies_bouldin_score(X, labels)
    z = pd.DataFrame(X, columns=cols).groupby(labels).mean()
    names = {c: _name(z.loc[c]) for c in z.index}
    grouped = f[cols].groupby(labels)
    profile = grouped.agg(["mean", "median"])
    profile["size"] = grouped.size()
    profile["share"] = profile["size"] / len(f)
    profile["revenue_share"] = f["monetary_total"].groupby(labels).sum() / f["monetary_total"].sum()
    out = pd.DataFrame(
        {"customer_id": f.index, "segment": labels, "segment_name": pd.Series(labels).map(names)}
    )
    t2 = time.perf_counter()
    return {
        "features_s": t1 - t0,
        "segment_s": t2 - t1,
        "k": k,
        "silhouette": float(np.mean(sils)),
        "rows": len(out),
    }


def _name(z: pd.Series) -> str:
    if z["recency_days"] > 0.5:
        return "At-Risk Big Spenders" if z["monetary_total"] > 0.5 else "Dormant"
    if z["monetary_total"] > 0.5 and z["frequency"] > 0.5:
        return "High-Value Loyalists"
    return "Steady Customers"


def child(mode: str, data: str) -> None:
    import sklearn.cluster  # noqa: F401  (imports are not part of the timed work)

    import segmentation.engine  # noqa: F401

    tx = pd.read_parquet(data)
    tx["customer_id"] = tx["customer_id"].astype("str")
    data_rss = _current_rss_mb()
    t0 = time.perf_counter()
    out = run_segsync(tx) if mode == "segsync" else run_baseline(tx)
    out["total_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["data_rss_mb"] = data_rss
    print(json.dumps(out, default=float))


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def cdnow(path: str, k_min: int) -> None:
    """Segments, profiles, metrics and the priority matrix for the real CDNOW data."""
    from connector.sandbox.cdnow import cdnow_transactions
    from segmentation.engine import SegmentationParams, segment
    from segmentation.features import build_features, clean_transactions
    from segmentation.priority import priority_matrix

    clean, rejected = clean_transactions(cdnow_transactions(path))
    end = pd.Timestamp("1998-06-30", tz="UTC")
    features = build_features(None, clean, end)
    result = segment(features, SegmentationParams(k_min=k_min), None, end)
    print(f"{len(features):,} customers, {len(clean):,} transactions, {len(rejected)} rejected")
    print("metrics:", {k: round(v, 3) for k, v in result.metrics.items()})
    print(result.state.model.k_scores_.round(3).to_string(index=False))
    cols = ["segment_id", "segment_name", "size", "share", "revenue_share"]
    cols += [
        f"median_{c}" for c in ("recency_days", "frequency", "monetary_total", "monetary_mean")
    ]
    with pd.option_context("display.width", 250, "display.max_colwidth", 70):
        print(result.profiles[cols].round(3).to_string(index=False))
        print(result.profiles[["segment_id", "top_attributes"]].to_string(index=False))
        matrix = priority_matrix(result.profiles, {"email": 0.01, "sms": 0.05})
        print(
            matrix[["segment_id", "segment_name", "value", "cost", "quadrant", "action"]]
            .round(1)
            .to_string(index=False)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument(
        "--threads", type=int, default=None, help="OpenMP/BLAS threads (default: library default)"
    )
    parser.add_argument(
        "--cdnow", metavar="PATH", help="print CDNOW segments instead (tests/data/CDNOW_master.txt)"
    )
    parser.add_argument("--k-min", type=int, default=2, help="with --cdnow: smallest k tried")
    parser.add_argument("--child", choices=["segsync", "baseline"])
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data)
    if args.cdnow:
        return cdnow(args.cdnow, args.k_min)
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    print(
        f"{args.customers:,} customers, {args.transactions:,} transactions; load average {os.getloadavg()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Generated once, read by both children: the generator's own peak stays out of theirs.
        data = os.path.join(tmp, "transactions.parquet")
        generate(args.customers, args.transactions).to_parquet(data)
        for mode in ("baseline", "segsync"):
            cmd = [sys.executable, __file__, "--child", mode, f"--data={data}"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    for mode, r in results.items():
        print(
            f"{mode:9s} features {r['features_s']:6.2f} s  segment+name+profile {r['segment_s']:6.2f} s  "
            f"total {r['total_s']:6.2f} s  peak RSS {r['peak_rss_mb']:6.0f} MB (after loading the data {r['data_rss_mb']:.0f} MB)  "
            f"k={r['k']} silhouette={r['silhouette']:.3f}"
        )
    ratio = results["segsync"]["total_s"] / results["baseline"]["total_s"]
    print(f"segsync / baseline time: {ratio:.2f}x; load average after {os.getloadavg()}")
    for s in results["segsync"]["segments"]:
        print(
            f"  {s['segment_id']}  {s['segment_name']:40s} {s['size']:9,d}  revenue share {s['revenue_share']:.3f}"
        )


if __name__ == "__main__":
    main()
