"""OpportunityLineItem pulls against the Salesforce sandbox: the products on won Opportunities,
incremental on the tie-safe (SystemModstamp, Id) cursor, deletions, and the join that keeps only
lines of purchases the transactions pull holds."""

from __future__ import annotations

import pytest

from connector.config import IdentityConfig
from connector.crm.sink import MirrorSink
from connector.identity import canonical_tables
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.salesforce.pricebook import STANDARD_PRICEBOOK_ID
from connector.state.store import StateStore
from tests.connector.salesforce.salesforce_testkit import ListSink
from tests.connector.salesforce.test_salesforce_sandbox import make_connector, make_sandbox

LINES = {"line_items": {"enabled": True}}


class Crash(Exception):
    pass


def catalog(sb: SalesforceSandbox) -> dict[str, str]:
    """Product code -> standard PricebookEntry id for three products."""
    products = sb.store.insert("Product2", [
        {"Name": "Mug", "ProductCode": "MUG-1", "Family": "Kitchen", "IsActive": True},
        {"Name": "Tea", "ProductCode": "TEA-1", "Family": "Food", "IsActive": True},
        {"Name": "Vase", "ProductCode": None, "Family": None, "IsActive": True},
    ])
    entries = sb.store.insert("PricebookEntry", [
        {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": p, "UnitPrice": price, "IsActive": True}
        for p, price in zip(products, (8.0, 3.5, 20.0), strict=True)
    ])
    return dict(zip(("MUG-1", "TEA-1", "VASE"), entries, strict=True)) | {"vase_product": products[2]}


def order(sb: SalesforceSandbox, contact: str, stage: str = "Closed Won") -> str:
    return sb.store.insert("Opportunity", [{"Name": "Order", "ContactId": contact, "StageName": stage,
                                            "CloseDate": "2026-02-20"}])[0]


def lines(sb: SalesforceSandbox, opp: str, entry: str, n: int, quantity: float = 2) -> list[str]:
    return sb.store.insert("OpportunityLineItem", [
        {"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": quantity} for _ in range(n)])


def test_line_items_come_with_product_code_name_family_and_their_opportunity(tmp_path):
    sb = make_sandbox()
    entries = catalog(sb)
    contact = sb.store.insert("Contact", [{"LastName": "Buyer", "Email": "buyer@example.com"}])[0]
    won, lost = order(sb, contact), order(sb, contact, "Closed Lost")
    mug = lines(sb, won, entries["MUG-1"], 1, quantity=3)[0]
    vase = lines(sb, won, entries["VASE"], 1)[0]
    lines(sb, lost, entries["TEA-1"], 1, quantity=9)
    sb.clock.advance(seconds=1)
    conn = make_connector(sb, **LINES)
    sink = ListSink()
    conn.pull_line_items(sink)
    got = {r.line_item_id: r for r in sink.rows}
    assert len(got) == 3  # every line is mirrored; which ones are purchases is the join's decision
    assert (got[mug].transaction_source_id, got[mug].product_id, got[mug].product_name, got[mug].category,
            got[mug].quantity, got[mug].unit_price) == (won, "MUG-1", "Mug", "Kitchen", 3.0, 8.0)
    # a product without a ProductCode is named by its Product2 Id
    assert (got[vase].product_id, got[vase].product_name, got[vase].category) == (entries["vase_product"], "Vase", None)
    assert conn.counter.total(kind="query") == 1  # one REST query for the whole pull

    store = StateStore(tmp_path / "s.sqlite")
    for stream, pull in (("customers", conn.pull_customers), ("transactions", conn.pull_transactions),
                         ("line_items", conn.pull_line_items)):
        pull(MirrorSink(store.mirror, "salesforce", stream))
    tables = canonical_tables(store.mirror.customers(), store.mirror.transactions(), IdentityConfig(), {},
                              mirror_line_items=store.mirror.line_items())
    items = tables.line_items
    assert items is not None
    # the lost opportunity's line is not a purchase; the won one's lines take its customer and date
    assert sorted(items["product_id"]) == sorted(["MUG-1", entries["vase_product"]])
    customer = tables.customers["customer_id"].item()
    assert set(items["customer_id"]) == {customer}
    assert set(items["transaction_id"]) == {f"salesforce-{won}"}
    assert set(items["occurred_at"].astype(str).str[:10]) == {"2026-02-20"}


def test_tie_at_a_page_boundary_resumes_exactly_and_a_later_edit_is_read_once(tmp_path):
    sb = make_sandbox()
    entries = catalog(sb)
    contact = sb.store.insert("Contact", [{"LastName": "Buyer", "Email": "buyer@example.com"}])[0]
    opp = order(sb, contact)
    ids = lines(sb, opp, entries["TEA-1"], 250)  # one SystemModstamp for all: pages end inside the tie
    sb.clock.advance(seconds=1)
    conn = make_connector(sb, **LINES)
    store = StateStore(tmp_path / "s.sqlite")
    sink = MirrorSink(store.mirror, "salesforce", "line_items")

    def crash_after_first_page(batch):
        sink(batch)
        raise Crash

    with pytest.raises(Crash):
        conn.pull_line_items(crash_after_first_page, sink.cursor())
    stopped = sink.cursor()
    assert stopped is not None and stopped.scan is not None and sink.rows == 200
    first = set(store.mirror.line_items("salesforce")["source_id"])
    conn.counter.reset()
    rest = ListSink()
    done = conn.pull_line_items(lambda b: (rest(b), sink(b)), stopped)
    # the resumed scan reads the 50 rows after (timestamp, Id) of the last stored one: none twice
    assert len(rest.rows) == 50 and {r.line_item_id for r in rest.rows}.isdisjoint(first)
    mirrored = store.mirror.line_items("salesforce")
    assert sorted(mirrored["source_id"]) == sorted(ids) and mirrored["source_id"].is_unique
    assert done.id == max(ids) and done.scan is None and sink.cursor() == done

    sb.clock.advance(seconds=3600)
    sb.store.update("OpportunityLineItem", ids[7], {"Quantity": 5})
    sb.store.delete("OpportunityLineItem", ids[9])
    sb.clock.advance(seconds=1)
    conn.counter.reset()
    changed = ListSink()
    after = conn.pull_line_items(lambda b: (changed(b), sink(b)), done)
    assert [(r.line_item_id, r.quantity, r.unit_price) for r in changed.rows] == [(ids[7], 5.0, 3.5)]
    assert changed.deleted == [ids[9]]
    assert conn.counter.by_kind() == {"query": 1}
    line = store.mirror.line_items("salesforce").set_index("source_id")
    assert float(line.loc[ids[7], "quantity"]) == 5.0 and ids[9] not in line.index
    quiet = ListSink()
    assert conn.pull_line_items(quiet, after) == after and quiet.rows == []


def test_lines_of_an_opportunity_won_later_count_without_being_touched(tmp_path):
    sb = make_sandbox()
    entries = catalog(sb)
    contact = sb.store.insert("Contact", [{"LastName": "Buyer", "Email": "buyer@example.com"}])[0]
    opp = order(sb, contact, "Prospecting")
    lines(sb, opp, entries["MUG-1"], 2)
    sb.clock.advance(seconds=1)
    conn = make_connector(sb, **LINES)
    store = StateStore(tmp_path / "s.sqlite")
    sinks = {s: MirrorSink(store.mirror, "salesforce", s) for s in ("customers", "transactions", "line_items")}

    def run() -> int:
        conn.pull_customers(sinks["customers"], sinks["customers"].cursor())
        conn.pull_transactions(sinks["transactions"], sinks["transactions"].cursor())
        conn.pull_line_items(sinks["line_items"], sinks["line_items"].cursor())
        t = canonical_tables(store.mirror.customers(), store.mirror.transactions(), IdentityConfig(), {},
                             mirror_line_items=store.mirror.line_items())
        return 0 if t.line_items is None else len(t.line_items)

    assert run() == 0  # an open opportunity's lines are not purchases
    sb.clock.advance(seconds=60)
    sb.store.update("Opportunity", opp, {"StageName": "Closed Won"})  # the lines' SystemModstamp stays
    sb.clock.advance(seconds=1)
    before = sinks["line_items"].rows
    assert run() == 2
    assert sinks["line_items"].rows == before  # nothing re-read: the join made them purchases
    sb.clock.advance(seconds=60)
    sb.store.delete("Opportunity", opp)
    sb.clock.advance(seconds=1)
    assert run() == 0


def test_line_items_are_not_pulled_unless_asked_and_need_opportunities():
    sb = make_sandbox()
    conn = make_connector(sb)
    sink = ListSink()
    assert conn.pull_line_items(sink) is None and sink.batches == []
    assert conn.counter.total() == 0
    with pytest.raises(ValueError, match="line_items: OpportunityLineItem belongs to Opportunity"):
        make_connector(sb, line_items={"enabled": True}, transactions={"object": "Order"})


def test_a_large_pull_goes_through_bulk_with_the_product_columns():
    sb = make_sandbox()
    entries = catalog(sb)
    contact = sb.store.insert("Contact", [{"LastName": "Buyer", "Email": "buyer@example.com"}])[0]
    opp = order(sb, contact)
    ids = lines(sb, opp, entries["MUG-1"], 150, quantity=3) + lines(sb, opp, entries["VASE"], 150)
    sb.clock.advance(seconds=1)
    conn = make_connector(sb, bulk_query_threshold=100, **LINES)
    sink = ListSink()
    done = conn.pull_line_items(sink)
    assert conn.counter.total(kind="bulk_query") == 1  # the first REST page, then one Bulk job
    got = {r.line_item_id: r for r in sink.rows}
    assert sorted(got) == sorted(ids) and len(sink.rows) == 300
    # Bulk CSV rows are flat strings ("Product2.Name"): the same records as from REST
    mug, vase = got[ids[0]], got[ids[-1]]
    assert (mug.product_id, mug.product_name, mug.category, mug.quantity, mug.unit_price) == ("MUG-1", "Mug", "Kitchen", 3.0, 8.0)
    assert (vase.product_id, vase.product_name, vase.category) == (entries["vase_product"], "Vase", None)
    assert done is not None and done.id == max(ids)
