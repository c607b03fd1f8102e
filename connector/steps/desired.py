"""The desired state: what every customer's CRM record and list memberships should say."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from connector.crm.base import FieldSpec
from connector.crm.registry import id_columns
from connector.steps.materiality import round_scores

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

OFFER_KEYS = ("offer_1", "offer_2", "offer_3", "offer_reasons")


def desired_state(ctx: CycleContext) -> pd.DataFrame:
    """One row per customer: customer_id, email, each source's record id column
    (connector.crm.registry.id_columns), segment_id, segment_name, each score and its _reasons, clv, p_alive, arm (text), arms (dict), and
    with line items offer_1..3 and offer_reasons (an arm may switch them to the segment's own).

    Scores and CLV are on their materiality rule's unit (whole percentage points and whole
    currency units by default): connector.steps.materiality."""
    done = ctx.results
    assert done.segment is not None and done.features is not None, "the plan runs on segmented customers"
    segments, customers = done.segment.segments, done.features.customers
    ids = [c for c in ("email", *id_columns().values()) if c in customers.columns]
    table = segments[["customer_id", "segment_id", "segment_name"]].merge(customers[["customer_id", *ids]], on="customer_id", how="left")
    scores = done.score.scores if done.score is not None else None
    if scores is not None and len(scores.columns):
        table = table.merge(round_scores(scores, ctx.config.destinations.materiality), left_on="customer_id", right_index=True, how="left")
    arms = current_arms(done.assign.arms if done.assign is not None else None, [e.key for e in ctx.config.experiments.items])
    if arms is not None and len(arms):
        # one pass over the rows: a groupby-apply building a dict per customer took 24 s of a demo day
        by_customer: dict[str, dict[str, str]] = {}
        for customer, experiment, arm in zip(arms["customer_id"], arms["experiment"], arms["arm"], strict=True):
            by_customer.setdefault(customer, {})[experiment] = arm
        table["arms"] = table["customer_id"].map(by_customer)
        single = len(ctx.config.experiments.items) == 1
        table["arm"] = table["arms"].map(lambda d: _arm_text(d, single))
    if done.offers is not None:
        table = table.merge(done.offers.offers[["customer_id", *OFFER_KEYS]], on="customer_id", how="left")
        table = _offer_source(ctx, table, done.offers.defaults)
    return table


def current_arms(arms: pd.DataFrame | None, configured: list[str]) -> pd.DataFrame | None:
    """Only the configured experiments' arms are current: a retired experiment's stay in the state
    (they are history, and sticky should it come back) but are never written to a CRM."""
    if arms is None:
        return None
    return arms[arms["experiment"].isin(configured)]


def _offer_source(ctx: CycleContext, table: pd.DataFrame, defaults) -> pd.DataFrame:
    """Customers in an arm whose `offers` is segment_default get their segment's own offers."""
    switch = {(e.key, a.name) for e in ctx.config.experiments.items for a in e.arms if a.offers == "segment_default"}
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


def list_memberships(ctx: CycleContext, table: pd.DataFrame, id_column: str, templates) -> dict[str, dict[str, str]]:
    """list name -> {customer_id: crm id} for segment lists and experiment arm lists."""
    have = table[table[id_column].notna()]
    lists: dict[str, dict[str, str]] = {}
    for (seg_id, seg_name), group in have.groupby(["segment_id", "segment_name"]):
        name = templates.segment_name_template.format(segment_id=seg_id, segment_name=seg_name)
        lists[name] = dict(zip(group["customer_id"], group[id_column].astype(str), strict=True))
    if "arms" in have.columns:
        for exp in ctx.config.experiments.items:
            for arm in exp.arms:
                members = have[have["arms"].map(lambda d, k=exp.key, a=arm.name: isinstance(d, dict) and d.get(k) == a)]
                if "{segment" in templates.arm_name_template:
                    for (seg_id, seg_name), g in members.groupby(["segment_id", "segment_name"]):
                        name = templates.arm_name_template.format(experiment=exp.key, arm=arm.name, segment_id=seg_id, segment_name=seg_name)
                        lists[name] = dict(zip(g["customer_id"], g[id_column].astype(str), strict=True))
                else:
                    name = templates.arm_name_template.format(experiment=exp.key, arm=arm.name, segment_id="", segment_name="")
                    lists[name] = dict(zip(members["customer_id"], members[id_column].astype(str), strict=True))
    return lists
