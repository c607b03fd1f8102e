"""simple-salesforce against the sandbox's SOQL: relationship paths, child subqueries,
aggregates, FIELDS(), relative date literals and the Organization row (issue 15, §2)."""
# ruff: noqa: S608 - SOQL from literals and sandbox ids

from __future__ import annotations

import csv
import io

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

from simple_salesforce import Salesforce  # noqa: E402
from simple_salesforce.exceptions import SalesforceMalformedRequest  # noqa: E402

from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance
VERSION = "66.0"


@pytest.fixture
def sb(clock):  # the clock stands at 2026-06-01 12:00 UTC, a Monday
    sandbox = SalesforceSandbox(clock=clock)
    [acme] = sandbox.store.insert("Account", [{"Name": "Acme"}])
    ann, bob = sandbox.store.insert("Contact", [
        {"LastName": "Ann", "Email": "ann@x.com", "AccountId": acme},
        {"LastName": "Bob", "Email": "bob@y.com"}])
    sandbox.store.insert("Opportunity", [
        {"Name": "o1", "ContactId": ann, "AccountId": acme, "StageName": "Closed Won",
         "CloseDate": "2026-05-02", "Amount": 10},
        {"Name": "o2", "ContactId": ann, "StageName": "Closed Lost", "CloseDate": "2025-05-02",
         "Amount": 20},
        {"Name": "o3", "ContactId": bob, "StageName": "Closed Won", "CloseDate": "2024-01-02",
         "Amount": 5},
        {"Name": "o4", "StageName": "Prospecting", "CloseDate": "2026-07-15", "Amount": 7}])
    return sandbox


@pytest.fixture
def sf(sb):
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"],
                      privatekey=c["private_key"], domain="login", version=VERSION,
                      session=mounted_session(sb.app))


def names(result) -> list[str]:
    return [r["Name"] for r in result["records"]]


def test_parent_relationship_fields_in_select_where_and_order(sf):
    res = sf.query("SELECT Name, Contact.Email, Account.Name, Account.Owner.Name FROM Opportunity "
                   "WHERE Contact.Email LIKE 'ann%' ORDER BY Contact.Email, Name DESC")
    o2, o1 = res["records"]
    assert (o1["Name"], o2["Name"]) == ("o1", "o2")
    assert o1["Contact"] == {"attributes": {"type": "Contact", "url": o1["Contact"]["attributes"]["url"]},
                             "Email": "ann@x.com"}
    assert o1["Contact"]["attributes"]["url"].startswith(f"/services/data/v{VERSION}/sobjects/Contact/003")
    assert o1["Account"]["Name"] == "Acme"
    assert o1["Account"]["Owner"]["Name"] == "Integration User"
    assert o2["Account"] is None  # a null lookup reads as a null parent, not an empty object
    assert list(o1) == ["attributes", "Name", "Contact", "Account"]
    won = sf.query("SELECT Name FROM Opportunity WHERE Contact.Account.Name = 'acme' AND IsWon = true")
    assert names(won) == ["o1"]


def test_parent_relationship_columns_in_bulk2(sf):
    pages = list(sf.bulk2.Opportunity.query(
        "SELECT Name, Contact.Email FROM Opportunity WHERE ContactId != null ORDER BY Name"))
    rows = list(csv.DictReader(io.StringIO(pages[0])))
    assert [(r["Name"], r["Contact.Email"]) for r in rows] == [
        ("o1", "ann@x.com"), ("o2", "ann@x.com"), ("o3", "bob@y.com")]


