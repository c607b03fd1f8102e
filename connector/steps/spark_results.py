"""The per-customer results of a Spark cycle, kept on Spark from the features to the desired state.

With the Spark engine reading the sources (connector.steps.spark_cycle) the features are a Spark
DataFrame, and so is every per-customer result after them: the segments (SegmentResult.on_spark),
the scores with their reason codes, CLV and P(alive) (ScoreResult.on_spark), every current arm
(AssignResult.on_spark). The driver holds a seeded sample of the features
(FeaturesResult.features: the scaler, k, the score drivers and the drift are computed on it), the
training rows (at most max_train_rows), figures per segment and the new arms; the plan collects
only the changed rows of the desired state built from these frames (connector.steps.spark_plan).
Every frame persisted here is freed when the cycle closes (CycleContext.hold).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from connector.steps.materiality import round_scores

if TYPE_CHECKING:
    from connector.config import MaterialityConfig
    from connector.pipeline import CycleContext
    from connector.steps.model import FeaturesResult
    from segmentation.clv import ClvModel
    from segmentation.engine import SegmentationParams, SegmentationResult, SegmentationState

log = logging.getLogger("segsync.spark")
SEGMENT_COLUMNS = ["customer_id", "segment_id", "segment_name", "model_version"]


def persisted(ctx: CycleContext, frame: DataFrame) -> DataFrame:
    """`frame` computed once for the steps that read it (memory, spilling to disk), freed with the cycle."""
    out = frame.persist(StorageLevel.MEMORY_AND_DISK)
    ctx.hold(out.unpersist)
    return out


def segment_on_spark(ctx: CycleContext, feats: FeaturesResult, params: SegmentationParams,
                     previous: SegmentationState | None) -> tuple[SegmentationResult, DataFrame]:
    """(the segmentation result, whose `segments` stays empty; every customer's segment as a Spark
    DataFrame: customer_id, segment_id, segment_name, model_version). The model is fitted and
    named as connector.engine.spark.segmentation does it; RFM quintiles, and a population too
    small for a model, take the pandas engine's path on the collected features (log says so)."""
    from connector.engine.spark import segmentation as on_spark
    from segmentation.engine import SegmentationResult

    tables = feats.on_spark
    assert tables is not None and tables.features is not None, "the features step computed them on Spark"
    if params.method != "rfm":
        try:
            found = on_spark.segment(tables.features, params, previous, feats.as_of, sample=feats.features)
        except ValueError as exc:
            if "too few" not in str(exc):
                raise
        else:
            result = SegmentationResult(pd.DataFrame(columns=SEGMENT_COLUMNS), found.profiles, found.state, found.drift,
                                        found.retrained, found.reason, found.metrics)
            ctx.hold(found.unpersist)
            return result, persisted(ctx, found.segments)
    from connector.engine.pandas import PandasEngine
    from connector.engine.spark.engine import features_on_driver

    log.warning("segmentation %s: every customer's features are collected to the driver (the pandas engine's path)",
                "by RFM quintiles" if params.method == "rfm" else "of too few customers for a model")
    result = PandasEngine().segment(features_on_driver(tables.features), params, previous, feats.as_of)
    segments = tables.features.sparkSession.createDataFrame(result.segments[SEGMENT_COLUMNS].astype(str))
    return result, persisted(ctx, segments)


def scores_on_spark(ctx: CycleContext, feats: FeaturesResult) -> tuple[DataFrame, ClvModel | None]:
    """(customer_id, one column per target, <target>_reasons, clv, p_alive for every customer of
    the features, as connector.steps.scoring.score_all gives them; the fitted CLV model or None)."""
    from connector.engine.spark import clv as clv_
    from connector.steps.scoring import score_target
    from segmentation.scoring import ScoreParams

    cfg = ctx.config.scoring
    tables = feats.on_spark
    assert tables is not None and tables.features is not None, "the features step computed them on Spark"
    out = tables.features.select("customer_id")
    for target in cfg.targets:
        scores = score_target(ctx, feats, ScoreParams.from_config(target, cfg))
        if isinstance(scores, DataFrame):
            out = out.join(scores, "customer_id", "left")
            ctx.count("scores", 1)
    model = None
    if cfg.clv.enabled:
        try:
            values, model = clv_.clv_scores(tables.transactions, feats.as_of, cfg.clv.horizon_days,
                                            cfg.clv.annual_discount_rate)
            out = out.join(values.select("customer_id", "clv", "p_alive"), "customer_id", "left")
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            log.warning("CLV not fitted: %s", exc)
            model = None
    return persisted(ctx, out), model


