"""Issue 23: a HubSpot pull killed mid-scan and resumed later must not lose edits for good.

The reproduction of the issue, in process: both streams into a real state store through
`MirrorSink` (as the pull step does), a "kill -9" right after a page and its cursor were
committed (the sink raises, so nothing after that page happens), edits to the lowest and the
highest id while nothing runs, 70 s on the sandbox clock (longer than the 1-minute overlap),
then two clean runs. The mirror must hold both edits, as HubSpot does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotSource
from connector.crm.base import PullBatch
from connector.crm.hubspot import HubSpotConnector
from connector.crm.sink import MirrorSink
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state import StateStore

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WON = {"dealstage": "closedwon", "closedate": "2026-05-20T00:00:00Z", "pipeline": "default", "amount": "10.0"}


class Killed(Exception):
    """The process died right after a page and its cursor were committed."""


def connect(hs: HubSpotSandbox) -> HubSpotConnector:
    source = HubSpotSource(base_url="https://hubspot.test", auth=HubSpotAuth(method="token", token=SecretStr(hs.credentials["token"])),
                           tier_requests_per_10s=190, search_overlap_minutes=1, http=HttpConfig(concurrency=1))
    return HubSpotConnector(source, clock=TransportClock(hs.clock), transport=httpx.WSGITransport(app=hs.app), now=hs.clock.now)


def pull(hs: HubSpotSandbox, store: StateStore, stream: str, *, kill_after: int | None = None) -> None:
    """One run's pull of `stream`; with `kill_after`, the process dies after that many pages."""
    sink = MirrorSink(store.mirror, "hubspot", stream)
    pages = 0

    def page(batch: PullBatch) -> None:
        nonlocal pages
        sink(batch)
        pages += 1
        if kill_after is not None and pages >= kill_after:
            raise Killed(stream)

    conn = connect(hs)
    fn: Callable = conn.pull_customers if stream == "customers" else conn.pull_transactions
    if kill_after is None:
        fn(page, sink.cursor())
    else:
        with pytest.raises(Killed):
            fn(page, sink.cursor())
        assert sink.cursor() is not None and sink.cursor().scan is not None  # a committed mid-scan position
    conn.close()


def seed(hs: HubSpotSandbox) -> tuple[list[str], list[str]]:
    contacts = hs.store.create("contacts", [{"email": f"u{i}@x.com", "firstname": "old"} for i in range(1000)])
    deals = hs.store.create("deals", [dict(WON, dealname=f"d{i}") for i in range(3000)])
    for n, deal in enumerate(deals):
        hs.store.associate("deals", deal, "contacts", contacts[n % len(contacts)])
    return contacts, deals


def edit_low_then_high(hs: HubSpotSandbox, stream: str, ids: list[str]) -> None:
    """The issue's step 3: the lowest id, then a second later the highest id."""
    low, high = min(ids, key=int), max(ids, key=int)
    if stream == "transactions":
        hs.store.update("deals", low, {"amount": "777.77"})
        hs.clock.advance(seconds=1)
        hs.store.update("deals", high, {"amount": "888.88"})
    else:
        hs.store.update("contacts", low, {"email": "low-edited@x.com"})
        hs.clock.advance(seconds=1)
        hs.store.update("contacts", high, {"email": "high-edited@x.com"})


def mirrored(store: StateStore, stream: str) -> dict[str, str]:
    if stream == "transactions":
        frame = store.mirror.transactions("hubspot")
        return dict(zip(frame["source_id"], frame["amount"], strict=True))
    frame = store.mirror.customers("hubspot")
    return dict(zip(frame["source_id"], frame["email"], strict=True))


def expected(stream: str, ids: list[str]) -> dict[str, str]:
    low, high = min(ids, key=int), max(ids, key=int)
    if stream == "transactions":
        return {low: "777.77", high: "888.88"}
    return {low: "low-edited@x.com", high: "high-edited@x.com"}


