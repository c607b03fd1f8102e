"""A mapping change in the YAML forces a full resend of that destination, and the plan says so."""

from __future__ import annotations

from connector.config import Config
from connector.pipeline import run_cycle
from connector.plan_view import render_plan
from connector.state import StateStore
from tests.e2e.crm_state import assert_crm_matches
from tests.e2e.observed import run_observed
from tests.e2e.world import E2EWorld

NOTE = "the field mapping changed since the last push, or the materiality policy did: every record is resent"


def test_a_new_mapped_field_resends_every_record(world: E2EWorld) -> None:
    before = world.config()
    data = world.config_data()
    data["destinations"]["salesforce"]["fields"]["buy_90d_reasons"] = "Segsync_Buy_90d_Reasons__c"
    data["destinations"]["hubspot"]["properties"]["buy_90d_reasons"] = "segsync_buy_90d_reasons"
    after = Config.model_validate(data)
    with StateStore(world.tmp / "state.sqlite") as store:
        assert run_cycle(before, store, connector_factory=world.factory).status == "succeeded"

        mark = world.mark()
        dry, dry_steps = run_observed(after, store, dry_run=True, connector_factory=world.factory)
        assert world.writes_since(mark).total == 0
        assert dry_steps.plan is not None
        desired = dry_steps.plan.desired
        n = {dest: int(desired[f"{dest}_id"].notna().sum()) for dest in ("salesforce", "hubspot")}
        for p in dry.plan:
            assert p["notes"] == [NOTE]
            assert (p["updates"], p["unchanged"], p["list_adds"]) == (n[p["destination"]], 0, 0)
        assert render_plan(dry.plan, dry.power).count(f"note: {NOTE}") == 2

        mark = world.mark()
        resend, resent = run_observed(after, store, connector_factory=world.factory)
        writes = world.writes_since(mark)
        assert resend.status == "succeeded", resend.error
        assert writes.salesforce == {"POST tooling/sobjects": 1, "PATCH composite/sobjects": -(-n["salesforce"] // 200)}
        assert writes.hubspot_applied == {"properties.create": 1, "objects.batch.update": -(-n["hubspot"] // 100)}
        # HubSpot provisioning creates first and treats 409 as "exists" (connector/crm/hubspot/provision.py):
        # the four existing properties and the group are refused, nothing else is attempted
        assert writes.hubspot == {"properties.create": 5, "properties.groups.create": 1, "objects.batch.update": -(-n["hubspot"] // 100)}
        assert resent.plan is not None
        assert resent.plan.desired["buy_90d_reasons"].str.len().gt(0).all()
        assert_crm_matches(resent.plan.desired, after, world.sf, world.hs)

        mark = world.mark()
        assert run_cycle(after, store, connector_factory=world.factory).status == "succeeded"
        assert world.writes_since(mark).total == 0
