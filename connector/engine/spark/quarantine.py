"""The pandas engine's quarantine rules, run on the executors.

Every row-local rule (missing keys, unparseable or non-finite values, negative, absurd or
future amounts and dates) is `segmentation.features.row_reasons` itself, applied to each Arrow
batch by mapInPandas, so the same rows are rejected with the same text. Rows a SQL predicate
proves fine (typed timestamp and double columns within bounds) skip Python altogether; the
predicate is conservative: anything it cannot vouch for goes to the pandas rules, which decide.
Duplicates (a repeated transaction_id among rows that passed; the first in input order is kept)
are a window over transaction_id. Nothing is collected to the driver: `rejection_counts`
aggregates the reasons there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segmentation.features import (
    DUPLICATE_REASON,
    Plausible,
    parse_transaction_values,
    row_reasons,
)

_REQUIRED = ("transaction_id", "customer_id", "occurred_at", "amount")
_COMPUTED = ("customer_id", "occurred_at", "amount")
#: Repeated transaction ids broadcast to every task (about 100 MB at most); beyond, a window.
_BROADCAST_DUPLICATES = 1_000_000
ROW = "_row"
_CHECKED = T.StructType([
    T.StructField("transaction_id", T.StringType()),
    T.StructField("customer_id", T.StringType()),
    T.StructField("occurred_at", T.TimestampType()),
    T.StructField("amount", T.DoubleType()),
    T.StructField("source", T.StringType()),
    T.StructField(ROW, T.LongType()),
    T.StructField("reason", T.StringType()),
])


def clean_transactions(transactions: DataFrame, plausible: Plausible | None = None) -> tuple[DataFrame, DataFrame]:
    """(clean, rejected) as `segmentation.features.clean_transactions`, as Spark DataFrames.

    clean: transaction_id, customer_id (str), occurred_at (timestamp, UTC), amount (double),
    source; rejected: transaction_id, customer_id, reason, source. Every input row lands in one.
    """
    judged = _judged(_rows(transactions), plausible or Plausible())
    clean = judged.where(F.col("reason").isNull()).select("transaction_id", "customer_id", "occurred_at", "amount", "source")
    rejected = judged.where(F.col("reason").isNotNull()).select("transaction_id", "customer_id", "reason", "source")
    return clean, rejected


@dataclass(frozen=True)
class Judged:
    """Every input row judged once and kept on the executors' local disk, hash
    partitioned by customer_id: a clean row keeps only what the compute reads (customer_id,
    occurred_at, amount), a rejected row also its transaction_id, reason and source.
    counts: rejected rows per rule (`rejection_counts`); clean_rows: how many rows are clean;
    latest: the latest clean purchase (None without any), all three from the pass that stored them.

    Built once per cycle, it saves two things at scale: the quarantine (a shuffle of every row by
    transaction_id for the duplicate rule) runs once for clean and rejected rows alike, and every
    per-customer aggregation after it (features, each score cutoff, the CLV summary) finds its
    input already partitioned by customer_id, so none of them shuffles the purchases again.
    """

    table: DataFrame
    counts: pd.DataFrame
    clean_rows: int = 0
    latest: pd.Timestamp | None = None

    @property
    def clean(self) -> DataFrame:
        """customer_id (str), occurred_at (timestamp, UTC), amount (double): the clean rows."""
        return self.table.where(F.col("reason").isNull()).select(*_COMPUTED)

    @property
    def rejected(self) -> DataFrame:
        """transaction_id, customer_id, reason, source, as `clean_transactions` gives them."""
        return self.table.where(F.col("reason").isNotNull()).select("transaction_id", "customer_id", "reason", "source")

    def release(self) -> None:
        self.table.unpersist()


def judge(transactions: DataFrame, plausible: Plausible | None = None) -> Judged:
    """The rows of `clean_transactions`, judged once and persisted by customer (see Judged).

    Stored now, by the job that counts the rejected rows (and the clean ones, and finds the
    latest clean purchase): Spark knows a persisted table's partitioning only once it is stored
    (AQE may change it before), and a plan made before that would shuffle the purchases by
    customer again."""
    judged = _judged(_rows(transactions), plausible or Plausible())
    kept = F.col("reason").isNotNull()
    table = judged.select(*_COMPUTED, "reason", F.when(kept, F.col("transaction_id")).alias("transaction_id"),
                          F.when(kept, F.col("source")).alias("source"))
    # On local disk, not the heap: 200M purchases (20M customers) built as in-memory blocks ran a
    # 4 GB local[2] driver out of heap (BENCHMARKS.md); the passes after this one read the blocks
    # back through the OS page cache.
    table = table.repartition("customer_id").persist(StorageLevel.DISK_ONLY)
    per_rule = table.groupBy(_rule()).agg(F.count(F.lit(1)).alias("count"),
                                        F.max(F.unix_micros("occurred_at")).alias("_latest")).toPandas()
    clean = per_rule[per_rule["rule"].isna()]
    latest = clean["_latest"].iloc[0] if len(clean) else None
    return Judged(table, _sorted_counts(per_rule[per_rule["rule"].notna()]), int(clean["count"].sum()),
                  None if latest is None or pd.isna(latest) else pd.Timestamp(int(latest), unit="us", tz="UTC"))


def _rows(transactions: DataFrame) -> DataFrame:
    missing = [c for c in _REQUIRED if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}")
    return transactions.select(
        *[F.col(c) for c in _REQUIRED],
        (F.col("source").cast("string") if "source" in transactions.columns else F.lit(None).cast("string")).alias("source"),
        F.monotonically_increasing_id().alias(ROW),
    )


def _judged(rows: DataFrame, plausible: Plausible) -> DataFrame:
    """`rows` with the reason each is rejected for (null: clean). Duplicates: among the rows that
    passed the row-local rules, a repeated transaction_id keeps its first row in input order.

    The repeated ids are found by an aggregation of (transaction_id, row number) alone, kept on
    the executors (a local checkpoint, freed with the plan) and counted; usually there are none,
    a handful in a dirty feed, and every row is flagged through a broadcast join with them: no
    shuffle and sort of whole rows by transaction_id, and no row reaches the Python driver. Above
    _BROADCAST_DUPLICATES repeated ids a window over transaction_id decides instead."""
    checked = _row_checked(rows, plausible)
    passed = F.col("reason").isNull()
    repeated = (checked.where(passed).groupBy("transaction_id")
                .agg(F.min(ROW).alias("_first"), F.count(F.lit(1)).alias("_n")).where(F.col("_n") > 1)
                .select("transaction_id", "_first").localCheckpoint(eager=True))
    if repeated.count() > _BROADCAST_DUPLICATES:
        first = Window.partitionBy("transaction_id", passed).orderBy(ROW)
        duplicate = passed & (F.row_number().over(first) > 1)
        return checked.withColumn("reason", F.when(duplicate, F.lit(DUPLICATE_REASON)).otherwise(F.col("reason")))
    flagged = checked.join(F.broadcast(repeated), "transaction_id", "left")
    duplicate = passed & F.col("_first").isNotNull() & (F.col(ROW) != F.col("_first"))
    return flagged.withColumn("reason", F.when(duplicate, F.lit(DUPLICATE_REASON)).otherwise(F.col("reason"))) \
        .drop("_first")


def rejection_counts(rejected: DataFrame) -> pd.DataFrame:
    """rule, count: rejected rows per rule (the reason without the quoted value), largest first."""
    return _counted(rejected.groupBy("reason").count())


def _counted(per_reason: DataFrame) -> pd.DataFrame:
    """rule, count from (reason, count) rows (the null reason, clean rows, left out)."""
    counts = per_reason.where(F.col("reason").isNotNull()).groupBy(_rule()).agg(F.sum("count").alias("count"))
    return _sorted_counts(counts.toPandas())


def _rule() -> Column:
    """A reason without its quoted value: the rule it names (null for a clean row)."""
    return F.regexp_replace(F.col("reason"), r" \(.*\)$", "").alias("rule")


def _sorted_counts(counts: pd.DataFrame) -> pd.DataFrame:
    counts = counts[["rule", "count"]].assign(count=counts["count"].astype("int64"))
    return counts.sort_values(["count", "rule"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _row_checked(rows: DataFrame, plausible: Plausible) -> DataFrame:
    """rows with parsed occurred_at and amount, and the row-local reason (null when fine)."""
    fine = _surely_fine(rows, plausible)
    judge = rows.mapInPandas(_judge_batches(plausible), _CHECKED)
    if fine is None:
        return judge
    passed = rows.where(fine).select(
        F.col("transaction_id").cast("string"), F.col("customer_id").cast("string"),
        F.col("occurred_at"), F.col("amount").cast("double"), "source", ROW, F.lit(None).cast("string").alias("reason"),
    )
    doubtful = rows.where(~F.coalesce(fine, F.lit(False))).mapInPandas(_judge_batches(plausible), _CHECKED)
    return passed.unionByName(doubtful)


def _surely_fine(rows: DataFrame, p: Plausible) -> Column | None:
    """A SQL predicate true only for rows the pandas rules would pass (typed columns only)."""
    types = dict(rows.dtypes)
    if types["occurred_at"] != "timestamp" or types["amount"] not in ("double", "float", "int", "bigint", "decimal"):
        return None
    amount = F.col("amount").cast("double")
    fine = (F.col("transaction_id").isNotNull() & F.col("customer_id").cast("string").rlike("[!-~]")
            & F.col("occurred_at").isNotNull() & amount.isNotNull() & ~F.isnan(amount)
            & (amount >= 0) & (amount < float("inf")))
    if p.max_amount is not None:
        fine &= amount <= float(p.max_amount)
    if p.latest is not None:
        fine &= F.col("occurred_at") <= F.lit(_naive_utc(p.latest))
    if p.earliest is not None:
        fine &= F.col("occurred_at") >= F.lit(_naive_utc(p.earliest))
    return fine


def _naive_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """Spark reads a naive literal in the session time zone, which segsync sets to UTC."""
    value = pd.Timestamp(stamp)
    return value.tz_convert("UTC").tz_localize(None) if value.tzinfo is not None else value


def _judge_batches(plausible: Plausible):
    def judge(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            frame = batch.reset_index(drop=True)
            when, amount = parse_transaction_values(frame)
            reason = row_reasons(frame, when, amount, plausible)
            yield pd.DataFrame({
                "transaction_id": _text(frame["transaction_id"]),
                "customer_id": _text(frame["customer_id"]),
                "occurred_at": when.where(reason.isna()),
                "amount": amount.where(reason.isna()),
                "source": frame["source"],
                ROW: frame[ROW],
                "reason": reason,
            })
    return judge


def _text(values: pd.Series) -> pd.Series:
    """str of each present value (as the pandas engine's clean rows), None for missing ones."""
    return pd.Series([None if _missing(v) else (v if isinstance(v, str) else str(v)) for v in values],
                     index=values.index, dtype=object)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT
