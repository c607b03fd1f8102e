"""The shared contract of a source that keeps its own part of the mirror (MirroringSource):
pages stored with their cursor, a quiet re-pull reads nothing, a stop at a checkpoint loses
nothing, refused rows are reported with a reason, and what it reads whole is keyed by
segsync's customer_id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.config import IdentityConfig
from connector.crm.plugin import ENTITIES, MirroringSource, PullContext, RecordSource, TableSource
from connector.identity import email_key
from connector.state import StateStore
from tests.connector.contract.harness import discover

MIRRORING = discover("mirroring")


class Stop(Exception):
    pass


class Pull:
    """A PullContext on a fresh state store that records counts and refusals."""

    def __init__(self, tmp_path: Path, stop_at: int | None = None) -> None:
        self.store = StateStore(tmp_path / "state.sqlite")
        self.counts: dict[str, int] = {}
        self.rejected: list[tuple[str, dict[str, Any]]] = []
        self.accepted: list[tuple[str, str]] = []
        self.pages = 0
        self.stop_at = stop_at

    def context(self) -> PullContext:
        return PullContext(self.store.mirror, self.checkpoint, self.reject, self.accept, self.count, IdentityConfig())

    def checkpoint(self) -> None:
        self.pages += 1
        if self.stop_at is not None and self.pages == self.stop_at:
            raise Stop

    def reject(self, entity: str, rows: list[dict[str, Any]]) -> None:
        self.rejected += [(entity, r) for r in rows]

    def accept(self, entity: str, keys: list[str]) -> None:
        self.accepted += [(entity, k) for k in keys]

    def count(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


@pytest.fixture(params=sorted(MIRRORING))
def harness(request: pytest.FixtureRequest):
    h = MIRRORING[request.param]()
    request.addfinalizer(h.close)
    return h


def test_it_is_a_mirroring_source_only(harness) -> None:
    plugin = harness.plugin()
    assert isinstance(plugin, MirroringSource) and not isinstance(plugin, RecordSource | TableSource)
    assert plugin.name == harness.name and plugin.provides <= set(ENTITIES)


def test_pages_land_in_the_mirror_and_a_quiet_pull_reads_nothing(harness, tmp_path: Path) -> None:
    ids = harness.seed_customers(harness.page_size * 2 + 3)
    harness.seed_purchase(ids[0], "12.50")
    pull = Pull(tmp_path)
    harness.plugin().pull_into(pull.context())
    mirrored = pull.store.mirror.customers(harness.name)
    assert sorted(mirrored["source_id"]) == sorted(ids) and pull.pages >= 3
    assert pull.counts[f"pulled_{harness.name}_customers"] == len(ids)
    [tx] = pull.store.mirror.transactions(harness.name).itertuples()
    assert (tx.customer_source_id, float(tx.amount)) == (ids[0], 12.5)
    again = Pull(tmp_path)
    again.store = pull.store
    harness.plugin().pull_into(again.context())
    assert again.counts[f"pulled_{harness.name}_customers"] == 0
    harness.touch_customers(ids[:2])
    changed = Pull(tmp_path)
    changed.store = pull.store
    harness.plugin().pull_into(changed.context())
    assert changed.counts[f"pulled_{harness.name}_customers"] == 2


def test_a_stop_at_a_checkpoint_loses_nothing(harness, tmp_path: Path) -> None:
    ids = harness.seed_customers(harness.page_size * 3 + 3)
    stopped = Pull(tmp_path, stop_at=2)
    with pytest.raises(Stop):
        harness.plugin().pull_into(stopped.context())
    assert 0 < len(stopped.store.mirror.customers(harness.name)) < len(ids)
    resumed = Pull(tmp_path)
    resumed.store = stopped.store
    harness.plugin().pull_into(resumed.context())
    assert sorted(resumed.store.mirror.customers(harness.name)["source_id"]) == sorted(ids)
    assert resumed.counts[f"pulled_{harness.name}_customers"] <= len(ids) - harness.page_size


def test_refused_rows_are_reported_with_a_reason_and_the_rest_stored(harness, tmp_path: Path) -> None:
    [a, b] = harness.seed_customers(2)
    good, bad = harness.seed_purchase(a, "5.00"), harness.seed_purchase(b, "five")
    pull = Pull(tmp_path)
    harness.plugin().pull_into(pull.context())
    stored = pull.store.mirror.transactions(harness.name)
    assert good in set(stored["source_id"].astype(str)) and ("transactions", good) in pull.accepted
    refused = [r for _, r in pull.rejected if str(r["record_key"]) == bad]
    stored_bad = stored[stored["source_id"].astype(str) == bad]
    # refused at the pull with a reason, or stored raw for the features step's quarantine
    assert (refused and "five" in refused[0]["reason"]) or (len(stored_bad) == 1 and str(stored_bad["amount"].iloc[0]) == "five")


def test_tables_read_whole_are_keyed_by_segsyncs_customer_id(harness, tmp_path: Path) -> None:
    [a] = harness.seed_customers(1)
    harness.seed_event(a, "login")
    harness.seed_event("nobody", "login")
    pull = Pull(tmp_path)
    tables = harness.plugin().pull_into(pull.context())
    events = tables["events"].sort_values("customer_id")
    assert events["customer_id"].tolist() == [email_key(f"{a.lower()}@example.com"), f"{harness.name}-nobody"]
    assert set(events["source"]) == {harness.name} and events["occurred_at"].dt.tz is not None
