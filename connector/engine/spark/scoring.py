"""Scores on Spark: training rows built on the executors, the pandas engine's model fitted on the
driver, every customer scored (with reason codes) partition by partition through mapInPandas.

For each training cutoff the features are `spark.features.build_features`' and the label is
"bought in (cutoff, cutoff + horizon]", exactly as `segmentation.targets` defines them; every
cutoff's aggregates and labels come from one pass over the purchases. The stacked rows (at most `max_train_rows`, a seeded
sample above that, as the pandas engine's final refit uses) come to the driver, where
`segmentation.scoring.fit_model` chooses, calibrates and fits the same PropensityClassifier.
The fitted ScoreModel is shipped to the executors; its `score` gives the probability and the
reason codes there. Conversion targets need the attribute history and stay on pandas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from connector.engine.spark.features import (
    BEHAVIOUR,
    behaviour_aggregates,
    behaviour_columns,
    customer_key,
    naive_utc,
    utc,
    with_customers,
)
from segmentation.metrics import classification_metrics
from segmentation.scoring import ScoreModel, ScoreParams, ScoreResult, fit_model
from segmentation.targets import cutoff_dates

_LABEL, _WHICH = "_label", "_which"


def training_rows(customers: DataFrame | None, transactions: DataFrame, params: ScoreParams,
                  cutoffs: list[pd.Timestamp]) -> DataFrame:
    """Stacked eligible rows over `cutoffs`: customer_id, the features, _label, _which (cutoff index)."""
    if params.kind not in ("propensity", "churn"):
        raise ValueError(f"score {params.name!r}: kind {params.kind} is not available on the Spark engine "
                         "(conversion targets need the attribute history); use engine kind pandas")
    wide = _behaviour_and_labels(transactions, cutoffs, params.horizon_days)
    if customers is None:
        if params.attributes:
            raise ValueError(f"attributes {list(params.attributes)} need a customers table")
        return _stacked_buyers(wide, len(cutoffs), params.kind)
    frames = []
    for k, cutoff in enumerate(cutoffs):
        buyers = wide.where(F.col(f"n_{k}") > 0).select("customer_id", *behaviour_columns(f"_{k}"))
        rows = with_customers(customers, buyers, cutoff, params.attributes).join(
            wide.select("customer_id", F.col(f"_bought_{k}").alias("_bought")), "customer_id", "left")
        bought = F.coalesce(F.col("_bought"), F.lit(False))
        if params.kind == "churn":  # eligible: bought by the cutoff; label: no purchase in the window
            rows = rows.where(F.col("frequency") > 0)
        label = ~bought if params.kind == "churn" else bought
        frames.append(rows.withColumn(_LABEL, label.cast("long")).withColumn(_WHICH, F.lit(k)).drop("_bought"))
    stacked = frames[0]
    for frame in frames[1:]:
        stacked = stacked.unionByName(frame)
    return stacked


def _stacked_buyers(wide: DataFrame, cutoffs: int, kind: str) -> DataFrame:
    """Without a customers table the eligible rows at a cutoff are its buyers (churn's rule too):
    one row per (customer, cutoff k with n_k > 0), exploded from the one-pass aggregation."""
    names = [*BEHAVIOUR, _LABEL, _WHICH]
    rows = []
    for k in range(cutoffs):
        bought = F.col(f"_bought_{k}")
        label = (~bought if kind == "churn" else bought).cast("long")
        rows.append(F.when(F.col(f"n_{k}") > 0, F.struct(*behaviour_columns(f"_{k}"), label.alias(_LABEL),
                                                          F.lit(k).alias(_WHICH))))
    exploded = wide.select("customer_id", F.explode(F.array(*rows)).alias("_row")).where(F.col("_row").isNotNull())
    return exploded.select("customer_id", *[F.col(f"_row.{c}").alias(c) for c in names])


def _behaviour_and_labels(transactions: DataFrame, cutoffs: list[pd.Timestamp], horizon_days: int) -> DataFrame:
    """One row per customer with, for each cutoff k, the behaviour aggregates (suffix _k) and
    _bought_k (a purchase in (cutoff, cutoff + horizon]): every cutoff's features and labels from
    one pass over the purchases, not two aggregations per cutoff."""
    aggregates = []
    for k, cutoff in enumerate(cutoffs):
        end = cutoff + pd.Timedelta(days=horizon_days)
        window = (F.col("occurred_at") > F.lit(naive_utc(cutoff))) & (F.col("occurred_at") <= F.lit(naive_utc(end)))
        aggregates += [*behaviour_aggregates(cutoff, f"_{k}"), F.max(window).alias(f"_bought_{k}")]
    return transactions.groupBy(customer_key(transactions)).agg(*aggregates)


def collect_training(stacked: DataFrame, cap: int, random_state: int) -> pd.DataFrame:
    """The stacked rows on the driver, ordered as the pandas engine stacks them (cutoff, customer);
    a seeded sample of about `cap` rows above that. The stacked rows (one aggregation of the
    transactions per cutoff) are computed once: cached for the count and the sample, then dropped."""
    stacked = stacked.cache()
    try:
        total = stacked.count()
        if total == 0:
            raise ValueError("no eligible customers at any cutoff; check as_of, horizon and cutoffs")
        chosen = stacked.sample(fraction=min(1.0, cap / total), seed=random_state) if total > cap else stacked
        rows = chosen.toPandas()
    finally:
        stacked.unpersist()
    return rows.sort_values([_WHICH, "customer_id"], kind="stable").set_index("customer_id")


def train(customers: DataFrame | None, transactions: DataFrame, params: ScoreParams,
          as_of: pd.Timestamp | str) -> tuple[ScoreModel, dict]:
    """The fitted ScoreModel for `params` and the out-of-fold metrics per candidate."""
    model, metrics, _, _, _ = _fit(customers, transactions, params, utc(as_of))
    return model, metrics


def _fit(customers: DataFrame | None, transactions: DataFrame, params: ScoreParams,
         as_of: pd.Timestamp) -> tuple[ScoreModel, dict, pd.DataFrame, list[pd.Timestamp], int]:
    """(model, metrics per candidate, calibration curves, the training cutoffs, rows fitted on)."""
    cutoffs = cutoff_dates(as_of, params.horizon_days, params.cutoffs, params.spacing_days)
    rows = collect_training(training_rows(customers, transactions, params, cutoffs), params.max_train_rows,
                            params.random_state)
    which = rows.pop(_WHICH).to_numpy()
    y = rows.pop(_LABEL).to_numpy(dtype=np.int64)
    model, metrics, curves = fit_model(params, rows, y, np.asarray(cutoffs)[which], as_of)
    return model, metrics, curves, cutoffs, len(y)


def train_and_score(customers: DataFrame | None, transactions: DataFrame, params: ScoreParams,
                    as_of: pd.Timestamp | str, features: DataFrame, sample: pd.DataFrame) -> tuple[ScoreResult, DataFrame]:
    """`segmentation.scoring.train_and_score` with the training rows built and every customer
    scored on the executors: (the ScoreResult of the model, the summary the registry keeps,
    calibration curves and drivers, whose `scores` is left empty; the scores of the eligible
    customers of `features` as a Spark DataFrame, see `score`), so no customer's score comes to
    the driver. `sample`: customer-indexed features on the driver (the drivers are the mean
    contributions over an even sample of at most ~20,000 eligible rows of it, as the pandas
    engine computes them)."""
    as_of = utc(as_of)
    model, metrics, curves, cutoffs, n_train = _fit(customers, transactions, params, as_of)
    eligible = sample[sample["frequency"] > 0] if params.kind == "churn" else sample
    drivers = model.score_and_drivers(eligible.iloc[:: max(1, len(eligible) // 20_000)])[1]
    estimator = model.estimator
    summary: dict[str, Any] = {"chosen": model.chosen, "settings": estimator.settings_,
                               "calibration": estimator.calibration_, "version": model.version, "models": metrics,
                               "cutoffs": [c.isoformat() for c in cutoffs],
                               "n_train": int(min(n_train, params.max_train_rows)),
                               "n_validation": int(len(estimator.search_.rows))}
    empty = pd.DataFrame(columns=["customer_id", params.name, f"{params.name}_reasons"])
    return (ScoreResult(scores=empty, model=model, metrics=summary, calibration=curves, drivers=drivers),
            score(model, features, params.kind))


def out_of_time_metrics(models: dict[str, Any], customers: DataFrame | None, transactions: DataFrame,
                        params: ScoreParams, as_of: pd.Timestamp | str) -> dict[str, dict[str, float]]:
    """`segmentation.champion.out_of_time_metrics` with the window's rows built on the executors
    (at most `params.max_train_rows` of them, a seeded sample above that, come to the driver)."""
    cutoff = utc(as_of) - pd.Timedelta(days=params.horizon_days)
    rows = collect_training(training_rows(customers, transactions, params, [cutoff]), params.max_train_rows,
                            params.random_state)
    rows.pop(_WHICH)
    y = rows.pop(_LABEL).to_numpy(dtype=np.int64)
    out = {}
    for name, model in models.items():
        p = np.asarray(model.predict_proba(rows), dtype=float)
        out[name] = classification_metrics(y, p[:, 1] if p.ndim == 2 else p)
    return out


def score(model: ScoreModel, features: DataFrame, kind: str = "propensity") -> DataFrame:
    """customer_id, <name>, <name>_reasons for every eligible row of `features` (churn: buyers only)."""
    rows = features.where(F.col("frequency") > 0) if kind == "churn" else features
    name = model.name
    schema = f"customer_id string, `{name}` double, `{name}_reasons` string"

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch):
                yield model.score(batch.set_index("customer_id"))

    return rows.mapInPandas(apply, schema)
