"""A bad input corpus through the whole cycle: each bad row is quarantined with a clear
reason (listed by `segsync status`), and nothing else breaks.

Both sandbox CRMs and a files source feed one cycle. The corpus: a duplicate email (case
differs), purchases without a customer, without an amount, with a negative amount, without a
date; unparseable dates and amounts (the files source: CRMs type their fields, a CSV does
not); huge strings; unicode and emoji names and emails. Afterwards the CRMs hold exactly the
desired state. Then a custom field is deleted in Salesforce: its refusals become rejected
rows naming the field, and HubSpot is unaffected.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from connector.config import MaterialityConfig, MaterialityRule
from connector.pipeline import run_cycle
from connector.state import StateStore
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.world import SandboxWorld

HUGE = "Ω" * 60_000  # HubSpot keeps up to 65,536 characters in a text property
FILE_ROWS = [
    ("F1", "2026-01-05", "12.50"),
    ("F1", "31/02/2026", "10"),  # not a date
    ("F2", "2026-01-07", "12,50 EUR"),  # not a number
    ("F2", "yesterday", "5"),  # not a date
    ("F3", "2026-01-09", "-5"),  # negative
    ("F3", "2026-01-10", ""),  # missing amount
    ("", "2026-01-11", "7"),  # missing customer id
    ("F4", "2026-01-12", "inf"),  # not finite
    ("F5-🎉-Zoë", "2026-01-13", "3.25"),  # fine: unicode ids are data
    ("F6" + "x" * 5000, "2026-01-14", "4"),  # fine: a huge id is data
]


def seed_corpus(world: SandboxWorld, folder) -> dict[str, str]:
    """Put the bad records in; returns record key -> the reason it must be rejected with."""
    sf, hs = world.sf.store, world.hs.store
    first = next(iter(sf.records("Contact")))
    [dup] = sf.insert("Contact", [{"LastName": "Dup", "Email": first["Email"].upper()}])
    [emoji] = sf.insert("Contact", [{"FirstName": "Zoë 🎉", "LastName": "Ñandú 😀", "Email": "zoe.emoji@example.com"}])
    won = {"Name": "order", "StageName": "Closed Won", "CloseDate": "2026-02-01"}
    no_contact, no_amount, negative, fine = sf.insert("Opportunity", [
        {**won, "Amount": 10.0},
        {**won, "Amount": None, "ContactId": first["Id"]},
        {**won, "Amount": -25.0, "ContactId": first["Id"]},
        {**won, "Amount": 42.0, "ContactId": emoji},
    ])
    huge, uni = hs.create("contacts", [{"email": "huge@example.com", "firstname": HUGE, "lastname": HUGE},
                                       {"email": "zoë@exämple.com", "firstname": "🎉", "lastname": "李"}])
    deal = {"dealname": "order", "dealstage": "closedwon", "pipeline": "default"}
    orphan, undated, d1, d2 = hs.create("deals", [{**deal, "amount": "12.5", "closedate": "2026-02-01T00:00:00Z"},
                                                   {**deal, "amount": "12.5"},
                                                   {**deal, "amount": "30", "closedate": "2026-02-02T00:00:00Z"},
                                                   {**deal, "amount": "31", "closedate": "2026-02-03T00:00:00Z"}])
    hs.associate("deals", undated, "contacts", huge)
    hs.associate("deals", d1, "contacts", huge)
    hs.associate("deals", d2, "contacts", uni)
    world.settle()
    with (folder / "orders.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("CustomerID", "date", "amount"), *FILE_ROWS])
    return {
        dup: f"duplicate email in salesforce: same as record {first['Id']}",
        f"salesforce-{no_contact}": "missing customer_id",
        f"salesforce-{no_amount}": "missing amount",
        f"salesforce-{negative}": "amount is negative (-25.0)",
        f"hubspot-{orphan}": "missing customer_id",
        f"hubspot-{undated}": "missing occurred_at",
        "row-3": "occurred_at is not a date ('31/02/2026')",
        "row-4": "amount is not a number ('12,50 EUR')",
        "row-5": "occurred_at is not a date ('yesterday')",
        "row-6": "amount is negative (-5.0)",
        "row-7": "missing amount",
        "row-8": "missing customer_id",
        "row-9": "amount is not finite (inf)",
    }


@pytest.fixture
def bad_world(tmp_path):
    world = SandboxWorld(120, 21)
    expected = seed_corpus(world, tmp_path)
    data = world.config_data()
    data["sources"]["files"] = {"transactions": str(tmp_path / "orders.csv"), "format": "csv", "delimiter": ","}
    data["state"] = {"path": str(tmp_path / "state.sqlite")}
    return world, data, expected


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_converges(bad_world, tmp_path):
    from connector.config import Config

    world, data, expected = bad_world
    config = Config.model_validate(data)
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        rejected = store.rejected.open()
        reasons = dict(zip(rejected["record_key"], rejected["reason"], strict=True))
        for key, reason in expected.items():
            assert key in reasons, f"{key} was not quarantined ({reason})"
            assert reason in reasons[key], (key, reasons[key])
        assert set(reasons) == set(expected), f"unexpected rejections: {set(reasons) - set(expected)}"
        desired = assert_converged(world, store, config, n_contacts=contacts)
    # the good unusual rows went through: unicode, emoji and huge values are data
    names = {r.get("FirstName"): r for r in world.sf.store.records("Contact")}
    assert names["Zoë 🎉"]["Segsync_Segment__c"] in set(desired["segment_name"])
    huge = [p for p in hubspot_state(world)[0].values() if p.get("email") == "huge@example.com"]
    assert huge and huge[0]["firstname"] == HUGE and huge[0]["segsync_segment"]
    ids = set(desired["customer_id"])
    assert {"F5-🎉-Zoë", "F6" + "x" * 5000} <= ids

    path = tmp_path / "segsync.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    status = subprocess.run([sys.executable, "-m", "connector.cli", "status", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert f"open rejected rows: {len(expected)}" in status.stdout
    for key, reason in expected.items():
        assert f"{key}: " in status.stdout and reason in status.stdout, key


def test_deleted_custom_field_gives_reasons_and_breaks_nothing_else(tmp_path):
    world = SandboxWorld(150, 22)
    # every move of a CLV is a write here, so every record is sent (and refused) while the field is
    # gone; with the default materiality policy only material moves are sent, and values the admin's
    # deletion wiped from records segsync had no reason to rewrite are not known to segsync
    exact = MaterialityConfig(scores=MaterialityRule(round_to=0.01), clv=MaterialityRule(round_to=1), reasons="text")
    config = world.config().model_copy(update={"destinations": world.config().destinations.model_copy(update={"materiality": exact})})
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    with StateStore(tmp_path / "state.sqlite") as store:
        assert run_cycle(config, store, connector_factory=world.factory).status == "succeeded"
        world.sf.delete_custom_field("Contact", "Segsync_Clv__c")  # an admin deleted the field
        world.sim.advance_days(45)  # new purchases: CLVs move, so records must be written again
        world.settle()
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        rejected = store.rejected.open()
        pushed = rejected[(rejected["step"] == "push") & (rejected["source"] == "salesforce")]
        assert len(pushed) == result.counts["push_failed_salesforce"] > 0
        assert pushed["reason"].str.contains("Segsync_Clv__c").all(), pushed["reason"].iloc[0]
        assert not (rejected["source"] == "hubspot").any()
        plan = run_cycle(config, store, dry_run=True, connector_factory=world.factory).plan
        assert plan[0]["updates"] == len(pushed), "refused records are retried next run"
        assert (plan[1]["updates"], plan[1]["list_adds"], plan[1]["list_removals"]) == (0, 0, 0)
    # once the admin restores the field, the retry converges everything
    world.sf.schema.add_custom_field("Contact", {"name": "Segsync_Clv__c", "type": "Number", "precision": 18, "scale": 2})
    with StateStore(tmp_path / "state.sqlite") as store:
        assert run_cycle(config, store, connector_factory=world.factory).status == "succeeded"
        assert store.rejected.open_count() == 0
        assert_converged(world, store, config, n_contacts=contacts)
