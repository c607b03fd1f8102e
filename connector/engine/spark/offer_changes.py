"""The offers table's outputs on Spark: what changed against the stored current offers, and the
figures the report shows, so that no unchanged customer's offers come to the driver.

The state store keeps each customer's current offers (connector.state.offers: what the next
run's stability rule compares with). On a Spark cycle the new table is joined to them on the
executors (null-safe on the three product ids, as connector.engine.spark.changes compares the
desired state with the ledger) and only the customers whose offers differ, are new, or left
come back. The report's figures (customers offered, the top offers per segment) are
aggregations: bounded by segments x offers, never by customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from connector.engine.spark.changes import compare_rows
from connector.engine.spark.offer_serving import SLOT_IDS
from segmentation.offer_evaluation import K

#: The columns of the stored current offers (connector.state.offers.CurrentOffers.current).
STORED_COLUMNS = ("customer_id", *SLOT_IDS)


@dataclass(frozen=True)
class OfferChanges:
    """rows: customer_id, offer_1_id..offer_3_id of the customers whose offers differ from the
    stored ones (or who have none stored), sorted by customer_id; gone: the customer_ids stored
    with offers that have no row any more."""

    rows: pd.DataFrame
    gone: list[str]


def offer_changes(offers: DataFrame, stored: DataFrame) -> OfferChanges:
    """`offers` (customer_id, offer_1_id..offer_3_id, one row per customer) against `stored`
    (STORED_COLUMNS), on Spark; one collect brings the changed rows and the departed ids."""
    joined, changed = compare_rows(offers.select(*STORED_COLUMNS), stored.select(*STORED_COLUMNS), "customer_id",
                                   SLOT_IDS, "full_outer")
    found = joined.where(changed | F.col("_here").isNull()).select(*STORED_COLUMNS, "_here").toPandas()
    here = found["_here"].notna()
    rows = found[here].drop(columns="_here").sort_values("customer_id").reset_index(drop=True).astype(object)
    return OfferChanges(rows.where(rows.notna(), None), sorted(found.loc[~here, "customer_id"].astype(str)))


def offer_counts(offers: DataFrame) -> tuple[int, int]:
    """(customers in the table, customers with at least one offer), one aggregation."""
    found = offers.agg(F.count(F.lit(1)), F.count("offer_1")).first()
    assert found is not None, "an aggregation without grouping has one row"
    return int(found[0]), int(found[1])


def top_by_segment(offers: DataFrame, segments: DataFrame, n: int = 5) -> pd.DataFrame:
    """segmentation.offers.top_offers_by_segment on Spark: segment_id, segment_name, rank, offer,
    customers (the offers made most often per segment, ties by offer), one row per segment and rank."""
    slots = F.array(*[F.col(f"offer_{j + 1}") for j in range(K)])
    long = offers.select("customer_id", F.explode(slots).alias("offer")).where(F.col("offer").isNotNull())
    named = segments.select("customer_id", "segment_id", "segment_name") \
        .where(F.col("segment_id").isNotNull() & F.col("segment_name").isNotNull())  # as pandas' groupby drops them
    counts = long.join(named, "customer_id").groupBy("segment_id", "segment_name", "offer") \
        .agg(F.count(F.lit(1)).alias("customers"))
    order = Window.partitionBy("segment_id").orderBy(F.desc("customers"), F.asc("offer"), F.asc("segment_name"))
    top = counts.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n).toPandas()
    top = top.sort_values(["segment_id", "rank"], kind="stable").reset_index(drop=True)
    return top.astype({"rank": "int64", "customers": "int64"})[["segment_id", "segment_name", "rank", "offer", "customers"]]
