"""Step `offers` with the Spark engine: the offers stay on the executors, only their changes come back.

The offers are computed on Spark (connector.engine.spark.offers) for the cycle's segments (the
Spark segments when the cycle has them, else the driver's). The table then stays there: the
desired state joins it on the executors (OffersResult.on_spark, connector.steps.spark_plan),
the state store's current offers (streamed to Parquet under `engine.staging`; without it,
through the driver) are diffed against it there and only the customers whose offers changed,
are new or left are written back (connector.engine.spark.offer_changes), and the report's
figures (customers offered, the top offers per segment) are aggregations. A run in which no
customer's offers changed brings no customer's offers to the driver.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from connector.steps.offers import OffersResult, offer_params, offer_rules, record_outcome
from connector.steps.spark_cycle import spark_engine
from segmentation.offers import OfferResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from connector.pipeline import CycleContext
    from segmentation.offer_model import OfferModel

log = logging.getLogger("segsync.offers")
_SEGMENT_COLUMNS = ("customer_id", "segment_id", "segment_name", "model_version")


def offers_of_spark_lines(ctx: CycleContext, lines: DataFrame, codes: Iterable[str]) -> OffersResult | None:
    """The offers step on line items Spark read (a files source): cleaned on the executors by the
    pandas rules (connector.engine.spark.line_items), their rejected rows recorded as the pandas
    step records them; no clean line item reaches the driver."""
    from connector.engine.spark.line_items import clean_on_spark
    from connector.engine.spark.offers import LINE_COLUMNS, numbered
    from connector.steps.offers import previous_model, record_line_rejections

    judged = clean_on_spark(lines, codes)
    ctx.hold(judged.release)
    record_line_rejections(ctx, judged.rejected, None)
    ctx.count("line_items", judged.count)
    if judged.count == 0:
        log.info("no usable line items: no offers")
        return None
    version, previous = previous_model(ctx, ctx.config.offers)
    return offers_on_spark(ctx, numbered(judged.clean.select(*LINE_COLUMNS)), version, previous)


def offers_on_spark(ctx: CycleContext, clean: pd.DataFrame | DataFrame, version: int | None,
                    previous: OfferModel | None) -> OffersResult:
    """The offers step's result with the table on Spark (module docstring); `clean`: the clean line
    items, held by the driver or already on Spark (numbered: connector.engine.spark.offers.numbered)."""
    from connector.engine.spark.offer_changes import offer_changes, offer_counts, top_by_segment
    from connector.engine.spark.offers import OFFER_COLUMNS, items_frame, spark_offers

    cfg, features = ctx.config.offers, ctx.results.features
    assert features is not None, "the offers step runs on features"
    spark = spark_engine(ctx).session
    segments = _segments(ctx, spark)
    stored = stored_offers(ctx, spark) if cfg.min_score_gain > 0 or not ctx.dry_run else None
    items = items_frame(spark, clean) if isinstance(clean, pd.DataFrame) else clean
    found = spark_offers(spark, items, segments, features.as_of, offer_params(cfg), offer_rules(cfg),
                         previous=previous, current=stored if cfg.min_score_gain > 0 else None)
    ctx.hold(found.offers.unpersist)
    table = found.offers.join(segments.select("customer_id"), "customer_id", "left_semi")
    if stored is not None and not ctx.dry_run:
        changes = offer_changes(table, stored)
        ctx.count("offers_changed", ctx.store.offers.apply(changes.rows, changes.gone, ctx.run_id))
        log.info("offers: %d customer(s) with new or changed offers and %d gone, collected from Spark",
                 len(changes.rows), len(changes.gone))
    result = OfferResult(pd.DataFrame(columns=list(OFFER_COLUMNS)), found.evaluation, found.method, found.reason,
                         found.defaults, found.model, found.retrained)
    summary = record_outcome(ctx, result, version, top_by_segment(table, segments), found.stability,
                             offer_counts(table))
    return OffersResult(result.offers, found.defaults, summary, on_spark=table)


def stored_offers(ctx: CycleContext, session: SparkSession) -> DataFrame:
    """The state store's current offers (customer_id, offer_1_id..offer_3_id) on Spark: streamed to
    Parquet in `engine.staging` (the executors read it); without it, through the driver."""
    from connector.engine.spark.offers import text_frame
    from connector.state.staging import OFFER_COLUMNS, export_offers

    staging = ctx.config.engine.staging
    if staging is not None:
        return session.read.parquet(str(export_offers(ctx.store, ctx.config.resolve(staging))))
    return text_frame(session, ctx.store.offers.current()[list(OFFER_COLUMNS)])


def _segments(ctx: CycleContext, session: SparkSession) -> DataFrame:
    """The cycle's segments on Spark: the Spark cycle's own, else the driver's as text."""
    from connector.engine.spark.offers import text_frame

    done = ctx.results.segment
    assert done is not None, "the offers step runs on segments"
    if done.on_spark is not None:
        return done.on_spark
    return text_frame(session, done.segments[[c for c in _SEGMENT_COLUMNS if c in done.segments.columns]])
