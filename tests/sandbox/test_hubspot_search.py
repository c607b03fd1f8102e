"""CRM search: filters, sorts, paging by offset, the 10,000-result cap and its limits."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.sandbox.hubspot_fixtures import assert_hubspot_error, client_for, make_sandbox

SEARCH = "/crm/v3/objects/contacts/search"


@pytest.fixture
def hs():
    hs = make_sandbox()
    for i in range(30):
        hs.store.create("contacts", [{"email": f"p{i}@shop.com", "firstname": "Ann" if i % 3 == 0 else "Bob",
                                      **({"phone": "555"} if i < 5 else {})}])
        hs.clock.advance(seconds=60)
    return hs


@pytest.fixture
def api(hs):
    with client_for(hs) as c:
        yield c


def test_incremental_cursor_on_lastmodifieddate_sorted_ascending(hs, api):
    since = "1780315800000"  # 2026-06-01T12:10:00Z: records 10..29
    body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["email"], "limit": 15}
    first = api.post(SEARCH, json=body).json()
    assert first["total"] == 20 and first["paging"] == {"next": {"after": "15"}}
    assert [r["properties"]["email"] for r in first["results"]][:2] == ["p10@shop.com", "p11@shop.com"]
    last = api.post(SEARCH, json=body | {"after": "15"}).json()
    assert len(last["results"]) == 5 and "paging" not in last


def test_or_of_and_groups_in_and_has_property(api):
    body = {"filterGroups": [
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "ann"},
                     {"propertyName": "phone", "operator": "HAS_PROPERTY"}]},
        {"filters": [{"propertyName": "email", "operator": "IN", "values": ["p29@shop.com", "p28@shop.com"]}]}],
        "sorts": [{"propertyName": "email", "direction": "DESCENDING"}], "properties": ["email"]}
    emails = [r["properties"]["email"] for r in api.post(SEARCH, json=body).json()["results"]]
    assert emails == ["p3@shop.com", "p29@shop.com", "p28@shop.com", "p0@shop.com"]


def test_results_past_10000_are_a_400():
    hs = make_sandbox()
    hs.store.create("contacts", [{"firstname": "x"} for _ in range(10_050)])
    with client_for(hs) as api:
        page = api.post(SEARCH, json={"limit": 200, "after": "9800"}).json()
        assert page["total"] == 10_050 and page["paging"]["next"]["after"] == "10000"
        assert_hubspot_error(api.post(SEARCH, json={"limit": 200, "after": "10000"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("body", [
    {"limit": 201},
    {"filterGroups": [{"filters": []}] * 6},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 11}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 9}] * 3},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
])
def test_search_limits_are_enforced(api, body):
    assert_hubspot_error(api.post(SEARCH, json=body), 400, "VALIDATION_ERROR")


def test_search_lag_hides_fresh_writes():
    hs = make_sandbox(search_lag_seconds=30)
    hs.store.create("contacts", [{"email": "old@x.com"}])
    hs.clock.advance(seconds=60)
    hs.store.create("contacts", [{"email": "new@x.com"}])
    with client_for(hs) as api:
        assert api.post(SEARCH, json={}).json()["total"] == 1
        hs.clock.advance(seconds=31)
        assert api.post(SEARCH, json={}).json()["total"] == 2


def test_deals_closed_won_since(api, hs):
    hs.store.create("deals", [
        {"dealname": "won", "dealstage": "closedwon", "closedate": "2026-05-02T00:00:00Z"},
        {"dealname": "old", "dealstage": "closedwon", "closedate": "2026-01-02T00:00:00Z"},
        {"dealname": "lost", "dealstage": "closedlost", "closedate": "2026-05-02T00:00:00Z"}])
    body = {"filterGroups": [{"filters": [
        {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"},
        {"propertyName": "closedate", "operator": "GTE", "value": "1777593600000"}]}], "properties": ["dealname"]}
    found = api.post("/crm/objects/2026-03/deals/search", json=body).json()["results"]
    assert [r["properties"]["dealname"] for r in found] == ["won"]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_modified_since_index_agrees_with_a_full_scan():
    hs = make_sandbox()
    ids = []
    for i in range(40):
        ids += hs.store.create("contacts", [{"email": f"m{i}@x.com", "firstname": "even" if i % 2 else "odd"}])
        hs.clock.advance(seconds=10)
    for i in (3, 17, 5):  # old records written again later
        hs.store.update("contacts", ids[i], {"lastname": "touched"})
        hs.clock.advance(seconds=10)
    hs.store.archive("contacts", ids[38])
    records = list(hs.store.records("contacts"))
    with client_for(hs) as api:
        for since in (ms("2026-06-01T12:03:00Z"), ms("2026-06-01T12:06:35Z"), ms("2026-06-01T12:06:40Z")):
            for extra in ([], [{"propertyName": "firstname", "operator": "EQ", "value": "even"}]):
                filters = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}] + extra
                found = api.post(SEARCH, json={"filterGroups": [{"filters": filters}], "limit": 200}).json()
                expected = [r["id"] for r in records if ms(r["updatedAt"]) >= since
                            and (not extra or r["properties"]["firstname"] == "even")]
                assert expected and [r["id"] for r in found["results"]] == expected
    assert {ids[3], ids[17], ids[5]} <= set(expected)
