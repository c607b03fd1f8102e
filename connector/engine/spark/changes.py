"""The desired state's diff on the executors: only changed rows come back to the driver.

At 20M customers the desired state (one row per customer: segment, scores, arm, offers) stays a
Spark DataFrame; the ledger's last confirmed values per record are joined to it there, and
only the rows the plan must send (a field differs, null-safe, or the record was never sent)
are collected. A cycle in which nothing changed collects nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def changed_rows(desired: DataFrame, last_sent: DataFrame, key: str, fields: Sequence[str]) -> DataFrame:
    """Rows of `desired` (key + fields) whose fields differ from `last_sent` (key + the same
    fields, the values the CRM confirmed) or whose key was never sent; `desired`'s columns."""
    absent = [c for c in (key, *fields) if c not in desired.columns]
    if absent:
        raise ValueError(f"desired state lacks column(s) {absent}")
    missing = [c for c in (key, *fields) if c not in last_sent.columns]
    if missing:
        raise ValueError(f"ledger lacks column(s) {missing}")
    sent = last_sent.select(F.col(key), *[F.col(c).alias(f"_sent_{c}") for c in fields], F.lit(True).alias("_known"))
    joined = desired.join(sent, key, "left")
    differs = [~F.col(c).eqNullSafe(F.col(f"_sent_{c}")) for c in fields]
    changed = F.col("_known").isNull() | reduce(lambda a, b: a | b, differs, F.lit(False))
    return joined.where(changed).select(*desired.columns)


def collect_changes(desired: DataFrame, last_sent: DataFrame, key: str, fields: Sequence[str]) -> pd.DataFrame:
    """`changed_rows` on the driver, as the pandas frame the plan step takes."""
    return changed_rows(desired, last_sent, key, fields).toPandas()