@pytest.mark.parametrize("stream", ["customers", "transactions"])
def test_edit_below_the_resume_point_survives_a_kill_mid_search(tmp_path: Path, stream: str) -> None:
    hs = HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)
    contacts, deals = seed(hs)
    ids = deals if stream == "transactions" else contacts
    hs.clock.advance(days=1)
    with StateStore(tmp_path / "state.sqlite") as store:
        pull(hs, store, stream)  # run 1: the full sync, exit 0
        hs.clock.advance(seconds=600)
        kind = "deals" if stream == "transactions" else "contacts"
        for rid in ids[:600]:  # three search pages of changes for run 2
            hs.store.update(kind, rid, {"dealname": "touched"} if kind == "deals" else {"firstname": "touched"})
        hs.clock.advance(seconds=120)
        pull(hs, store, stream, kill_after=1)  # run 2: killed mid-scan
        edit_low_then_high(hs, stream, ids)
        hs.clock.advance(seconds=70)
        pull(hs, store, stream)  # run 3
        pull(hs, store, stream)  # run 4
        got = mirrored(store, stream)
        assert {k: got[k] for k in expected(stream, ids)} == expected(stream, ids)


@pytest.mark.parametrize("stream", ["customers", "transactions"])
def test_edit_below_the_resume_point_survives_a_kill_mid_full_sync(tmp_path: Path, stream: str) -> None:
    hs = HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)
    contacts, deals = seed(hs)
    ids = deals if stream == "transactions" else contacts
    hs.clock.advance(days=1)
    with StateStore(tmp_path / "state.sqlite") as store:
        pull(hs, store, stream, kill_after=3)  # run 1: the first full sync, killed on page 3
        edit_low_then_high(hs, stream, ids)
        hs.clock.advance(seconds=70)
        pull(hs, store, stream)
        pull(hs, store, stream)
        got = mirrored(store, stream)
        assert {k: got[k] for k in expected(stream, ids)} == expected(stream, ids)
        assert len(got) == len(ids)


def test_resuming_a_scan_older_than_the_overlap_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hs = HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)
    seed(hs)
    hs.clock.advance(days=1)
    with StateStore(tmp_path / "state.sqlite") as store:
        pull(hs, store, "customers", kill_after=2)
        hs.clock.advance(seconds=70)
        with caplog.at_level(logging.WARNING, logger="segsync"):
            pull(hs, store, "customers")
    [warning] = [r.getMessage() for r in caplog.records if "overlap" in r.getMessage()]
    assert "hubspot contacts" in warning and "0:01:10" in warning and "search_overlap_minutes" in warning


def test_cursors_stored_before_the_shared_type_restart_their_scan_from_its_bound(tmp_path: Path) -> None:
    hs = HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(250)])
    hs.clock.advance(days=1)
    with StateStore(tmp_path / "state.sqlite") as store:
        # an unfinished list scan as the old code stored it: its start unknown, so it restarts
        store.conn.execute("INSERT INTO cursors (source, stream, ts, last_id, extra, updated_at) "
                           "VALUES ('hubspot', 'customers', '1970-01-01T00:00:00+00:00', 'after:100201', '{}', '')")
        store.conn.commit()
        pull(hs, store, "customers")
        assert hs.calls("objects.list") == 3  # from the first page, not from 100201
        assert sorted(store.mirror.customers("hubspot")["source_id"]) == ids
        # an unfinished search: resumed from its window's bound, (ts, 100100), not its id floor
        hs.store.update("contacts", ids[0], {"email": "low@x.com"})
        hs.store.update("contacts", ids[-1], {"email": "high@x.com"})
        hs.clock.advance(seconds=120)
        store.conn.execute("UPDATE cursors SET ts = ?, last_id = ?, extra = '{}'",
                           ((START + timedelta(hours=1)).isoformat(), f"search:100100:{ids[-2]}"))
        store.conn.commit()
        pull(hs, store, "customers")
        got = mirrored(store, "customers")
        assert (got[ids[0]], got[ids[-1]]) == ("low@x.com", "high@x.com")
