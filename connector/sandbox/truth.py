"""Ground truth of a Simulation: latent segments, true effects, realised lift.

For tests, benchmarks and the demo's "estimated vs true" table; served by the admin routes,
never through the CRM APIs segsync reads. The realised effect of a treated customer is exact:
the simulation knows what they would have bought untreated (the baseline purchases, drawn from
streams treatment does not touch), so revenue - baseline_revenue is their own effect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector.sandbox.campaigns import KINDS

if TYPE_CHECKING:
    from connector.sandbox.simulation import Simulation


def truth_frame(sim: Simulation) -> pd.DataFrame:
    """One row per customer.

    customer_id, email, salesforce_id, hubspot_id; segment (latent), purchase_rate (per day),
    dropout, mean_spend, alive (now); experiment, arm, arm_kind (none / treatment / control /
    holdout), assigned_at (the simulated day the membership was first seen, UTC midnight of
    the simulation's day grid), window_closed; expected_conversion_effect (the rise in
    P(buy within window_days) treatment gives this customer, also for control and holdout:
    what it would have been) and expected_revenue_effect; realised within the window:
    baseline_converted, converted, baseline_revenue, revenue (equal to the baseline unless
    treated).
    """
    pop, book, state = sim.population, sim.book, sim.state
    assigned = book.assigned_day >= 0
    start = pd.Timestamp(sim.start)
    at = [start + timedelta(days=int(d)) if d >= 0 else pd.NaT for d in book.assigned_day.tolist()]
    return pd.DataFrame({
        "customer_id": pop.customers["customer_id"].to_numpy(),
        "email": pop.customers["email"].to_numpy(),
        "salesforce_id": sim.writer.sf_ids,
        "hubspot_id": sim.writer.hs_ids,
        "segment": pd.Categorical.from_codes(sim.segment, sim.scenario.segment_names),
        "purchase_rate": state["purchase_rate"],
        "dropout": state["dropout"],
        "mean_spend": state["spend_shape"] / state["spend_rate"],
        "alive": state["alive"].copy(),
        "experiment": book.experiment,
        "arm": book.arm,
        "arm_kind": pd.Categorical.from_codes(book.kind, list(KINDS)),
        "assigned_at": pd.to_datetime(pd.Series(at, dtype=object), utc=True),
        "window_closed": assigned & (book.assigned_day + sim.scenario.window_days <= sim.day),
        "expected_conversion_effect": book.expected_conversion,
        "expected_revenue_effect": book.expected_revenue,
        "baseline_converted": book.baseline_converted.copy(),
        "converted": book.converted.copy(),
        "baseline_revenue": book.baseline_revenue.round(2),
        "revenue": book.revenue.round(2),
    })


def truth_summary(sim: Simulation) -> dict[str, Any]:
    """Per latent segment: configured effect, sizes, and per arm kind the realised outcomes over
    customers whose window has closed; with products, its favourite products (top_products, see
    product_truth). JSON-ready."""
    frame = truth_frame(sim)
    total = len(frame)
    segments = []
    for spec in sim.scenario.segments:
        rows = frame[frame["segment"] == spec.name]
        entry: dict[str, Any] = {
            "segment": spec.name, "share": spec.share, "customers": int(len(rows)),
            "population_share": len(rows) / total if total else 0.0,
            "conversion_lift": spec.effect.conversion_lift, "spend_lift": spec.effect.spend_lift,
            "arms": {},
        }
        for kind in KINDS[1:]:
            arm = rows[rows["arm_kind"] == kind]
            entry["arms"][kind] = _arm_outcomes(arm)
        segments.append(entry)
    _add_top_products(sim, segments)
    return {
        "scenario": sim.scenario.name, "window_days": sim.scenario.window_days,
        "day": sim.day, "now": sim.clock.now().isoformat(), "customers": total,
        "segments": segments,
    }


def _arm_outcomes(arm: pd.DataFrame) -> dict[str, Any]:
    closed = arm[arm["window_closed"]]
    out: dict[str, Any] = {"assigned": int(len(arm)), "window_closed": int(len(closed))}
    out["expected_conversion_effect"] = _mean(arm["expected_conversion_effect"])
    out["expected_revenue_effect"] = _mean(arm["expected_revenue_effect"])
    out["conversion"] = _mean(closed["converted"])
    out["baseline_conversion"] = _mean(closed["baseline_converted"])
    out["realised_conversion_effect"] = _mean(closed["converted"].astype(float) - closed["baseline_converted"])
    out["revenue_per_customer"] = _mean(closed["revenue"])
    out["realised_revenue_effect"] = _mean(closed["revenue"] - closed["baseline_revenue"])
    return out


def _mean(values: pd.Series) -> float | None:
    return float(np.mean(values.to_numpy(dtype=float))) if len(values) else None


#: Products listed per segment in truth_summary (product_truth has them all).
TOP_PRODUCTS = 5


def product_truth(sim: Simulation) -> pd.DataFrame | None:
    """The planted product affinities, one row per latent segment x product (None without
    products): segment, rank (1 = the segment's favourite), product_id, product_name,
    affinity (the share of the segment's lines that are this product: its row of
    `sim.product_taste`), lift (affinity over the product's mean affinity across segments:
    above one, the segment prefers it more than the others do)."""
    taste = sim.product_taste
    if taste is None or sim.catalog is None:
        return None
    names = pd.Series(sim.catalog.name, index=sim.catalog.product_id)
    mean = taste.mean(axis=0)
    long = taste.rename_axis("segment").reset_index().melt(id_vars="segment", var_name="product_id", value_name="affinity")
    long["lift"] = long["affinity"] / long["product_id"].map(mean).to_numpy()
    long = long.sort_values(["segment", "affinity", "product_id"], ascending=[True, False, True], kind="stable")
    long["rank"] = long.groupby("segment").cumcount() + 1
    long["product_name"] = long["product_id"].map(names).to_numpy()
    return long[["segment", "rank", "product_id", "product_name", "affinity", "lift"]].reset_index(drop=True)


def _add_top_products(sim: Simulation, segments: list[dict[str, Any]]) -> None:
    """Each segment entry of truth_summary gains its TOP_PRODUCTS favourites (when there are products)."""
    table = product_truth(sim)
    if table is None:
        return
    top = table[table["rank"] <= TOP_PRODUCTS]
    for entry in segments:
        rows = top[top["segment"] == entry["segment"]]
        entry["top_products"] = [
            {"product_id": str(r.product_id), "product_name": r.product_name, "affinity": float(r.affinity), "lift": float(r.lift)}
            for r in rows.itertuples()]
