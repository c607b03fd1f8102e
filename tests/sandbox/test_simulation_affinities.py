"""The simulator's planted product affinities: exposed as ground truth like the campaign truth,
and recovered by the offer methods (judged against an oracle that knows them)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from connector.sandbox.admin import admin_app
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.products import PlantedOracle
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.simulation import Simulation
from connector.sandbox.truth import TOP_PRODUCTS, product_truth
from segmentation.offer_evaluation import evaluate_offers

START = datetime(2026, 3, 1, tzinfo=UTC)


def _sim(n: int, products: int, seed: int, *, days: int = 365) -> Simulation:
    clock = SandboxClock(START, frozen=True)
    sf, hs = SalesforceSandbox(clock=clock, seed=seed), HubSpotSandbox(clock, seed=seed)
    return Simulation.synthetic(n, salesforce=sf, hubspot=hs, clock=clock, random_state=seed, products=products, history_days=days)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return _sim(400, 30, 5)


def _get(sim: Simulation, path: str) -> tuple[str, bytes]:
    got: dict[str, str] = {}
    body = b"".join(admin_app(sim)({"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "wsgi.input": io.BytesIO()},
                                   lambda status, headers: got.update(status=status)))
    return got["status"], body


def test_product_truth_is_each_latent_segments_taste_ranked(sim):
    table = product_truth(sim)
    taste = sim.product_taste
    assert len(table) == taste.size and set(table["segment"]) == set(sim.scenario.segment_names)
    for seg, rows in table.groupby("segment"):
        assert list(rows["rank"]) == list(range(1, taste.shape[1] + 1))
        assert rows.iloc[0]["product_id"] == taste.loc[seg].idxmax()
        np.testing.assert_allclose(rows["affinity"].sum(), 1.0)
        np.testing.assert_allclose(rows.set_index("product_id")["affinity"], taste.loc[seg, rows["product_id"]])
    fav = table[table["rank"] == 1]
    assert (fav["lift"] > 1).all()  # a segment's favourite is one it prefers more than the others do
    assert table["product_name"].notna().all()


def test_truth_summary_and_admin_route_expose_the_affinities(sim):
    summary = sim.truth_summary()
    for entry in summary["segments"]:
        top = entry["top_products"]
        assert len(top) == TOP_PRODUCTS
        assert top[0]["product_id"] == sim.product_taste.loc[entry["segment"]].idxmax()
        assert [t["affinity"] for t in top] == sorted((t["affinity"] for t in top), reverse=True)
    status, body = _get(sim, "/__sandbox/truth/products")
    assert status == "200 OK"
    served = pd.DataFrame(json.loads(body))
    pd.testing.assert_frame_equal(served[["segment", "rank", "product_id"]], product_truth(sim)[["segment", "rank", "product_id"]])


def test_no_products_no_product_truth():
    plain = _sim(50, 0, 1, days=60)
    assert product_truth(plain) is None
    assert "top_products" not in plain.truth_summary()["segments"][0]
    assert _get(plain, "/__sandbox/truth/products")[0] == "404 Not Found"


def test_line_items_are_what_the_crms_hold(sim):
    items = sim.line_items()
    sf_lines = list(sim.writer.sf.records("OpportunityLineItem"))
    hs_lines = list(sim.writer.hs.records("line_items"))
    assert len(items) == len(sf_lines) + len(hs_lines) > 400
    sf_total = pd.Series({o["Id"]: o["Amount"] for o in sim.writer.sf.records("Opportunity")})
    got = items.groupby("transaction_id")["unit_price"].sum()
    np.testing.assert_allclose(got.reindex(sf_total.index), sf_total, atol=0.006)
    assert set(items["product_id"]) <= set(sim.catalog.product_id)
    assert set(items["customer_id"]) <= set(sim.population.customers["customer_id"])
    assert items["occurred_at"].max() < pd.Timestamp(START)
    sim.advance_days(3)
    later = sim.line_items()
    assert len(later) > len(items) and (later["occurred_at"] >= pd.Timestamp(START)).sum() == len(later) - len(items)


def test_offers_recover_the_planted_affinities_near_the_oracle():
    """The benchmark's world at a quarter of its size (bench_offers.py planted --customers 5000):
    the learned ranker comes within 10 % of an oracle that knows each customer's latent segment
    and its taste, without being told the segments; repeat (no taste) is far from it."""
    sim = _sim(5000, 200, 1, days=540)
    items = sim.line_items()
    cutoff = pd.Timestamp(START) - pd.Timedelta(days=90)
    truth = sim.truth().set_index("customer_id")["segment"].astype(str)
    blind = pd.Series("all", index=truth.index)  # the methods are not told the latent segments
    table = evaluate_offers(items, blind, cutoff, horizon_days=90, methods=["repeat", "cooccurrence", "ranker"], modes=["any"],
                            n_boot=50, extra={"oracle": PlantedOracle(truth, sim.product_taste)})
    p = table.set_index("method")["precision_at_3"]
    assert p["repeat"] < 0.7 * p["oracle"]
    assert p["ranker"] >= 0.9 * p["oracle"]
