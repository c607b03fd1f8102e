"""Is the CRM in the desired state? Read straight from the sandbox stores, not the ledger.

`assert_converged` runs a dry-run cycle (which computes the desired state and plans against
the ledger), then checks three things independently of segsync's own bookkeeping:
1. the plan is empty: nothing left to write;
2. every CRM record carries exactly its desired field values, and every desired list exists
   once, with exactly the desired members (nobody extra, nobody missing);
3. no duplicates: no record created by segsync, no list name twice, no member twice.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from connector.config import Config
from connector.state import StateStore
from tests.chaos.world import SandboxWorld
from tests.e2e.crm_state import desired_lists, same_value
from tests.e2e.observed import run_observed


def desired_after(world: SandboxWorld, store: StateStore, config: Config) -> tuple[pd.DataFrame, list[dict]]:
    """(desired table, plan summaries) from a dry run: nothing is written to either CRM."""
    result, steps = run_observed(config, store, dry_run=True, connector_factory=world.factory)
    assert result.status == "succeeded", result.error
    assert steps.plan is not None
    return steps.plan.desired, list(result.plan)


def salesforce_state(world: SandboxWorld) -> tuple[dict[str, dict], dict[str, list[str]], Counter]:
    """(Contact Id -> record, campaign name -> [Ids], (CampaignId, ContactId) -> count)."""
    store = world.sf.store
    contacts = {r["Id"]: r for r in store.records("Contact")}
    campaigns: dict[str, list[str]] = {}
    for c in store.records("Campaign"):
        campaigns.setdefault(c["Name"], []).append(c["Id"])
    members = Counter((m["CampaignId"], m["ContactId"]) for m in store.records("CampaignMember"))
    return contacts, campaigns, members


def hubspot_state(world: SandboxWorld) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """(contact id -> properties, list name -> [list ids])."""
    contacts = {r["id"]: r["properties"] for r in world.hs.store.records("contacts")}
    lists: dict[str, list[str]] = {}
    for lst in world.hs.store.list_by_id.values():
        lists.setdefault(lst.name, []).append(str(lst.list_id))
    return contacts, lists


def field_mismatches(desired: pd.DataFrame, records: dict[str, dict], id_column: str, mapping: dict[str, str]) -> list[str]:
    bad = []
    for row in desired[desired[id_column].notna()].to_dict("records"):
        rec = records.get(str(row[id_column]))
        if rec is None:
            bad.append(f"{row[id_column]}: record missing")
            continue
        for key, field in mapping.items():
            if key in row and not same_value(row[key], rec.get(field)):
                bad.append(f"{row[id_column]}.{field}: want {row[key]!r}, CRM has {rec.get(field)!r}")
    return bad


def assert_converged(world: SandboxWorld, store: StateStore, config: Config, *, n_contacts: tuple[int, int]) -> pd.DataFrame:
    """Assert the CRMs hold exactly the desired state; returns the desired table.

    n_contacts: (Salesforce Contacts, HubSpot contacts) seeded; segsync must create none.
    """
    desired, plan = desired_after(world, store, config)
    for p in plan:
        assert (p["updates"], p["list_adds"], p["list_removals"]) == (0, 0, 0), f"work left: {p}"
    sf_contacts, campaigns, members = salesforce_state(world)
    hs_contacts, hs_lists = hubspot_state(world)
    assert (len(sf_contacts), len(hs_contacts)) == n_contacts, "a record was created or lost"
    problems = field_mismatches(desired, sf_contacts, "salesforce_id", config.destinations.salesforce.fields)
    problems += field_mismatches(desired, hs_contacts, "hubspot_id", config.destinations.hubspot.properties)
    assert not problems, f"{len(problems)} field(s) differ, e.g. {problems[:5]}"
    assert [n for n, ids in campaigns.items() if len(ids) > 1] == [], "duplicate Campaigns"
    assert [n for n, ids in hs_lists.items() if len(ids) > 1] == [], "duplicate HubSpot lists"
    assert [k for k, n in members.items() if n > 1] == [], "a contact is in a Campaign twice"
    _assert_lists(desired, config, campaigns, members, hs_lists, world)
    return desired


def _assert_lists(desired, config, campaigns, members, hs_lists, world) -> None:
    want_sf = desired_lists(desired, config, "salesforce_id", config.destinations.salesforce.lists)
    by_campaign: dict[str, set[str]] = {}
    for (campaign, contact), _ in members.items():
        by_campaign.setdefault(campaign, set()).add(contact)
    for name, ids in campaigns.items():
        have = by_campaign.get(ids[0], set())
        assert have == want_sf.get(name, set()), f"Campaign {name!r}: {len(have ^ want_sf.get(name, set()))} wrong member(s)"
    assert set(want_sf) <= set(campaigns), f"missing Campaigns {set(want_sf) - set(campaigns)}"
    want_hs = desired_lists(desired, config, "hubspot_id", config.destinations.hubspot.lists)
    for name, ids in hs_lists.items():
        have = world.hs.store.list_members(ids[0])
        assert have == want_hs.get(name, set()), f"HubSpot list {name!r}: {len(have ^ want_hs.get(name, set()))} wrong member(s)"
    assert set(want_hs) <= set(hs_lists), f"missing HubSpot lists {set(want_hs) - set(hs_lists)}"
