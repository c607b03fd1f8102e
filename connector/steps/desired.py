"""The desired state: what every customer's record and list memberships should say.

`desired_table` and `list_memberships` are pure (frames and config models in, a frame or a
dict out: tests/connector/steps/test_desired.py); `desired_state` feeds them a cycle's results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector.crm.base import FieldSpec
from connector.crm.registry import id_columns
from connector.steps.materiality import round_scores

if TYPE_CHECKING:
    from connector.config import ExperimentConfig, ListsConfig
    from connector.pipeline import CycleContext

OFFER_KEYS = ("offer_1", "offer_2", "offer_3", "offer_reasons")


def desired_state(ctx: CycleContext) -> pd.DataFrame:
    """The cycle's desired state (`desired_table` of `desired_inputs`)."""
    return desired_table(**desired_inputs(ctx))


def desired_inputs(ctx: CycleContext) -> dict[str, Any]:
    """`desired_table`'s arguments from a cycle's results; scores and CLV on their materiality
    rule's unit (whole percentage points and whole currency units by default:
    connector.steps.materiality). The Spark engine builds the same table from them on its executors."""
    done = ctx.results
    assert done.segment is not None and done.features is not None, "the plan runs on segmented customers"
    scores = done.score.scores if done.score is not None else None
    return {
        "segments": done.segment.segments, "customers": done.features.customers,
        "id_columns": list(id_columns().values()),
        "scores": round_scores(scores, ctx.config.destinations.materiality) if scores is not None and len(scores.columns) else None,
        "arms": done.assign.arms if done.assign is not None else None, "experiments": ctx.config.experiments.items,
        "offers": done.offers.offers if done.offers is not None else None,
        "offer_defaults": done.offers.defaults if done.offers is not None else None,
    }


