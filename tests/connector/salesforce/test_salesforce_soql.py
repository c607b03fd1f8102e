"""SOQL escaping (including injection attempts), cursor conditions, and Sforce-Limit-Info parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest

from connector.crm.base import Cursor
from connector.crm.errors import ConfigurationError, QuotaExceededError
from connector.crm.salesforce.limits import QuotaGuard, parse_limit_info
from connector.crm.salesforce.soql import after_cursor, identifier, in_list, literal, quote, select


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", r"'O\'Brien'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("back\\slash", r"'back\\slash'"),
        ("line\nbreak\ttab\rcr", r"'line\nbreak\ttab\rcr'"),
        ("plain", "'plain'"),
    ],
)
def test_quote_escapes(value, expected):
    assert quote(value) == expected


@pytest.mark.parametrize(
    "attack",
    [
        "x' OR Name != '",
        "x\\' OR Id != '",  # a backslash before the quote must not un-escape it
        "a'; DELETE FROM Contact; --",
        "' OR '1'='1",
    ],
)
def test_injection_attempts_stay_inside_one_literal(attack):
    q = quote(attack)
    inner = q[1:-1]
    # every quote inside is escaped by an odd run of backslashes
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != "'", f"unescaped quote in {q}"
        i += 1
    soql = select(["Id"], "Campaign", [f"Name = {q}"])
    assert soql.startswith("SELECT Id FROM Campaign WHERE (Name = '") and soql.endswith("')")


def test_literals():
    assert literal(None) == "null"
    assert literal(True) == "true"
    assert literal(3) == "3"
    assert literal(2.5) == "2.5"
    assert literal(date(2026, 1, 2)) == "2026-01-02"
    assert literal(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert literal(datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)) == "2026-01-02T03:04:05.250Z"
    with pytest.raises(ValueError):
        literal(float("nan"))
    with pytest.raises(ValueError):
        in_list([])
    assert in_list(["a", "b'c"]) == r"('a', 'b\'c')"


@pytest.mark.parametrize("bad", ["Name; DELETE", "Name FROM User", "1abc", "a-b", "", "x" * 200, "Email,Id"])
def test_identifier_refuses_bad_names(bad):
    with pytest.raises(ConfigurationError, match="not a valid Salesforce"):
        identifier(bad)


def test_identifier_accepts_real_names():
    for name in ("Email", "Segsync_Arm__c", "ns__Score__c", "Account.Industry", "Owner.Profile.Name"):
        assert identifier(name) == name


def test_cursor_condition_is_tie_safe():
    c = Cursor(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "003000000000001AAA")
    assert after_cursor(c) == (
        "(SystemModstamp > 2026-03-01T12:00:00Z OR "
        "(SystemModstamp = 2026-03-01T12:00:00Z AND Id > '003000000000001AAA'))"
    )


def test_limit_info_with_bursts_suffix():
    parsed = parse_limit_info("api-usage=10018/100000; api-bursts=1/750")
    assert parsed == {"api-usage": (10018, 100000), "api-bursts": (1, 750)}
    # per-app usage must not be taken for the org's total
    parsed = parse_limit_info("per-app-api-usage=17/250(appName=x); api-usage=25/5000")
    assert parsed["api-usage"] == (25, 5000)


def test_quota_guard_stops_at_share():
    guard = QuotaGuard(0.8)
    guard.observe(httpx.Response(200, headers={"Sforce-Limit-Info": "api-usage=79999/100000; api-bursts=0/750"}))
    guard.check("query")
    guard.observe(httpx.Response(200, headers={"Sforce-Limit-Info": "api-usage=80000/100000; api-bursts=0/750"}))
    with pytest.raises(QuotaExceededError, match="80000 of 100000"):
        guard.check("query")
    guard.check("auth")  # logging in is still allowed
    assert guard.info().share_used == 0.8
    assert guard.bursts == (0, 750)
