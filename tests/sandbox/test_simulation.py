"""Simulated days: purchases follow the latent process, campaign arms get exactly the
scenario's effect (treatment only), the null scenario none, and the same seed gives the same
days. Tolerances are 4 standard errors at the test's sample size."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.scenario import load_scenario
from connector.sandbox.simulation import Simulation

Z = 4.0
START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 10
ARMS = ("treatment", "control", "holdout")


def _sandboxes() -> tuple[SalesforceSandbox, HubSpotSandbox]:
    clock = SandboxClock(START)
    return SalesforceSandbox(clock=clock), HubSpotSandbox(clock, rate_limits=False)


def _hubspot(hs: HubSpotSandbox) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=hs.app), base_url="http://hubspot.test",
                        headers={"Authorization": f"Bearer {hs.credentials['token']}"})


def _enrol(sim: Simulation, sf: SalesforceSandbox, hs: HubSpotSandbox, seed: int = 1) -> np.ndarray:
    """Put every customer in an arm (45/45/10) the way segsync would: Salesforce Campaigns for
    those in Salesforce, HubSpot lists (over HTTP) for the others. Returns the arm per customer."""
    n = len(sim.population.customers)
    arm = np.random.default_rng(seed).choice(3, size=n, p=[0.45, 0.45, 0.10])
    campaigns = sf.store.insert("Campaign", [{"Name": f"segsync exp1 {a}"} for a in ARMS])
    in_sf = sim.placement.in_salesforce
    sf.store.insert("CampaignMember", [{"CampaignId": campaigns[arm[i]], "ContactId": sim.writer.sf_ids[i]}
                                       for i in np.flatnonzero(in_sf).tolist()])
    api = _hubspot(hs)
    for k, name in enumerate(ARMS):
        created = api.post("/crm/v3/lists", json={"name": f"segsync exp1 {name}", "objectTypeId": "0-1",
                                                  "processingType": "MANUAL"})
        list_id = created.json()["list"]["listId"]
        ids = [sim.writer.hs_ids[i] for i in np.flatnonzero(~in_sf & (arm == k)).tolist()]
        assert api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=ids).status_code == 200
    return arm


def _run(scenario_name: str):
    scen = load_scenario(scenario_name).model_copy(update={"window_days": WINDOW})
    sf, hs = _sandboxes()
    sim = Simulation.synthetic(24_000, scen, salesforce=sf, hubspot=hs, history_days=365, random_state=5)
    sim.advance_days(2)
    arm = _enrol(sim, sf, hs)
    report = sim.advance_days(WINDOW)
    return sim, sf, hs, arm, report


@pytest.fixture(scope="module")
def treated():
    return _run("default")


@pytest.fixture(scope="module")
def null():
    return _run("null")


def test_memberships_from_both_crms_are_found_and_windows_close(treated):
    sim, _, _, arm, report = treated
    truth = sim.truth()
    assert report["new_members"] == len(truth)
    assert (truth["arm_kind"].astype(str).to_numpy() == np.array(ARMS)[arm]).all()
    assert set(truth["experiment"]) == {"exp1"} and truth["window_closed"].all()
    assert (truth["assigned_at"] == truth["assigned_at"].iloc[0]).all()


def test_treatment_raises_conversion_by_the_configured_lift_per_segment(treated):
    sim, _, _, _, _ = treated
    truth = sim.truth()
    for seg in sim.scenario.segments:
        rows = truth[truth["segment"] == seg.name]
        t, c = rows[rows["arm_kind"] == "treatment"], rows[rows["arm_kind"] == "control"]
        # the individual effect is min(lift, 1 - p0): the configured lift unless p0 is near 1
        expected = t["expected_conversion_effect"]
        assert (expected <= seg.effect.conversion_lift + 1e-12).all()
        assert expected.mean() > 0.9 * seg.effect.conversion_lift
        # realised (exact counterfactual) effect among the treated
        own = t["converted"].astype(float) - t["baseline_converted"]
        assert abs(own.mean() - expected.mean()) < Z * own.std() / np.sqrt(len(own)), seg.name
        # what segsync's estimator sees: treatment minus control conversion
        diff = t["converted"].mean() - c["converted"].mean()
        se = np.sqrt(t["converted"].var() / len(t) + c["converted"].var() / len(c))
        assert abs(diff - expected.mean()) < Z * se, seg.name
        # spend: realised revenue effect against its expectation
        gain = t["revenue"] - t["baseline_revenue"]
        assert abs(gain.mean() - t["expected_revenue_effect"].mean()) < Z * gain.std() / np.sqrt(len(t))


def test_control_and_holdout_get_no_effect(treated):
    sim, _, _, _, report = treated
    truth = sim.truth()
    untreated = truth[truth["arm_kind"].isin(["control", "holdout"])]
    assert (untreated["converted"] == untreated["baseline_converted"]).all()
    assert (untreated["revenue"] == untreated["baseline_revenue"]).all()
    treated_rows = truth[truth["arm_kind"] == "treatment"]
    extra = (treated_rows["converted"] & ~treated_rows["baseline_converted"]).sum()
    assert 0 < extra <= report["extra_purchases"]


def test_null_scenario_changes_nothing_and_leaves_the_baseline_alone(treated, null):
    sim, *_ = treated
    base, null_truth = sim.truth(), null[0].truth()
    assert null[4]["extra_purchases"] == 0
    assert (null_truth["converted"] == null_truth["baseline_converted"]).all()
    # the same seed gives the same untreated world whatever the scenario's effects
    assert (null_truth["baseline_converted"] == base["baseline_converted"]).all()
    assert np.allclose(null_truth["baseline_revenue"], base["baseline_revenue"])
    summary = null[0].truth_summary()
    for seg in summary["segments"]:
        assert seg["arms"]["treatment"]["realised_conversion_effect"] == 0.0
        assert seg["conversion_lift"] == 0.0


def test_campaign_members_who_buy_move_to_responded(treated):
    sim, sf, _, _, report = treated
    truth = sim.truth()
    converted = dict(zip(truth["salesforce_id"], truth["converted"], strict=True))
    members = list(sf.store.records("CampaignMember"))
    responded = {m["ContactId"]: m for m in members if m["HasResponded"]}
    assert len(responded) == report["responses"] > 0
    for m in members:
        # every purchase since joining fell in the window, so responded == converted
        assert m["HasResponded"] == bool(converted[m["ContactId"]])
        assert m["Status"] == ("Responded" if m["HasResponded"] else "Sent")
    campaigns = {c["Name"]: c for c in sf.store.records("Campaign")}
    assert campaigns["segsync exp1 control"]["NumberOfResponses"] > 0  # measured in every arm


def test_a_day_brings_purchases_at_the_latent_rate_stamped_that_day():
    sf, hs = _sandboxes()
    sim = Simulation.synthetic(20_000, "default", salesforce=sf, hubspot=hs, history_days=200, random_state=8)
    alive, rate = sim.state["alive"].copy(), sim.state["purchase_rate"]
    p = np.where(alive, -np.expm1(-rate), 0.0)
    before_sf, before_hs = len(sf.store.live["Opportunity"]), len(hs.store.rows["deals"])
    report = sim.advance_days(1)
    assert abs(report["purchases"] - p.sum()) < Z * np.sqrt(np.sum(p * (1 - p)))
    new_opps = list(sf.store.live["Opportunity"].values())[before_sf:]
    new_deals = [hs.store.get("deals", 9_000_001 + i) for i in range(before_hs, len(hs.store.rows["deals"]))]
    assert len(new_opps) + len(new_deals) == report["purchases"] > 0
    assert {o["CloseDate"] for o in new_opps} == {"2026-01-01"}
    assert {o["SystemModstamp"] for o in new_opps} == {"2026-01-01T12:00:00.000+0000"}
    assert all(o["IsWon"] and o["StageName"] == "Closed Won" for o in new_opps)
    assert {d["properties"]["closedate"] for d in new_deals} == {"2026-01-01T12:00:00.000Z"}
    assert sim.clock.now() == datetime(2026, 1, 2, tzinfo=UTC) and report["day"] == 1
    # buying uses up lives: nobody who was gone comes back
    assert not (sim.state["alive"] & ~alive).any()


def _purchases_after(seed: int, days: int = 5) -> list[tuple]:
    sf, hs = _sandboxes()
    sim = Simulation.synthetic(2_000, "default", salesforce=sf, hubspot=hs, history_days=100, random_state=seed)
    start = len(sf.store.live["Opportunity"]), len(hs.store.rows["deals"])
    sim.advance_days(days)
    opps = [(o["ContactId"], o["CloseDate"], o["Amount"]) for o in list(sf.store.live["Opportunity"].values())[start[0]:]]
    deals = [(hs.store.get("deals", 9_000_001 + i)["properties"]["amount"],)
             for i in range(start[1], len(hs.store.rows["deals"]))]
    return opps + deals


def test_same_seed_same_days_and_a_different_seed_differs():
    one, two, other = _purchases_after(21), _purchases_after(21), _purchases_after(22)
    assert one == two and len(one) > 10
    assert one != other


def test_simulation_needs_a_crm_and_one_clock():
    pop_sim = {"scenario": "default", "history_days": 30, "random_state": 0}
    with pytest.raises(ValueError, match="needs a Salesforce or a HubSpot"):
        Simulation.synthetic(10, clock=SandboxClock(START), **pop_sim)
    with pytest.raises(ValueError, match="share one SandboxClock"):
        Simulation.synthetic(10, salesforce=SalesforceSandbox(clock=SandboxClock(START)),
                             hubspot=HubSpotSandbox(SandboxClock(START)), **pop_sim)
    hs_only = Simulation.synthetic(50, hubspot=HubSpotSandbox(SandboxClock(START)), **pop_sim)
    assert hs_only.placement.in_hubspot.all() and not hs_only.placement.in_salesforce.any()
    with pytest.raises(ValueError, match="days must be >= 0"):
        hs_only.advance_days(-1)


def test_what_the_crms_hold_since_assignment_is_exactly_the_truths_conversions(treated):
    sim, sf, hs, _, _ = treated
    truth = sim.truth()
    since = truth["assigned_at"].iloc[0].strftime("%Y-%m-%d")
    by_sf = dict(zip(truth["salesforce_id"], truth.index, strict=True))
    by_hs = dict(zip(truth["hubspot_id"], truth.index, strict=True))
    bought: dict[int, float] = {}
    for o in sf.store.records("Opportunity"):
        if o["CloseDate"] >= since:
            bought[by_sf[o["ContactId"]]] = bought.get(by_sf[o["ContactId"]], 0.0) + o["Amount"]
    for deal_id, rec in hs.store.iter_rows("deals"):
        if rec.props["closedate"][:10] >= since:
            (contact,) = hs.store.linked("deals", deal_id, "contacts")
            bought[by_hs[str(contact)]] = bought.get(by_hs[str(contact)], 0.0) + float(rec.props["amount"])
    assert set(bought) == set(np.flatnonzero(truth["converted"].to_numpy()))
    revenue = truth["revenue"].to_numpy()
    assert np.allclose([bought[i] for i in sorted(bought)], revenue[sorted(bought)], atol=0.011)
