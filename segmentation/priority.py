"""Priority matrix: what each segment is worth against what it costs to reach.

value = size x expected value per customer (mean CLV when the scoring step provided a clv
column, else mean historical spend); cost = size x the sum of the per-channel costs of
reaching one customer. Quadrants split at the median segment on value and on value per
unit cost: invest (both high), harvest (much value in total, little per unit cost: a large
mass of modest customers), nurture (the reverse: small but valuable per head) and
deprioritise (both low).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

QUADRANT_ACTIONS = {
    "invest": "prioritise: personalised campaigns on every channel",
    "harvest": "scale cheaply: automated campaigns on the cheapest channel",
    "nurture": "grow: targeted offers to a small, valuable group",
    "deprioritise": "minimal touch: low-cost reminders only",
}
# Name fragment -> the campaign that fits it, checked in order.
_NAME_HINTS = (
    ("Prospects", "first-purchase nudge"),
    ("At-Risk", "win-back offer"),
    ("Dormant", "reactivation offer"),
    ("Lost", "reactivation offer"),
    ("Hibernating", "reactivation offer"),
    ("New", "onboarding series"),
    ("Promising", "onboarding series"),
    ("Loyal", "loyalty and referral programme"),
    ("Champions", "VIP programme"),
    ("High-Value", "VIP programme"),
    ("Big Spenders", "premium cross-sell"),
)


def priority_matrix(profiles: pd.DataFrame, channel_costs: dict[str, float]) -> pd.DataFrame:
    """One row per segment: segment_id, segment_name, size, expected_value, value, cost,
    cost_<channel> per channel, value_per_cost, quadrant, action.

    profiles: segment_id, segment_name, size and mean_clv or mean_monetary_total.
    channel_costs: cost to reach one customer per channel (e.g. {"email": 0.01}).
    """
    for column in ("segment_id", "segment_name", "size"):
        if column not in profiles:
            raise ValueError(f"profiles have no {column} column")
    bad = {k: v for k, v in channel_costs.items() if not np.isfinite(v) or v < 0}
    if bad:
        raise ValueError(f"channel costs must be finite and >= 0, got {bad}")
    out = profiles[["segment_id", "segment_name", "size"]].copy().reset_index(drop=True)
    out["expected_value"] = _expected_value(profiles).to_numpy()
    out["value"] = out["size"] * out["expected_value"]
    for channel in sorted(channel_costs):
        out[f"cost_{channel}"] = out["size"] * float(channel_costs[channel])
    out["cost"] = out["size"] * float(sum(channel_costs.values()))
    with np.errstate(divide="ignore", invalid="ignore"):
        # A free channel makes every positive value infinitely efficient; 0 / 0 counts as 0.
        out["value_per_cost"] = (out["value"] / out["cost"]).fillna(0.0)
    high_value = out["value"] >= out["value"].median()
    efficient = out["value_per_cost"] >= out["value_per_cost"].median()
    out["quadrant"] = np.select(
        [high_value & efficient, high_value, efficient],
        ["invest", "harvest", "nurture"],
        "deprioritise",
    )
    out["action"] = [
        _action(q, name) for q, name in zip(out["quadrant"], out["segment_name"], strict=True)
    ]
    return out.sort_values(
        ["value", "segment_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def _expected_value(profiles: pd.DataFrame) -> pd.Series:
    spend = (
        profiles["mean_monetary_total"]
        if "mean_monetary_total" in profiles
        else pd.Series(0.0, index=profiles.index)
    )
    if "mean_clv" in profiles:
        return profiles["mean_clv"].where(profiles["mean_clv"].notna(), spend).fillna(0.0)
    return spend.fillna(0.0)


def _action(quadrant: str, name: str) -> str:
    hint = next((h for fragment, h in _NAME_HINTS if fragment in str(name)), None)
    base = QUADRANT_ACTIONS[quadrant]
    return f"{base} ({hint})" if hint else base


@dataclass(frozen=True)
class PriorityTargets:
    """The segments to prioritise and the opportunity cost of the rest (names, value, cost)."""

    targets: list[str]
    target_value: float
    target_cost: float
    rest: list[str]
    rest_value: float
    rest_share: float
    rest_cost: float


def priority_targets(matrix: pd.DataFrame) -> PriorityTargets:
    """The segments to prioritise and what leaving the rest costs, from ``priority_matrix``.

    Targets are the invest quadrant (or, when no segment is high on both, the segment with the
    most value). The opportunity cost of the rest is the value (revenue potential) held by the
    segments not targeted, in total and as a share of all value, with what reaching them would cost.
    """
    if matrix.empty:
        raise ValueError("the priority matrix has no segments")
    chosen = matrix["quadrant"] == "invest"
    if not chosen.any():
        chosen = matrix["value"] == matrix["value"].max()
    total = float(matrix["value"].sum())
    rest = matrix[~chosen]
    return PriorityTargets(
        targets=[str(n) for n in matrix.loc[chosen, "segment_name"]],
        target_value=float(matrix.loc[chosen, "value"].sum()),
        target_cost=float(matrix.loc[chosen, "cost"].sum()),
        rest=[str(n) for n in rest["segment_name"]],
        rest_value=float(rest["value"].sum()),
        rest_share=float(rest["value"].sum()) / total if total > 0 else 0.0,
        rest_cost=float(rest["cost"].sum()),
    )
