"""The `features` step when Spark reads the sources itself: no transaction reaches the driver.

With `engine: {kind: spark}` and sources Spark can read (connector.engine.spark.sources), the
pull step leaves the files source alone and this step reads it on the executors, quarantines
with the pandas engine's rules there (connector.engine.spark.quarantine), and computes the
features there. The purchases are judged once (connector.engine.spark.quarantine.judge: stored on
the executors' disk, partitioned by customer, the clean rows counted and the latest found by the
same job), so the features, every score cutoff and CLV read them without another shuffle. What
comes to the driver is bounded by bad rows and the sample, never by purchases or customers: the
rejected rows with their reasons (the state store keeps one per row), a seeded sample of the
features (connector.engine.spark.segmentation.driver_sample), a handful of aggregates (as_of,
counts). The customers, clean transactions and features stay on Spark in
`FeaturesResult.on_spark`, where the later steps keep their per-customer results too
(connector.steps.spark_results), and where the measure step sums every assigned customer's
outcomes (connector.engine.spark.outcomes).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from connector.crm.registry import id_columns
from connector.identity import canonical_tables
from connector.steps.model import FeaturesResult, plausible, record_rejections, segmentation_params

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from connector.engine.spark.engine import SparkEngine
    from connector.engine.spark.sources import SparkTables
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.model")
_MIRROR_TX = ["source", "source_id", "customer_source_id", "occurred_at", "amount"]
_NO_IDENTITY_REJECTIONS = pd.DataFrame(columns=["source", "record_key", "reason"])
_CANONICAL = ["transaction_id", "customer_id", "occurred_at", "amount", "source"]


def reads_on_spark(ctx: CycleContext) -> bool:
    """Whether this cycle's sources are read by Spark (engine kind spark and nothing Spark cannot read)."""
    if ctx.config.engine.kind != "spark":
        return False
    from connector.engine.spark.sources import native_reason

    reason = native_reason(ctx.config)
    if reason is not None:
        log.info("the Spark engine takes this cycle's tables from the driver: %s", reason)
    return reason is None


def features_on_spark(ctx: CycleContext) -> FeaturesResult | None:
    """The `features` step's result with the transactions read, judged and aggregated on Spark."""
    from connector.engine.spark import quarantine
    from connector.engine.spark.sources import SparkTables

    cfg, engine = ctx.config, spark_engine(ctx)
    tables, identity = _read(ctx, engine)
    events_through = ctx.store.events.last_id()
    raw = _with_live_purchases(engine, tables.transactions, ctx.store.events.purchases(events_through))
    # every row judged once and stored by customer (a clean row without its id: no step reads it)
    judged = quarantine.judge(raw, plausible(cfg.quarantine, pd.Timestamp.now(tz="UTC")))
    bad = judged.rejected.toPandas()  # one row per quarantined purchase: the state store keeps each with its reason
    record_rejections(ctx, identity, bad.drop(columns="source"), bad)
    if judged.clean_rows == 0 or judged.latest is None:
        judged.release()
        log.warning("nothing was segmented: no usable purchases (%d quarantined); every output keeps what the last "
                    "run wrote", len(bad))
        ctx.count("customers", 0)
        return None
    ctx.hold(judged.release)
    as_of = judged.latest.floor("D") + pd.Timedelta(days=1)
    customers = _without_only_rejected(tables.customers, judged.clean, judged.rejected).persist()
    features = engine.features_frame(customers, judged.clean, as_of, cfg.segmentation.attributes).persist()
    ctx.hold(customers.unpersist)
    ctx.hold(features.unpersist)
    from connector.engine.spark.segmentation import driver_sample

    total = features.count()
    sample = driver_sample(features, segmentation_params(ctx), total)  # what the driver sees of the features
    ctx.count("customers", total)
    ctx.count("transactions", judged.clean_rows)
    log.info("features for %d customers as of %s, computed on Spark from %d purchases (a sample of %d on the "
             "driver)", total, as_of.date(), judged.clean_rows, len(sample))
    return FeaturesResult(pd.DataFrame(columns=customers.columns), pd.DataFrame(columns=_CANONICAL), sample, as_of,
                          events_through, on_spark=SparkTables(customers, judged.clean, features, tables.line_items))


