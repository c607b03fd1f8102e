"""Next best offer on the Spark executors: every customer's top three, with reasons and scores,
worked out where their line items are, the pandas path's answers for the same data.

The pure core (segmentation.offers) is split where an engine holding customers in parts needs it:

- product-level signals are sums over customers (segmentation.offer_signals.SignalSums): each
  part of the customers (a bucket of customer ids, one group of `applyInPandas`) builds its own
  purchase history with the core's PurchaseHistory and returns its sums; the driver adds them
  (products x products at most, never per customer) into ProductSignals.from_sums;
- the latent tastes are fitted on the driver to the core's own sample of buyers (at most
  segmentation.offer_tastes.MAX_FIT_CUSTOMERS; Spark finds who they are by rank);
- the offer model is the core's: reused until it must be refitted, else chosen from the
  out-of-time comparison (segmentation.offers.evaluates says when one runs; it then collects the
  line items before the date to the driver, as the pandas path reads them) and, for the ranker,
  trained on the core's training population (segmentation.offer_evaluation.training_sample,
  at most TRAINING_POPULATION customers), whose line items alone come to the driver;
- every customer's offers come from segmentation.offers.serve_offers per bucket, with the model,
  the signals and the compiled rules broadcast in an OfferServing; the stability rule reads each
  customer's current offers joined to their bucket.

Line items keep their order of arrival (a row number taken before any shuffle) so a bucket
hands the core its customers' lines in the order the pandas path sees them; transaction ids are
categoricals with sorted categories on both paths. So the answers are the pandas path's, bit for
bit on the same data (tests/connector/engine/test_spark_offers.py); an exception: a product
bought by more than 2**24 customers, whose float32 count the pandas path would round.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segmentation.offer_evaluation import TRAINING_POPULATION, K, fit_ranker, training_sample
from segmentation.offer_model import OfferModel, mix_of, retrain_reason
from segmentation.offer_signals import ProductSignals, SignalSums
from segmentation.offer_tastes import TasteMixture, taste_sample
from segmentation.offers import (
    OfferParams,
    OfferServing,
    choose_offer_model,
    code_ids,
    evaluates,
    fit_offer_model,
    offer_scorer,
    serve_offers,
)
from segmentation.purchases import EncodedItems, PurchaseHistory, product_catalog

if TYPE_CHECKING:
    from segmentation.offer_ranker import OfferRanker
    from segmentation.offer_selection import OfferRules

ROW, BUCKET, SEGMENT, CURRENT = "_row", "_bucket", "_segment", "_current"
STABILITY = "_stability"  # 0: no current list or no stability rule; 1 kept; 2 replaced: ineligible; 3: replaced: better
#: Customers per bucket at most: a bucket's history, candidates and features fit an executor's Python worker.
BUCKET_CUSTOMERS = 50_000
LINE_COLUMNS = ("transaction_id", "customer_id", "product_id", "product_name", "category", "occurred_at", "unit_price")
SLOT_IDS = tuple(f"offer_{j + 1}_id" for j in range(K))
OFFER_SCHEMA = T.StructType([
    T.StructField("customer_id", T.StringType()),
    *(T.StructField(f"offer_{j + 1}", T.StringType()) for j in range(K)),
    T.StructField("offer_reasons", T.StringType()), T.StructField("method", T.StringType()),
    *(f for j in range(K) for f in (T.StructField(f"offer_{j + 1}_id", T.StringType()),
                                    T.StructField(f"offer_{j + 1}_score", T.DoubleType()))),
    T.StructField(STABILITY, T.IntegerType()),
])
OFFER_COLUMNS = tuple(f.name for f in OFFER_SCHEMA.fields if f.name != STABILITY)


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
    catalog = _catalog(past)
    version = segments.agg(F.max(F.col("model_version").cast("string"))).first()[0] if "model_version" in segments.columns else None
    mix = _mix(past, as_of, params.horizon_days)
    retrained = retrain_reason(previous, params.retrain, as_of, mix, version)
    axis = segments.select("customer_id").union(past.select("customer_id")).distinct().persist()
    seg_ids, names = _segment_order(segments)
    lines = _bucketed(axis, segments, past, seg_ids, _buckets(spark, axis.count()))
    sums = _signal_sums(lines, catalog.index, seg_ids, as_of)
    signals = ProductSignals.from_sums(sums, seg_ids, np.zeros(0, np.int64), _tastes(past, catalog.index, sums.buyers))
    price = catalog["price"].to_numpy(dtype="float64")
    if previous is not None and retrained is None:
        model = previous
    else:
        model = _fit_model(past, segments, as_of, params, mix, version)
    scorer = offer_scorer(model, price, params, lambda: _fit_ranker(past, axis, segments, catalog, as_of, params, price))
    served = OfferServing.build(model, scorer, catalog, signals, names, rules, dataclasses.replace(params, n_jobs=1))
    _ = signals.neighbours  # worked out once here and shipped (the dense similarity look-up is not: each bucket makes it)
    if current is not None:
        lines = lines.join(current.select("customer_id", *SLOT_IDS).withColumn(CURRENT, F.lit(True)), "customer_id", "left")
    offers = _served(spark, lines, served, signals, as_of, current is not None).persist()
    stability = _stability(offers) if current is not None else None
    axis.unpersist()
    return SparkOffers(offers.drop(STABILITY), model.evaluation, model.method, model.reason, served.defaults(signals), model,
                       retrained, stability)


def _catalog(past: DataFrame) -> pd.DataFrame:
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


def _mix(past: DataFrame, as_of: pd.Timestamp, horizon_days: int) -> pd.Series:
    """segmentation.offer_model.product_mix from counts per product: bounded by products."""
    start = (as_of - pd.Timedelta(days=horizon_days)).to_pydatetime()
    counts = past.where(F.col("occurred_at") >= F.lit(start)).groupBy("product_id").count().toPandas()
    return mix_of(counts.set_index(counts["product_id"].astype(str))["count"].rename(None))


def _segment_order(segments: DataFrame) -> tuple[pd.Index, dict[str, str]]:
    """The segment ids in the order the pandas path codes them (first appearance along the sorted
    customer axis: by their smallest customer id) and their names: bounded by segments."""
    name = F.col("segment_name") if "segment_name" in segments.columns else F.col("segment_id")
    rows = (segments.where(F.col("segment_id").isNotNull()).groupBy("segment_id")
            .agg(F.min("customer_id").alias("first"), F.max(name.cast("string")).alias("name")).toPandas())
    rows = rows.sort_values("first", kind="stable")
    return pd.Index(rows["segment_id"].tolist()), dict(zip(rows["segment_id"].astype(str), rows["name"], strict=True))


def _buckets(spark: SparkSession, customers: int) -> int:
    return max(spark.sparkContext.defaultParallelism, math.ceil(customers / BUCKET_CUSTOMERS))


def _bucketed(axis: DataFrame, segments: DataFrame, past: DataFrame, seg_ids: pd.Index, buckets: int) -> DataFrame:
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


def _history(frame: pd.DataFrame, products: pd.Index, as_of: pd.Timestamp) -> tuple[PurchaseHistory, np.ndarray]:
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


def _signal_sums(lines: DataFrame, products: pd.Index, seg_ids: pd.Index, as_of: pd.Timestamp) -> SignalSums:
    """Each bucket's SignalSums (pickled), added on the driver one at a time."""
    n_segments = len(seg_ids)

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        history, codes = _history(frame, products, as_of)
        return pd.DataFrame({"sums": [pickle.dumps(SignalSums.of(history, codes, n_segments))]})

    total: SignalSums | None = None
    for row in lines.groupBy(BUCKET).applyInPandas(part, "sums binary").toLocalIterator():
        sums = pickle.loads(row["sums"])
        total = sums if total is None else total.add(sums)
    if total is None:
        raise ValueError("offers on Spark: no customers to work signals out from")
    return total