def desired_table(segments: pd.DataFrame, customers: pd.DataFrame, id_columns: Sequence[str], *,
                  scores: pd.DataFrame | None = None, arms: pd.DataFrame | None = None,
                  experiments: Sequence[ExperimentConfig] = (), offers: pd.DataFrame | None = None,
                  offer_defaults: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per segmented customer: customer_id, email, each record id column present in
    `customers` (`id_columns`), segment_id, segment_name, each score and its _reasons, clv,
    p_alive (from `scores`, customer_id-indexed), arm (text) and arms (experiment -> arm) of
    the configured experiments, and with `offers` offer_1..3 and offer_reasons (an arm whose
    `offers` is segment_default switches them to the segment's own, `offer_defaults`)."""
    ids = [c for c in ("email", *id_columns) if c in customers.columns]
    table = segments[["customer_id", "segment_id", "segment_name"]].merge(customers[["customer_id", *ids]], on="customer_id", how="left")
    if scores is not None:
        table = table.merge(scores, left_on="customer_id", right_index=True, how="left")
    current = current_arms(arms, [e.key for e in experiments])
    if current is not None and len(current):
        # one pass over the rows: a groupby-apply building a dict per customer took 24 s of a demo day
        by_customer: dict[str, dict[str, str]] = {}
        for customer, experiment, arm in zip(current["customer_id"], current["experiment"], current["arm"], strict=True):
            by_customer.setdefault(customer, {})[experiment] = arm
        table["arms"] = table["customer_id"].map(by_customer)
        single = len(experiments) == 1
        table["arm"] = table["arms"].map(lambda d: _arm_text(d, single))
    if offers is not None:
        table = table.merge(offers[["customer_id", *OFFER_KEYS]], on="customer_id", how="left")
        table = _offer_source(table, offer_defaults or {}, experiments)
    return table


def current_arms(arms: pd.DataFrame | None, configured: list[str]) -> pd.DataFrame | None:
    """Only the configured experiments' arms are current: a retired experiment's stay in the state
    (they are history, and sticky should it come back) but are never written to a CRM."""
    if arms is None:
        return None
    return arms[arms["experiment"].isin(configured)]


def _offer_source(table: pd.DataFrame, defaults: Mapping[str, Sequence[str]],
                  experiments: Sequence[ExperimentConfig]) -> pd.DataFrame:
    """Customers in an arm whose `offers` is segment_default get their segment's own offers."""
    switch = {(e.key, a.name) for e in experiments for a in e.arms if a.offers == "segment_default"}
    if not switch or "arms" not in table.columns:
        return table
    hit = table["arms"].map(lambda d: isinstance(d, dict) and any((k, v) in switch for k, v in d.items())).astype(bool)
    seg_id, seg_name = table.loc[hit, "segment_id"].astype(str), table.loc[hit, "segment_name"].astype(str)
    own = seg_id.map(lambda s: (*tuple(defaults.get(s, ()))[:3], None, None, None))
    for j in range(3):
        table.loc[hit, f"offer_{j + 1}"] = own.map(lambda t, j=j: t[j])
    table.loc[hit, "offer_reasons"] = [
        " | ".join(f"{j + 1}: the default offer of {name}" for j in range(sum(v is not None for v in t[:3])))
        for t, name in zip(own, seg_name, strict=True)
    ]
    return table


def _arm_text(arms: object, single: bool) -> str | None:
    if not isinstance(arms, dict) or not arms:
        return None
    if single:
        return next(iter(arms.values()))
    return "; ".join(f"{k}={v}" for k, v in sorted(arms.items()))


def field_specs(keys: list[str], table: pd.DataFrame) -> list[FieldSpec]:
    """What each mapped desired-state key needs in the CRM (type, enumeration options)."""
    specs = []
    for key in keys:
        col = table[key] if key in table.columns else pd.Series(dtype=object)
        label = "segsync " + key.replace("_", " ")
        if key in ("segment_id", "segment_name", "arm"):
            options = tuple(sorted({str(v) for v in col.dropna()}))
            specs.append(FieldSpec(key, label, "enumeration", options))
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            specs.append(FieldSpec(key, label, "number"))
        else:
            specs.append(FieldSpec(key, label, "text"))
    return specs


def record_values(row: pd.Series, keys: list[str]) -> dict[str, object]:
    """The mapped values of one customer, JSON-safe (NaN -> None)."""
    out: dict[str, object] = {}
    for key in keys:
        v = row.get(key)
        if isinstance(v, float | np.floating) and np.isnan(v):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        out[key] = v
    return out


def list_memberships(table: pd.DataFrame, id_column: str, templates: ListsConfig,
                     experiments: Sequence[ExperimentConfig] = ()) -> dict[str, dict[str, str]]:
    """list name -> {customer_id: record id} for segment lists and experiment arm lists, of the
    customers with a record id in `id_column` (names from the destination's list templates)."""
    have = table[table[id_column].notna()]
    lists: dict[str, dict[str, str]] = {}
    for (seg_id, seg_name), group in have.groupby(["segment_id", "segment_name"]):
        name = templates.segment_name_template.format(segment_id=seg_id, segment_name=seg_name)
        lists[name] = dict(zip(group["customer_id"], group[id_column].astype(str), strict=True))
    if "arms" in have.columns:
        for exp in experiments:
            for arm in exp.arms:
                members = have[have["arms"].map(lambda d, k=exp.key, a=arm.name: isinstance(d, dict) and d.get(k) == a).astype(bool)]
                if "{segment" in templates.arm_name_template:
                    for (seg_id, seg_name), g in members.groupby(["segment_id", "segment_name"]):
                        name = templates.arm_name_template.format(experiment=exp.key, arm=arm.name, segment_id=seg_id, segment_name=seg_name)
                        lists[name] = dict(zip(g["customer_id"], g[id_column].astype(str), strict=True))
                else:
                    name = templates.arm_name_template.format(experiment=exp.key, arm=arm.name, segment_id="", segment_name="")
                    lists[name] = dict(zip(members["customer_id"], members[id_column].astype(str), strict=True))
    return lists
