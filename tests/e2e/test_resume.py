"""A run killed in the middle of the push is completed by the next one, without duplicates.

Two ways to die mid-push, both in-process (kill -9 at many points is the chaos suite's job):
- a stop (SIGTERM) requested while Salesforce confirms field updates: the run ends at the
  next checkpoint, 'interrupted';
- connections lost after the CRM applied a write but before segsync saw the reply: raised
  from inside the connectors' iterators (Campaign members added, a Campaign created, HubSpot
  batch updates sent), each failing one run.
Afterwards the CRMs hold exactly the desired state, each record is confirmed once, nobody is
in a Campaign twice, no list exists twice, and no arm moved.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from connector.pipeline import run_cycle
from connector.state import StateStore
from connector.steps.push import FLUSH
from tests.e2e.crm_state import assert_crm_matches, salesforce_snapshot
from tests.e2e.observed import run_observed
from tests.e2e.world import E2EWorld


class LostConnection(ConnectionError):
    """The CRM applied the request; its reply never arrived."""


class Faulty:
    """A connector whose calls fail once each, after the CRM did the work, as `faults` says.

    faults: method name -> (call number, results to hand over before failing); each fires once.
    """

    def __init__(self, inner: Any, faults: dict[str, tuple[int, int]], fired: set[str]) -> None:
        self.inner, self.faults, self.fired = inner, faults, fired
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _armed(self, name: str) -> tuple[int, int] | None:
        self.calls[name] = self.calls.get(name, 0) + 1
        fault = self.faults.get(name)
        if fault is None or name in self.fired or self.calls[name] != fault[0]:
            return None
        return fault

    def _results(self, name: str, results: Iterator[Any]) -> Iterator[Any]:
        fault = self._armed(name)
        for i, result in enumerate(results):
            if fault is not None and i == fault[1]:
                self.fired.add(name)
                raise LostConnection(f"{name}: connection reset after the CRM applied the batch")
            yield result

    def push_updates(self, updates: Any) -> Iterator[Any]:
        return self._results("push_updates", self.inner.push_updates(updates))

    def add_members(self, list_id: str, record_ids: Any) -> Iterator[Any]:
        return self._results("add_members", self.inner.add_members(list_id, record_ids))

    def ensure_list(self, name: str) -> str:
        list_id = self.inner.ensure_list(name)
        if self._armed("ensure_list") is not None:
            self.fired.add("ensure_list")
            raise LostConnection(f"ensure_list {name!r}: the Campaign was created, the reply lost")
        return list_id


class StopAfter:
    """A connector that requests a stop (as SIGTERM does) after `n` field results."""

    def __init__(self, inner: Any, stop: threading.Event, n: int) -> None:
        self.inner, self.stop, self.n = inner, stop, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def push_updates(self, updates: Any) -> Iterator[Any]:
        for i, result in enumerate(self.inner.push_updates(updates), start=1):
            if i == self.n:
                self.stop.set()
            yield result


def _patched_ids(world: E2EWorld, mark: Any) -> list[str]:
    """Contact Ids in the Collections updates sent since `mark`, one entry per send."""
    return [r["id"] for req in world.salesforce_requests(mark, "PATCH", "/composite/sobjects") for r in req.json()["records"]]  # the docs spell it "id"


def test_stop_mid_push_is_completed_by_the_next_run(tmp_path: Path) -> None:
    # more Salesforce contacts than the push's flush size (1,000), so the stop lands mid-fields
    world = E2EWorld(tmp_path, n_customers=2000, seed=5)
    config = world.config()
    stop = threading.Event()
    world.wrap = lambda name, conn: StopAfter(conn, stop, 200) if name == "salesforce" else conn
    with StateStore(world.tmp / "state.sqlite") as store:
        mark = world.mark()
        first, first_steps = run_observed(config, store, stop=stop, connector_factory=world.factory)
        assert first.status == "interrupted", first.error
        assert first_steps.measure is None and first.lift is None  # stopped in push: measure never ran
        assert first_steps.plan is not None
        confirmed_first = store.ledger.confirmed_fields("salesforce")
        sent_first = _patched_ids(world, mark)
        arms_first = store.experiments.arms()
        # stopped at the first checkpoint after the stop: some, not all, confirmed; HubSpot untouched
        n_sf = first_steps.plan.desired["salesforce_id"].notna().sum()
        assert n_sf > FLUSH
        assert len(confirmed_first) == FLUSH  # the first checkpoint after the stop request
        assert "list_adds_salesforce" not in first.counts
        assert store.ledger.confirmed_fields("hubspot") == {}
        assert world.hs.calls(kind="objects.batch.update") == 0

        world.wrap = lambda name, conn: conn
        mark = world.mark()
        second, second_steps = run_observed(config, store, connector_factory=world.factory)
        assert second.status == "succeeded", second.error
        sent_second = _patched_ids(world, mark)

        assert second_steps.plan is not None
        desired = second_steps.plan.desired
        assert_crm_matches(desired, config, world.sf, world.hs)
        # each record confirmed once: the second run sent only what the first had not confirmed
        by_key = desired.dropna(subset=["salesforce_id"]).set_index("customer_id")["salesforce_id"]
        confirmed_ids = {str(by_key[k]) for k in confirmed_first}
        assert not confirmed_ids & set(sent_second)
        assert len(sent_second) == len(set(sent_second)) == n_sf - len(confirmed_first)
        assert set(sent_first) | set(sent_second) == set(by_key.astype(str))
        ledger = store.ledger.confirmed_fields("salesforce")
        assert len(ledger) == n_sf
        assert {k for k, v in ledger.items()} >= set(confirmed_first)
        _assert_arms_unchanged(arms_first, store.experiments.arms())


def test_lost_replies_mid_push_leave_no_duplicates(world: E2EWorld) -> None:
    config = world.config()
    fired: set[str] = set()
    sf_faults = {"add_members": (2, 150), "ensure_list": (4, 0)}  # 2nd Campaign's adds; 4th Campaign created
    hs_faults = {"push_updates": (1, 250)}  # three batches of 100 applied, 250 results seen
    world.wrap = lambda name, conn: Faulty(conn, sf_faults if name == "salesforce" else hs_faults, fired)
    with StateStore(world.tmp / "state.sqlite") as store:
        statuses, arms_first = [], None
        for _ in range(5):
            result, steps = run_observed(config, store, connector_factory=world.factory)
            statuses.append(result.status)
            arms_first = store.experiments.arms() if arms_first is None else arms_first
            if result.status == "succeeded":
                break
            assert "LostConnection" in (result.error or ""), result.error
        assert fired == {"add_members", "ensure_list", "push_updates"}
        assert statuses == ["failed", "failed", "failed", "succeeded"]

        assert steps.plan is not None
        desired = steps.plan.desired
        sf_snap, _ = assert_crm_matches(desired, config, world.sf, world.hs)
        # no Campaign twice, nobody twice in a Campaign (also checked by assert_crm_matches)
        segsync = {n: ids for n, ids in sf_snap.lists.items() if n.startswith("segsync ")}
        assert len(segsync) == 6 and all(len(ids) == 1 for ids in segsync.values())
        members = list(salesforce_snapshot(world.sf).members.values())
        assert all(n == 1 for counter in members for n in counter.values())
        assert len(world.hs.store.lists()) == 6
        # the ledger holds each record once, as the CRM has it
        for dest in ("salesforce", "hubspot"):
            ledger = store.ledger.confirmed_fields(dest)
            assert len(ledger) == desired[f"{dest}_id"].notna().sum()
        _assert_arms_unchanged(arms_first, store.experiments.arms())
        # and a further run has nothing left to write
        mark = world.mark()
        again = run_cycle(config, store, connector_factory=world.factory)
        assert again.status == "succeeded" and world.writes_since(mark).total == 0


def _assert_arms_unchanged(before: pd.DataFrame, after: pd.DataFrame) -> None:
    key = ["experiment", "customer_id"]
    cols = [*key, "arm", "segment_id", "assigned_at"]
    b = before[cols].sort_values(key).reset_index(drop=True)
    a = after[cols].sort_values(key).reset_index(drop=True)
    assert len(b) > 0
    pd.testing.assert_frame_equal(a, b)
