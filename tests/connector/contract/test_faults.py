"""The shared contract under faults: paging, token refresh, 429s, quota stops, resumed pulls.

Every test runs against every CRM harness in this folder (harness.py), driven by the
sandbox's own faults (connector/sandbox/faults.py) and limits: what a source does when the
system misbehaves is part of its contract, so it is tested once for all of them.
"""

from __future__ import annotations

import pytest

from connector.crm.base import Cursor, PullBatch
from connector.crm.errors import QuotaExceededError
from connector.sandbox.faults import FaultConfig
from tests.connector.contract.harness import discover

HARNESSES = discover("crm")
#: The token endpoints are never faulted: a fault there is the transport's test (tests/connector/test_http.py).
TOKEN_PATHS = ("/services/oauth2/token", "/oauth/")


def open_harness(request: pytest.FixtureRequest, **options: object):
    harness = HARNESSES[request.param](**options)
    request.addfinalizer(harness.close)
    return harness


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest):
    return open_harness(request)


@pytest.fixture(params=sorted(HARNESSES))
def flaky(request: pytest.FixtureRequest):
    """One request in three is a 429 (the CRM's own 429 body), one in ten a 503, one in 20 dropped."""
    faults = FaultConfig(seed=7, p_429=0.3, p_503=0.1, p_drop=0.05, exempt_paths=TOKEN_PATHS)
    return open_harness(request, faults=faults)


@pytest.fixture(params=sorted(HARNESSES))
def expiring(request: pytest.FixtureRequest):
    return open_harness(request, expiring_tokens=True)


@pytest.fixture(params=sorted(HARNESSES))
def metered(request: pytest.FixtureRequest):
    return open_harness(request, daily_limit=1000)


class Sink:
    """Keeps every batch; `on_page(n)` runs after the n-th page (1-based) was kept."""

    def __init__(self, on_page=None) -> None:
        self.batches: list[PullBatch] = []
        self.on_page = on_page

    def __call__(self, batch: PullBatch) -> None:
        self.batches.append(batch)
        if self.on_page is not None:
            self.on_page(len(self.batches))

    @property
    def ids(self) -> list[str]:
        return [r.source_id for b in self.batches for r in b.rows]

    @property
    def cursor(self) -> Cursor | None:
        return self.batches[-1].cursor if self.batches else None


def test_a_full_pull_pages_and_every_page_carries_its_cursor(harness) -> None:
    ids = harness.seed_customers(harness.page_size * 2 + 7)
    sink = Sink()
    last = harness.connector().pull("customers", sink)
    assert sorted(sink.ids) == sorted(ids) and len(sink.ids) == len(ids)
    pages = [len(b.rows) for b in sink.batches if b.rows]
    assert len(pages) >= 3 and max(pages) <= harness.page_size
    cursors = [b.cursor for b in sink.batches]
    assert cursors == sorted(cursors) and last == cursors[-1]


def test_429s_503s_and_dropped_connections_are_retried_without_loss(flaky) -> None:
    ids = flaky.seed_customers(flaky.page_size * 2 + 7)
    conn = flaky.connector()
    sink = Sink()
    conn.pull("customers", sink)
    assert sorted(sink.ids) == sorted(ids) and len(sink.ids) == len(ids)
    # and writes: every update lands once, whatever the faults did to the batches
    conn.provision(flaky.field_specs())
    results = list(conn.push_updates([flaky.update_for(i, "flaky") for i in ids[:250]]))
    assert sorted(r.record_id for r in results if r.ok) == sorted(ids[:250])
    assert {flaky.read_segment_name(i) for i in ids[:250]} == {"flaky"}
    injected = flaky.injected()
    assert injected["429"] + injected["503"] + injected["drop"] >= 3
    # the client saw every one of them, and retried it
    seen = {"429": conn.counter.total(status="429"), "503": conn.counter.total(status="503"),
            "drop": conn.counter.total(status="connection_error")}
    assert seen == {k: injected[k] for k in seen}


def test_an_expired_token_mid_pull_is_refreshed_once_and_the_call_replayed(expiring) -> None:
    ids = expiring.seed_customers(expiring.page_size * 2 + 7)
    conn = expiring.connector()

    def expire_after_first_page(n: int) -> None:
        if n == 1:
            expiring.expire_tokens()

    sink = Sink(expire_after_first_page)
    conn.pull("customers", sink)
    assert sorted(sink.ids) == sorted(ids) and len(sink.ids) == len(ids)
    assert conn.counter.total(status="401") == 1
    assert conn.counter.total(kind="auth") == 2  # the first token, and one refresh


def test_a_spent_daily_quota_stops_the_pull_cleanly_and_it_resumes_next_day(metered) -> None:
    ids = metered.seed_customers(metered.page_size * 3 + 7)
    conn = metered.connector()

    def others_spend_the_budget(n: int) -> None:
        if n == 1:
            metered.spend_quota(1000)

    stopped = Sink(others_spend_the_budget)
    with pytest.raises(QuotaExceededError):
        conn.pull("customers", stopped)
    refusals = conn.counter.total(status="403") + conn.counter.total(status="429")
    assert refusals == 1  # the refusal is a stop, never retried in a loop
    assert len(stopped.batches) == 1 and stopped.cursor is not None
    before = conn.counter.total()
    with pytest.raises(QuotaExceededError):  # a push stops as cleanly: one refused call at most
        list(conn.push_updates([metered.update_for(ids[0], "late")]))
    assert conn.counter.total() - before <= 1 and metered.read_segment_name(ids[0]) != "late"
    metered.next_day()
    resumed = Sink()
    metered.connector(fresh=True).pull("customers", resumed, stopped.cursor)  # the next run
    assert set(stopped.ids) | set(resumed.ids) == set(ids)
    assert len(resumed.ids) == len(set(resumed.ids))


def test_an_interrupted_pull_resumes_from_its_last_stored_cursor(harness) -> None:
    ids = harness.seed_customers(harness.page_size * 3 + 7)
    conn = harness.connector()

    class Crash(Exception):
        pass

    def crash_after_second_page(n: int) -> None:
        if n == 2:
            raise Crash

    first = Sink(crash_after_second_page)
    with pytest.raises(Crash):
        conn.pull("customers", first)
    stored = first.batches[-1].cursor  # what a mirror committed with the second page
    again = Sink()
    conn.pull("customers", again, stored)
    assert set(first.ids) | set(again.ids) == set(ids)
    reread = set(first.ids) & set(again.ids)
    assert len(reread) <= harness.page_size  # at most the page whose cursor was not stored
    quiet = Sink()
    assert conn.pull("customers", quiet, again.cursor) == again.cursor and quiet.ids == []