def test_child_subqueries(sf):
    res = sf.query("SELECT LastName, (SELECT Name, Amount FROM Opportunities WHERE Amount > 6 "
                   "ORDER BY Amount DESC) FROM Contact ORDER BY LastName")
    ann, bob = res["records"]
    sub = ann["Opportunities"]
    assert (sub["totalSize"], sub["done"]) == (2, True)
    assert [(r["Name"], r["Amount"]) for r in sub["records"]] == [("o2", 20.0), ("o1", 10.0)]
    assert sub["records"][0]["attributes"]["type"] == "Opportunity"
    assert bob["Opportunities"] is None  # no matching children: null, as Salesforce answers
    acc = sf.query("SELECT Name, (SELECT LastName FROM Contacts), (SELECT Name FROM Opportunities) "
                   "FROM Account")["records"][0]
    assert [c["LastName"] for c in acc["Contacts"]["records"]] == ["Ann"]
    assert [o["Name"] for o in acc["Opportunities"]["records"]] == ["o1"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, (SELECT Id FROM Widgets) FROM Contact")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"
    assert "Didn't understand relationship 'Widgets'" in err.value.content[0]["message"]


def test_semi_join(sf):
    res = sf.query("SELECT LastName FROM Contact WHERE Id IN "
                   "(SELECT ContactId FROM Opportunity WHERE IsWon = true AND Amount < 8)")
    assert [r["LastName"] for r in res["records"]] == ["Bob"]


def test_count_and_group_by_aggregates(sf):
    [row] = sf.query("SELECT COUNT(Id) FROM Opportunity")["records"]
    assert row == {"attributes": {"type": "AggregateResult"}, "expr0": 4}
    res = sf.query("SELECT StageName, COUNT(Id) n, SUM(Amount), MAX(CloseDate) FROM Opportunity "
                   "GROUP BY StageName ORDER BY COUNT(Id) DESC, StageName")
    assert res["totalSize"] == 3
    assert [{k: v for k, v in r.items() if k != "attributes"} for r in res["records"]] == [
        {"StageName": "Closed Won", "n": 2, "expr0": 15.0, "expr1": "2026-05-02"},
        {"StageName": "Closed Lost", "n": 1, "expr0": 20.0, "expr1": "2025-05-02"},
        {"StageName": "Prospecting", "n": 1, "expr0": 7.0, "expr1": "2026-07-15"}]
    having = sf.query("SELECT Contact.LastName, COUNT(Id) FROM Opportunity WHERE ContactId != null "
                      "GROUP BY Contact.LastName HAVING COUNT(Id) > 1")
    assert [(r["LastName"], r["expr0"]) for r in having["records"]] == [("Ann", 2)]
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 2
    with pytest.raises(SalesforceMalformedRequest, match="Field must be grouped or aggregated: Name"):
        sf.query("SELECT Name, COUNT(Id) FROM Opportunity")


def test_fields_standard(sf, sb):
    [rec] = sf.query("SELECT FIELDS(STANDARD) FROM Contact WHERE LastName = 'Ann'")["records"]
    standard = [f.name for f in sb.schema.get("Contact").visible_fields() if not f.custom]
    assert list(rec)[1:] == standard
    assert rec["Email"] == "ann@x.com" and rec["AccountId"].startswith("001")
    with pytest.raises(SalesforceMalformedRequest, match="must have a LIMIT of at most 200"):
        sf.query("SELECT FIELDS(ALL) FROM Contact")
    assert sf.query("SELECT FIELDS(ALL) FROM Contact LIMIT 200")["totalSize"] == 2


@pytest.mark.parametrize("where, expected", [
    ("CloseDate = THIS_YEAR", ["o1", "o4"]),
    ("CloseDate = LAST_YEAR", ["o2"]),
    ("CloseDate = LAST_N_MONTHS:24", ["o1", "o2"]),  # June 2024 to May 2026, not June 2026
    ("CloseDate = LAST_N_MONTHS:1", ["o1"]),
    ("CloseDate = THIS_MONTH", []),
    ("CloseDate = NEXT_MONTH", ["o4"]),
    ("CloseDate < THIS_QUARTER", ["o2", "o3"]),  # Q2 2026 starts 2026-04-01
    ("CloseDate = LAST_N_DAYS:30", ["o1"]),
    ("CloseDate > LAST_N_YEARS:2", ["o1", "o4"]),  # the range is 2024-2025: after it is 2026
    ("CloseDate = N_YEARS_AGO:2", ["o3"]),
    ("CloseDate = THIS_FISCAL_YEAR", ["o1", "o4"]),
    ("CreatedDate = THIS_WEEK", ["o1", "o2", "o3", "o4"]),  # Sunday 2026-05-31 to 06-06
    ("CreatedDate = LAST_WEEK", []),
])
def test_relative_date_literals(sf, where, expected):
    assert names(sf.query(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY Name")) == expected


def test_organization_is_a_sandbox(sf):
    [org] = sf.query("SELECT Id, Name, IsSandbox, OrganizationType FROM Organization")["records"]
    assert org["IsSandbox"] is True and org["Id"].startswith("00D")
    assert sf.Organization.get(org["Id"])["IsSandbox"] is True
    describe = sf.Organization.describe()
    assert describe["createable"] is False and describe["queryable"] is True
