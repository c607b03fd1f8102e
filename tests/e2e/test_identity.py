"""A new customer in both CRMs mid-experiment: one customer (emails joined case-insensitively),
one new arm shown the same in both CRMs, and nobody else's arm, segment or score moves."""

from __future__ import annotations

import pandas as pd

from connector.config import Config
from connector.identity import email_key
from connector.state import StateStore
from tests.e2e.crm_state import assert_crm_matches, hubspot_snapshot, salesforce_snapshot
from tests.e2e.observed import run_observed
from tests.e2e.world import HS_PROPERTIES, SF_FIELDS, E2EWorld


def test_new_customer_in_both_crms_is_one_customer_with_one_arm(world: E2EWorld) -> None:
    config = world.config()
    with StateStore(world.tmp / "state.sqlite") as store:
        first, first_steps = run_observed(config, store, connector_factory=world.factory)
        assert first.status == "succeeded", first.error
        arms_before = store.experiments.arms()

        sf_id = world.sf.store.insert("Contact", [{"FirstName": "Ada", "LastName": "Nguyen", "Email": "ada.nguyen@example.com"}])[0]
        world.sf.store.insert("Opportunity", [{"Name": "Order A", "StageName": "Closed Won", "CloseDate": "2026-02-10",
                                               "Amount": 120.0, "ContactId": sf_id}])
        hs_id = world.hs.store.create("contacts", [{"email": "Ada.Nguyen@Example.com", "firstname": "Ada"}])[0]
        deal = world.hs.store.create("deals", [{"dealname": "Order B", "dealstage": "closedwon", "pipeline": "default",
                                                "amount": "80.00", "closedate": "2026-02-12T12:00:00.000Z"}])[0]
        world.hs.store.associate("deals", deal, "contacts", hs_id)
        world.settle()

        mark = world.mark()
        second, second_steps = run_observed(config, store, connector_factory=world.factory)
        assert second.status == "succeeded", second.error
        writes = world.writes_since(mark)
        assert first_steps.plan is not None and second_steps.plan is not None and second_steps.features is not None
        desired = second_steps.plan.desired
        key = email_key("ada.nguyen@example.com")
        row = desired.set_index("customer_id").loc[key]
        assert (row["salesforce_id"], row["hubspot_id"]) == (sf_id, hs_id)
        assert len(desired) == len(first_steps.plan.desired) + 1
        # both purchases count for the one customer
        feats = second_steps.features.features.loc[key]
        assert (feats["frequency"], feats["monetary_total"]) == (2, 200.0)

        arms_after = store.experiments.arms()
        new = arms_after[~arms_after["customer_id"].isin(arms_before["customer_id"])]
        assert new["customer_id"].tolist() == [key]
        pd.testing.assert_frame_equal(arms_after[arms_after["customer_id"] != key].reset_index(drop=True), arms_before)
        sf_rec, hs_rec = salesforce_snapshot(world.sf).records[sf_id], hubspot_snapshot(world.hs).records[hs_id]
        assert sf_rec[SF_FIELDS["arm"]] == hs_rec[HS_PROPERTIES["arm"]] == new["arm"].item() == row["arm"]
        assert sf_rec[SF_FIELDS["segment_id"]] == hs_rec[HS_PROPERTIES["segment_id"]] == row["segment_id"]

        # nobody else changed: one record written per CRM, the new customer's lists only
        assert second.as_of == first.as_of
        assert (second.counts["pushed_salesforce"], second.counts["pushed_hubspot"]) == (1, 1)
        assert writes.salesforce["PATCH composite/sobjects"] == 1
        assert writes.hubspot["objects.batch.update"] == 1
        n_lists = 1 if row["arm"] == "holdout" else 2
        assert second.counts["list_adds_salesforce"] == second.counts["list_adds_hubspot"] == n_lists
        assert_crm_matches(desired, config, world.sf, world.hs)


def test_upsert_by_email_updates_the_contact_as_hubspot_holds_it(world: E2EWorld) -> None:
    """identity.strip_plus_tags joins a+news@x.com to a@x.com, but HubSpot's upsert by email
    must be keyed on the contact's own email, or it creates a second contact."""
    hs_id = world.hs.store.create("contacts", [{"email": "Plus+News@Example.com", "firstname": "Pat"}])[0]
    deal = world.hs.store.create("deals", [{"dealname": "Order P", "dealstage": "closedwon", "pipeline": "default",
                                            "amount": "80.00", "closedate": "2026-02-12T12:00:00.000Z"}])[0]
    world.hs.store.associate("deals", deal, "contacts", hs_id)
    world.settle()
    data = world.config_data()
    data["identity"] = {"strip_plus_tags": True}
    data["destinations"]["hubspot"]["match"] = "email"
    config = Config.model_validate(data)
    n_contacts = len(hubspot_snapshot(world.hs).records)
    with StateStore(world.tmp / "state.sqlite") as store:
        for _ in range(2):
            result, steps = run_observed(config, store, connector_factory=world.factory)
            assert result.status == "succeeded", result.error
            assert len(hubspot_snapshot(world.hs).records) == n_contacts  # no contact created
        upserts = world.hs.calls(kind="objects.batch.upsert")
        assert upserts > 0 and world.hs.calls(kind="objects.batch.update") == 0
        assert steps.plan is not None
        desired = steps.plan.desired.set_index("hubspot_id")
        assert desired.loc[hs_id, "customer_id"] == email_key("plus@example.com")
        rec = hubspot_snapshot(world.hs).records[hs_id]
        assert rec[HS_PROPERTIES["segment_id"]] == desired.loc[hs_id, "segment_id"]
        assert_crm_matches(steps.plan.desired, config, world.sf, world.hs)
        assert store.rejected.open().empty
