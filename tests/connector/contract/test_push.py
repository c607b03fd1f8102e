"""The shared contract of a push: plan against the ledger, write, confirm; then only changes.

The plan and push steps' own code runs against every field destination harness in this
folder: the first push writes every record and list member, the next with nothing changed
makes no call at all, and one changed customer costs one record write.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from connector.config import Config
from connector.metrics import Metrics
from connector.pipeline import CycleContext
from connector.state import StateStore
from connector.steps.plan import destination_plan
from connector.steps.push import _provision, _push_fields, _push_lists
from tests.connector.contract.harness import discover

HARNESSES = discover("crm")


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest):
    h = HARNESSES[request.param]()
    request.addfinalizer(h.close)
    return h


@pytest.fixture
def ctx(tmp_path: Path):
    store = StateStore(tmp_path / "state.sqlite")
    yield CycleContext(Config(), store, run_id=store.runs.start(dry_run=False), dry_run=False,
                       stop=threading.Event(), metrics=Metrics.disabled())
    store.close()


def push_once(ctx: CycleContext, conn, table: pd.DataFrame) -> tuple[int, int, int]:
    """(record updates planned, list changes planned, requests made) of one plan + push."""
    spec = conn.write_spec()
    p = destination_plan(ctx, conn.name, table, spec, conn.id_column, conn.id_column)
    before = conn.counter.total()
    _provision(ctx, conn, p)
    _push_fields(ctx, conn, p)
    _push_lists(ctx, conn, p)
    changes = sum(len(v) for v in p.list_adds.values()) + sum(len(v) for v in p.list_removes.values())
    return len(p.updates), changes, conn.counter.total() - before


def test_a_push_writes_only_what_changed(harness, ctx: CycleContext) -> None:
    ids = harness.seed_customers(6)
    conn = harness.connector()
    table = pd.DataFrame({"customer_id": [f"e-{i}" for i in range(6)], conn.id_column: ids,
                          "segment_id": ["s0", "s1"] * 3, "segment_name": ["Champions", "At risk"] * 3})
    updates, list_changes, calls = push_once(ctx, conn, table)
    assert (updates, list_changes) == (6, 6) and calls > 0
    assert [harness.read_segment_name(i) for i in ids] == ["Champions", "At risk"] * 3
    assert len(ctx.store.ledger.confirmed_fields(conn.name)) == 6

    assert push_once(ctx, conn, table) == (0, 0, 0)  # nothing changed: no call at all

    table.loc[1, ["segment_id", "segment_name"]] = ["s0", "Champions"]
    updates, list_changes, calls = push_once(ctx, conn, table)
    assert (updates, list_changes) == (1, 2)  # one record; it leaves one list and joins another
    assert [harness.read_segment_name(i) for i in ids] == ["Champions"] * 2 + ["Champions", "At risk"] * 2
    members = ctx.store.ledger.list_members(conn.name)
    assert members["segsync Champions"] == {"e-0": ids[0], "e-1": ids[1], "e-2": ids[2], "e-4": ids[4]}
    list_id = ctx.store.ledger.list_id(conn.name, "segsync Champions")
    assert conn.list_members(list_id) == {ids[0], ids[1], ids[2], ids[4]}
    assert ctx.store.rejected.open_count() == 0
