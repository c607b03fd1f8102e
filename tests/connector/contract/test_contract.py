"""The shared contract: what every CRM connector does, run against each harness in this folder.

Add a CRM by adding `harness_<crm>.py` (see harness.py); these tests do not change.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from connector.crm.base import (
    Cursor,
    CustomerRecord,
    OutcomeRecord,
    PullBatch,
    QuotaInfo,
    TransactionRecord,
    set_members,
)
from connector.crm.plugin import Connector
from connector.crm.registry import registered
from tests.connector.contract.harness import discover

HARNESSES = discover("crm")


@pytest.fixture(params=sorted(HARNESSES))
def harness(request):
    h = HARNESSES[request.param]()
    yield h
    h.close()


class Sink:
    def __init__(self) -> None:
        self.batches: list[PullBatch] = []

    def __call__(self, batch: PullBatch) -> None:
        self.batches.append(batch)

    @property
    def rows(self):
        return [r for b in self.batches for r in b.rows]

    @property
    def deleted(self):
        return [i for b in self.batches for i in b.deleted_ids]


def test_harnesses_were_found():
    assert {"salesforce", "hubspot"} <= set(HARNESSES)


def test_implements_the_protocol(harness):
    conn = harness.connector()
    assert isinstance(conn, Connector)
    assert conn.name == harness.name and conn.id_column == registered()[harness.name].id_column
    assert isinstance(conn.quota(), QuotaInfo)


def test_full_pull_streams_every_customer_once_with_ordered_cursors(harness):
    ids = harness.seed_customers(7)
    sink = Sink()
    cursor = harness.connector().pull_customers(sink)
    got = [r.source_id for r in sink.rows]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    assert all(isinstance(r, CustomerRecord) and r.source == harness.name for r in sink.rows)
    assert all(r.email and "@" in r.email for r in sink.rows)
    assert all(r.created_at.tzinfo is not None and r.created_at.utcoffset().total_seconds() == 0 for r in sink.rows)
    cursors = [b.cursor for b in sink.batches]
    assert cursors == sorted(cursors) and cursor == cursors[-1]


def test_incremental_pull_reads_only_changes(harness):
    ids = harness.seed_customers(6)
    conn = harness.connector()
    cursor = conn.pull_customers(Sink())
    quiet = Sink()
    assert conn.pull_customers(quiet, cursor) == cursor
    assert quiet.rows == [] and quiet.deleted == []
    harness.touch_customers(ids[1:3])
    changed = Sink()
    after = conn.pull_customers(changed, cursor)
    assert sorted(r.source_id for r in changed.rows) == sorted(ids[1:3])
    assert all(r.email.startswith("touched-") for r in changed.rows)
    assert after > cursor


def test_deletions_are_reported(harness):
    ids = harness.seed_customers(3)
    conn = harness.connector()
    cursor = conn.pull_customers(Sink())
    harness.delete_customer(ids[0])
    sink = Sink()
    conn.pull_customers(sink, cursor)
    assert sink.deleted == [ids[0]] and sink.rows == []


def test_transactions_have_canonical_types(harness):
    [customer] = harness.seed_customers(1)
    tid = harness.seed_purchase(customer, 42.5, date(2026, 2, 14))
    sink = Sink()
    harness.connector().pull_transactions(sink)
    [t] = [r for r in sink.rows if r.transaction_id == tid]
    assert isinstance(t, TransactionRecord)
    assert (t.customer_source_id, t.amount, t.source) == (customer, 42.5, harness.name)
    assert isinstance(t.amount, float) and not math.isnan(t.amount)
    assert t.occurred_at.date() == date(2026, 2, 14) and t.occurred_at.tzinfo is not None


def test_push_reports_per_record_and_one_bad_row_does_not_fail_the_rest(harness):
    ids = harness.seed_customers(5)
    conn = harness.connector()
    conn.provision(harness.field_specs())
    updates = [harness.update_for(i, f"seg-{n}") for n, i in enumerate(ids)]
    updates.insert(2, harness.update_for(harness.missing_id(), "seg-x"))
    results = {r.record_id: r for r in conn.push_updates(updates)}
    assert set(results) == {u.record_id for u in updates}
    bad = results[updates[2].record_id]
    assert not bad.ok and bad.error_code
    assert all(results[u.record_id].ok for u in updates if u is not updates[2])
    assert [harness.read_segment_name(i) for i in ids] == [f"seg-{n}" for n in range(5)]


def test_provision_is_idempotent(harness):
    conn = harness.connector()
    conn.provision(harness.field_specs())
    again = conn.provision(harness.field_specs())
    assert again.created == ()


def test_lists_are_found_by_name_and_membership_is_exact(harness):
    ids = harness.seed_customers(8)
    conn = harness.connector()
    list_id = conn.ensure_list("segsync contract A")
    assert conn.ensure_list("segsync contract A") == list_id
    assert conn.ensure_list("segsync contract B") != list_id
    assert all(r.ok for r in set_members(conn, list_id, ids[:5]))
    assert conn.list_members(list_id) == set(ids[:5])
    assert all(r.ok for r in conn.add_members(list_id, ids[:2]))  # already members: success
    assert all(r.ok for r in conn.remove_members(list_id, ids[6:]))  # not members: success
    assert all(r.ok for r in set_members(conn, list_id, ids[3:8]))
    assert conn.list_members(list_id) == set(ids[3:8])


def test_outcomes_of_list_members(harness):
    member, outsider = harness.seed_customers(2)
    conn = harness.connector()
    arm = conn.ensure_list("segsync contract exp treatment")
    assert all(r.ok for r in conn.add_members(arm, [member]))
    harness.seed_purchase(member, 80.0, date(2026, 3, 10))
    harness.seed_purchase(member, 5.0, date(2026, 1, 10))  # before the window
    harness.seed_purchase(outsider, 70.0, date(2026, 3, 10))  # not in the experiment
    out = list(conn.read_outcomes({"exp": [arm]}, date(2026, 3, 1)))
    assert all(isinstance(o, OutcomeRecord) for o in out)
    revenue = [(o.experiment, o.list_id, o.customer_source_id, o.value) for o in out if o.metric == "revenue"]
    assert revenue == [("exp", arm, member, 80.0)]
    [seen] = [o.observed_at for o in out if o.metric == "revenue"]
    assert seen.date() == date(2026, 3, 10) and seen.tzinfo is not None


def test_cursor_is_tie_safe():
    a = Cursor(datetime(2026, 1, 1, tzinfo=UTC), "a")
    assert a.after(datetime(2026, 1, 1, tzinfo=UTC), "b")
    assert not a.after(datetime(2026, 1, 1, tzinfo=UTC), "a")
    assert Cursor(datetime(2026, 1, 1, tzinfo=UTC), "z") < Cursor(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), "a")
    with pytest.raises(ValueError):
        Cursor(datetime(2026, 1, 1), "naive")
