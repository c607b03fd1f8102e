"""The shared pull cursor (connector.cursor): the three rules, persistence, the warning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from connector.cursor import (
    BEGINNING,
    Cursor,
    Scan,
    decode_mark,
    encode_mark,
    query_key,
    warn_if_stale,
)

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_a_scan_keeps_its_windows_bound_and_only_its_position_moves():
    window = Cursor(T, "7")
    at = window.scanning("q", "120", T + MIN)
    at = at.moved("240")
    assert at.bound == window and at.scan == Scan("q", "240", T + MIN)
    assert at == Cursor(T, "7", Scan("q", "240", T + MIN)) and at != window
    assert not at < window and not window < at  # ordered by the bound alone
    with pytest.raises(ValueError, match="only a scan in progress"):
        window.moved("1")


def test_a_position_is_resumed_only_by_the_same_query():
    at = Cursor(T, "7").scanning("hubspot-search:abc", "240", T)
    assert at.resumable("hubspot-search:abc") == Scan("hubspot-search:abc", "240", T)
    assert at.resumable("hubspot-list:abc") is None
    assert Cursor(T, "7").resumable("hubspot-search:abc") is None
    assert query_key("salesforce", "Opportunity", "IsWon = true") != query_key("salesforce", "Opportunity", "")
    assert query_key("salesforce", "Contact", "") == query_key("salesforce", "Contact", "")
    assert query_key("salesforce", "Contact", "").startswith("salesforce:")


def test_completion_moves_the_bound_to_the_high_water_mark_held_before_the_first_start():
    at = Cursor(T, "7").scanning("q", "240", T + 10 * MIN)
    # the high-water mark when it is older than the first start minus the overlap
    assert at.complete((T + 5 * MIN, "300"), MIN) == Cursor(T + 5 * MIN, "300")
    # held strictly before (start - overlap): a row written in that moment may have been missed
    assert at.complete((T + 9 * MIN, "300"), MIN) == Cursor(T + 9 * MIN, "")
    assert at.complete((T + 30 * MIN, "300"), MIN) == Cursor(T + 9 * MIN, "")
    # never behind the window's bound; nothing read leaves the bound where it was
    assert at.complete((T + 30 * MIN, "300"), timedelta(hours=1)) == Cursor(T, "7")
    assert at.complete(None, MIN) == Cursor(T, "7")
    # a source that cannot tell the start (started_at None) is not held back
    assert Cursor(T, "7").scanning("q", "", None).complete((T + 30 * MIN, "9")) == Cursor(T + 30 * MIN, "9")


def test_a_cursor_survives_the_state_store_form_and_old_forms_still_read():
    at = Cursor(T, "7").scanning("salesforce:1", encode_mark(T + MIN, "003B"), T + 2 * MIN)
    assert Cursor.stored(at.timestamp.isoformat(), at.id, at.scan_json()) == at
    assert Cursor.stored(T.isoformat(), "7", "{}") == Cursor(T, "7")
    assert Cursor.stored(T.isoformat(), "7", None) == Cursor(T, "7")
    assert decode_mark(encode_mark(T, "003B")) == (T, "003B")
    with pytest.raises(ValueError, match="not a \\(timestamp, id\\) mark"):
        decode_mark("120")
    with pytest.raises(ValueError, match="naive datetime"):
        Cursor(datetime(2026, 1, 1), "x")
    assert Cursor(BEGINNING).full_sync and not Cursor(T).full_sync


def test_resuming_a_scan_older_than_the_overlap_warns(caplog):
    at = Cursor(T).scanning("q", "240", T)
    with caplog.at_level(logging.WARNING, logger="segsync.cursor"):
        assert not warn_if_stale(at, T + MIN, MIN, stream="hubspot deals", setting="search_overlap_minutes")
        assert not warn_if_stale(Cursor(T), T + 9 * MIN, MIN, stream="hubspot deals", setting="search_overlap_minutes")
        assert warn_if_stale(at, T + MIN + timedelta(seconds=10), MIN, stream="hubspot deals",
                             setting="search_overlap_minutes")
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith("hubspot deals: resuming a scan that started 0:01:10 ago, longer than the overlap "
                              "window (search_overlap_minutes = 0:01:00)")
