"""Rejected rows: bad purchases and CRM refusals are stored with reasons, listed by
`segsync status`, and a refused record is retried each run until the CRM takes it.

- bad data: a won Opportunity and a closed-won deal with negative amounts;
- a Salesforce validation rule refusing two Contacts (FIELD_CUSTOM_VALIDATION_EXCEPTION, per
  record, in a 200 Collections reply, as with allOrNone false), later deactivated;
- a HubSpot contact archived between the plan and the push (the batch update answers 207
  OBJECT_NOT_FOUND for it).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.pipeline import run_cycle
from connector.state import StateStore
from connector.steps import STEP_FUNCTIONS
from tests.e2e.crm_state import assert_crm_matches, hubspot_snapshot, salesforce_snapshot
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


def test_bad_rows_and_refusals_are_stored_listed_and_retried(
    world: E2EWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sf_contacts = sorted(world.sf.store.records("Contact"), key=lambda r: r["Id"])
    refused = {sf_contacts[3]["Id"], sf_contacts[40]["Id"]}
    rule = ValidationRule(world.sf.app, refused)
    world.sf_log.app = rule
    # bad purchases, one in each CRM
    bad_opp = world.sf.store.insert("Opportunity", [{
        "Name": "Refund 1", "StageName": "Closed Won", "CloseDate": "2026-02-20", "Amount": -25.0,
        "ContactId": sf_contacts[7]["Id"]}])[0]
    hs_contacts = sorted(hubspot_snapshot(world.hs).records, key=int)
    bad_deal = world.hs.store.create("deals", [{
        "dealname": "Refund 2", "dealstage": "closedwon", "pipeline": "default", "amount": "-40.00",
        "closedate": "2026-02-21T12:00:00.000Z"}])[0]
    world.hs.store.associate("deals", bad_deal, "contacts", hs_contacts[5])
    world.settle()
    archived = hs_contacts[11]

    def plan_then_archive(ctx: Any) -> None:
        STEP_FUNCTIONS["plan"](ctx)
        world.hs.store.archive("contacts", archived)  # gone between the plan and the push

    config = world.config()
    cfg_path = world.write_config(monkeypatch)
    with StateStore(world.tmp / "state.sqlite") as store:
        first = run_cycle(config, store, connector_factory=world.factory, steps={**STEP_FUNCTIONS, "plan": plan_then_archive})
        assert first.status == "succeeded", first.error
        desired = first.outputs["desired"]
        keys = desired.set_index("salesforce_id")["customer_id"]
        refused_keys = {keys[i] for i in refused}
        archived_key = desired.loc[desired["hubspot_id"] == archived, "customer_id"].item()

        rows = store.rejected.open()
        assert _reasons(rows, "features", "salesforce", f"salesforce-{bad_opp}") == ["amount is negative (-25.0)"]
        assert _reasons(rows, "features", "hubspot", f"hubspot-{bad_deal}") == ["amount is negative (-40.0)"]
        sf_push = rows[(rows["step"] == "push") & (rows["source"] == "salesforce")]
        assert set(sf_push["record_key"]) == refused_keys
        assert all(r == f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {RULE_MESSAGE}" for r in sf_push["reason"])
        hs_push = rows[(rows["step"] == "push") & (rows["source"] == "hubspot")]
        assert list(hs_push["record_key"].unique()) == [archived_key]
        # its field update and its two list adds (its segment's list and its arm's list)
        reasons = sorted(hs_push["reason"], key=lambda r: r.startswith("list"))
        assert len(reasons) == 3 and reasons[0].startswith("OBJECT_NOT_FOUND: ")
        assert all(r.startswith("list 'segsync ") and ": OBJECT_NOT_FOUND" in r for r in reasons[1:])
        # the bad purchases are quarantined, not counted: the customer's monetary value excludes them
        assert first.counts["rejected_rows"] == 2
        # refused records are not confirmed, so the next plan sends them again
        ledger = store.ledger.confirmed_fields("salesforce")
        assert refused_keys.isdisjoint(ledger)
        assert len(ledger) == desired["salesforce_id"].notna().sum() - len(refused)
        snap = salesforce_snapshot(world.sf)
        assert all(snap.records[i].get(SF_FIELDS["segment_id"]) in (None, "") for i in refused)

        # `segsync status` lists them with their reasons
        capsys.readouterr()
        assert cli_main(["status", str(cfg_path)]) == 0
        out = capsys.readouterr().out
        assert f"open rejected rows: {len(rows)}" in out
        assert f"features/salesforce salesforce-{bad_opp}: amount is negative (-25.0)" in out
        assert f"features/hubspot hubspot-{bad_deal}: amount is negative (-40.0)" in out
        for key in refused_keys:
            assert f"push/salesforce {key}: FIELD_CUSTOM_VALIDATION_EXCEPTION: {RULE_MESSAGE}" in out
        assert f"push/hubspot {archived_key}: OBJECT_NOT_FOUND" in out

        # retried next run: refused again while the rule is active
        mark = world.mark()
        second = run_cycle(config, store, connector_factory=world.factory)
        assert second.status == "succeeded", second.error
        patched = [r["id"] for req in world.salesforce_requests(mark, "PATCH", "/composite/sobjects") for r in req.json()["records"]]
        assert sorted(patched) == sorted(refused)
        rows = store.rejected.open()
        pushed = rows[rows["step"] == "push"]
        # one open row per refused record (this run's), not one more per run
        assert sorted(pushed["record_key"]) == sorted(refused_keys)
        assert set(pushed["run_id"]) == {second.run_id}
        # the archived contact left the desired state with the pull that saw it archived: its
        # refusals are closed, nothing is sent to it again
        assert archived not in set(second.outputs["desired"]["hubspot_id"].dropna())
        assert archived_key not in set(rows["record_key"])

        # the admin deactivates the rule: the next run gets them through and closes the rows
        rule.active = False
        mark = world.mark()
        third = run_cycle(config, store, connector_factory=world.factory)
        assert third.status == "succeeded", third.error
        patched = [r["id"] for req in world.salesforce_requests(mark, "PATCH", "/composite/sobjects") for r in req.json()["records"]]
        assert sorted(patched) == sorted(refused)
        still_open = store.rejected.open()
        assert refused_keys.isdisjoint(set(still_open["record_key"]))
        assert_crm_matches(third.outputs["desired"], config, world.sf, world.hs)
        snap = salesforce_snapshot(world.sf)
        for sf_id in refused:
            row = third.outputs["desired"].set_index("salesforce_id").loc[sf_id]
            assert snap.records[sf_id][SF_FIELDS["segment_id"]] == row["segment_id"]
        assert set(still_open["step"]) == {"features"}  # only the bad purchases stay quarantined
        assert archived not in hubspot_snapshot(world.hs).records


def _reasons(rows: pd.DataFrame, step: str, source: str, key: str) -> list[str]:
    return rows[(rows["step"] == step) & (rows["source"] == source) & (rows["record_key"] == key)]["reason"].tolist()
