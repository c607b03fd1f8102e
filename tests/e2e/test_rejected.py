"""Rejected rows: bad purchases and CRM refusals are stored with reasons, listed by
`segsync status`, and a refused record is retried each run until the CRM takes it.

- bad data: a won Opportunity and a closed-won deal with negative amounts;
- a Salesforce validation rule refusing two Contacts (FIELD_CUSTOM_VALIDATION_EXCEPTION, per
  record, in a 200 Collections reply, as with allOrNone false), later deactivated;
- a HubSpot contact archived between the plan and the push (the batch update answers 207
  OBJECT_NOT_FOUND for it).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.pipeline import CycleResult
from connector.state import StateStore
from connector.steps import STEP_FUNCTIONS
from tests.e2e.crm_state import (
    CrmSnapshot,
    assert_crm_matches,
    hubspot_snapshot,
    salesforce_snapshot,
)
from tests.e2e.observed import run_observed
from tests.e2e.world import SF_FIELDS, E2EWorld

RULE_MESSAGE = "Segment fields are locked while the contact is under legal review"


class ValidationRule:
    """WSGI middleware: an active org validation rule refusing updates to some Contacts.

    Salesforce applies Collections updates record by record under allOrNone false and
    answers 200 with one result per record, in input order; a refused one carries
    FIELD_CUSTOM_VALIDATION_EXCEPTION and the rule's error message.
    """

    def __init__(self, app: Callable, refused: set[str]) -> None:
        self.app, self.refused, self.active = app, refused, True

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if not (self.active and environ["REQUEST_METHOD"] == "PATCH" and environ["PATH_INFO"].endswith("/composite/sobjects")):
            return self.app(environ, start_response)
        body = json.loads(raw)
        records = body["records"]
        if not any(r.get("id") in self.refused for r in records):
            return self.app(environ, start_response)
        keep = [r for r in records if r.get("id") not in self.refused]
        results = iter(self._forward(environ, {**body, "records": keep}) if keep else [])
        merged = [
            {"id": r["id"], "success": False, "errors": [
                {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": RULE_MESSAGE, "fields": []}]}
            if r.get("id") in self.refused else next(results)
            for r in records
        ]
        payload = json.dumps(merged).encode()
        start_response("200 OK", [("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _forward(self, environ: dict, body: dict) -> list[dict]:
        data = json.dumps(body).encode()
        inner = {**environ, "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))}
        status: list[str] = []
        reply = b"".join(self.app(inner, lambda s, h, exc_info=None: status.append(s)))
        assert status[0].startswith("200"), (status, reply[:200])
        return json.loads(reply)


@dataclass
class Story:
    """Three runs: the rule active (and a contact archived mid-run), active again, deactivated."""

    world: E2EWorld
    refused: set[str]  # Contact Ids the rule refuses
    refused_keys: set[str]  # their customer ids
    archived_id: str  # the HubSpot contact archived between the plan and the push
    archived_key: str
    bad_opp: str
    bad_deal: str
    runs: list[CycleResult] = field(default_factory=list)
    desired: list[pd.DataFrame] = field(default_factory=list)  # each run's desired state
    transactions: list[pd.DataFrame] = field(default_factory=list)  # each run's clean canonical purchases
    open_rows: list[pd.DataFrame] = field(default_factory=list)  # open rejected rows after each run
    patched: list[list[str]] = field(default_factory=list)  # Contact Ids sent in each run's updates
    sf_ledger_after_first: dict = field(default_factory=dict)
    sf_after_first: CrmSnapshot | None = None
    status_after_first: str = ""


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    world = E2EWorld(tmp_path_factory.mktemp("e2e-rejected"), n_customers=1500, seed=11)
    sf_contacts = sorted(world.sf.store.records("Contact"), key=lambda r: r["Id"])
    hs_contacts = sorted(hubspot_snapshot(world.hs).records, key=int)
    refused = {sf_contacts[3]["Id"], sf_contacts[40]["Id"]}
    rule = ValidationRule(world.sf.app, refused)
    world.sf_log.app = rule
    bad_opp, bad_deal = _bad_purchases(world, sf_contacts[7]["Id"], hs_contacts[5])
    archived = hs_contacts[11]

    def plan_then_archive(ctx: Any) -> object:
        planned = STEP_FUNCTIONS["plan"](ctx)
        world.hs.store.archive("contacts", archived)  # gone between the plan and the push
        return planned

    config = world.config()
    with pytest.MonkeyPatch.context() as mp, StateStore(world.tmp / "state.sqlite") as store:
        cfg_path = world.write_config(mp)
        for run, steps in enumerate(({**STEP_FUNCTIONS, "plan": plan_then_archive}, None, None)):
            if run == 2:
                rule.active = False  # the admin deactivates the rule
            mark = world.mark()
            result, done = run_observed(config, store, connector_factory=world.factory, steps=steps)
            assert result.status == "succeeded", result.error
            assert done.plan is not None and done.features is not None
            desired = done.plan.desired
            if run == 0:
                keys = desired.set_index("salesforce_id")["customer_id"]
                story = Story(world, refused, {keys[i] for i in refused}, archived,
                              desired.loc[desired["hubspot_id"] == archived, "customer_id"].item(), bad_opp, bad_deal)
                story.sf_ledger_after_first = store.ledger.confirmed_fields("salesforce")
                story.sf_after_first = salesforce_snapshot(world.sf)
                story.status_after_first = _status(cfg_path)
            story.runs.append(result)
            story.desired.append(desired)
            story.transactions.append(done.features.transactions)
            story.open_rows.append(store.rejected.open())
            story.patched.append([r["id"] for req in world.salesforce_requests(mark, "PATCH", "/composite/sobjects")
                                  for r in req.json()["records"]])
        yield story


def _bad_purchases(world: E2EWorld, sf_contact: str, hs_contact: str) -> tuple[str, str]:
    """A refund booked as a won Opportunity and as a closed-won deal, both negative."""
    bad_opp = world.sf.store.insert("Opportunity", [{
        "Name": "Refund 1", "StageName": "Closed Won", "CloseDate": "2026-02-20", "Amount": -25.0,
        "ContactId": sf_contact}])[0]
    bad_deal = world.hs.store.create("deals", [{
        "dealname": "Refund 2", "dealstage": "closedwon", "pipeline": "default", "amount": "-40.00",
        "closedate": "2026-02-21T12:00:00.000Z"}])[0]
    world.hs.store.associate("deals", bad_deal, "contacts", hs_contact)
    world.settle()
    return bad_opp, bad_deal


def _status(cfg_path: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["status", str(cfg_path)]) == 0
    return out.getvalue()


def test_bad_purchases_are_quarantined_with_reasons(story: Story) -> None:
    rows = story.open_rows[0]
    assert _reasons(rows, "features", "salesforce", f"salesforce-{story.bad_opp}") == ["amount is negative (-25.0)"]
    assert _reasons(rows, "features", "hubspot", f"hubspot-{story.bad_deal}") == ["amount is negative (-40.0)"]
    assert story.runs[0].counts["rejected_rows"] == 2
    # quarantined, not counted: the refunds are in no customer's purchases
    tx = story.transactions[0]
    assert not tx["transaction_id"].isin([f"salesforce-{story.bad_opp}", f"hubspot-{story.bad_deal}"]).any()
    assert (tx["amount"] >= 0).all()
    # still quarantined after the last run (the data did not change)
    assert set(story.open_rows[2]["step"]) == {"features"}


def test_crm_refusals_are_stored_with_the_crm_reason(story: Story) -> None:
    rows = story.open_rows[0]
    sf_push = rows[(rows["step"] == "push") & (rows["source"] == "salesforce")]
    assert set(sf_push["record_key"]) == story.refused_keys
    assert (sf_push["reason"] == f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {RULE_MESSAGE}").all()
    hs_push = rows[(rows["step"] == "push") & (rows["source"] == "hubspot")]
    assert list(hs_push["record_key"].unique()) == [story.archived_key]
    # its field update and its two list adds (its segment's list and its arm's list)
    reasons = sorted(hs_push["reason"], key=lambda r: r.startswith("list"))
    assert len(reasons) == 3 and reasons[0].startswith("OBJECT_NOT_FOUND: ")
    assert all(r.startswith("list 'segsync ") and ": OBJECT_NOT_FOUND" in r for r in reasons[1:])
    # refused records are not confirmed (so the next plan sends them again) nor written
    ledger = story.sf_ledger_after_first
    assert story.refused_keys.isdisjoint(ledger)
    assert len(ledger) == story.desired[0]["salesforce_id"].notna().sum() - len(story.refused)
    assert story.sf_after_first is not None
    assert all(story.sf_after_first.records[i].get(SF_FIELDS["segment_id"]) in (None, "") for i in story.refused)


def test_status_lists_every_open_rejected_row(story: Story) -> None:
    out, rows = story.status_after_first, story.open_rows[0]
    assert f"open rejected rows: {len(rows)}" in out
    assert f"features/salesforce salesforce-{story.bad_opp}: amount is negative (-25.0)" in out
    assert f"features/hubspot hubspot-{story.bad_deal}: amount is negative (-40.0)" in out
    for key in story.refused_keys:
        assert f"push/salesforce {key}: FIELD_CUSTOM_VALIDATION_EXCEPTION: {RULE_MESSAGE}" in out
    assert f"push/hubspot {story.archived_key}: OBJECT_NOT_FOUND" in out


def test_refused_records_are_retried_each_run_with_one_open_row(story: Story) -> None:
    assert sorted(story.patched[1]) == sorted(story.refused)  # retried, and only they
    pushed = story.open_rows[1][story.open_rows[1]["step"] == "push"]
    assert sorted(pushed["record_key"]) == sorted(story.refused_keys)  # one row each, not one per run
    assert set(pushed["run_id"]) == {story.runs[1].run_id}


def test_an_archived_contact_leaves_the_desired_state_and_its_rows_close(story: Story) -> None:
    archived = story.archived_id
    assert archived not in set(story.desired[1]["hubspot_id"].dropna())
    assert story.archived_key not in set(story.open_rows[1]["record_key"])
    assert archived not in hubspot_snapshot(story.world.hs).records


def test_once_the_rule_is_gone_the_retry_succeeds(story: Story) -> None:
    assert sorted(story.patched[2]) == sorted(story.refused)
    assert story.refused_keys.isdisjoint(set(story.open_rows[2]["record_key"]))
    world = story.world
    assert_crm_matches(story.desired[2], world.config(), world.sf, world.hs)
    snap = salesforce_snapshot(world.sf)
    by_sf = story.desired[2].set_index("salesforce_id")
    for sf_id in story.refused:
        assert snap.records[sf_id][SF_FIELDS["segment_id"]] == by_sf.loc[sf_id, "segment_id"]


def _reasons(rows: pd.DataFrame, step: str, source: str, key: str) -> list[str]:
    return rows[(rows["step"] == step) & (rows["source"] == source) & (rows["record_key"] == key)]["reason"].tolist()
