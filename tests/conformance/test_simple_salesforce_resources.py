"""simple-salesforce against the sandbox's REST resources that issue 15 §2 found missing:
getUpdated / getDeleted, composite, composite/tree and the GET collections retrieve."""

from __future__ import annotations

from datetime import timedelta

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

from simple_salesforce import Salesforce  # noqa: E402
from simple_salesforce.exceptions import SalesforceMalformedRequest  # noqa: E402

from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from tests.conformance.conftest import START, mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance
VERSION = "66.0"


@pytest.fixture
def sb(clock):
    return SalesforceSandbox(clock=clock)


@pytest.fixture
def sf(sb):
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"],
                      privatekey=c["private_key"], domain="login", version=VERSION,
                      session=mounted_session(sb.app))


def test_get_updated_and_get_deleted(sf, sb, clock):
    old, kept, gone = sb.store.insert("Contact", [{"LastName": n} for n in ("Old", "Kept", "Gone")])
    clock.advance(seconds=2 * 3600)
    sf.Contact.update(kept, {"Title": "Buyer"})
    sf.Contact.delete(gone)
    clock.advance(seconds=30 * 60 + 20)
    window = (START + timedelta(hours=1), START + timedelta(hours=3))
    updated = sf.Contact.updated(*window)
    assert updated == {"ids": [kept], "latestDateCovered": "2026-06-01T14:30:00.000+0000"}
    deleted = sf.Contact.deleted(*window)
    assert deleted["deletedRecords"] == [{"id": gone, "deletedDate": "2026-06-01T14:00:00.000+0000"}]
    assert deleted["earliestDateAvailable"] == "2026-05-17T14:30:00.000+0000"  # 15 days back
    everything = sf.Contact.updated(START - timedelta(minutes=1), START + timedelta(hours=3))
    assert everything["ids"] == [old, kept]  # the deleted one is no longer an update
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.updated(START - timedelta(days=31), START)
    assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest, match="EndDate can not be before StartDate"):
        sf.Contact.updated(START, START - timedelta(hours=1))


def test_composite_with_references(sf, sb):
    reply = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Account",
         "referenceId": "acc", "body": {"Name": "Acme"}},
        {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Contact",
         "referenceId": "ann", "body": {"LastName": "Ann", "AccountId": "@{acc.id}"}},
        {"method": "GET", "url": f"/services/data/v{VERSION}/sobjects/Contact/@{{ann.id}}?fields=AccountId",
         "referenceId": "read"},
        {"method": "GET", "url": f"/services/data/v{VERSION}/query?q=SELECT+Id+FROM+Contact",
         "referenceId": "q"}]})
    acc, ann, read, q = reply["compositeResponse"]
    assert (acc["httpStatusCode"], ann["httpStatusCode"], read["httpStatusCode"]) == (201, 201, 200)
    assert acc["httpHeaders"] == {"Location": f"/services/data/v{VERSION}/sobjects/Account/{acc['body']['id']}"}
    assert read["body"]["AccountId"] == acc["body"]["id"]
    assert q["body"]["totalSize"] == 1 and q["body"]["records"][0]["Id"] == ann["body"]["id"]
    assert sb.request_count[("collections", 200)] == 1  # one API call for the four


def test_composite_all_or_none_rolls_back(sf, sb):
    reply = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Account",
         "referenceId": "acc", "body": {"Name": "Acme"}},
        {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Contact",
         "referenceId": "bad", "body": {"FirstName": "No last name"}},
        {"method": "POST", "url": f"/services/data/v{VERSION}/sobjects/Contact",
         "referenceId": "after", "body": {"LastName": "Later"}}]})
    acc, bad, after = reply["compositeResponse"]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for halted in (acc, after):
        assert halted["httpStatusCode"] == 400
        assert halted["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sb.store.live["Account"] == {} and sb.store.live["Contact"] == {}


def test_composite_tree(sf, sb):
    reply = sf.restful("composite/tree/Account", method="POST", json={"records": [
        {"attributes": {"type": "Account", "referenceId": "acme"}, "Name": "Acme",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "ann"}, "LastName": "Ann"},
             {"attributes": {"type": "Contact", "referenceId": "bob"}, "LastName": "Bob"}]}}]})
    assert reply["hasErrors"] is False
    ids = {r["referenceId"]: r["id"] for r in reply["results"]}
    assert set(ids) == {"acme", "ann", "bob"}
    assert sb.store.get("Contact", ids["bob"])["AccountId"] == ids["acme"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/tree/Account", method="POST", json={"records": [
            {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": "Fine",
             "Contacts": {"records": [
                 {"attributes": {"type": "Contact", "referenceId": "broken"}, "Email": "x@y.com"}]}}]})
    assert exc.value.content == {"hasErrors": True, "results": [{"referenceId": "broken", "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
         "fields": ["LastName"]}]}]}
    assert len(sb.store.live["Account"]) == 1  # the failed tree left nothing behind


