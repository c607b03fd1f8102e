"""Products in the simulated CRMs: every purchase holds 1-3 real products drawn from its buyer's
latent segment's planted taste, as OpportunityLineItems / HubSpot line items whose prices add
up to the purchase's amount."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest

from connector.sandbox.baskets import draw_baskets, retail_catalog
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.products import segment_tastes
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.simulation import Simulation

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    clock = SandboxClock(START, frozen=True)
    sf, hs = SalesforceSandbox(clock=clock, seed=2), HubSpotSandbox(clock, seed=2)
    return Simulation.synthetic(600, salesforce=sf, hubspot=hs, clock=clock, random_state=2, products=30)


def test_catalog_is_online_retail_best_sellers():
    catalog = retail_catalog(5)
    # bought by the most customers, then the white hanging heart
    assert list(catalog.product_id[:2]) == ["22423", "85123A"]
    assert list(catalog.name[:2]) == ["Regency Cakestand 3 Tier", "White Hanging Heart T-Light Holder"]
    assert list(catalog.price[:2]) == [12.75, 2.95]
    assert (catalog.price > 0).all() and len(set(catalog.product_id)) == 5


def test_baskets_split_each_amount_to_the_cent_over_distinct_products():
    rng = np.random.default_rng(0)
    taste = segment_tastes(30, 2, rng)
    amount = np.array([10.0, 0.07, 123.45, 9.99] * 50)
    baskets = draw_baskets(np.arange(200) % 2, amount, taste, retail_catalog(30), rng)
    sums = np.bincount(baskets.purchase, weights=baskets.unit_price * 100, minlength=200)
    assert np.array_equal(np.round(sums).astype(int), np.round(amount * 100).astype(int))
    lines = Counter(baskets.purchase.tolist())
    assert set(lines) == set(range(200)) and max(lines.values()) <= 3 and len(set(lines.values())) > 1
    pairs = list(zip(baskets.purchase.tolist(), baskets.product.tolist(), strict=True))
    assert len(pairs) == len(set(pairs)) and (baskets.unit_price >= 0).all()


def test_every_purchase_holds_products_that_add_up_to_its_amount(sim):
    sf, hs = sim.writer.sf, sim.writer.hs
    opps = {o["Id"]: o["Amount"] for o in sf.records("Opportunity")}
    sf_total: dict[str, float] = defaultdict(float)
    for line in sf.records("OpportunityLineItem"):
        sf_total[line["OpportunityId"]] += line["TotalPrice"]
    assert set(sf_total) == set(opps)
    assert all(abs(sf_total[o] - amount) < 0.005 for o, amount in opps.items())
    deals = {d["id"]: float(d["properties"]["amount"]) for d in hs.records("deals")}
    hs_total: dict[str, float] = defaultdict(float)
    for line in hs.records("line_items"):
        (deal,) = hs.linked("line_items", int(line["id"]), "deals")
        hs_total[str(deal)] += float(line["properties"]["price"]) * float(line["properties"]["quantity"])
        assert line["properties"]["hs_sku"] in set(sim.catalog.product_id)  # made from a catalog product
    assert set(hs_total) == set(deals) and all(abs(hs_total[d] - a) < 0.005 for d, a in deals.items())
    assert len(list(hs.records("products"))) == 30 and len(list(sf.records("Product2"))) == 30


def test_segments_buy_what_their_planted_taste_prefers(sim):
    taste = sim.product_taste
    assert taste.shape == (len(sim.scenario.segment_names), 30)
    assert np.allclose(taste.sum(axis=1), 1.0)
    segment_of = dict(zip(sim.population.customers["customer_id"], sim.population.latent["segment"], strict=True))
    sf = sim.writer.sf
    key = {c["Id"]: c["Sandbox_Customer_Id__c"] for c in sf.records("Contact")}
    contact_of = {o["Id"]: o["ContactId"] for o in sf.records("Opportunity")}
    code_of = {p["Id"]: p["ProductCode"] for p in sf.records("Product2")}
    bought: dict[str, Counter] = defaultdict(Counter)
    for line in sf.records("OpportunityLineItem"):
        bought[segment_of[key[contact_of[line["OpportunityId"]]]]][code_of[line["Product2Id"]]] += 1
    for segment, counts in bought.items():
        if sum(counts.values()) < 300:
            continue
        favourite = taste.loc[segment].idxmax()
        shares = {p: n / sum(counts.values()) for p, n in counts.items()}
        assert shares[favourite] > 2 / 30  # well above an even spread over the catalog


def test_simulated_days_bring_products_too(sim):
    before = sum(1 for _ in sim.writer.sf.records("OpportunityLineItem")) + sum(1 for _ in sim.writer.hs.records("line_items"))
    happened = sim.advance_days(5)
    after = sum(1 for _ in sim.writer.sf.records("OpportunityLineItem")) + sum(1 for _ in sim.writer.hs.records("line_items"))
    assert happened["purchases"] > 0 and happened["purchases"] <= after - before <= 3 * happened["purchases"]
