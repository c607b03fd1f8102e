"""destinations.salesforce.external_id_field: upserting on a Unique External ID field.

Known defect, kept as a strict xfail so it turns red when fixed: the plan keys the upsert on
segsync's own customer_id ("e-" + a hash of the email), a value no Contact carries in its
External ID field, so every upsert tries to create a Contact (refused here for the missing
LastName; on an object without required fields it would create duplicates).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import Config
from connector.pipeline import run_cycle
from connector.state import StateStore
from tests.e2e.crm_state import assert_crm_matches, salesforce_snapshot
from tests.e2e.world import E2EWorld


@pytest.mark.xfail(strict=True, reason="plan upserts on customer_id, which no Contact holds in the External ID field")
def test_upsert_on_an_external_id_field_updates_the_existing_contacts(tmp_path: Path) -> None:
    world = E2EWorld(tmp_path, n_customers=300, seed=2)
    world.sf.schema.add_custom_field("Contact", {"name": "Segsync_Key__c", "type": "Text", "length": 40,
                                                 "externalId": True, "unique": True})
    data = world.config_data()
    data["destinations"]["salesforce"]["external_id_field"] = "Segsync_Key__c"
    config = Config.model_validate(data)
    n_contacts = len(salesforce_snapshot(world.sf).records)
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        assert len(salesforce_snapshot(world.sf).records) == n_contacts
        assert store.rejected.open().empty, store.rejected.open()["reason"].iloc[0]
        assert_crm_matches(result.outputs["desired"], config, world.sf, world.hs)
