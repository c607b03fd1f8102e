"""SOQL through the REST query resource: operators, literals, ordering, paging, errors."""
# ruff: noqa: S608 - SOQL built from literals and sandbox ids is what these tests exercise

from __future__ import annotations

import pytest

from connector.sandbox.salesforce.soql import SoqlError, parse


@pytest.fixture
def people(sf):
    rows = [
        {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@x.com", "Birthdate": "1990-01-02",
         "MailingCountry": "DE"},
        {"FirstName": "bob", "LastName": "O'Neil", "Email": "bob@y.com", "Birthdate": "1985-06-30",
         "MailingCountry": "FR"},
        {"FirstName": "Cy", "LastName": "Lu", "Email": None, "Birthdate": None,
         "MailingCountry": "DE", "HasOptedOutOfEmail": True},
    ]
    return sf.store.insert("Contact", rows)


def names(resp):
    assert resp.status_code == 200, resp.text
    return [r["LastName"] for r in resp.json()["records"]]


@pytest.mark.parametrize("where, expected", [
    ("MailingCountry = 'de'", ["Lee", "Lu"]),  # text comparison is case-insensitive
    ("MailingCountry != 'DE'", ["O'Neil"]),
    ("Email != null", ["Lee", "O'Neil"]),
    ("Email = null", ["Lu"]),
    ("Email != 'ann@x.com'", ["O'Neil", "Lu"]),  # != matches nulls
    ("LastName = 'O\\'Neil'", ["O'Neil"]),
    ("FirstName IN ('ANN', 'Cy')", ["Lee", "Lu"]),
    ("FirstName NOT IN ('Ann')", ["O'Neil", "Lu"]),
    ("Email LIKE '%@x.com'", ["Lee"]),
    ("LastName LIKE 'l_'", ["Lu"]),
    ("Birthdate < 1989-01-01", ["O'Neil"]),
    ("Birthdate >= 1985-06-30", ["Lee", "O'Neil"]),
    ("HasOptedOutOfEmail = true", ["Lu"]),
    ("(MailingCountry = 'DE' OR MailingCountry = 'FR') AND HasOptedOutOfEmail = false",
     ["Lee", "O'Neil"]),
    ("NOT FirstName = 'Ann'", ["O'Neil", "Lu"]),
    ("CreatedDate = TODAY", ["Lee", "O'Neil", "Lu"]),
    ("CreatedDate > 2026-06-01T11:59:59Z", ["Lee", "O'Neil", "Lu"]),
    ("CreatedDate > 2026-06-01T13:00:00+02:00", ["Lee", "O'Neil", "Lu"]),
    ("CreatedDate < LAST_N_DAYS:3", []),
])
def test_where_operators(api, people, where, expected):
    assert names(api.query(f"SELECT LastName FROM Contact WHERE {where}")) == expected


def test_order_by_multi_with_nulls(api, people):
    soql = "SELECT LastName, Email FROM Contact ORDER BY Email DESC NULLS FIRST, LastName"
    assert names(api.query(soql)) == ["Lu", "O'Neil", "Lee"]
    assert names(api.query("SELECT LastName FROM Contact ORDER BY Email")) == ["Lu", "Lee", "O'Neil"]
    assert names(api.query("SELECT LastName FROM Contact ORDER BY FirstName DESC LIMIT 2")) == [
        "Lu", "O'Neil"]  # case-insensitive sort: Cy > bob > Ann
    assert names(api.query("SELECT LastName FROM Contact ORDER BY LastName LIMIT 1 OFFSET 1")) == ["Lu"]


def test_record_shape_and_count(api, people):
    body = api.query("SELECT Id, Name, Birthdate, HasOptedOutOfEmail FROM Contact LIMIT 1").json()
    rec = body["records"][0]
    assert list(rec) == ["attributes", "Id", "Name", "Birthdate", "HasOptedOutOfEmail"]
    assert rec["attributes"] == {"type": "Contact",
                                 "url": f"/services/data/v66.0/sobjects/Contact/{people[0]}"}
    assert (rec["Name"], rec["Birthdate"], rec["HasOptedOutOfEmail"]) == ("Ann Lee", "1990-01-02", False)
    count = api.query("SELECT COUNT() FROM Contact WHERE MailingCountry = 'DE'").json()
    assert count == {"totalSize": 2, "done": True, "records": []}


