"""Customer features and RFM scores as Spark DataFrame aggregations.

Twins of `segmentation.features.build_features` and `segmentation.rfm.rfm_scores`: same
columns, same definitions, same values (float days are computed from microsecond instants, as
the pandas engine does from its datetimes). RFM quintiles are exact: the four cut values of each
score are order statistics found by bracketing an approximate quantile and sorting only the
values inside the bracket on the driver (a few thousand per cut even at 20M customers).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from segmentation.rfm import RFM_SEGMENTS

_DAY_MICROS = 86_400_000_000.0
#: Relative error of the first, approximate quantile pass; the bracket is three times as wide.
_QUANTILE_ERROR = 0.001
#: Below this many values the whole column is sorted on the driver (exact and cheaper).
_SORT_ON_DRIVER = 200_000
#: The purchase-behaviour columns of the features (segmentation.features.build_features).
BEHAVIOUR = ("recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days", "ipt_mean_days")


def utc(cutoff: pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(cutoff)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """A literal Spark reads in the session time zone, which segsync sets to UTC."""
    return utc(stamp).tz_localize(None)


def days_before(column: str, cutoff: pd.Timestamp) -> Column:
    """(column - cutoff) in float days, from microseconds (<= 0 for instants before the cutoff)."""
    micros = utc(cutoff).value // 1000
    return (F.unix_micros(F.col(column)) - F.lit(micros)).cast("double") / F.lit(_DAY_MICROS)


def build_features(
    customers: DataFrame | None, transactions: DataFrame, cutoff: pd.Timestamp | str, attributes: Sequence[str] = ()
) -> DataFrame:
    """One row per customer_id as of `cutoff`; columns as `segmentation.features.build_features`
    (customer_id is a column here, not an index). `transactions` must be clean (see
    `connector.engine.spark.quarantine.clean_transactions`)."""
    cutoff = utc(cutoff)
    return with_customers(customers, _behaviour(transactions, cutoff), cutoff, attributes)


def with_customers(customers: DataFrame | None, behaviour: DataFrame, cutoff: pd.Timestamp,
                   attributes: Sequence[str] = ()) -> DataFrame:
    """`behaviour` (customer_id + BEHAVIOUR, the buyers by `cutoff`) completed by the customers
    table as of `cutoff`: everyone created by then, with frequency 0 for those yet to buy."""
    if customers is None:
        if attributes:
            raise ValueError(f"attributes {list(attributes)} need a customers table")
        return behaviour
    table = _customers_as_of(customers, cutoff, attributes)
    joined = table.join(behaviour, "customer_id", "full_outer")
    never = F.col("frequency").isNull()
    since_created = days_before("created_at", cutoff) * -1.0 if "created_at" in table.columns else F.lit(None)
    out = joined.select(
        "customer_id",
        F.when(never, since_created).otherwise(F.col("recency_days")).cast("double").alias("recency_days"),
        F.coalesce(F.col("frequency"), F.lit(0)).cast("long").alias("frequency"),
        F.coalesce(F.col("monetary_total"), F.lit(0.0)).alias("monetary_total"),
        F.coalesce(F.col("monetary_mean"), F.lit(0.0)).alias("monetary_mean"),
        F.when(never, since_created).otherwise(F.col("tenure_days")).cast("double").alias("tenure_days"),
        F.col("ipt_mean_days"),
        *[F.col(a) for a in attributes],
    )
    return out


def customer_key(transactions: DataFrame) -> Column:
    """customer_id as the string key the purchases are grouped by (after checking their columns)."""
    missing = [c for c in ("customer_id", "occurred_at", "amount") if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}")
    return F.col("customer_id").cast("string").alias("customer_id")


def _behaviour(transactions: DataFrame, cutoff: pd.Timestamp) -> DataFrame:
    key = customer_key(transactions)
    rows = transactions.where(F.col("occurred_at") <= F.lit(naive_utc(cutoff)))
    agg = rows.groupBy(key).agg(*behaviour_aggregates(cutoff))
    return agg.select("customer_id", *behaviour_columns())


def behaviour_aggregates(cutoff: pd.Timestamp, suffix: str = "") -> list[Column]:
    """The aggregations (per customer) behind BEHAVIOUR, counting only purchases by `cutoff`:
    several cutoffs are aggregated in one pass over the purchases, each with its own suffix."""
    by = F.col("occurred_at") <= F.lit(naive_utc(cutoff))
    day = days_before("occurred_at", cutoff)
    return [F.count(F.when(by, F.lit(1))).alias(f"n{suffix}"), F.sum(F.when(by, F.col("amount"))).alias(f"total{suffix}"),
            F.max(F.when(by, day)).alias(f"last{suffix}"), F.min(F.when(by, day)).alias(f"first{suffix}")]


def behaviour_columns(suffix: str = "") -> list[Column]:
    """BEHAVIOUR from `behaviour_aggregates`' columns of the same suffix (rows with n > 0 only)."""
    n, total, last, first = (F.col(f"{c}{suffix}") for c in ("n", "total", "last", "first"))
    return [
        (-last).alias("recency_days"),
        n.cast("long").alias("frequency"),
        total.cast("double").alias("monetary_total"),
        (total / F.greatest(n, F.lit(1))).cast("double").alias("monetary_mean"),
        (-first).alias("tenure_days"),
        F.when(n >= 2, (last - first) / (n - 1)).cast("double").alias("ipt_mean_days"),
    ]


