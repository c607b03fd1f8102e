"""Line item pulls against the HubSpot sandbox: products on closed-won deals through the v4
associations, incremental by hs_lastmodifieddate on the tie-safe (timestamp, id) cursor."""

from __future__ import annotations

import pytest

from connector.config import IdentityConfig
from connector.crm.sink import MirrorSink
from connector.identity import canonical_tables
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.state.store import StateStore
from tests.connector.hubspot.test_hubspot_sandbox import START, collect, connect

LINES = {"line_items": {"enabled": True}, "search_overlap_minutes": 0}


class Crash(Exception):
    pass


@pytest.fixture
def hs() -> HubSpotSandbox:
    return HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)


def shop(hs: HubSpotSandbox) -> dict[str, str]:
    """A contact with a won and an open deal; products MUG-1 and TEA-1."""
    contact = hs.store.create("contacts", [{"email": "buyer@example.com"}])[0]
    won, open_ = hs.store.create("deals", [
        {"dealname": "won", "amount": "30", "dealstage": "closedwon", "closedate": "2026-05-20T00:00:00Z"},
        {"dealname": "open", "amount": "9", "dealstage": "qualifiedtobuy"},
    ])
    for deal in (won, open_):
        hs.store.associate("deals", deal, "contacts", contact)
    mug, tea = hs.store.create("products", [{"name": "Mug", "price": "8", "hs_sku": "MUG-1"},
                                           {"name": "Tea", "price": "3.5", "hs_sku": "TEA-1"}])
    return {"contact": contact, "won": won, "open": open_, "mug": mug, "tea": tea}


def add_lines(hs: HubSpotSandbox, deal: str, product: str, n: int, quantity: int = 2) -> list[str]:
    ids = hs.store.create("line_items", [{"hs_product_id": product, "quantity": str(quantity)} for _ in range(n)])
    for line in ids:
        hs.store.associate("line_items", line, "deals", deal)
    return ids


def test_line_items_carry_the_product_and_their_deal(hs, tmp_path):
    s = shop(hs)
    (mug,) = add_lines(hs, s["won"], s["mug"], 1, quantity=3)
    (own_price,) = hs.store.create("line_items", [{"name": "Gift wrap", "price": "1.5", "quantity": "1"}])
    hs.store.associate("line_items", own_price, "deals", s["won"])
    add_lines(hs, s["open"], s["tea"], 1)
    hs.clock.advance(days=1)
    conn, _ = connect(hs, **LINES)
    pages: list = []
    conn.pull_line_items(collect(pages))
    got = {r.line_item_id: r for p in pages for r in p.rows}
    assert len(got) == 3
    # the line took the product's name, price and SKU when it was made from it
    assert (got[mug].transaction_source_id, got[mug].product_id, got[mug].product_name, got[mug].quantity,
            got[mug].unit_price) == (s["won"], "MUG-1", "Mug", 3.0, 8.0)
    assert hs.store.get("line_items", mug)["properties"]["amount"] == "24"
    # a line made in the deal editor has no product: passed on for the quarantine to name
    assert (got[own_price].product_id, got[own_price].product_name, got[own_price].unit_price) == (None, "Gift wrap", 1.5)
    assert hs.calls("objects.list") == 1 and hs.calls("associations.batch.read") == 1

    store = StateStore(tmp_path / "s.sqlite")
    for stream, pull in (("customers", conn.pull_customers), ("transactions", conn.pull_transactions),
                         ("line_items", conn.pull_line_items)):
        pull(MirrorSink(store.mirror, "hubspot", stream))
    tables = canonical_tables(store.mirror.customers(), store.mirror.transactions(), IdentityConfig(), {},
                              mirror_line_items=store.mirror.line_items())
    items = tables.line_items
    assert items is not None
    # the open deal's line is not a purchase; the won deal's lines take its contact and close date
    assert sorted(items["product_name"]) == ["Gift wrap", "Mug"]
    assert set(items["customer_id"]) == set(tables.customers["customer_id"]) and len(tables.customers) == 1
    assert set(items["transaction_id"]) == {f"hubspot-{s['won']}"}
    assert set(items["occurred_at"].astype(str).str[:10]) == {"2026-05-20"}


def test_search_resumes_inside_a_tie_and_a_later_edit_is_read_once(hs, tmp_path):
    s = shop(hs)
    ids = add_lines(hs, s["won"], s["tea"], 5)
    hs.clock.advance(days=1)
    conn, _ = connect(hs, **LINES)
    store = StateStore(tmp_path / "s.sqlite")
    sink = MirrorSink(store.mirror, "hubspot", "line_items")
    full = conn.pull_line_items(sink)
    assert sink.rows == 5 and full is not None

    hs.clock.advance(seconds=600)
    for line in ids:  # one hs_lastmodifieddate for all five: the search pages end inside the tie
        hs.store.update("line_items", line, {"quantity": "4"})
    hs.clock.advance(seconds=1)
    conn._line_items.search_page = 2

    def crash_after_first_page(batch):
        sink(batch)
        raise Crash

    with pytest.raises(Crash):
        conn.pull_line_items(crash_after_first_page, sink.cursor())
    stopped = sink.cursor()
    assert stopped is not None and stopped.scan is not None and stopped.bound == full
    first = {r for r in ids[:2]}
    rest: list = []
    done = conn.pull_line_items(lambda b: (rest.append(b), sink(b)), stopped)
    resumed = [r.line_item_id for b in rest for r in b.rows]
    assert resumed == ids[2:] and first.isdisjoint(resumed)  # the rest of the tie, none twice
    assert done is not None and done.scan is None and (done.id, done.timestamp) == (ids[-1], done.timestamp)
    assert set(store.mirror.line_items("hubspot")["quantity"].astype(float)) == {4.0}

    hs.clock.advance(seconds=600)
    hs.store.update("line_items", ids[1], {"quantity": "7"})
    hs.store.archive("line_items", ids[3])
    hs.clock.advance(seconds=1)
    changed: list = []
    after = conn.pull_line_items(lambda b: (changed.append(b), sink(b)), done)
    assert [(r.line_item_id, r.quantity) for b in changed for r in b.rows] == [(ids[1], 7.0)]
    assert [i for b in changed for i in b.deleted_ids] == [ids[3]]
    mirrored = store.mirror.line_items("hubspot").set_index("source_id")
    assert float(mirrored.loc[ids[1], "quantity"]) == 7.0 and ids[3] not in mirrored.index
    quiet: list = []
    assert conn.pull_line_items(collect(quiet), after) == after
    assert [r for b in quiet for r in b.rows] == []


def test_line_items_are_not_pulled_unless_asked(hs):
    conn, _ = connect(hs)
    pages: list = []
    assert conn.pull_line_items(collect(pages)) is None and pages == []
    assert hs.calls("objects.list") == 0