def _read(ctx: CycleContext, engine: SparkEngine) -> tuple[SparkTables, pd.DataFrame]:
    """(the customers and raw purchases of every source, the identity rejections): the files
    source read by Spark, the mirrored sources' purchases from the staged Parquet with their
    customers resolved on the driver (connector.identity: one row per customer, never per purchase)."""
    from connector.engine.spark.sources import (
        SparkTables,
        mirrored_sources,
        read_files_source,
        read_staged,
    )

    cfg = ctx.config
    parts: list[SparkTables] = []
    identity = _NO_IDENTITY_REJECTIONS
    if cfg.engine.staging is not None and mirrored_sources(cfg):
        canon = canonical_tables(ctx.store.mirror.customers(), pd.DataFrame(columns=_MIRROR_TX), cfg.identity,
                                 id_columns())
        identity = canon.rejected
        customers = engine.frame(canon.customers) if len(canon.customers) else \
            engine.session.createDataFrame([], "customer_id string")
        parts.append(SparkTables(customers, read_staged(engine.session, cfg.resolve(cfg.engine.staging), canon.keys)))
    if cfg.sources.files is not None:
        parts.append(read_files_source(engine.session, cfg.sources.files, cfg.base_dir))
    customers, transactions = parts[0].customers, parts[0].transactions
    for part in parts[1:]:
        customers = customers.unionByName(part.customers, allowMissingColumns=True)
        transactions = transactions.unionByName(part.transactions)
    lines = next((part.line_items for part in parts if part.line_items is not None), None)  # the files source's
    return SparkTables(_with_record_id_columns(customers), transactions, line_items=lines), identity


def _with_record_id_columns(customers: DataFrame) -> DataFrame:
    """`customers` with email and every CRM's record id column (null where no source gives one),
    as connector.identity.canonical_tables gives the pandas engine's: so the desired state, and the
    files destination's output, have the same columns on both engines."""
    from pyspark.sql import functions as F

    for column in ("email", *id_columns().values()):
        if column not in customers.columns:
            customers = customers.withColumn(column, F.lit(None).cast("string"))
    return customers


def stage_pulls(ctx: CycleContext) -> None:
    """After the pull: the mirror's purchases as Parquet for Spark (engine.staging), when it reads them."""
    cfg = ctx.config
    from connector.engine.spark.sources import mirrored_sources

    if cfg.engine.staging is None or not mirrored_sources(cfg):
        return
    from connector.state.staging import export_transactions

    n = export_transactions(ctx.store, cfg.resolve(cfg.engine.staging))
    ctx.count("staged_transactions", n)
    log.info("staged %d purchase(s) of the mirror as Parquet for Spark", n)


def spark_engine(ctx: CycleContext) -> SparkEngine:
    from connector.engine.spark.engine import SparkEngine

    engine = ctx.engine()
    assert isinstance(engine, SparkEngine), "reads_on_spark checked engine.kind"
    return engine


def _with_live_purchases(engine: SparkEngine, raw: DataFrame, live: pd.DataFrame) -> DataFrame:
    """Purchases accepted by `segsync serve` are a source too: appended with the file's column types."""
    if live.empty:
        return raw
    from pyspark.sql import functions as F

    live = live.assign(occurred_at=pd.to_datetime(live["occurred_at"], utc=True, errors="coerce", format="ISO8601"))
    types = dict(raw.dtypes)
    added = engine.frame(live[_CANONICAL]).select(*[F.col(c).cast(types[c]).alias(c) for c in _CANONICAL])
    return raw.unionByName(added)


def _without_only_rejected(customers: DataFrame, clean: DataFrame, rejected: DataFrame) -> DataFrame:
    """Customers whose every purchase was quarantined are not segmented on what is left of them."""
    only_bad = (rejected.where(rejected["customer_id"].isNotNull()).select("customer_id").distinct()
                .subtract(clean.select("customer_id").distinct()))
    n = only_bad.count()
    if n:
        log.warning("%d customer(s) whose every purchase was quarantined are left out of this run", n)
    return customers.join(only_bad, "customer_id", "left_anti")
