"""The record store behind the emulator: Ids, trusted inserts, undo journal, snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connector.sandbox.salesforce import DmlError, SalesforceSandbox
from connector.sandbox.salesforce.values import id_suffix, record_id
from tests.sandbox.conftest import SfApi


def test_ids_have_prefix_and_case_checksum(sf):
    ids = {name: sf.store.insert(name, [row])[0] for name, row in [
        ("Contact", {"LastName": "x"}), ("Lead", {"LastName": "x", "Company": "c"}),
        ("Account", {"Name": "a"}), ("Campaign", {"Name": "c"}),
        ("Opportunity", {"Name": "o", "StageName": "Prospecting", "CloseDate": "2026-01-01"})]}
    assert {k: v[:3] for k, v in ids.items()} == {
        "Contact": "003", "Lead": "00Q", "Account": "001", "Campaign": "701", "Opportunity": "006"}
    # Salesforce's published example: 001A0000006Vm9r -> 001A0000006Vm9rIAC
    assert id_suffix("001A0000006Vm9r") == "IAC"
    assert record_id("003", "5g", 62) == "0035g0000000010" + id_suffix("0035g0000000010")
    assert sf.store.get("Contact", ids["Contact"][:15])["Id"] == ids["Contact"]


def test_trusted_insert_coerces_python_values(sf):
    [rid] = sf.store.insert("Opportunity", [{
        "name": "Deal", "StageName": "Closed Lost", "CloseDate": date(2026, 2, 3), "Amount": 5,
        "createddate": datetime(2025, 1, 1, 8, tzinfo=UTC)}])
    rec = sf.store.get("Opportunity", rid)
    assert (rec["Name"], rec["CloseDate"], rec["Amount"]) == ("Deal", "2026-02-03", 5.0)
    assert (rec["IsWon"], rec["IsClosed"]) == (False, True)
    assert rec["CreatedDate"] == "2025-01-01T08:00:00.000+0000"  # back-dating is allowed here
    assert rec["SystemModstamp"] == "2026-06-01T12:00:00.000+0000"
    with pytest.raises(DmlError, match="INVALID_FIELD"):
        sf.store.insert("Contact", [{"LastName": "x", "Nope": 1}])
    with pytest.raises(DmlError, match="INVALID_TYPE_ON_FIELD_IN_RECORD"):
        sf.store.insert("Contact", [{"LastName": "x", "Birthdate": "31/01/2026"}])


def test_update_moves_system_modstamp(sf, clock):
    [rid] = sf.store.insert("Contact", [{"LastName": "x"}])
    clock.advance(days=1)
    sf.store.update("Contact", rid, {"lastname": "y"})
    rec = sf.store.get("Contact", rid)
    assert (rec["Name"], rec["SystemModstamp"], rec["CreatedDate"]) == (
        "y", "2026-06-02T12:00:00.000+0000", "2026-06-01T12:00:00.000+0000")


def test_transaction_rollback_undoes_rule_side_effects(sf):
    [cid] = sf.store.insert("Campaign", [{"Name": "c"}])
    [con] = sf.store.insert("Contact", [{"LastName": "x"}])
    with sf.store.transaction() as tx:
        sf.store.insert("CampaignMember", [{"CampaignId": cid, "ContactId": con}])
        sf.store.insert("Campaign", [{"Name": "d"}])
        tx.rollback()
    assert sf.store.get("Campaign", cid)["NumberOfContacts"] == 0
    assert len(list(sf.store.records("CampaignMemberStatus"))) == 2
    assert len(list(sf.store.records("Campaign"))) == 1
    # and the uniqueness index forgot the rolled-back member
    sf.store.insert("CampaignMember", [{"CampaignId": cid, "ContactId": con}])


def test_snapshot_and_restore_round_trip(tmp_path, clock):
    sb = SalesforceSandbox(clock=clock, fls_on_create=False)
    api = SfApi(sb)
    api("POST", "tooling/sobjects/CustomField", json={"FullName": "Contact.Tier__c", "Metadata": {"type": "Text"}})
    ids = sb.store.insert("Contact", [{"LastName": f"L{i}"} for i in range(3)])
    sb.store.delete("Contact", ids[1])
    path = tmp_path / "sf.json.gz"
    sb.snapshot(path)
    back = SalesforceSandbox.restore(path, clock=clock)
    assert back.credentials == sb.credentials
    assert [r["Id"] for r in back.store.records("Contact")] == [ids[0], ids[2]]
    assert [r["Id"] for r in back.store.records("Contact", include_deleted=True)][-1] == ids[1]
    assert back.schema.get("Contact").field("Tier__c") is None  # still waiting for FLS
    back.grant_field_access("Contact", "Tier__c")
    [new] = back.store.insert("Contact", [{"LastName": "N", "Tier__c": "gold"}])
    assert new not in ids
    api2 = SfApi(back)
    assert api2.query("SELECT Tier__c FROM Contact WHERE Tier__c = 'GOLD'").json()["totalSize"] == 1
    with pytest.raises(ValueError, match="not a Salesforce sandbox snapshot"):
        (tmp_path / "x.json").write_text('{"format": 99}')
        SalesforceSandbox.restore(tmp_path / "x.json")
