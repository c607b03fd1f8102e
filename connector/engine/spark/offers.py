"""Next best offer on the Spark executors: every customer's top three, with reasons and scores,
worked out where their line items are, the pandas path's answers for the same data.

The pure core (segmentation.offers) is split where an engine holding customers in parts needs it:

- product-level signals are sums over customers (segmentation.offer_signals.SignalSums): each
  part of the customers (a bucket of customer ids, one group of `applyInPandas`) builds its own
  purchase history with the core's PurchaseHistory and returns its sums; the driver adds them
  (products x products at most, never per customer) into ProductSignals.from_sums
  (connector.engine.spark.offer_history);
- the latent tastes, the out-of-time comparison and the ranker are fitted on the driver to the
  core's own samples (connector.engine.spark.offer_training);
- every customer's offers come from segmentation.offers.serve_offers per bucket, with the model,
  the signals and the compiled rules broadcast in an OfferServing; the stability rule reads each
  customer's current offers joined to their bucket (connector.engine.spark.offer_serving);
- the table stays on Spark: the step diffs it against the stored current offers there and
  aggregates what the report shows (connector.engine.spark.offer_changes).

Line items keep their order of arrival (a row number taken before any shuffle) so a bucket
hands the core its customers' lines in the order the pandas path sees them; transaction ids are
categoricals with sorted categories on both paths. So the answers are the pandas path's, bit for
bit on the same data (tests/connector/engine/test_spark_offers.py); an exception: a product
bought by more than 2**24 customers, whose float32 count the pandas path would round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from connector.engine.spark.offer_history import (
    ROW,
    bucket_count,
    bucketed,
    catalog,
    product_mix,
    segment_order,
    signal_sums,
)
from connector.engine.spark.offer_serving import (
    CURRENT,
    OFFER_COLUMNS,
    SLOT_IDS,
    STABILITY,
    served_offers,
    stability_counts,
)
from connector.engine.spark.offer_training import fit_model, fitted_ranker, fitted_tastes
from segmentation.offer_model import OfferModel, retrain_reason
from segmentation.offer_signals import ProductSignals
from segmentation.offers import OfferParams, OfferServing, offer_scorer

if TYPE_CHECKING:
    from segmentation.offer_selection import OfferRules

__all__ = ["LINE_COLUMNS", "OFFER_COLUMNS", "SparkOffers", "items_frame", "numbered", "offers_on_driver", "spark_offers",
           "text_frame"]
LINE_COLUMNS = ("transaction_id", "customer_id", "product_id", "product_name", "category", "occurred_at", "unit_price")


@dataclass(frozen=True)
class SparkOffers:
    """offers: the pandas step's OffersResult.offers columns (OFFER_COLUMNS), one row per customer
    with a segment or a purchase before as_of, on Spark; the rest as segmentation.offers.OfferResult
    says, with the stability rule's counts (kept, replaced_ineligible, replaced_better; None
    without current offers)."""

    offers: DataFrame
    evaluation: pd.DataFrame | None
    method: str
    reason: str
    defaults: dict[str, tuple[str, ...]]
    model: OfferModel
    retrained: str | None
    stability: dict[str, int] | None


def spark_offers(
    spark: SparkSession, items: DataFrame, segments: DataFrame, as_of: pd.Timestamp, params: OfferParams,
    rules: OfferRules, *, previous: OfferModel | None = None, current: DataFrame | None = None,
) -> SparkOffers:
    """segmentation.offers.recommend_offers on Spark. items: clean line items (LINE_COLUMNS),
    numbered by `numbered` before any shuffle; segments: customer_id, segment_id, segment_name
    (optional), model_version (optional), one row per customer; current: customer_id, offer_1_id..
    offer_3_id, each customer's offers now."""
    past = items.where(F.col("occurred_at") < F.lit(as_of.to_pydatetime())).persist()
    try:
        return _offers(spark, past, segments.dropDuplicates(["customer_id"]), as_of, params, rules, previous, current)
    finally:
        past.unpersist()


