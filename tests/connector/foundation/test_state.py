"""The state store: created 0600 in WAL mode, migrations idempotent, cursor moves with its data, arms sticky."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from connector.crm.errors import ConfigurationError
from connector.cursor import encode_mark
from connector.state import Cursor, StateStore
from connector.state.migrations import MIGRATIONS, migrate

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def test_created_on_first_use_with_mode_0600_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.sqlite"
    store = StateStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.runs.start()
    for side in ("-wal", "-shm"):
        p = Path(f"{path}{side}")
        if p.exists():
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0
    assert store.applied_migrations == [v for v, _, _ in MIGRATIONS]


def test_migrations_run_twice_are_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    StateStore(path).close()
    conn = sqlite3.connect(path)
    before = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == []
    assert StateStore(path).applied_migrations == []
    after = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert before == after
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigurationError, match=r"s\.sqlite is damaged .*restore it from a backup"):
        StateStore(path)


def test_runs_steps_checkpoints_and_unfinished(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    run = store.runs.start()
    store.runs.step_started(run, "push")
    store.runs.checkpoint(run, "push", {"batches_confirmed": 3})
    assert store.runs.steps(run) == {"push": {"status": "running", "checkpoint": {"batches_confirmed": 3}}}
    unfinished = store.runs.unfinished()
    assert unfinished is not None and unfinished.id == run and unfinished.current_step == "push"
    store.runs.finish(run, "failed", counts={"pushed": 600}, error="boom")
    assert store.runs.unfinished() is None
    last = store.runs.last(1)[0]
    assert (last.status, last.counts, last.error) == ("failed", {"pushed": 600}, "boom")
    with pytest.raises(ValueError, match="unknown run status"):
        store.runs.finish(run, "weird")


def test_page_and_cursor_commit_together(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    rows = [{"source_id": f"003{i}", "email": f"c{i}@x.com", "attributes": {"plan": "pro"}} for i in range(3)]
    store.mirror.commit_page("salesforce", "customers", customers=rows, cursor=Cursor(JAN, "0032"))
    assert store.mirror.cursor("salesforce", "customers") == Cursor(JAN, "0032")

    class Boom(Exception):
        pass

    # a failure while writing a page leaves neither its rows nor its cursor behind
    bad = [{"source_id": "0039", "email": "x"}, {"email": "no id"}]
    with pytest.raises(KeyError):
        store.mirror.commit_page("salesforce", "customers", customers=bad, cursor=Cursor(JAN.replace(year=2027), "0039"))
    assert store.mirror.cursor("salesforce", "customers") == Cursor(JAN, "0032")
    # an unfinished scan travels with the cursor: bound, query, position and first start
    scanning = Cursor(JAN, "0032").scanning("salesforce:abc", encode_mark(JAN.replace(day=2), "0035"), JAN.replace(day=3))
    store.mirror.commit_page("salesforce", "customers", cursor=scanning)
    assert store.mirror.cursor("salesforce", "customers") == scanning
    assert store.conn.execute("SELECT ts, last_id FROM cursors").fetchone() == ("2026-01-01T00:00:00+00:00", "0032")
    df = store.mirror.customers("salesforce")
    assert sorted(df["source_id"]) == ["0030", "0031", "0032"]
    assert df["attributes"].iloc[0] == {"plan": "pro"}
    # an update of an existing record replaces it (no duplicates)
    store.mirror.commit_page("salesforce", "customers", customers=[{"source_id": "0030", "email": "new@x.com", "deleted": True}])
    assert len(store.mirror.customers("salesforce")) == 2
    assert len(store.mirror.customers("salesforce", include_deleted=True)) == 3


def test_arms_are_sticky_at_the_database_level(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    t = pd.Timestamp("2026-11-01", tz="UTC")
    first = pd.DataFrame({"experiment": ["e", "e"], "customer_id": ["a", "b"], "arm": ["control", "treatment"], "segment_id": ["s1", "s1"], "assigned_at": [t, t]})
    assert store.experiments.add_arms(first) == 2
    again = first.assign(arm=["treatment", "control"], segment_id=["s2", "s2"])
    assert store.experiments.add_arms(again) == 0
    arms = store.experiments.arms("e").set_index("customer_id")
    assert arms.loc["a", "arm"] == "control" and arms.loc["a", "segment_id"] == "s1"
    with pytest.raises(sqlite3.IntegrityError, match="arms are sticky"):
        store.conn.execute("UPDATE arms SET arm = 'treatment' WHERE customer_id = 'a'")
    with pytest.raises(sqlite3.IntegrityError, match="arms are sticky"):
        store.conn.execute("DELETE FROM arms")


def test_ledger_confirms_fields_and_list_membership(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.ledger.confirm_fields("hubspot", [("c1", "101", {"segment_id": "seg-1"}), ("c2", "102", {"segment_id": "seg-2"})], mapping_hash="m1")
    store.ledger.confirm_fields("hubspot", [("c1", "101", {"segment_id": "seg-3"})], mapping_hash="m1")
    led = store.ledger.confirmed_fields("hubspot")
    assert led["c1"]["fields"] == {"segment_id": "seg-3"} and led["c2"]["crm_id"] == "102"
    store.ledger.confirm_list_changes("hubspot", "segsync A", added=[("c1", "101"), ("c2", "102")])
    store.ledger.confirm_list_changes("hubspot", "segsync A", removed=["c2"])
    assert store.ledger.list_members("hubspot") == {"segsync A": {"c1": "101"}}
    store.ledger.forget("hubspot")
    assert store.ledger.confirmed_fields("hubspot") == {} and store.ledger.list_members("hubspot") == {}


def test_rejected_rows_listed_and_resolved(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite", redact=["s3cr3t"])
    store.rejected.add(1, "features", "files", [{"record_key": "t1", "reason": "amount is negative (-5.0)"}, {"record_key": "t2", "reason": "token s3cr3t leaked"}])
    df = store.rejected.open()
    assert set(df["reason"]) == {"amount is negative (-5.0)", "token ********** leaked"}
    store.rejected.resolve("features", "files", ["t1"])
    assert store.rejected.open_count() == 1


def test_prune_keeps_the_newest_versions_of_one_model_only(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    for k in range(7):
        store.models.save("artifact", "offers", {"k": k})
    store.models.save("artifact", "insights", {"k": 0})
    store.models.prune("artifact", "offers", newest=7, keep=5)
    assert [v for v, _, _ in store.models.metas("artifact", "offers")] == [3, 4, 5, 6, 7]
    assert store.models.latest_version("artifact", "insights") == 1


def test_models_versioned(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    assert store.models.save("segmentation", "default", {"k": 4}, meta={"reason": "first"}) == 1
    assert store.models.save("segmentation", "default", {"k": 5}) == 2
    version, obj, meta = store.models.latest("segmentation", "default")
    assert (version, obj, meta) == (2, {"k": 5}, {})