def rounded_scores(scores: DataFrame, policy: MaterialityConfig) -> DataFrame | None:
    """`scores` (customer_id + score columns) on their materiality rule's unit, per partition
    (connector.steps.materiality.round_scores); None without a score column."""
    if len(scores.columns) <= 1:
        return None

    def chunks(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield round_scores(batch.set_index("customer_id"), policy).reset_index()

    return scores.mapInPandas(chunks, scores.schema)


def insight_tables(segments: DataFrame, scores: DataFrame | None,
                   features: DataFrame) -> tuple[pd.Series | None, pd.DataFrame, pd.Series]:
    """What the report shows per segment and per RFM cell, aggregated on Spark: (mean CLV per
    segment_id, or None; customers per r_score x f_score; customers per rfm_segment)."""
    from connector.engine.spark.features import rfm_scores

    mean_clv = None
    if scores is not None and "clv" in scores.columns:
        means = segments.join(scores.select("customer_id", "clv"), "customer_id", "left").groupBy("segment_id") \
            .agg(F.avg("clv").alias("clv")).toPandas()
        mean_clv = pd.Series(means["clv"].to_numpy(), index=means["segment_id"].astype(str))
    rfm = rfm_scores(features)
    cells = rfm.groupBy("r_score", "f_score").count().toPandas()
    grid = cells.pivot(index="r_score", columns="f_score", values="count").fillna(0).astype("int64")
    named = rfm.groupBy("rfm_segment").count().toPandas().sort_values(["count", "rfm_segment"],
                                                                        ascending=[False, True])
    counts = pd.Series(named["count"].to_numpy(), index=pd.Index(named["rfm_segment"], name="rfm_segment"),
                       name="count")
    return mean_clv, grid, counts


def segment_sizes(segments: DataFrame, features: DataFrame, recent_days: int) -> tuple[pd.Series, pd.Series]:
    """(customers per segment_id, the share of them who bought in the last `recent_days` days),
    one aggregation on Spark: the power table's inputs."""
    recent = (F.col("recency_days") <= recent_days).cast("double")
    rows = segments.join(features.select("customer_id", recent.alias("_recent")), "customer_id", "left") \
        .groupBy("segment_id").agg(F.count(F.lit(1)).alias("n"), F.avg("_recent").alias("recent")).toPandas()
    index = pd.Index(rows["segment_id"], name="segment_id")
    sizes = pd.Series(rows["n"].astype("int64").to_numpy(), index=index).sort_index()
    return sizes, pd.Series(rows["recent"].fillna(0.0).to_numpy(), index=index, name="recent").sort_index()


def new_arms_on_spark(ctx: CycleContext, names: pd.DataFrame) -> tuple[pd.DataFrame, DataFrame]:
    """(this run's new assignments, pandas as connector.steps.experiment.assign stores them; every
    current arm of the configured experiments as a Spark DataFrame: experiment, customer_id, arm,
    segment_id, assigned_at, as the state store's text).
    Only customers without an arm in an experiment are hashed (connector.engine.spark.arms);
    `names`: segment_id, segment_name of this run's segments."""
    from connector.engine.spark import arms as arms_
    from connector.steps.experiment import experiment_spec, holdout_spec, warn_unknown_segments

    cfg, done = ctx.config.experiments, ctx.results
    assert done.segment is not None and done.segment.on_spark is not None and done.features is not None
    segments = done.segment.on_spark.select("customer_id", "segment_id")
    stored = stored_arms(ctx)
    new = []
    for exp in cfg.items:
        warn_unknown_segments(exp, names)
        rows = arms_.collect_new_arms(segments, stored, experiment_spec(exp, names), holdout_spec(cfg),
                                      done.features.as_of)
        new.append(rows)
        if len(rows):
            log.info("experiment %s: new assignments %s", exp.key, rows["arm"].value_counts().to_dict())
    new_arms = pd.concat(new, ignore_index=True)
    current = stored.where(F.col("experiment").isin([e.key for e in cfg.items]))
    if len(new_arms):
        current = current.unionByName(_arms_frame(stored.sparkSession, new_arms))
    return new_arms, current


def stored_arms(ctx: CycleContext) -> DataFrame:
    """The state store's arms (connector.state.staging.ARM_COLUMNS, as the store's text) on Spark:
    streamed to Parquet in `engine.staging` (the executors read it); without it, through the driver."""
    from connector.state.staging import export_arms
    from connector.steps.spark_cycle import spark_engine

    session, staging = spark_engine(ctx).session, ctx.config.engine.staging
    if staging is not None:
        return session.read.parquet(str(export_arms(ctx.store, ctx.config.resolve(staging))))
    return _arms_frame(session, ctx.store.experiments.arms())


def _arms_frame(session: SparkSession, arms: pd.DataFrame) -> DataFrame:
    """`arms` (ARM_COLUMNS) as the state store keeps them: text, a missing segment null, assigned_at ISO 8601."""
    from connector.state.staging import ARM_COLUMNS

    return session.createDataFrame(pd.DataFrame({c: _text(arms[c]) for c in ARM_COLUMNS}),
                                   ", ".join(f"{c} string" for c in ARM_COLUMNS))


def _text(values: pd.Series) -> pd.Series:
    """`values` as text, missing ones None; instants in ISO 8601 as connector.state stores them
    (a run's new arms share one instant: each distinct one is formatted once)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.map({t: t.isoformat() for t in values.dropna().unique()}).astype(object)
    return values.astype(str).astype(object).where(values.notna(), None)


def served_frames(ctx: CycleContext) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame,
                                               pd.DataFrame | None]:
    """(customers, segments, scores, features, arms) of every customer, collected for the serving
    snapshot (connector.steps.snapshot), which `segsync serve` holds in memory whole: only when
    `serve:` is configured. The one per-customer collect of a Spark cycle, by design."""
    done = ctx.results
    assert done.features is not None and done.features.on_spark is not None and done.segment is not None
    assert done.segment.on_spark is not None and done.features.on_spark.features is not None
    log.info("collecting every customer's results for the serving snapshot (serve: is configured)")
    tables, features = done.features.on_spark, done.features.on_spark.features
    scores = done.score.on_spark if done.score is not None else None
    return (tables.customers.toPandas(), done.segment.on_spark.toPandas(),
            scores.toPandas().set_index("customer_id") if scores is not None else None,
            features.toPandas().set_index("customer_id"),
            ctx.store.experiments.arms() if done.assign is not None else None)
