"""The measure step on the executors: every assigned customer's outcomes, reduced to the lift's sums.

The pandas engine builds one row per assigned customer (experiments.outcomes.customer_metrics) and
sums those rows per segment x arm x metric (experiments.analysis.metric_sums): every statistic of
experiments.analysis reads only those sums. Here the same per-customer rows are built on Spark
from the cycle's clean purchases (stored by customer: connector.engine.spark.quarantine.judge) and
the current arms (AssignResult.on_spark), and only the sums come back: one row per experiment x
segment x arm, whatever the population. experiments.analysis.analyse_sums turns them into the lift
table, the same code as the pandas engine's.

The rules are customer_metrics', for outcomes that are purchases (the measure step's):
- revenue: the purchases' amounts in [assigned_at, assigned_at + conversion_window_days), capped at
  the revenue_cap_quantile of the positive values over every arm of the experiment (holdout
  excluded); conversion: 1 when one of those purchases has a positive amount;
- CUPED covariates: the revenue in [assigned_at - cuped_days, assigned_at), capped the same way
  (over its own positive values) for revenue, "any" for conversion; 0 with cuped_days 0.
The quantile is exact (Spark's `percentile`: linear interpolation between order statistics, as
numpy.quantile), not percentile_approx: a cap off by one order statistic moves every capped value.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from experiments.analysis import SUM_COLUMNS
from experiments.spec import HOLDOUT_ARM, KNOWN_METRICS, ExperimentSpec

#: The cells whose sums come back: one row each, holdout included (its units count in N*).
CELL_KEYS = ["experiment", "segment_id", "arm"]
_DAY_MICROS = 86_400_000_000
_MOMENTS = ("y", "yy", "x", "xx", "xy")


def experiment_sums(purchases: DataFrame, arms: DataFrame, specs: Sequence[ExperimentSpec]) -> pd.DataFrame:
    """``experiment`` + experiments.analysis.SUM_COLUMNS for every metric in KNOWN_METRICS, one row
    per experiment x segment_id x arm x metric (holdout cells included: analyse_sums leaves them
    out, the sequential N* counts them).

    ``purchases``: customer_id, occurred_at (timestamp, UTC), amount: the clean purchases.
    ``arms``: experiment, customer_id, arm, segment_id, assigned_at (ISO 8601 text or timestamp),
    at most one row per experiment and customer; arms of experiments not in ``specs`` are ignored."""
    if not specs:
        return pd.DataFrame(columns=["experiment", *SUM_COLUMNS])
    customers = customer_outcomes(purchases, arms, specs).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        capped = _capped(customers, _caps(customers, specs))
        wide = capped.groupBy(*CELL_KEYS).agg(F.count(F.lit(1)).cast("double").alias("n"), *[
            F.sum(expr).alias(f"{metric}_{moment}")
            for metric in KNOWN_METRICS for moment, expr in _moments(metric).items()]).toPandas()
    finally:
        customers.unpersist()
    return _long(wide)


def customer_outcomes(purchases: DataFrame, arms: DataFrame, specs: Sequence[ExperimentSpec]) -> DataFrame:
    """One row per assigned customer of ``specs`` (holdout included): experiment, customer_id,
    segment_id, arm, and uncapped ``post`` (revenue in the conversion window), ``converted``
    (1.0 when a purchase there has a positive amount) and ``pre`` (revenue in the CUPED window)."""
    windows = arms.sparkSession.createDataFrame(
        [(s.key, s.conversion_window_days * _DAY_MICROS, s.cuped_days * _DAY_MICROS) for s in specs],
        "experiment string, _window long, _cuped long")
    assigned = arms.join(F.broadcast(windows), "experiment").select(
        "experiment", F.col("customer_id").cast("string").alias("customer_id"),
        F.col("segment_id").cast("string").alias("segment_id"), "arm", "_window", "_cuped",
        F.unix_micros(F.col("assigned_at").cast("timestamp")).alias("_at"))
    bought = purchases.select(F.col("customer_id").cast("string").alias("_buyer"),
                              F.unix_micros("occurred_at").alias("_us"), F.col("amount").cast("double"))
    near = ((F.col("_buyer") == F.col("customer_id")) & (F.col("_us") >= F.col("_at") - F.col("_cuped"))
            & (F.col("_us") < F.col("_at") + F.col("_window")))
    after = F.col("_us") >= F.col("_at")  # null for a customer without a purchase in either window
    return assigned.join(bought, near, "left").groupBy("experiment", "customer_id", "segment_id", "arm").agg(
        F.coalesce(F.sum(F.when(after, F.col("amount"))), F.lit(0.0)).alias("post"),
        F.coalesce(F.max(F.when(after & (F.col("amount") > 0), F.lit(1.0))), F.lit(0.0)).alias("converted"),
        F.coalesce(F.sum(F.when(~after, F.col("amount"))), F.lit(0.0)).alias("pre"))


def _caps(customers: DataFrame, specs: Sequence[ExperimentSpec]) -> dict[str, tuple[float | None, float | None]]:
    """experiment -> (cap of post, cap of pre): the exact revenue_cap_quantile of the positive
    values of the experiment's treated and control customers (None: no cap), in one pass."""
    capped = [(i, s) for i, s in enumerate(specs)
              if s.revenue_cap_quantile is not None and s.revenue_cap_quantile < 1]
    if not capped:
        return {}
    live = customers.where(F.col("arm") != HOLDOUT_ARM)
    aggs = []
    for i, spec in capped:
        mine = F.col("experiment") == spec.key
        q = float(spec.revenue_cap_quantile)  # type: ignore[arg-type]  # checked above
        aggs += [F.percentile(F.when(mine & (F.col(c) > 0), F.col(c)), F.lit(q)).alias(f"{c}{i}")
                 for c in ("post", "pre")]
    row = live.agg(*aggs).collect()[0]
    return {spec.key: (row[f"post{i}"], row[f"pre{i}"]) for i, spec in capped}


def _capped(customers: DataFrame, caps: dict[str, tuple[float | None, float | None]]) -> DataFrame:
    """``customers`` with ``revenue``, ``revenue_pre`` (capped), ``conversion``, ``conversion_pre``."""
    def cap(position: int) -> Column:
        chosen = [F.when(F.col("experiment") == key, F.lit(pair[position])) for key, pair in caps.items()
                  if pair[position] is not None]
        return F.coalesce(*chosen) if chosen else F.lit(None).cast("double")

    return customers.select(
        *CELL_KEYS, F.least(F.col("post"), cap(0)).alias("revenue"),  # least() skips a null cap
        F.least(F.col("pre"), cap(1)).alias("revenue_pre"), F.col("converted").alias("conversion"),
        (F.col("pre") > 0).cast("double").alias("conversion_pre"))


def _moments(metric: str) -> dict[str, Column]:
    y, x = F.col(metric), F.col(f"{metric}_pre")
    return {"y": y, "yy": y * y, "x": x, "xx": x * x, "xy": x * y}


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    """The collected cells, one row per metric (``experiment`` + SUM_COLUMNS)."""
    parts = [pd.DataFrame({**{k: wide[k] for k in CELL_KEYS}, "metric": metric, "n": wide["n"],
                           **{m: wide[f"{metric}_{m}"].astype(float) for m in _MOMENTS}})
             for metric in KNOWN_METRICS]
    return pd.concat(parts, ignore_index=True)[["experiment", *SUM_COLUMNS]]
