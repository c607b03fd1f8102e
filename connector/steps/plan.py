"""Step `plan`: the diff of the desired state against the push ledger, per destination.

Only what the CRM has not confirmed yet is planned: changed fields, list adds and removals.
A mapping change in the YAML (a field renamed, a key added) forces a full resend of that
destination, and the plan says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.base import FieldUpdate
from connector.crm.plugin import WriteSpec
from connector.steps.desired import desired_state, field_specs, list_memberships, record_values
from connector.steps.materiality import policy_fingerprint, settle

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.plan")


@dataclass
class DestinationPlan:
    destination: str
    mapping_hash: str
    keys: list[str]
    updates: list[FieldUpdate] = field(default_factory=list)
    record_keys: dict[str, str] = field(default_factory=dict)  # FieldUpdate.record_id -> customer_id
    unchanged: int = 0
    list_adds: dict[str, dict[str, str]] = field(default_factory=dict)
    list_removes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    new_lists: list[str] = field(default_factory=list)
    specs: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, new_arms: int, rejected: int) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "updates": len(self.updates),
            "unchanged": self.unchanged,
            "list_adds": sum(len(v) for v in self.list_adds.values()),
            "list_removals": sum(len(v) for v in self.list_removes.values()),
            "new_lists": len(self.new_lists),
            "new_arms": new_arms,
            "rejected": rejected,
            "notes": self.notes,
        }


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
    table = desired_state(ctx)
    plugins = ctx.plugins()
    plans: dict[str, DestinationPlan] = {}
    for dest in plugins.field_destinations():
        spec = dest.write_spec()
        if spec is not None and dest.id_column is not None:
            addressed, record_col = _addressed(ctx, table, dest.name, dest.id_column, spec.match)
            plans[dest.name] = _destination_plan(ctx, dest.name, addressed, spec, dest.id_column, record_col)
    new_arms = int(ctx.counts.get("new_arms", 0))
    rejected = ctx.store.rejected.open_count()
    summaries = [p.summary(new_arms, rejected) for p in plans.values()]
    for whole in plugins.table_destinations():
        output = whole.output()
        if output is not None:
            summaries.append({"destination": f"{whole.name} ({output[1]})", "updates": len(table), "new_arms": new_arms,
                              "rejected": rejected, "notes": ["the file is rewritten whole each run"]})
    for s in summaries:
        log.info("plan %s: %s", s["destination"], {k: v for k, v in s.items() if k not in ("destination", "notes")})
    return PlanResult(table, plans, summaries, _power(ctx))


def _addressed(ctx: CycleContext, table: pd.DataFrame, dest: str, id_col: str, match: str) -> tuple[pd.DataFrame, str]:
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


def _destination_plan(ctx: CycleContext, dest: str, table: pd.DataFrame, spec: WriteSpec, id_col: str,
                      record_col: str) -> DestinationPlan:
    mapping = dict(spec.fields)
    keys = [k for k in mapping if k in table.columns]
    missing = sorted(set(mapping) - set(keys))
    policy = ctx.config.destinations.materiality
    # a changed unit or step rewrites every record once, like a changed mapping (the default adds nothing)
    mapping_hash = hashlib.sha256((json.dumps(mapping, sort_keys=True) + policy_fingerprint(policy)).encode()).hexdigest()[:16]
    # segsync's key goes to an existing External ID field, checked by the connector: not provisioned
    p = DestinationPlan(dest, mapping_hash, keys, specs=field_specs([k for k in keys if k != "customer_id"], table))
    if missing:
        p.notes.append(f"mapped key(s) with no value this run: {', '.join(missing)}")
    ledger = ctx.store.ledger.confirmed_fields(dest)
    if ledger and any(v["mapping_hash"] != mapping_hash for v in ledger.values()):
        p.notes.append("the field mapping changed since the last push, or the materiality policy did: every record is resent")
        ledger = {}
    present = table[table[id_col].notna() & table[record_col].notna()] if id_col in table.columns else table.iloc[0:0]
    numeric = [k for k in keys if pd.api.types.is_float_dtype(table[k])]
    for row in present.to_dict("records"):
        values = record_values(row, keys)
        seen = ledger.get(row["customer_id"])
        if seen is not None:
            # a score that moved less than its step keeps the confirmed value (connector.steps.materiality)
            values = settle(values, seen["fields"], policy, numeric)
            # the ledger holds JSON: compare as JSON, unless the plain values already match
            if seen["fields"] == values or seen["fields"] == json.loads(json.dumps(values, default=str)):
                p.unchanged += 1
                continue
        rid = str(row[record_col])
        p.updates.append(FieldUpdate(rid, values))
        p.record_keys[rid] = row["customer_id"]
    if spec.lists is not None and id_col in table.columns:
        _list_diff(ctx, p, list_memberships(ctx, table, id_col, spec.lists))
    return p


def _list_diff(ctx: CycleContext, p: DestinationPlan, desired: dict[str, dict[str, str]]) -> None:
    confirmed = ctx.store.ledger.list_members(p.destination)
    for name in sorted(set(desired) | set(confirmed)):
        want, have = desired.get(name, {}), confirmed.get(name, {})
        adds = {k: v for k, v in want.items() if k not in have}
        removes = {k: v for k, v in have.items() if k not in want}
        if adds:
            p.list_adds[name] = adds
        if removes:
            p.list_removes[name] = removes
        if name in desired and ctx.store.ledger.list_id(p.destination, name) is None:
            p.new_lists.append(name)


def _power(ctx: CycleContext) -> list[dict[str, Any]]:
    """Minimum detectable lift per planned experiment segment, at 80 % power."""
    from connector.steps.experiment import experiment_spec, holdout_spec
    from experiments.power import plan_experiment

    done = ctx.results
    if done.segment is None or done.features is None:
        return []
    segments, feats = done.segment.segments, done.features.features
    sizes = segments.groupby("segment_id").size()
    rows: list[dict[str, Any]] = []
    # baseline: share of each segment's customers who bought in the last 30 days
    recent = (feats["recency_days"] <= 30).rename("recent")
    base = segments.set_index("customer_id").join(recent).groupby("segment_id")["recent"].mean().clip(0.001, 0.999)
    cfg = ctx.config.experiments
    names = dict(zip(segments["segment_id"], segments["segment_name"], strict=False))
    for exp in cfg.items:
        spec = experiment_spec(exp, segments)
        table = plan_experiment(sizes, base, spec, holdout_spec(cfg), alpha=cfg.alpha)
        for r in table.itertuples(index=False):
            rows.append({"experiment": exp.key, "segment": r.segment_id, "segment_name": names.get(r.segment_id, ""), "arm": r.arm, "n_per_arm": int(r.n_treatment), "baseline": float(r.baseline_rate), "mde": float(r.mde)})
    return rows