def test_paging_default_and_batch_size(api, sf):
    sf.store.insert("Contact", [{"LastName": f"P{i:05d}"} for i in range(4100)])
    first = api.query("SELECT LastName FROM Contact ORDER BY LastName").json()
    assert (first["totalSize"], first["done"], len(first["records"])) == (4100, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v66.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = api("GET", first["nextRecordsUrl"]).json()
    third = api("GET", second["nextRecordsUrl"]).json()
    assert [len(p["records"]) for p in (second, third)] == [2000, 100]
    assert third["done"] is True and "nextRecordsUrl" not in third
    assert third["records"][-1]["LastName"] == "P04099"
    small = api.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=50"})
    assert len(small.json()["records"]) == 200  # minimum batch size is 200
    big = api.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=5000"})
    assert len(big.json()["records"]) == 2000


def test_cursor_expires_after_two_days(api, sf, clock):
    sf.store.insert("Contact", [{"LastName": f"P{i}"} for i in range(2001)])
    nxt = api.query("SELECT Id FROM Contact").json()["nextRecordsUrl"]
    clock.advance(days=2, seconds=1)
    api.token = api.login()  # the 2 h session expired too
    r = api("GET", nxt)
    assert r.status_code == 400
    assert r.json() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


def test_query_all_sees_deleted_rows(api, sf, people):
    sf.store.delete("Contact", people[1])
    assert names(api.query("SELECT LastName FROM Contact")) == ["Lee", "Lu"]
    r = api("GET", "queryAll", params={"q": "SELECT LastName, IsDeleted FROM Contact WHERE IsDeleted = true"})
    assert r.json()["records"][0]["LastName"] == "O'Neil"
    assert r.json()["records"][0]["IsDeleted"] is True


@pytest.mark.parametrize("soql, code, detail, column", [
    ("SELECT Id FRM Contact", "MALFORMED_QUERY", "unexpected token: FRM", 11),
    ("SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3", "MALFORMED_QUERY",
     "unexpected token: OR", 46),
    ("SELECT Id FROM Contact LIMIT", "MALFORMED_QUERY", "unexpected token: <EOF>", 29),
    ("SELECT Id, Foo__c FROM Contact", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Contact'", 12),
    ("SELECT Id FROM Widget", "INVALID_TYPE", "sObject type 'Widget' is not supported", 16),
    ("SELECT Id FROM Contact WHERE CreatedDate > 2026-01-01", "INVALID_FIELD",
     "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes", 44),
    ("SELECT Id FROM Contact WHERE Birthdate = '2026-01-01'", "INVALID_FIELD",
     "must be of type date and should not be enclosed in quotes", 42),
    ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD",
     "must be of type string and should be enclosed in quotes", 41),
    ("SELECT Id FROM Contact WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: nope", 35),
    ("SELECT Acount.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Acount'", 8),
    ("SELECT Id, id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id", 12),
    ("SELECT Id FROM Contact OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE",
     "Maximum SOQL offset allowed is 2000", 31),
])
def test_errors_have_salesforce_shape(api, soql, code, detail, column):
    r = api.query(soql)
    assert r.status_code == 400
    [err] = r.json()
    assert err["errorCode"] == code
    assert detail in err["message"]
    assert f"ERROR at Row:1:Column:{column}\n" in err["message"]
    assert err["message"].startswith(f"\n{soql}\n{' ' * (column - 1)}^\n")


def test_parser_keeps_literals():
    q = parse("SELECT Id FROM Lead WHERE Name LIKE 'a\\%b%' AND CreatedDate >= LAST_N_DAYS:30")
    like, rel = q.where.parts
    assert like.values[0].value == "a\\%b%"
    assert (rel.values[0].kind, rel.values[0].value, rel.values[0].n) == ("relative", "LAST_N_DAYS", 30)
    with pytest.raises(SoqlError, match="Illegal character sequence"):
        parse("SELECT Id FROM Lead WHERE Name = 'bad \\q'")


def test_fifteen_char_id_literals_match(api, people):
    r = api.query(f"SELECT LastName FROM Contact WHERE Id IN ('{people[0][:15]}', '{people[2]}')")
    assert names(r) == ["Lee", "Lu"]
