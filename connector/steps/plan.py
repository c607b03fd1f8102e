"""Step `plan`: the diff of the desired state against the push ledger, per destination.

Only what a destination has not confirmed yet is planned: changed fields, list adds and
removals (the pure rules: connector.steps.diff). A mapping change in the YAML (a field
renamed, a key added) forces a full resend of that destination, and the plan says so. Each
field destination says what it takes and how a record is addressed (its `WriteSpec`); a
table destination is rewritten whole.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.plugin import WriteSpec
from connector.steps.desired import desired_state, list_memberships
from connector.steps.diff import DestinationPlan, plan_fields, plan_lists

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

__all__ = ["DestinationPlan", "PlanResult", "plan"]

log = logging.getLogger("segsync.plan")


@dataclass(frozen=True)
class PlanResult:
    """desired: one row per customer (connector.steps.desired.desired_state); destinations:
    the diff per field destination, which `push` sends; summaries: one small dict per
    destination (DestinationPlan.summary, plus each table destination); power: minimum
    detectable lift rows."""

    desired: pd.DataFrame
    destinations: dict[str, DestinationPlan]
    summaries: list[dict[str, Any]]
    power: list[dict[str, Any]]


def plan(ctx: CycleContext) -> PlanResult | None:
    if ctx.results.segment is None:
        return None
    if ctx.config.engine.kind == "spark":  # the desired state stays on the executors, its diff comes back
        from connector.steps.spark_plan import plan_on_spark

        return plan_on_spark(ctx)
    table = desired_state(ctx)
    plugins = ctx.plugins()
    plans: dict[str, DestinationPlan] = {}
    for dest in plugins.field_destinations():
        spec = dest.write_spec()
        if spec is not None and dest.id_column is not None:
            addressed, record_col = address_records(ctx, table, dest.name, dest.id_column, spec.match)
            plans[dest.name] = destination_plan(ctx, dest.name, addressed, spec, dest.id_column, record_col)
    return PlanResult(table, plans, summarise_plans(ctx, plans, len(table)), power_rows(ctx))


def summarise_plans(ctx: CycleContext, plans: dict[str, DestinationPlan], n_desired: int) -> list[dict[str, Any]]:
    """One summary per field destination and per table destination (rewritten whole: `n_desired` rows), logged."""
    new_arms = int(ctx.counts.get("new_arms", 0))
    rejected = ctx.store.rejected.open_count()
    summaries = [p.summary(new_arms, rejected) for p in plans.values()]
    for whole in ctx.plugins().table_destinations():
        output = whole.output()
        if output is not None:
            summaries.append({"destination": f"{whole.name} ({output[1]})", "updates": n_desired, "new_arms": new_arms,
                              "rejected": rejected,
                              "notes": ["updates counts every row: the file is rewritten whole, and left untouched when no row changed"]})
    for s in summaries:
        log.info("plan %s: %s", s["destination"], {k: v for k, v in s.items() if k not in ("destination", "notes")})
    return summaries


def address_records(ctx: CycleContext, table: pd.DataFrame, dest: str, id_col: str, match: str) -> tuple[pd.DataFrame, str]:
    """(the table, the column a record is written by) for a destination's `WriteSpec.match`."""
    if match == "customer_id":
        return table, "customer_id"
    if match == "email" and id_col in table.columns:
        # the email as the destination holds it: the identity-normalised one may differ
        column = f"{dest}_email"
        return table.assign(**{column: table[id_col].map(_source_emails(ctx, dest))}), column
    return table, id_col


def _source_emails(ctx: CycleContext, source: str) -> dict[str, str]:
    """Record id -> the email as stored in that source (from the mirror)."""
    mirror = ctx.store.mirror.customers(source)
    return dict(zip(mirror["source_id"].astype(str), mirror["email"], strict=True))


def destination_plan(ctx: CycleContext, dest: str, table: pd.DataFrame, spec: WriteSpec, id_col: str,
                     record_col: str, keys: Collection[str] | None = None) -> DestinationPlan:
    """The diff (connector.steps.diff) of one field destination against its ledger (with `keys`,
    only those customers' ledger rows: the Spark engine's changed and departed customers)."""
    ledger = ctx.store.ledger
    confirmed = ledger.confirmed_fields(dest) if keys is None else ledger.confirmed_fields_of(dest, keys)
    p = plan_fields(dest, table, spec.fields, id_col, record_col, confirmed, ctx.config.destinations.materiality)
    if spec.lists is not None and id_col in table.columns:
        desired = list_memberships(table, id_col, spec.lists, ctx.config.experiments.items)
        known = {name for name in desired if ledger.list_id(dest, name) is not None}
        members = ledger.list_members(dest) if keys is None else ledger.list_members_of(dest, keys)
        plan_lists(p, desired, members, known)
    return p


def power_rows(ctx: CycleContext) -> list[dict[str, Any]]:
    """Minimum detectable lift per planned experiment segment, at 80 % power."""
    from connector.steps.experiment import experiment_spec, holdout_spec, segment_names
    from experiments.power import plan_experiment

    done = ctx.results
    cfg = ctx.config.experiments
    if done.segment is None or done.features is None or not cfg.items:
        return []
    segments, sizes, recent = segment_names(ctx), *_sizes_and_recent(ctx, _RECENT_DAYS)
    rows: list[dict[str, Any]] = []
    # baseline: share of each segment's customers who bought in the last 30 days
    base = recent.clip(0.001, 0.999)
    names = dict(zip(segments["segment_id"], segments["segment_name"], strict=False))
    for exp in cfg.items:
        spec = experiment_spec(exp, segments)
        table = plan_experiment(sizes, base, spec, holdout_spec(cfg), alpha=cfg.alpha)
        for r in table.itertuples(index=False):
            rows.append({"experiment": exp.key, "segment": r.segment_id, "segment_name": names.get(r.segment_id, ""), "arm": r.arm, "n_per_arm": int(r.n_treatment), "baseline": float(r.baseline_rate), "mde": float(r.mde)})
    return rows


_RECENT_DAYS = 30


def _sizes_and_recent(ctx: CycleContext, days: int) -> tuple[pd.Series, pd.Series]:
    """(customers per segment_id, the share of them who bought in the last `days` days); on a
    Spark cycle one aggregation there (connector.steps.spark_results.segment_sizes)."""
    done = ctx.results
    assert done.segment is not None and done.features is not None
    tables = done.features.on_spark
    if done.segment.on_spark is not None and tables is not None and tables.features is not None:
        from connector.steps.spark_results import segment_sizes

        return segment_sizes(done.segment.on_spark, tables.features, days)
    segments, feats = done.segment.segments, done.features.features
    recent = (feats["recency_days"] <= days).rename("recent")
    return (segments.groupby("segment_id").size(),
            segments.set_index("customer_id").join(recent).groupby("segment_id")["recent"].mean())
