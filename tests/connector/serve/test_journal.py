"""The journal's group commit: writes pending together share one commit, each answered after it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from connector.serve.journal import Journal
from connector.state import StateStore


def _event(cid: str, n: int) -> list[dict]:
    return [{"event_id": f"{cid}-{n}", "customer_id": cid, "type": "view", "occurred_at": "2026-02-27T09:00:00+00:00"}]


def test_writes_pending_together_share_one_commit_and_resolve_only_after_it(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    journal = Journal(StateStore(path, synchronous="FULL"))
    reader = StateStore(path)
    try:
        first = journal.submit(lambda c: reader.events.insert(c, _event("a", 0)))
        assert first.result(timeout=10) >= 1 and journal.commits == 1
        journal.store._lock.acquire()  # hold the writer at its next transaction, as a slow fsync would
        try:
            futures = [journal.submit(lambda c, i=i: reader.events.insert(c, _event("b", i))) for i in range(200)]
            assert not any(f.done() for f in futures)  # nothing acknowledged before its commit
            assert reader.events.last_id() == 1  # and nothing visible either
        finally:
            journal.store._lock.release()
        results = [f.result(timeout=10) for f in futures]
        assert journal.commits <= 3 and journal.writes == 201  # one write alone, then the rest in one or two groups
        assert reader.events.last_id() == 201 and max(results) == 201
    finally:
        journal.close()
        reader.close()


def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    journal = Journal(StateStore(path))
    reader = StateStore(path)
    gate = threading.Event()
    try:
        journal.store._lock.acquire()
        try:
            good = journal.submit(lambda c: reader.events.insert(c, _event("a", 1)))
            bad = journal.submit(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))
            after_bad = journal.submit(lambda c: reader.events.insert(c, _event("a", 2)), after=lambda _: gate.set())
        finally:
            journal.store._lock.release()
        assert good.result(timeout=10) >= 1 and after_bad.result(timeout=10) >= 2
        with pytest.raises(sqlite3.OperationalError):
            bad.result(timeout=10)
        assert gate.is_set()  # `after` ran before the future resolved
        assert set(reader.events.since(0)["event_id"]) == {"a-1", "a-2"}
    finally:
        journal.close()
        reader.close()


def test_close_commits_what_is_pending_and_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    journal = Journal(StateStore(path))
    pending = [journal.submit(lambda c, i=i: c.execute(
        "INSERT INTO events (event_id, customer_id, type, occurred_at, value, properties, received_at) VALUES (?, 'x', 'view', '2026-01-01', NULL, '{}', '2026-01-01')",
        (f"e{i}",)).rowcount) for i in range(50)]
    journal.close()
    assert [f.result(timeout=1) for f in pending] == [1] * 50
    with StateStore(path) as store:
        assert store.events.last_id() == 50
    with pytest.raises(RuntimeError, match="closed"):
        journal.submit(lambda c: None).result(timeout=1)
