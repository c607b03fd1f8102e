"""simple-salesforce against the sandbox's record integrity: a lookup to a record that does
not exist and a value outside a restricted picklist are refused with Salesforce's errors, in
single-record REST and in sObject Collections alike (issue 15, §2)."""

from __future__ import annotations

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

from simple_salesforce import Salesforce  # noqa: E402
from simple_salesforce.exceptions import SalesforceMalformedRequest  # noqa: E402

from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance
VERSION = "66.0"
MISSING_ACCOUNT = "0015g00000ZZZZZAAA"  # well-formed Account Id that no record has


@pytest.fixture
def sb(clock):
    return SalesforceSandbox(clock=clock)


@pytest.fixture
def sf(sb):
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"],
                      privatekey=c["private_key"], domain="login", version=VERSION,
                      session=mounted_session(sb.app))


def _error(exc: pytest.ExceptionInfo) -> dict:
    [err] = exc.value.content
    return err


def test_lookup_to_a_missing_record_is_refused(sf, sb):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Ng", "AccountId": MISSING_ACCOUNT})
    assert _error(exc) == {"message": "invalid cross reference id",
                           "errorCode": "INVALID_CROSS_REFERENCE_KEY", "fields": ["AccountId"]}
    assert sb.store.live["Contact"] == {}
    contact = sf.Contact.create({"LastName": "Ng"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:  # an Id of the wrong object
        sf.Contact.update(contact, {"AccountId": contact})
    assert _error(exc)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "id value of incorrect type" in _error(exc)["message"]
    account = sf.Account.create({"Name": "Acme"})["id"]
    sf.Account.delete(account)
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.update(contact, {"AccountId": account})
    assert _error(exc)["errorCode"] == "ENTITY_IS_DELETED"
    live = sf.Account.create({"Name": "Live"})["id"]
    assert sf.Contact.update(contact, {"AccountId": live}) == 204
    reply = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "Name": "o", "StageName": "Prospecting",
         "CloseDate": "2026-07-01", "ContactId": "0035g00000ZZZZZAAA"}]})
    assert reply == [{"success": False, "errors": [{
        "statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id",
        "fields": ["ContactId"]}]}]


def test_value_outside_a_restricted_picklist_is_refused(sf, sb):
    sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": "Contact.Tier__c", "Metadata": {"label": "Tier", "type": "Picklist",
        "valueSet": {"restricted": True, "valueSetDefinition": {"value": [
            {"fullName": "Gold", "label": "Gold"}, {"fullName": "Silver", "label": "Silver"}]}}}})
    field = next(f for f in sf.Contact.describe()["fields"] if f["name"] == "Tier__c")
    assert field["restrictedPicklist"] is True
    assert [v["value"] for v in field["picklistValues"]] == ["Gold", "Silver"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Ng", "Tier__c": "Platinum"})
    assert _error(exc) == {"message": "Tier: bad value for restricted picklist field: Platinum",
                           "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           "fields": ["Tier__c"]}
    rid = sf.Contact.create({"LastName": "Ng", "Tier__c": "Gold"})["id"]
    assert sf.Contact.get(rid)["Tier__c"] == "Gold"


def test_read_only_objects_refuse_dml(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Organization.create({"Name": "Another org"})
    assert _error(exc)["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    assert _error(exc)["message"] == "entity type cannot be inserted: Organization"
