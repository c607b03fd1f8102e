"""CDNOW in the sandbox: every one of the 69,659 purchases of the 23,570 customers is served
through the Salesforce and HubSpot APIs; latent truth is drawn from the right posterior."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import httpx
import numpy as np
import pandas as pd
import pytest

from connector.sandbox.cdnow import (
    CDNOW_END,
    cdnow_population,
    draw_posterior,
    read_cdnow,
    summarise_history,
)
from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import WSGIFaultTransport
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.placement import HS_ID_PROPERTY, SF_ID_FIELD
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.scenario import load_scenario
from connector.sandbox.simulation import Simulation

Z = 4.0


def test_the_file_ships_with_the_package_and_reads_as_published():
    raw = read_cdnow()
    assert len(raw) == 69_659 and raw["customer_id"].nunique() == 23_570
    assert raw["customer_id"].iloc[0] == "00001" and raw["customer_id"].str.len().eq(5).all()
    assert (raw["dollar_value"] == 0).sum() == 80
    assert raw["date"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert raw["date"].max() == pd.Timestamp("1998-06-30", tz="UTC")
    first = raw.groupby("customer_id")["date"].min()
    assert first.max() < pd.Timestamp("1997-04-01", tz="UTC")  # the Q1 1997 cohort


def test_population_keeps_every_row_in_canonical_shape():
    pop = cdnow_population(load_scenario("default"), random_state=0)
    raw = read_cdnow()
    assert len(pop.customers) == 23_570 and len(pop.transactions) == 69_659
    assert pop.transactions["amount"].sum() == pytest.approx(raw["dollar_value"].sum())
    assert pop.customers["email"].iloc[0] == "cdnow00001@example.com"
    assert pop.as_of == CDNOW_END
    again = cdnow_population(load_scenario("default"), random_state=0)
    other = cdnow_population(load_scenario("default"), random_state=1)
    assert again.latent.equals(pop.latent) and again.customers.equals(pop.customers)
    assert not other.latent["segment"].equals(pop.latent["segment"])


def test_posterior_is_calibrated_on_a_population_with_known_segments():
    """Draw customers from the scenario, hide their segments, and recover them: the posterior
    probabilities of each segment must add up to its true count within sampling error."""
    scen = load_scenario("default")
    pop = PopulationGenerator(scen, 20_000, history_days=548, end="1998-07-01", random_state=2).generate()
    tx = pop.transactions
    raw = pd.DataFrame({"customer_id": tx["customer_id"], "date": tx["occurred_at"].dt.floor("D"),
                        "dollar_value": tx["amount"]})
    summary = summarise_history(raw, end=pop.as_of)
    truth = pop.latent.set_index("customer_id").loc[summary.index, "segment"].cat.codes.to_numpy()
    draws = np.vstack([draw_posterior(scen, summary, np.random.default_rng([77, s]))["segment_code"]
                       for s in range(8)])
    for k, seg in enumerate(scen.segments):
        p = (draws == k).mean(axis=0)  # Monte Carlo posterior probability per customer
        true_count = (truth == k).sum()
        sd = np.sqrt(np.sum(p * (1 - p)))
        assert abs(p.sum() - true_count) < Z * sd, seg.name
    # drawing segments from the prior would match the truth with probability sum(share^2)
    accuracy, chance = (draws == truth).mean(), sum(s.share**2 for s in scen.segments)
    assert accuracy - chance > Z * np.sqrt(chance * (1 - chance) / truth.size)


def test_heavier_buyers_are_drawn_into_the_faster_segments():
    pop = cdnow_population(load_scenario("default"), random_state=0)
    repeats = pop.transactions.groupby("customer_id").size() - 1
    by_segment = pop.latent.set_index("customer_id")["segment"]
    mean_repeats = repeats.groupby(by_segment, observed=True).mean()
    assert mean_repeats["loyal"] > mean_repeats["regular"] > mean_repeats["lapsing"]


# --------------------------------------------------------------------------- through the APIs


@pytest.fixture(scope="module")
def cdnow_sandboxes():
    clock = SandboxClock(datetime(1998, 7, 1, tzinfo=UTC))
    sf = SalesforceSandbox(clock=clock)
    hs = HubSpotSandbox(clock, rate_limits=False)
    sim = Simulation.cdnow("default", salesforce=sf, hubspot=hs, random_state=0, share_both=0.3)
    return sim, sf, hs


def _sf_query_all(sf: SalesforceSandbox, soql: str) -> list[dict]:
    http = httpx.Client(transport=WSGIFaultTransport(app=sf.app), base_url="https://sandbox.my.salesforce.com")
    c = sf.credentials
    token = http.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "username": c["username"], "password": c["password"] + c["security_token"]}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    page = http.get("/services/data/v66.0/query", params={"q": soql}, headers=headers).json()
    records, pages = list(page["records"]), 1
    while not page["done"]:
        page = http.get(page["nextRecordsUrl"], headers=headers).json()
        records += page["records"]
        pages += 1
    assert len(records) == page["totalSize"] and pages == -(-len(records) // 2000)
    return records


def _hs_list_all(http: httpx.Client, object_type: str, properties: str) -> list[dict]:
    out, after = [], None
    while True:
        params = {"limit": 100, "properties": properties, **({"after": after} if after else {})}
        body = http.get(f"/crm/v3/objects/{object_type}", params=params).json()
        out += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return out


def _hs_deal_contacts(http: httpx.Client, deal_ids: list[str]) -> dict[str, str]:
    linked: dict[str, str] = {}
    for start in range(0, len(deal_ids), 1000):
        inputs = [{"id": d} for d in deal_ids[start:start + 1000]]
        body = http.post("/crm/v4/associations/deals/contacts/batch/read", json={"inputs": inputs}).json()
        for row in body["results"]:
            (to,) = row["to"]
            linked[row["from"]["id"]] = str(to["toObjectId"])
    return linked


def test_cdnow_is_served_exactly_through_both_apis(cdnow_sandboxes):
    sim, sf, hs = cdnow_sandboxes
    contacts = _sf_query_all(sf, "SELECT Id, Email, Sandbox_Customer_Id__c FROM Contact")
    assert SF_ID_FIELD == "Sandbox_Customer_Id__c"
    opps = _sf_query_all(sf, "SELECT Id, ContactId, Amount, CloseDate FROM Opportunity WHERE IsWon = true")
    sf_customer = {c["Id"]: c[SF_ID_FIELD] for c in contacts}
    purchases = Counter((sf_customer[o["ContactId"]], o["CloseDate"], round(o["Amount"] * 100)) for o in opps)

    http = httpx.Client(transport=httpx.WSGITransport(app=hs.app), base_url="http://hubspot.test",
                        headers={"Authorization": f"Bearer {hs.credentials['token']}"})
    hs_contacts = _hs_list_all(http, "contacts", f"email,{HS_ID_PROPERTY}")
    deals = _hs_list_all(http, "deals", "amount,closedate,dealstage,hs_is_closed_won")
    assert all(d["properties"]["hs_is_closed_won"] == "true" for d in deals)
    linked = _hs_deal_contacts(http, [d["id"] for d in deals])
    hs_customer = {c["id"]: c["properties"][HS_ID_PROPERTY] for c in hs_contacts}
    purchases += Counter((hs_customer[linked[d["id"]]], d["properties"]["closedate"][:10],
                          round(float(d["properties"]["amount"]) * 100)) for d in deals)

    raw = read_cdnow()
    expected = Counter(zip(raw["customer_id"], raw["date"].dt.strftime("%Y-%m-%d"),
                           (raw["dollar_value"] * 100).round().astype(int), strict=True))
    assert sum(purchases.values()) == 69_659 and purchases == expected
    emails_sf = {c["Email"] for c in contacts}
    emails_hs = {c["properties"]["email"] for c in hs_contacts}
    assert len(emails_sf | emails_hs) == 23_570
    both = len(emails_sf & emails_hs) / 23_570
    assert abs(both - 0.3) < Z * np.sqrt(0.3 * 0.7 / 23_570)
    # same person, same email, and the latent truth is nowhere in what the APIs serve
    assert all(c["Email"] == f"cdnow{c[SF_ID_FIELD]}@example.com" for c in contacts)
    served = str(contacts[:200]) + str(hs_contacts[:200])
    assert not any(name in served for name in ("loyal", "regular", "lapsing"))