def numbered(items: DataFrame) -> DataFrame:
    """Line items with their order of arrival (ROW), taken before any shuffle."""
    return items.withColumn(ROW, F.monotonically_increasing_id())


def items_frame(spark: SparkSession, items: pd.DataFrame) -> DataFrame:
    """Clean line items held by the driver (LINE_COLUMNS; ids may be categoricals) on Spark, numbered;
    times to the microsecond, Spark's resolution."""
    frame = items[list(LINE_COLUMNS)].assign(occurred_at=items["occurred_at"].dt.floor("us"))
    text = {c: str for c in ("transaction_id", "customer_id", "product_id") if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    frame = frame.astype(text | {c: object for c in ("product_name", "category") if isinstance(frame[c].dtype, pd.CategoricalDtype)})
    schema = T.StructType([*(T.StructField(c, T.StringType()) for c in LINE_COLUMNS[:5]),
                           T.StructField("occurred_at", T.TimestampType()), T.StructField("unit_price", T.DoubleType())])
    return numbered(spark.createDataFrame(frame, schema))


def text_frame(spark: SparkSession, frame: pd.DataFrame) -> DataFrame:
    """A small driver table (segments, current offers) on Spark with every column as text, missing
    values null (not "nan"): ids compare as the pandas path's str() of them."""
    text = pd.DataFrame({c: frame[c].astype(str).where(frame[c].notna(), None).astype(object) for c in frame.columns})
    return spark.createDataFrame(text, T.StructType([T.StructField(str(c), T.StringType()) for c in frame.columns]))


def _offers(spark, past, segments, as_of, params, rules, previous, current) -> SparkOffers:  # noqa: ANN001
    products = catalog(past)
    version = segments.agg(F.max(F.col("model_version").cast("string"))).first()[0] if "model_version" in segments.columns else None
    mix = product_mix(past, as_of, params.horizon_days)
    retrained = retrain_reason(previous, params.retrain, as_of, mix, version)
    axis = segments.select("customer_id").union(past.select("customer_id")).distinct().persist()
    seg_ids, names = segment_order(segments)
    lines = bucketed(axis, segments, past, seg_ids, bucket_count(spark, axis.count()))
    sums = signal_sums(lines, products.index, seg_ids, as_of)
    signals = ProductSignals.from_sums(sums, seg_ids, np.zeros(0, np.int64), fitted_tastes(past, products.index, sums.buyers))
    price = products["price"].to_numpy(dtype="float64")
    if previous is not None and retrained is None:
        model = previous
    else:
        model = fit_model(past, segments, as_of, params, mix, version)
    scorer = offer_scorer(model, price, params, lambda: fitted_ranker(past, axis, segments, products, as_of, params, price))
    served = OfferServing.build(model, scorer, products, signals, names, rules, dataclasses.replace(params, n_jobs=1))
    _ = signals.neighbours  # worked out once here and shipped (the dense similarity look-up is not: each bucket makes it)
    if current is not None:
        lines = lines.join(current.select("customer_id", *SLOT_IDS).withColumn(CURRENT, F.lit(True)), "customer_id", "left")
    offers = served_offers(spark, lines, served, signals, as_of, current is not None).persist()
    stability = stability_counts(offers) if current is not None else None
    axis.unpersist()
    return SparkOffers(offers.drop(STABILITY), model.evaluation, model.method, model.reason, served.defaults(signals), model,
                       retrained, stability)


def offers_on_driver(offers: DataFrame) -> pd.DataFrame:
    """The offers table as the pandas path returns it, sorted by customer_id: every customer's row
    (the serving snapshot holds them all; the parity tests compare them)."""
    out = offers.toPandas().sort_values("customer_id").reset_index(drop=True)
    for col in out.columns:  # text columns built from object arrays, as the pandas path builds them
        if not pd.api.types.is_float_dtype(out[col]):
            out[col] = np.asarray(out[col].astype(object).where(out[col].notna(), None), dtype=object)
    return out

