"""Next best offer with both CRMs: products pulled from each as line items, three offers and their
reasons written back to the contacts of both, and a second run with nothing new writes nothing.

The simulated purchases hold real products (Online Retail's best sellers) drawn from each latent
segment's planted taste, as OpportunityLineItems in Salesforce and line items on closed-won deals
in HubSpot (tests/e2e/world.py, products=). What the CRMs hold is read from the sandbox stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from connector.config import Config
from connector.pipeline import CycleResult
from connector.state import StateStore
from tests.e2e.crm_state import CrmSnapshot, field_mismatches, hubspot_snapshot, salesforce_snapshot
from tests.e2e.observed import run_observed
from tests.e2e.world import HS_PROPERTIES, SF_FIELDS, E2EWorld, Writes

OFFER_KEYS = ("offer_1", "offer_2", "offer_3", "offer_reasons")
SF_OFFERS = {"offer_1": "Segsync_Offer_1__c", "offer_2": "Segsync_Offer_2__c", "offer_3": "Segsync_Offer_3__c",
             "offer_reasons": "Segsync_Offer_Reasons__c"}
HS_OFFERS = {k: f"segsync_{k}" for k in OFFER_KEYS}


@dataclass
class Offered:
    world: E2EWorld
    config: Config
    first: CycleResult
    desired: pd.DataFrame
    line_items: pd.DataFrame
    second: CycleResult
    second_writes: Writes
    day: CycleResult
    day_desired: pd.DataFrame
    lines_at_first: tuple[int, int]  # (Salesforce, HubSpot) line items in the CRMs at the first run
    crm_after_first: tuple[CrmSnapshot, CrmSnapshot]


@pytest.fixture(scope="module")
def offered(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = E2EWorld(tmp_path_factory.mktemp("e2e-offers"), n_customers=900, seed=7, products=40)
    data = world.config_data()
    for crm in ("salesforce", "hubspot"):
        data["sources"][crm]["line_items"] = {"enabled": True}
    data["destinations"]["salesforce"]["fields"] = {**SF_FIELDS, **SF_OFFERS}
    data["destinations"]["hubspot"]["properties"] = {**HS_PROPERTIES, **HS_OFFERS}
    data["offers"] = {"max_eval_customers": 500}
    config = Config.model_validate(data)
    lines = (sum(1 for _ in world.sf.store.records("OpportunityLineItem")),
             sum(1 for _ in world.hs.store.records("line_items")))
    with StateStore(world.tmp / "state.sqlite") as store:
        first, seen = run_observed(config, store, connector_factory=world.factory)
        assert seen.plan is not None and seen.features is not None and seen.features.line_items is not None
        desired, line_items = seen.plan.desired, seen.features.line_items
        after_first = salesforce_snapshot(world.sf), hubspot_snapshot(world.hs)
        world.settle()
        mark = world.mark()
        second, _ = run_observed(config, store, connector_factory=world.factory)
        second_writes = world.writes_since(mark)
        world.sim.advance_days(3)  # purchases with products: some offer lists change
        world.settle()
        day, seen = run_observed(config, store, connector_factory=world.factory)
        assert seen.plan is not None
        yield Offered(world, config, first, desired, line_items, second, second_writes, day, seen.plan.desired,
                      lines, after_first)


def test_line_items_of_both_crms_feed_the_offers(offered: Offered) -> None:
    counts = offered.first.counts
    sf_lines, hs_lines = offered.lines_at_first
    assert counts["pulled_salesforce_line_items"] == sf_lines > 500
    assert counts["pulled_hubspot_line_items"] == hs_lines > 500
    items = offered.line_items
    assert set(items["source"]) == {"salesforce", "hubspot"} and len(items) == sf_lines + hs_lines
    # a customer in both CRMs buys in both: their lines from each CRM land on the one customer
    both = offered.desired.dropna(subset=["salesforce_id", "hubspot_id"])["customer_id"]
    sources = items[items["customer_id"].isin(both)].groupby("customer_id")["source"].nunique()
    assert (sources == 2).sum() > 20
    assert counts["offers"] > 0.9 * len(offered.desired)


def test_both_crms_hold_the_offers_of_the_desired_state(offered: Offered) -> None:
    assert offered.first.status == "succeeded", offered.first.error
    desired = offered.desired
    catalog = set(offered.world.sim.catalog.name)
    assert desired["offer_1"].notna().mean() > 0.9
    assert set(desired[["offer_1", "offer_2", "offer_3"]].stack().dropna()) <= catalog  # real product names
    assert desired["offer_reasons"].dropna().str.len().gt(0).all()
    sf_snap, hs_snap = offered.crm_after_first
    mismatches = field_mismatches(desired, sf_snap, "salesforce_id", SF_OFFERS)
    mismatches += field_mismatches(desired, hs_snap, "hubspot_id", HS_OFFERS)
    assert mismatches == []
    # and the values are there, not both missing: every offered contact of each CRM carries its three
    for snap, id_col, fields in ((sf_snap, "salesforce_id", SF_OFFERS), (hs_snap, "hubspot_id", HS_OFFERS)):
        offered_rows = desired[desired[id_col].notna() & desired["offer_3"].notna()]
        assert len(offered_rows) > 200
        for row in offered_rows.head(50).itertuples(index=False):
            rec = snap.records[str(getattr(row, id_col))]
            assert [rec[fields[k]] for k in ("offer_1", "offer_2", "offer_3")] == [row.offer_1, row.offer_2, row.offer_3]


def test_a_second_run_with_nothing_new_writes_nothing(offered: Offered) -> None:
    assert offered.second.status == "succeeded", offered.second.error
    writes = offered.second_writes
    assert writes.total == 0, f"writes on a run with nothing new: {writes}"
    assert offered.second.counts.get("pulled_salesforce_line_items", 0) == 0
    assert offered.second.counts.get("pulled_hubspot_line_items", 0) == 0


def test_offers_that_changed_are_rewritten_in_both_crms_by_a_later_run(offered: Offered) -> None:
    day = offered.day
    assert day.status == "succeeded", day.error
    assert day.counts.get("pulled_salesforce_line_items", 0) > 0 and day.counts.get("pulled_hubspot_line_items", 0) > 0
    changed = offered.day_desired.merge(offered.desired, on="customer_id", suffixes=("", "_before"))
    changed = changed[changed["offer_1"] != changed["offer_1_before"]]
    assert len(changed) > 0  # new purchases moved some offers
    assert day.counts.get("push_failed_salesforce", 0) == 0 and day.counts.get("push_failed_hubspot", 0) == 0
    sf_snap, hs_snap = salesforce_snapshot(offered.world.sf), hubspot_snapshot(offered.world.hs)
    # offer_1..3 everywhere; offer_reasons where the list changed (materiality keeps the reasons of an
    # unchanged list: a later "last bought" date alone is no rewrite)
    slots = ("offer_1", "offer_2", "offer_3")
    mismatches = field_mismatches(offered.day_desired, sf_snap, "salesforce_id", {k: SF_OFFERS[k] for k in slots})
    mismatches += field_mismatches(offered.day_desired, hs_snap, "hubspot_id", {k: HS_OFFERS[k] for k in slots})
    moved = offered.day_desired[offered.day_desired["customer_id"].isin(changed["customer_id"])]
    mismatches += field_mismatches(moved, sf_snap, "salesforce_id", {"offer_reasons": SF_OFFERS["offer_reasons"]})
    mismatches += field_mismatches(moved, hs_snap, "hubspot_id", {"offer_reasons": HS_OFFERS["offer_reasons"]})
    assert mismatches == []