def _ranked_ids(frame: DataFrame, ranks: np.ndarray | None) -> pd.Index:
    """The ids (sorted) of `frame`'s distinct customer_ids at these ranks in sorted order (None: all)."""
    from pyspark.sql import Window

    ids = frame.select("customer_id").distinct()
    if ranks is not None:  # one sorted pass over the ids (a partition of ids only: strings, no lines)
        wanted = ids.sparkSession.createDataFrame(pd.DataFrame({"_rank": ranks.astype(np.int64) + 1}))
        ranked = ids.withColumn("_rank", F.row_number().over(Window.orderBy("customer_id")).cast("long"))
        ids = ranked.join(F.broadcast(wanted), "_rank").select("customer_id")
    return pd.Index(np.sort(ids.toPandas()["customer_id"].astype(str).to_numpy()))


def _tastes(past: DataFrame, products: pd.Index, buyers: int) -> TasteMixture:
    """TasteMixture.fit as ProductSignals.build calls it, on the buyers its sample draws: only
    their (customer, product) pairs come to the driver."""
    rng = np.random.default_rng(0)
    who = _ranked_ids(past, taste_sample(buyers, rng))
    keep = F.broadcast(past.sparkSession.createDataFrame(pd.DataFrame({"customer_id": who})))
    got = past.join(keep, "customer_id").select("customer_id", "product_id").distinct().toPandas()
    rows, cols = who.get_indexer(got["customer_id"].astype(str)), products.get_indexer(got["product_id"].astype(str))
    order = np.argsort(rows.astype(np.int64) * len(products) + cols, kind="stable")
    indptr = np.zeros(len(who) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(who)), out=indptr[1:])
    owned = sp.csr_matrix((np.ones(len(order), np.float32), cols[order].astype(np.int32), indptr), shape=(len(who), len(products)))
    return TasteMixture.fit_sample(owned, rng)