def _customers_as_of(customers: DataFrame, cutoff: pd.Timestamp, attributes: Sequence[str]) -> DataFrame:
    if "customer_id" not in customers.columns:
        raise ValueError("customers table has no customer_id column")
    absent = [a for a in attributes if a not in customers.columns]
    if absent:
        raise ValueError(f"configured attribute(s) {absent} are not columns of the customers table")
    keep = ["created_at"] if "created_at" in customers.columns else []
    if keep and dict(customers.dtypes)["created_at"] == "string":
        customers = customers.withColumn("created_at", F.try_to_timestamp(F.col("created_at")))
    # The last row of a repeated customer_id wins, as drop_duplicates(keep="last") does.
    rows = customers.select(F.col("customer_id").cast("string").alias("customer_id"), *keep, *attributes,
                            F.monotonically_increasing_id().alias("_row"))
    latest = Window.partitionBy("customer_id").orderBy(F.col("_row").desc())
    table = rows.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1).drop("_n", "_row")
    if keep:
        table = table.where(F.col("created_at").isNull() | (F.col("created_at") <= F.lit(naive_utc(cutoff))))
    return table


# --------------------------------------------------------------------------- RFM


def rfm_scores(features: DataFrame) -> DataFrame:
    """customer_id, r_score, f_score, m_score (1-5), rfm_score, rfm_segment, as
    `segmentation.rfm.rfm_scores` gives them (ties share the score of their lowest rank)."""
    missing = [c for c in ("recency_days", "frequency", "monetary_total") if c not in features.columns]
    if missing:
        raise ValueError(f"RFM needs feature column(s) {missing}")
    n = features.count()
    r = quintile_score(features, "recency_days", n, higher_is_better=False)
    f = quintile_score(features, "frequency", n)
    m = quintile_score(features, "monetary_total", n)
    grid = F.create_map(*[F.lit(x) for name, rs, fs in RFM_SEGMENTS for r_ in rs for f_ in fs
                          for x in (r_ * 10 + f_, name) if (name, r_, f_) != ("Hibernating", 1, 1)])
    scored = features.select("customer_id", r.alias("r_score"), f.alias("f_score"), m.alias("m_score"))
    return scored.select(
        "*",
        F.concat(*[F.col(c).cast("string") for c in ("r_score", "f_score", "m_score")]).alias("rfm_score"),
        grid[F.col("r_score") * 10 + F.col("f_score")].alias("rfm_segment"),
    )