def test_collections_retrieve(sf, sb):
    ann, bob = sb.store.insert("Contact", [{"LastName": "Ann", "Email": "ann@x.com"},
                                           {"LastName": "Bob"}])
    missing = "0035g00000ZZZZZAAA"
    got = sf.restful("composite/sobjects/Contact", params={"ids": f"{ann},{missing},{bob}",
                                                            "fields": "LastName,Email"})
    assert got[1] is None
    assert [(r["Id"], r["LastName"], r["Email"]) for r in (got[0], got[2])] == [
        (ann, "Ann", "ann@x.com"), (bob, "Bob", None)]
    assert got[0]["attributes"] == {"type": "Contact", "url": f"/services/data/v{VERSION}/sobjects/Contact/{ann}"}
    posted = sf.restful("composite/sobjects/Contact", method="POST",
                        json={"ids": [bob], "fields": ["LastName"]})
    assert [r["LastName"] for r in posted] == ["Bob"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects/Contact", params={"ids": ann})  # fields are required


def test_jwt_login_from_the_key_file_another_process_reads(tmp_path, clock):
    from connector.sandbox.salesforce.jwt_files import ensure_jwt_files
    from connector.sandbox.salesforce.sandbox import default_credentials

    files = ensure_jwt_files(tmp_path / "jwt")
    assert files.private_key.stat().st_mode & 0o777 == 0o600
    assert files.certificate.read_text().startswith("-----BEGIN CERTIFICATE-----")
    again = ensure_jwt_files(tmp_path / "jwt")  # a restarted sandbox keeps its key
    assert again.private_pem == files.private_pem and again.public_pem == files.public_pem
    sb = SalesforceSandbox(clock=clock, credentials=files.credentials(default_credentials()))
    sb.store.insert("Contact", [{"LastName": "Ng"}])
    c = sb.credentials
    sf = Salesforce(username=c["username"], consumer_key=c["client_id"],
                    privatekey_file=str(files.private_key), domain="login", version=VERSION,
                    session=mounted_session(sb.app))
    assert sf.query("SELECT LastName FROM Contact")["records"][0]["LastName"] == "Ng"
    other = SalesforceSandbox(clock=clock)  # a key of its own: the file's key is refused there
    with pytest.raises(simple_salesforce.exceptions.SalesforceAuthenticationFailed):
        Salesforce(username=c["username"], consumer_key=c["client_id"],
                   privatekey_file=str(files.private_key), domain="login", version=VERSION,
                   session=mounted_session(other.app))


def test_unemulated_features_answer_501_not_a_caller_error(sf):
    for soql in ("SELECT Id FROM Contact WITH SECURITY_ENFORCED",
                 "SELECT CALENDAR_YEAR(CreatedDate), COUNT(Id) FROM Contact GROUP BY CALENDAR_YEAR(CreatedDate)",
                 "SELECT Id FROM Contact WHERE LeadSource INCLUDES ('Web')"):
        with pytest.raises(simple_salesforce.exceptions.SalesforceGeneralError) as exc:
            sf.query(soql)
        assert exc.value.status == 501 and exc.value.content[0]["errorCode"] == "NOT_IMPLEMENTED"
    with pytest.raises(simple_salesforce.exceptions.SalesforceGeneralError) as exc:
        sf.restful("composite/graph", method="POST", json={"graphs": []})
    assert exc.value.status == 501
    with pytest.raises(SalesforceMalformedRequest):  # a real typo stays the caller's error
        sf.query("SELECT Id FRM Contact")
