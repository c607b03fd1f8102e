"""The SQL events entity pulled incrementally, against DuckDB and a real PostgreSQL.

Before, `sources.sql.events` refused a cursor_column and read the whole table on every run. Now
it is mirrored like purchases: with a cursor column a pull reads only the rows after the stored
(cursor, key) bound, tie-safe (rows that arrive later with the same timestamp and a later key
are read, none twice), each page committed with its cursor so a stop resumes where it was; the
cycle gets every live event from the mirror; updated rows replace theirs, soft deletes and
key-scan deletes remove them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from connector.crm.sql import SqlSource, pull_into_mirror
from connector.cursor import Cursor
from connector.state.store import StateStore
from tests.connector.sql.conftest import Warehouse, cycle, pull_sql

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SAME = T0 + timedelta(hours=1)
USAGE = ("CREATE TABLE usage (eid VARCHAR(10), uid VARCHAR(10), kind VARCHAR(20), at_ts TIMESTAMP, "
         "feature VARCHAR(20), updated_at TIMESTAMP WITH TIME ZONE, removed BOOLEAN)")
INSERT = ("INSERT INTO usage (eid, uid, kind, at_ts, feature, updated_at, removed) "
          "VALUES (:eid, :uid, :kind, :at_ts, :feature, :updated_at, false)")
EVENTS = {"table": "usage", "event_id_column": "eid", "customer_id_column": "uid", "type_column": "kind",
          "date_column": "at_ts", "feature_column": "feature", "cursor_column": "updated_at",
          "soft_delete_column": "removed"}


def event(eid: str, updated: datetime, kind: str = "login") -> dict[str, Any]:
    return {"eid": eid, "uid": f"U{len(eid) % 3}", "kind": kind, "at_ts": datetime(2026, 2, 20, 9),
            "feature": "export" if kind == "feature_used" else None, "updated_at": updated}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite") as s:
        yield s


def pulled(warehouse: Warehouse, store: StateStore, run: int, **cfg: Any) -> tuple[pd.DataFrame, dict[str, int]]:
    """One pull step with the SQL plugin: the events it hands to the cycle, and its counts."""
    ctx = cycle(warehouse.config(events={**EVENTS, **cfg}, chunk_size=2), store, run)
    return pull_sql(ctx)["events"], ctx.counts


class Stop(Exception):
    pass


def test_events_are_pulled_after_the_cursor_with_ties_and_a_resume(warehouse: Warehouse, store: StateStore) -> None:
    """Five events share one updated_at across chunks of 2; later, two more arrive at that same
    time (keys after the stored one) and one a second later, and the pull stops after its first
    page: the next pull reads only the rest, and the cycle gets every event exactly once."""
    warehouse.run(USAGE)
    warehouse.run(INSERT, [event("e1", T0), *[event(e, SAME) for e in ("e12", "e3", "e7", "e10", "e5")]])
    events, counts = pulled(warehouse, store, 1)
    assert sorted(events["event_id"]) == ["e1", "e10", "e12", "e3", "e5", "e7"]
    assert counts["pulled_sql_events"] == 6
    assert store.mirror.cursor("sql", "events") == Cursor(SAME, "e7")

    warehouse.run(INSERT, [event("e8", SAME), event("e9", SAME), event("e4", SAME + timedelta(seconds=1))])
    seen: list[int] = []

    def stop_after_first_page() -> None:
        seen.append(1)
        raise Stop

    with SqlSource(warehouse.config(events=EVENTS, chunk_size=2), Path(".")) as source, pytest.raises(Stop):
        pull_into_mirror(source, store.mirror, T0, after_page=stop_after_first_page)
    assert seen == [1]
    assert len(store.mirror.events("sql")) == 8  # the first page (e8, e9) is stored with its position
    events, counts = pulled(warehouse, store, 2)
    assert counts["pulled_sql_events"] == 1  # e4 only: the stored position is where the stopped scan was
    assert sorted(events["event_id"]) == sorted(["e1", "e10", "e12", "e3", "e5", "e7", "e8", "e9", "e4"])
    assert events["event_id"].is_unique
    assert store.mirror.cursor("sql", "events") == Cursor(SAME + timedelta(seconds=1), "e4")

    events, counts = pulled(warehouse, store, 3)
    assert counts.get("pulled_sql_events", 0) == 0 and len(events) == 9  # nothing changed: nothing read


def test_an_updated_event_replaces_its_row_and_deleted_ones_go(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(USAGE)
    warehouse.run(INSERT, [event(e, T0) for e in ("e1", "e2", "e3")])
    pulled(warehouse, store, 1)
    later = T0 + timedelta(days=1)
    warehouse.run("UPDATE usage SET kind = 'feature_used', feature = 'sso', updated_at = :t WHERE eid = 'e2'", {"t": later})
    warehouse.run("UPDATE usage SET removed = true, updated_at = :t WHERE eid = 'e3'", {"t": later})
    events, counts = pulled(warehouse, store, 2)
    assert (counts["pulled_sql_events"], counts["deleted_sql_events"]) == (1, 1)
    assert sorted(events["event_id"]) == ["e1", "e2"]
    changed = events.set_index("event_id").loc["e2"]
    assert (changed["type"], changed["feature"]) == ("feature_used", "sso")
    assert changed["occurred_at"] == pd.Timestamp("2026-02-20 09:00", tz="UTC")
    assert changed["customer_id"] == "sql-U2"  # a customer no customers entity holds keeps the source's key


def test_events_without_a_cursor_are_read_whole_and_rows_gone_deleted(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(USAGE)
    warehouse.run(INSERT, [event(e, T0) for e in ("e1", "e2", "e3")])
    whole = {"cursor_column": None, "soft_delete_column": None}
    assert sorted(pulled(warehouse, store, 1, **whole)[0]["event_id"]) == ["e1", "e2", "e3"]
    warehouse.run("DELETE FROM usage WHERE eid = 'e1'")
    events, counts = pulled(warehouse, store, 2, **whole)
    assert sorted(events["event_id"]) == ["e2", "e3"] and counts["deleted_sql_events"] == 1