def _collected(frame: DataFrame) -> pd.DataFrame:
    """Line items on the driver in their order of arrival, as the pandas path holds them."""
    out = frame.toPandas().sort_values(ROW, kind="stable").drop(columns=ROW).reset_index(drop=True)
    return code_ids(out.assign(occurred_at=pd.to_datetime(out["occurred_at"], utc=True)))


def _fit_model(past: DataFrame, segments: DataFrame, as_of: pd.Timestamp, params: OfferParams, mix: pd.Series,
               version: str | None) -> OfferModel:
    """The model's method: from the out-of-time comparison when one runs (on the driver, over the
    line items before as_of, as in the pandas path), else the configured one or its fallback."""
    if not evaluates(params, _first_purchase(past), as_of):
        return choose_offer_model(None, as_of, params, mix, version)
    seg = segments.toPandas()
    return fit_offer_model(_collected(past), seg.set_index("customer_id"), as_of, params, mix, seg)


def _fit_ranker(past: DataFrame, axis: DataFrame, segments: DataFrame, catalog: pd.DataFrame, as_of: pd.Timestamp,
                params: OfferParams, price: np.ndarray) -> OfferRanker:
    """segmentation.offer_evaluation.make_scorer's ranker from its training population only: the
    customers training_sample draws from the sorted axis, their line items and segments."""
    who = _ranked_ids(axis, training_sample(axis.count(), TRAINING_POPULATION, params.random_state))
    keep = F.broadcast(past.sparkSession.createDataFrame(pd.DataFrame({"customer_id": who})))
    items = _collected(past.join(keep, "customer_id"))
    seg = segments.join(keep, "customer_id").select("customer_id", "segment_id").toPandas()
    first = _first_purchase(past)
    if first is None:
        raise ValueError("offers on Spark: no line items before as_of to train the ranker on")
    return fit_ranker(
        EncodedItems.encode(items, catalog.index, who), who, seg.set_index("customer_id")["segment_id"], as_of,
        pd.Timestamp(first.value / 1e9, unit="s", tz="UTC"), catalog.index, horizon_days=params.horizon_days,
        cross_sell=params.mode == "cross_sell", price=price, random_state=params.random_state, n_jobs=params.n_jobs,
    )


def _first_purchase(past: DataFrame) -> pd.Timestamp | None:
    """The first line item's time (UTC), read as microseconds: no Python local time zone involved."""
    micros = past.agg(F.min(F.unix_micros("occurred_at"))).first()[0]
    return None if micros is None else pd.Timestamp(int(micros) * 1000, unit="ns", tz="UTC")


def _served(spark: SparkSession, lines: DataFrame, served: OfferServing, signals: ProductSignals, as_of: pd.Timestamp,
            with_current: bool) -> DataFrame:
    """serve_offers per bucket, with the serving state broadcast once."""
    shared = spark.sparkContext.broadcast((served, signals))

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        serving, product_signals = shared.value
        history, codes = _history(frame, serving.products, as_of)
        current = _current(frame) if with_current else None
        table, stable = serve_offers(serving, history, product_signals.for_customers(codes), current)
        flag = np.zeros(len(table), dtype=np.int32)
        if stable is not None:
            flag[stable.kept], flag[stable.ineligible], flag[stable.gained] = 1, 2, 3
        return table.assign(**{STABILITY: flag})

    return lines.groupBy(BUCKET).applyInPandas(part, OFFER_SCHEMA)


def _current(frame: pd.DataFrame) -> pd.DataFrame:
    """The bucket's customers' current offers (those who have a list)."""
    now = frame[frame[CURRENT].notna()].drop_duplicates("customer_id")[["customer_id", *SLOT_IDS]].astype(object)
    for col in SLOT_IDS:
        now[col] = now[col].where(now[col].notna(), None)
    return now


def _stability(offers: DataFrame) -> dict[str, int]:
    got = offers.groupBy(STABILITY).count().toPandas().set_index(STABILITY)["count"]
    return {name: int(got.get(code, 0)) for code, name in ((1, "kept"), (2, "replaced_ineligible"), (3, "replaced_better"))}


def offers_on_driver(offers: DataFrame) -> pd.DataFrame:
    """The offers table as the pandas path returns it: sorted by customer_id (bounded collection is
    the desired state's to do; until it takes Spark frames the step hands it this)."""
    out = offers.toPandas().sort_values("customer_id").reset_index(drop=True)
    for col in out.columns:  # text columns built from object arrays, as the pandas path builds them
        if not pd.api.types.is_float_dtype(out[col]):
            out[col] = np.asarray(out[col].astype(object).where(out[col].notna(), None), dtype=object)
    return out