def quintile_score(features: DataFrame, column: str, n: int, higher_is_better: bool = True) -> Column:
    """Score 1-5 as `segmentation.rfm.quintile_scores`: 1 + the number of cuts j (1..4) such that
    at least ceil(j n / 5) present values are strictly worse; missing values score 1."""
    keyed = F.col(column).cast("double") if higher_is_better else -F.col(column).cast("double")
    present = keyed.isNotNull() & ~F.isnan(keyed)
    values = features.select(keyed.alias("v")).where(present)
    ks = [-(-j * n // 5) for j in range(1, 5)]
    cuts = kth_smallest(values, "v", ks)
    score = F.lit(1)
    for cut in cuts:
        if cut is not None:
            score = score + F.when(present & (keyed > F.lit(cut)), 1).otherwise(0)
    return score.cast("long")


def kth_smallest(values: DataFrame, column: str, ks: Sequence[int]) -> list[float | None]:
    """The k-th smallest value (1-based) of `column` for each k; None when k exceeds the count."""
    count = values.count()
    if count <= _SORT_ON_DRIVER:
        ordered = sorted(v for (v,) in values.collect())
        return [ordered[k - 1] if 1 <= k <= count else None for k in ks]
    found = _bracketed(values, column, sorted({k for k in ks if 1 <= k <= count}), count)
    return [found[k] if 1 <= k <= count else None for k in ks]


def _bracketed(values: DataFrame, column: str, ks: list[int], count: int) -> dict[int, float]:
    """The k-th smallest value for each k: approximate quantiles bracket them, and only the
    distinct values inside the brackets come to the driver, with their counts (a cut inside a
    block of ties, such as every customer with one purchase, is one row, not every tied value).
    Every k is searched at once, so a pass is three scans whatever the number of cuts: the
    quantiles, the counts below and inside each bracket, the values inside any of them; a k
    whose bracket missed it (or held too many distinct values) is searched again, wider."""
    found: dict[int, float] = {}
    pending = list(ks)
    for width in (3 * _QUANTILE_ERROR, 30 * _QUANTILE_ERROR, 1.0):
        if not pending:
            break
        probabilities = [q for k in pending for q in (max(0.0, k / count - width), min(1.0, k / count + width))]
        bounds = values.approxQuantile(column, probabilities, _QUANTILE_ERROR)
        brackets = {k: (bounds[2 * i], bounds[2 * i + 1]) for i, k in enumerate(pending)}
        inside = {k: (F.col(column) >= lo) & (F.col(column) <= hi) for k, (lo, hi) in brackets.items()}
        aggs = []
        for i, k in enumerate(pending):
            aggs += [F.sum(F.when(F.col(column) < brackets[k][0], 1).otherwise(0)).alias(f"below{i}"),
                     F.sum(F.when(inside[k], 1).otherwise(0)).alias(f"inside{i}"),
                     F.count_distinct(F.when(inside[k], F.col(column))).alias(f"distinct{i}")]
        stats = values.agg(*aggs).first()
        below = {k: int(stats[f"below{i}"] or 0) for i, k in enumerate(pending)}
        located = [k for i, k in enumerate(pending)
                   if below[k] < k <= below[k] + int(stats[f"inside{i}"] or 0)
                   and (int(stats[f"distinct{i}"] or 0) <= 5 * _SORT_ON_DRIVER or width == 1.0)]
        if located:
            any_inside = functools.reduce(lambda a, b: a | b, (inside[k] for k in located))
            counted = sorted(tuple(r) for r in values.where(any_inside).groupBy(column).count().collect())
            found.update({k: _walk(counted, brackets[k], below[k], k) for k in located})
        pending = [k for k in pending if k not in found]
    if pending:  # pragma: no cover
        raise RuntimeError(f"could not locate the k-th smallest {column} among {count} values for k in {pending}")
    return found


def _walk(counted: list[tuple[float, int]], bracket: tuple[float, float], below: int, k: int) -> float:
    """The k-th smallest value from the sorted (value, count) rows inside `bracket`, `below` values under it."""
    lo, hi = bracket
    seen = below
    for value, n in counted:
        if lo <= value <= hi:
            seen += n
            if seen >= k:
                return float(value)
    raise AssertionError("the counts located k inside the bracket")  # pragma: no cover
