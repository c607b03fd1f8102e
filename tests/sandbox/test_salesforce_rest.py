"""Single-record REST, describe, Tooling custom fields with field-level security, versions."""

from __future__ import annotations

from connector.sandbox.salesforce import SalesforceSandbox
from tests.sandbox.conftest import SfApi

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_create_get_patch_delete(api, sf, clock):
    r = api("POST", "sobjects/Contact", json={"FirstName": "Ana", "LastName": "Ruiz",
                                               "Email": "ana@example.com"})
    assert r.status_code == 201
    rid = r.json()["id"]
    assert r.json() == {"id": rid, "success": True, "errors": []}
    assert rid.startswith("003") and len(rid) == 18
    got = api("GET", f"sobjects/Contact/{rid}").json()
    assert got["attributes"] == {"type": "Contact", "url": f"/services/data/v66.0/sobjects/Contact/{rid}"}
    assert (got["Name"], got["CreatedDate"]) == ("Ana Ruiz", "2026-06-01T12:00:00.000+0000")
    clock.advance(seconds=90)
    assert api("PATCH", f"sobjects/Contact/{rid}", json={"Segment__c": "champions"}).status_code == 204
    after = api("GET", f"sobjects/Contact/{rid}", params={"fields": "Segment__c,SystemModstamp"}).json()
    assert after == {"attributes": got["attributes"], "Segment__c": "champions",
                     "SystemModstamp": "2026-06-01T12:01:30.000+0000"}
    assert api("DELETE", f"sobjects/Contact/{rid}").status_code == 204
    gone = api("GET", f"sobjects/Contact/{rid}")
    assert gone.status_code == 404
    assert gone.json() == [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}]
    missing = api("GET", "sobjects/Contact/003000000000000AAA")
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


def test_write_errors_are_arrays(api):
    r = api("POST", "sobjects/Contact", json={"FirstName": "No", "Bogus__c": 1})
    assert r.status_code == 400
    assert r.json() == [{"message": "No such column 'Bogus__c' on sobject of type Contact",
                         "errorCode": "INVALID_FIELD", "fields": ["Bogus__c"]}]
    r = api("POST", "sobjects/Contact", json={"FirstName": "No"})
    assert r.json() == [{"message": "Required fields are missing: [LastName]",
                         "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]
    r = api("POST", "sobjects/Contact", json={"LastName": "X", "Name": "X"})
    assert r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    r = api("POST", "sobjects/Contact", json={"LastName": "X" * 81})
    assert r.json()[0]["errorCode"] == "STRING_TOO_LONG"
    r = api("POST", "sobjects/Contact", json={"LastName": "X", "Email": "not-an-email"})
    assert r.json()[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"


def test_upsert_by_external_id_and_300_on_duplicates(api, sf):
    r = api("PATCH", "sobjects/Contact/Ext_Id__c/C-1", json={"LastName": "One"})
    assert (r.status_code, r.json()["created"], r.json()["success"]) == (201, True, True)
    rid = r.json()["id"]
    r = api("PATCH", "sobjects/Contact/Ext_Id__c/C-1", json={"LastName": "Uno"})
    assert (r.status_code, r.json()) == (200, {"id": rid, "success": True, "errors": [], "created": False})
    assert sf.store.get("Contact", rid)["LastName"] == "Uno"
    # Two records sharing a non-unique external id: 300 with their URLs.
    sf.schema.add_custom_field("Contact", {"name": "Legacy__c", "externalId": True})
    a, b = sf.store.insert("Contact", [{"LastName": "A", "Legacy__c": "L"},
                                       {"LastName": "B", "Legacy__c": "L"}])
    r = api("PATCH", "sobjects/Contact/Legacy__c/L", json={"LastName": "Z"})
    assert r.status_code == 300
    assert r.json() == [f"/services/data/v66.0/sobjects/Contact/{i}" for i in sorted([a, b])]
    r = api("PATCH", "sobjects/Contact/LastName/Z", json={"FirstName": "Q"})
    assert r.status_code == 404
    assert r.json()[0]["message"] == "Provided external ID field does not exist or is not accessible: LastName"


def test_describe_lists_custom_fields(api):
    d = api("GET", "sobjects/Contact/describe").json()
    fields = {f["name"]: f for f in d["fields"]}
    assert d["keyPrefix"] == "003"
    assert fields["Ext_Id__c"]["externalId"] and fields["Ext_Id__c"]["custom"]
    assert fields["Email"]["type"] == "email" and fields["Id"]["type"] == "id"
    assert fields["Name"]["createable"] is False


def test_tooling_field_visible_only_after_fls(clock):
    sb = SalesforceSandbox(clock=clock, fls_on_create=False)
    api = SfApi(sb)
    body = {"FullName": "Contact.Score__c", "Metadata": {"label": "Score", "type": "Number"}}
    r = api("POST", "tooling/sobjects/CustomField", json=body)
    assert r.status_code == 201 and r.json()["id"].startswith("00N") and r.json()["success"]
    dup = api("POST", "tooling/sobjects/CustomField", json=body)
    assert dup.status_code == 400
    assert dup.json()[0]["message"] == "There is already a field named Score on Contact."
    names = {f["name"] for f in api("GET", "sobjects/Contact/describe").json()["fields"]}
    assert "Score__c" not in names
    r = api("POST", "sobjects/Contact", json={"LastName": "X", "Score__c": 3})
    assert r.json()[0]["errorCode"] == "INVALID_FIELD"
    sb.grant_field_access("Contact", "Score__c")
    assert api("POST", "sobjects/Contact", json={"LastName": "X", "Score__c": 3}).status_code == 201
    assert api.query("SELECT Score__c FROM Contact").json()["records"][0]["Score__c"] == 3.0


def test_versions_and_unknown_paths(api):
    versions = api.http.get("/services/data").json()
    assert versions[-1] == {"label": "Summer '26", "url": "/services/data/v67.0", "version": "67.0"}
    assert api("GET", "limits", version="68.0").status_code == 404
    assert api("GET", "limits", version="20.0").status_code == 404
    assert api("GET", "sobjects/Widget/describe").json() == NOT_FOUND
    assert api("GET", "sobjects").json()["sobjects"][0]["name"] == "Account"
