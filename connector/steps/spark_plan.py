"""Step `plan` with the Spark engine: the desired state on the executors, only its diff on the driver.

The desired state is built on Spark (connector.engine.spark.desired: the pandas path's own
`desired_table` per partition) and each field destination's ledger, streamed to Parquet
(connector.state.staging.export_ledger, under `engine.staging`; without it, through the
driver), is joined to it there (connector.engine.spark.changes).
What comes back per destination is the rows whose mapped values or list memberships differ
from what the CRM confirmed (plus the keys that left every list), and the pandas path's own
diff (connector.steps.plan.destination_plan) runs on those rows with their ledger rows, so the
plan, and with it every request the push sends, is the pandas engine's: an exact-equality
pre-filter on Spark only drops rows that diff would find unchanged. A cycle in which nothing
changed brings no desired-state row to the driver.

A table destination (a file rewritten whole each run) needs every row: with one configured,
the whole desired state is collected for it, in the pandas engine's order (by customer_id).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector.steps.desired import current_arms, desired_inputs, field_specs
from connector.steps.diff import mapping_hash
from connector.steps.plan import (
    DestinationPlan,
    PlanResult,
    address_records,
    destination_plan,
    power_rows,
    summarise_plans,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from connector.crm.plugin import FieldDestination, WriteSpec
    from connector.engine.spark.desired import DesiredParts, DestinationKeys
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.plan")
_ENUMERATED = ("segment_id", "segment_name", "arm")


def plan_on_spark(ctx: CycleContext) -> PlanResult:
    """The plan step's result, the desired state diffed on the executors (module docstring)."""
    from connector.engine.spark.desired import ORDER, DestinationKeys, desired_frame, join_inputs
    from connector.steps.spark_cycle import spark_engine

    session = spark_engine(ctx).session
    parts = spark_parts(ctx)
    joined = join_inputs(session, parts)
    columns = joined.columns
    targets = [(dest, spec) for dest in ctx.plugins().field_destinations()
               if (spec := dest.write_spec()) is not None and dest.id_column is not None]
    keys = [DestinationKeys(d.name, tuple(k for k in spec.fields if k in columns), str(d.id_column), spec.lists)
            for d, spec in targets]
    desired = desired_frame(joined, parts, keys).persist()
    try:
        stats = _desired_stats(desired, keys)  # one pass: it also materialises `desired` for the diffs
        plans: dict[str, DestinationPlan] = {}
        seen: list[pd.DataFrame] = []
        for (dest, spec), dkeys in zip(targets, keys, strict=True):
            plans[dest.name], rows = _changed_plan(ctx, desired, dest, spec, dkeys, stats)
            seen.append(rows)
        helpers = [c for c in desired.columns if c.startswith(("_values_", "_lists_"))]
        if any(w.output() is not None for w in ctx.plugins().table_destinations()):
            # by customer, as the pandas engine's features (and so its file) are: Spark's row order
            # follows its partitions, and a file whose rows moved would be rewritten for nothing
            table = desired.toPandas().sort_values("customer_id", kind="stable")
        else:
            table = pd.concat(seen, ignore_index=True).drop_duplicates("customer_id") if seen else pd.DataFrame()
        table = table.drop(columns=[ORDER, *helpers], errors="ignore").reset_index(drop=True)
        ctx.count("desired_rows_collected", sum(len(r) for r in seen))
        return PlanResult(table, plans, summarise_plans(ctx, plans, int(stats["_rows"])), power_rows(ctx))
    finally:
        desired.unpersist()


def spark_parts(ctx: CycleContext) -> DesiredParts:
    """desired_inputs as the Spark engine's DesiredParts, only the current arms. On a Spark cycle
    every per-customer input is the Spark DataFrame its step kept there (connector.steps.spark_results:
    segments, customers, scores rounded on the executors, current arms; offers, kept on Spark by
    their step (OffersResult.on_spark) on any Spark cycle); from the driver path, the pandas frames."""
    from connector.engine.spark.desired import DesiredParts

    done = ctx.results
    if done.segment is None or done.segment.on_spark is None or done.features is None \
            or done.features.on_spark is None:
        given = desired_inputs(ctx)
        experiments = tuple(given["experiments"])
        feats = done.features
        customers = feats.on_spark.customers if feats is not None and feats.on_spark is not None else given["customers"]
        return DesiredParts(
            segments=given["segments"], customers=customers, id_columns=tuple(given["id_columns"]),
            scores=given["scores"], arms=current_arms(given["arms"], [e.key for e in experiments]),
            experiments=experiments, offers=_offers(ctx, given["offers"]), offer_defaults=given["offer_defaults"])
    from connector.crm.registry import id_columns
    from connector.steps.spark_results import rounded_scores

    scores = done.score.on_spark if done.score is not None else None
    return DesiredParts(
        segments=done.segment.on_spark, customers=done.features.on_spark.customers,
        id_columns=tuple(id_columns().values()),
        scores=rounded_scores(scores, ctx.config.destinations.materiality) if scores is not None else None,
        arms=done.assign.on_spark if done.assign is not None else None,
        experiments=tuple(ctx.config.experiments.items),
        offers=_offers(ctx, done.offers.offers if done.offers is not None else None),
        offer_defaults=done.offers.defaults if done.offers is not None else None)


