"""The customers' purchase histories on Spark, in buckets, and what the driver learns from them.

Every customer with a segment or a purchase before as_of (the axis) lands in one bucket (a hash
of the customer id): a bucket's line items are one `applyInPandas` group, from which the core's
PurchaseHistory is built exactly as the pandas path builds it for those customers (their ids
sorted, their lines in order of arrival: ROW). What comes back to the driver is bounded by
products and segments: the catalog, the product mix, the segment order and the summed
SignalSums (segmentation.offer_signals), never a customer's row.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segmentation.offer_model import mix_of
from segmentation.offer_signals import SignalSums
from segmentation.offers import code_ids
from segmentation.purchases import EncodedItems, PurchaseHistory, product_catalog

ROW, BUCKET, SEGMENT = "_row", "_bucket", "_segment"
#: Customers per bucket at most: a bucket's history, candidates and features fit an executor's Python worker.
BUCKET_CUSTOMERS = 50_000


def catalog(past: DataFrame) -> pd.DataFrame:
    """segmentation.purchases.product_catalog over groups of products (each product's row depends on
    its own lines only), each group's lines in their order of arrival (the latest name at a tie
    is the last line's): bounded by products."""
    schema = "product_id string, product_name string, category string, price double, buyers long"

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        return product_catalog(frame.sort_values(ROW, kind="stable").drop(columns=BUCKET)).reset_index()

    cols = ["customer_id", "product_id", "product_name", "category", "occurred_at", "unit_price", ROW]
    groups = past.sparkSession.sparkContext.defaultParallelism
    by_product = past.select(*cols).withColumn(BUCKET, F.pmod(F.xxhash64("product_id"), F.lit(groups)))
    out = by_product.groupBy(BUCKET).applyInPandas(part, schema).toPandas()
    return out.set_index("product_id").astype({"product_name": object, "category": object}).sort_index()


def product_mix(past: DataFrame, as_of: pd.Timestamp, horizon_days: int) -> pd.Series:
    """segmentation.offer_model.product_mix from counts per product: bounded by products."""
    start = (as_of - pd.Timedelta(days=horizon_days)).to_pydatetime()
    counts = past.where(F.col("occurred_at") >= F.lit(start)).groupBy("product_id").count().toPandas()
    return mix_of(counts.set_index(counts["product_id"].astype(str))["count"].rename(None))


def segment_order(segments: DataFrame) -> tuple[pd.Index, dict[str, str]]:
    """The segment ids in the order the pandas path codes them (first appearance along the sorted
    customer axis: by their smallest customer id) and their names: bounded by segments."""
    name = F.col("segment_name") if "segment_name" in segments.columns else F.col("segment_id")
    rows = (segments.where(F.col("segment_id").isNotNull()).groupBy("segment_id")
            .agg(F.min("customer_id").alias("first"), F.max(name.cast("string")).alias("name")).toPandas())
    rows = rows.sort_values("first", kind="stable")
    return pd.Index(rows["segment_id"].tolist()), dict(zip(rows["segment_id"].astype(str), rows["name"], strict=True))


def bucket_count(spark: SparkSession, customers: int) -> int:
    return max(spark.sparkContext.defaultParallelism, math.ceil(customers / BUCKET_CUSTOMERS))


def bucketed(axis: DataFrame, segments: DataFrame, past: DataFrame, seg_ids: pd.Index, buckets: int) -> DataFrame:
    """One row per line item of each customer on the axis (a row with no product for a customer
    without purchases), with the customer's segment code (-1: none) and bucket."""
    spark = axis.sparkSession
    schema = T.StructType([segments.schema["segment_id"], T.StructField(SEGMENT, T.LongType())])
    codes = spark.createDataFrame(pd.DataFrame({"segment_id": list(seg_ids), SEGMENT: np.arange(len(seg_ids))}), schema)
    coded = segments.select("customer_id", "segment_id").join(F.broadcast(codes), "segment_id").drop("segment_id")
    who = axis.join(coded, "customer_id", "left").withColumn(SEGMENT, F.coalesce(F.col(SEGMENT), F.lit(-1)))
    lines = who.join(past.select("customer_id", "transaction_id", "product_id", "occurred_at", "unit_price", ROW),
                     "customer_id", "left")
    return lines.withColumn(BUCKET, F.pmod(F.xxhash64("customer_id"), F.lit(buckets)))


def purchase_history(frame: pd.DataFrame, products: pd.Index, as_of: pd.Timestamp) -> tuple[PurchaseHistory, np.ndarray]:
    """A bucket's customers' purchase history (their ids sorted, as the pandas path's axis) and
    their segment codes, from its rows in their order of arrival."""
    frame = frame.sort_values(ROW, kind="stable", na_position="first")
    who = frame.drop_duplicates("customer_id")
    customers = pd.Index(np.sort(who["customer_id"].astype(str).to_numpy()))
    codes = who.set_index("customer_id")[SEGMENT].reindex(customers).to_numpy(dtype=np.int64)
    lines = frame[frame["product_id"].notna()]
    lines = code_ids(lines.assign(occurred_at=pd.to_datetime(lines["occurred_at"], utc=True)))
    encoded = EncodedItems.encode(lines, products, customers)
    return PurchaseHistory.build(encoded, as_of, products, customers), codes


def signal_sums(lines: DataFrame, products: pd.Index, seg_ids: pd.Index, as_of: pd.Timestamp) -> SignalSums:
    """Each bucket's SignalSums (pickled), added on the driver one at a time."""
    n_segments = len(seg_ids)

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        history, codes = purchase_history(frame, products, as_of)
        return pd.DataFrame({"sums": [pickle.dumps(SignalSums.of(history, codes, n_segments))]})

    total: SignalSums | None = None
    for row in lines.groupBy(BUCKET).applyInPandas(part, "sums binary").toLocalIterator():
        sums = pickle.loads(row["sums"])
        total = sums if total is None else total.add(sums)
    if total is None:
        raise ValueError("offers on Spark: no customers to work signals out from")
    return total

