"""CLV on Spark: the purchase summary per customer on the executors, BG/NBD and Gamma-Gamma fit
on the driver from sufficient statistics, every customer scored on the executors.

The BG/NBD likelihood depends on a customer only through (x, t_x, T): the driver receives one
row per distinct triple with its count (in days these are bounded by the calendar, not by the
number of customers). Gamma-Gamma depends on (x, mean spend): one row per distinct pair with its
count. `segmentation.btyd` fits both by count-weighted maximum likelihood (`fit_counts`), which
equals the per-customer fit; per-customer rows never reach the driver. Spend pairs are as many
as the repeat buyers at worst: above MAX_KEYS distinct keys a seeded sample of customers is counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from connector.engine.spark.features import utc
from segmentation.btyd import BGNBD, GammaGamma
from segmentation.clv import ClvModel

_SCORES = "customer_id string, clv double, p_alive double, expected_purchases double"
#: Distinct keys (see fit_models) the driver takes whole; above, a sample's (memory: ~50 MB).
MAX_KEYS = 1_000_000
log = logging.getLogger("segsync.spark")


def purchase_summary(transactions: DataFrame, calibration_end: pd.Timestamp) -> DataFrame:
    """customer_id, frequency, recency, T, monetary_value in days, as
    `segmentation.purchase_summary.summary_from_transactions(..., freq="D")` (same-day purchases
    merged; customers whose first purchase is after the calibration day left out)."""
    end_day = int((utc(calibration_end).tz_localize(None).normalize() - pd.Timestamp("1970-01-01")).days)
    day = F.floor(F.unix_micros("occurred_at") / F.lit(86_400_000_000)).cast("long")
    daily = transactions.groupBy(F.col("customer_id").cast("string").alias("customer_id"), day.alias("day")).agg(
        F.sum("amount").alias("amount"))
    # One pass over the days: the repeat days' total is the calibration total less the first day's
    # amount (no join of the days with each customer's first day).
    calibration = F.col("day") <= end_day
    per = daily.groupBy("customer_id").agg(
        F.min("day").alias("first"),
        F.sum(F.when(calibration, 1).otherwise(0)).alias("count"),
        F.max(F.when(calibration, F.col("day"))).alias("last"),
        F.sum(F.when(calibration, F.col("amount"))).alias("total"),
        F.min_by("amount", "day").alias("first_amount"),
    )
    repeat_total = F.col("total") - F.col("first_amount")
    frequency = F.greatest(F.col("count") - 1, F.lit(0)).cast("long")
    return per.where(F.col("first") <= end_day).select(
        "customer_id",
        frequency.alias("frequency"),
        (F.col("last") - F.col("first")).cast("double").alias("recency"),
        (F.lit(end_day) - F.col("first")).cast("double").alias("T"),
        F.when(frequency > 0, repeat_total / F.greatest(frequency, F.lit(1))).otherwise(0.0).cast("double")
        .alias("monetary_value"),
    )


def fit_models(summary: DataFrame, penalizer: float = 0.0, max_keys: int | None = None) -> tuple[BGNBD, GammaGamma]:
    """BG/NBD and Gamma-Gamma from the counts of distinct (x, t_x, T) and (x, mean spend), both
    counted in one pass over the summary (grouping sets). Mean spend is a real number, so its
    pairs can be as many as the repeat buyers: above `max_keys` (default MAX_KEYS) distinct keys
    both models are fitted on the counts of a seeded sample of customers instead, as the
    segmentation and the score models are fitted on a driver sample."""
    cap = MAX_KEYS if max_keys is None else max_keys
    counted = _key_counts(summary).cache()
    try:
        stats = counted.agg(F.count(F.lit(1)).alias("keys"),
                            F.sum(F.when(F.col("_triple") == 1, F.col("count"))).alias("customers")).first()
        keys, customers = int(stats["keys"] or 0), int(stats["customers"] or 0)
        if keys <= cap:
            counts = counted.toPandas()
        else:
            fraction = min(1.0, cap / (2 * max(customers, 1)))  # each customer adds at most one key of each kind
            log.info("CLV fitted on a seeded sample of about %d of %d customers (%d distinct keys)",
                     int(fraction * customers), customers, keys)
            counts = _key_counts(summary.sample(fraction=fraction, seed=0)).toPandas()
    finally:
        counted.unpersist()
    triples = counts[counts["_triple"] == 1]
    pairs = counts[(counts["_triple"] == 0) & counts["_spend"].notna()]
    if int(triples.loc[triples["frequency"] > 0, "count"].sum()) < 3:
        raise ValueError("CLV needs at least 3 customers with repeat purchases before as_of")
    bgnbd = BGNBD(penalizer=penalizer).fit_counts(
        triples["frequency"], triples["recency"], triples["T"], triples["count"])
    spend = GammaGamma(penalizer=penalizer).fit_counts(pairs["frequency"], pairs["_spend"], pairs["count"])
    return bgnbd, spend


def _key_counts(summary: DataFrame) -> DataFrame:
    """count per distinct (frequency, recency, T) (_triple 1) and per (frequency, _spend) (_triple 0)."""
    # Gamma-Gamma is defined for positive spend only (as in segmentation.clv.clv_scores).
    spent = (F.col("frequency") > 0) & (F.col("monetary_value") > 0)
    keyed = summary.select("frequency", "recency", "T", F.when(spent, F.col("monetary_value")).alias("_spend"))
    return keyed.groupingSets([["frequency", "recency", "T"], ["frequency", "_spend"]],
                              "frequency", "recency", "T", "_spend").agg(
        F.count(F.lit(1)).alias("count"), F.grouping("_spend").alias("_triple"))


def clv_scores(
    transactions: DataFrame, as_of: pd.Timestamp | str, horizon_days: int = 365,
    annual_discount_rate: float = 0.10, penalizer: float = 0.0,
) -> tuple[DataFrame, ClvModel]:
    """(customer_id, clv, p_alive, expected_purchases per buyer; the fitted ClvModel), as
    `segmentation.clv.clv_scores` computes them, scored partition by partition."""
    summary = purchase_summary(transactions, utc(as_of))
    bgnbd, spend = fit_models(summary, penalizer)
    model = ClvModel.from_models(bgnbd, spend, horizon_days, annual_discount_rate)

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            x, tx, T = (batch[c].to_numpy(float) for c in ("frequency", "recency", "T"))
            clv, p_alive = model.value(x, tx, T, batch["monetary_value"].to_numpy(float))
            expected = model.models()[0].conditional_expected_purchases(model.horizon_days, x, tx, T)
            yield pd.DataFrame({"customer_id": batch["customer_id"].to_numpy(), "clv": clv, "p_alive": p_alive,
                                "expected_purchases": np.asarray(expected, dtype=np.float64)})

    return summary.mapInPandas(score, _SCORES), model