def _offers(ctx: CycleContext, given: pd.DataFrame | None) -> pd.DataFrame | DataFrame | None:
    """The cycle's offers: on Spark when the offers step kept them there (OffersResult.on_spark)."""
    done = ctx.results.offers
    return done.on_spark if done is not None and done.on_spark is not None else given


def _changed_plan(ctx: CycleContext, desired: DataFrame, dest: FieldDestination, spec: WriteSpec,
                  keys: DestinationKeys, stats: dict[str, Any]) -> tuple[DestinationPlan, pd.DataFrame]:
    """(one destination's plan from its changed rows, those rows)."""
    from connector.engine.spark.changes import destination_changes

    policy = ctx.config.destinations.materiality
    ledger_values, ledger_lists = _ledger_frames(ctx, desired.sparkSession, dest.name)
    if ctx.store.ledger.stale_mappings(dest.name, mapping_hash(spec.fields, policy)):
        ledger_values = ledger_values.limit(0)  # a changed mapping resends every record (connector.steps.diff)
    changes = destination_changes(desired, ledger_values, ledger_lists, keys,
                                  int(stats[f"_with_id_{dest.name}"]))
    rows = changes.rows.drop(columns=[keys.values, keys.memberships])
    table, record_col = address_records(ctx, rows, dest.name, keys.id_column, spec.match)
    p = destination_plan(ctx, dest.name, table, spec, keys.id_column, record_col,
                         keys=[*table["customer_id"].astype(str), *changes.departed])
    p.unchanged += changes.unchanged
    p.specs = field_specs([k for k in keys.keys if k != "customer_id"], _spec_probe(desired, keys.keys, stats))
    log.info("plan %s: %d changed row(s) of the desired state collected from Spark, %d departed list member(s)",
             dest.name, len(rows), len(changes.departed))
    return p, rows


def _ledger_frames(ctx: CycleContext, session: SparkSession, dest: str) -> tuple[DataFrame, DataFrame]:
    """One destination's ledger on Spark: streamed to Parquet in `engine.staging`, the folder the
    executors read (on a cluster, the only one they can); without it, through the driver."""
    from connector.state.staging import LEDGER_COLUMNS, LIST_COLUMNS, export_ledger

    staging = ctx.config.engine.staging
    if staging is not None:
        fields, lists = export_ledger(ctx.store, ctx.config.resolve(staging) / "ledger", dest)
        return session.read.parquet(str(fields)), session.read.parquet(str(lists))
    values, members = ctx.store.ledger.tables(dest)
    return (session.createDataFrame(values, ", ".join(f"{c} string" for c in LEDGER_COLUMNS)),
            session.createDataFrame(members, ", ".join(f"{c} string" for c in LIST_COLUMNS)))


def _desired_stats(desired: DataFrame, keys: list[DestinationKeys]) -> dict[str, Any]:
    """The whole desired state's figures in one aggregation: `_rows`, `_with_id_<destination>` (rows
    with a record id there) and each enumerated key's distinct values (as text, for field_specs)."""
    from pyspark.sql import functions as F

    enumerated = sorted({k for d in keys for k in d.keys if k in _ENUMERATED})
    found = desired.agg(F.count(F.lit(1)).alias("_rows"),
                        *[F.count(F.col(d.id_column)).alias(f"_with_id_{d.name}") if d.id_column in desired.columns
                          else F.lit(0).alias(f"_with_id_{d.name}") for d in keys],
                        *[F.collect_set(F.col(k).cast("string")).alias(k) for k in enumerated]).first()
    assert found is not None, "an aggregation without grouping has one row"
    return found.asDict()


def _spec_probe(desired: DataFrame, keys: tuple[str, ...], stats: dict[str, Any]) -> pd.DataFrame:
    """A small frame for field_specs with the whole desired state's answers: each enumerated key's
    distinct values (`stats`), every other key's type (numeric or not)."""
    from pyspark.sql import types as T

    options = {k: sorted(stats[k]) for k in keys if k in _ENUMERATED}
    n = max([len(v) for v in options.values()] + [1])
    types = {f.name: f.dataType for f in desired.schema.fields}
    probe: dict[str, pd.Series] = {}
    for k in keys:
        if k in options:
            probe[k] = pd.Series(options[k] + [None] * (n - len(options[k])), dtype=object)
        elif isinstance(types.get(k), T.BooleanType):
            probe[k] = pd.Series([False] * n, dtype=bool)
        elif isinstance(types.get(k), T.NumericType):
            probe[k] = pd.Series([np.nan] * n, dtype=float)
        else:
            probe[k] = pd.Series([None] * n, dtype=object)
    return pd.DataFrame(probe)
