"""destinations.salesforce.external_id_field: segsync stamps its stable key into a unique External
ID field (writing by Id), and once every record carries it, `match: external_id` upserts on it."""

from __future__ import annotations

from pathlib import Path

from connector.config import Config
from connector.state import StateStore
from tests.e2e.crm_state import assert_crm_matches, salesforce_snapshot
from tests.e2e.observed import run_observed
from tests.e2e.world import E2EWorld


def test_key_stamped_by_id_then_upserts_update_the_same_contacts(tmp_path: Path) -> None:
    world = E2EWorld(tmp_path, n_customers=300, seed=2)
    world.sf.schema.add_custom_field("Contact", {"name": "Segsync_Key__c", "type": "Text", "length": 40,
                                                 "externalId": True, "unique": True})
    data = world.config_data()
    data["destinations"]["salesforce"]["external_id_field"] = "Segsync_Key__c"
    config = Config.model_validate(data)
    n_contacts = len(salesforce_snapshot(world.sf).records)
    with StateStore(tmp_path / "state.sqlite") as store:
        result, steps = run_observed(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        assert len(salesforce_snapshot(world.sf).records) == n_contacts  # nothing created
        assert store.rejected.open().empty
        assert steps.plan is not None
        assert_crm_matches(steps.plan.desired, config, world.sf, world.hs)
        desired = steps.plan.desired.dropna(subset=["salesforce_id"]).set_index("salesforce_id")["customer_id"]
        contacts = {r["Id"]: r for r in world.sf.store.records("Contact")}
        assert {i: contacts[i].get("Segsync_Key__c") for i in desired.index} == desired.to_dict()

        # every Contact now carries segsync's key: upserting on it updates the same records
        data["destinations"]["salesforce"]["match"] = "external_id"
        data["destinations"]["salesforce"]["fields"]["segment_name"] = "Segsync_Segment__c"
        upsert_config = Config.model_validate(data)
        store.ledger.forget("salesforce")  # force a full resend through the upsert path
        again, again_steps = run_observed(upsert_config, store, connector_factory=world.factory)
        assert again.status == "succeeded", again.error
        assert again.counts.get("pushed_salesforce") == len(desired)
        assert len(salesforce_snapshot(world.sf).records) == n_contacts
        assert store.rejected.open().empty
        assert again_steps.plan is not None
        assert_crm_matches(again_steps.plan.desired, upsert_config, world.sf, world.hs)
