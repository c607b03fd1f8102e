"""The desired state's diff on the executors: only changed rows come back to the driver.

At 20M customers the desired state (one row per customer: segment, scores, arm, offers) stays a
Spark DataFrame; the ledger's last confirmed values per record are joined to it there, and
only the rows the plan must send (a field differs, null-safe, or the record was never sent)
are collected. A cycle in which nothing changed collects nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from connector.engine.spark.desired import ORDER, DestinationKeys


def compare_rows(desired: DataFrame, last_sent: DataFrame, key: str, fields: Sequence[str],
              how: str) -> tuple[DataFrame, Column]:
    """(desired joined to last_sent by `key` (`_sent_<field>` and `_known` from it), a condition
    true for the desired rows that changed or were never sent)."""
    absent = [c for c in (key, *fields) if c not in desired.columns]
    if absent:
        raise ValueError(f"desired state lacks column(s) {absent}")
    missing = [c for c in (key, *fields) if c not in last_sent.columns]
    if missing:
        raise ValueError(f"ledger lacks column(s) {missing}")
    sent = last_sent.select(F.col(key), *[F.col(c).alias(f"_sent_{c}") for c in fields], F.lit(True).alias("_known"))
    joined = desired.withColumn("_here", F.lit(True)).join(sent, key, how)
    differs = [~F.col(c).eqNullSafe(F.col(f"_sent_{c}")) for c in fields]
    changed = F.col("_here").isNotNull() & (F.col("_known").isNull() | reduce(lambda a, b: a | b, differs, F.lit(False)))
    return joined, changed


@dataclass(frozen=True)
class DestinationChanges:
    """One destination's share of the desired state that the plan must look at.

    rows: the desired rows (pandas, in the desired state's `_order`) with a record id in the
    destination whose mapped values or list memberships differ from what its ledger confirmed;
    departed: customer_ids the ledger holds list memberships for that have no such row any more
    (their memberships are removed); unchanged: how many rows with a record id were left on Spark."""

    rows: pd.DataFrame
    departed: list[str]
    unchanged: int


def destination_changes(desired: DataFrame, ledger_values: DataFrame, ledger_lists: DataFrame,
                        dest: DestinationKeys, with_id: int) -> DestinationChanges:
    """Compare one destination's `_values_*` / `_lists_*` columns of `desired` (connector.engine.spark.desired)
    with its ledger: `ledger_values` (record_key, fields: the confirmed values as sorted JSON) and
    `ledger_lists` (record_key, list_name). One collect brings the changed rows and the departed
    keys; `with_id`: how many desired rows have a record id in the destination."""
    mine = desired.where(F.col(dest.id_column).isNotNull()) if dest.id_column in desired.columns \
        else desired.limit(0)
    compared = mine.withColumnRenamed(dest.values, "_values").withColumnRenamed(dest.memberships, "_lists")
    lists = ledger_lists.groupBy("record_key").agg(
        F.concat_ws("\n", F.array_sort(F.collect_list("list_name"))).alias("_lists"))
    sent = (ledger_values.select("record_key", F.col("fields").alias("_values"))
            .join(lists, "record_key", "full_outer").withColumnRenamed("record_key", "customer_id"))
    joined, changed = compare_rows(compared, sent, "customer_id", ["_values", "_lists"], "full_outer")
    departed = F.col("_here").isNull() & F.col("_sent__lists").isNotNull()
    found = joined.where(changed | departed).select(*compared.columns, "_here").toPandas()
    here = found["_here"].notna()
    rows = found[here].drop(columns="_here").sort_values(ORDER, kind="stable").reset_index(drop=True)
    rows = rows.rename(columns={"_values": dest.values, "_lists": dest.memberships})
    if "arms" in rows:  # Arrow hands a map back as (key, value) pairs; desired_table's arms are dicts
        rows["arms"] = rows["arms"].map(lambda v: dict(v) if isinstance(v, list | np.ndarray) else v)
    return DestinationChanges(rows, found.loc[~here, "customer_id"].astype(str).tolist(), with_id - len(rows))
