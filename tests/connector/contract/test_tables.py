"""The shared contract of table sources and destinations (files): canonical tables in, the
desired state out whole, and every registered plugin covered by a harness in this folder."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.crm.plugin import ENTITIES, RecordSource, TableDestination, TableSource
from connector.crm.registry import registered
from segmentation.line_items import LINE_ITEM_COLUMNS
from tests.connector.contract.harness import discover

TABLES = discover("table")


@pytest.fixture(params=sorted(TABLES))
def harness(request: pytest.FixtureRequest):
    h = TABLES[request.param]()
    request.addfinalizer(h.close)
    return h


def test_every_registered_plugin_has_a_harness() -> None:
    assert set(registered()) <= set(discover()), "add a harness_<name>.py for every plugin (harness.py)"


def test_table_sources_read_the_canonical_tables(harness) -> None:
    plugin = harness.plugin()
    assert isinstance(plugin, TableSource) and not isinstance(plugin, RecordSource)
    assert plugin.name == harness.name and plugin.provides <= set(ENTITIES)
    tables = plugin.read_tables()
    assert set(tables) == plugin.provides == {"customers", "transactions"}
    assert set(tables["customers"]["customer_id"]) == harness.expected_customers()
    tx = tables["transactions"]
    assert {"transaction_id", "customer_id", "occurred_at", "amount", "source"} <= set(tx.columns)
    assert tx["transaction_id"].is_unique and set(tx["source"]) == {harness.name}
    assert len(tx) == 4  # the bad amount is kept for the quarantine, never dropped here


def test_line_items_when_the_source_has_products(harness) -> None:
    plugin = harness.plugin(with_line_items=True)
    assert "line_items" in plugin.provides
    items = plugin.read_tables()["line_items"]
    assert set(LINE_ITEM_COLUMNS) <= set(items.columns) and len(items) == 4
    assert items.sort_values("transaction_id")["product_id"].tolist()[:1] == ["A"]


def test_table_destinations_write_the_whole_desired_state_safely(harness) -> None:
    plugin = harness.plugin()
    assert isinstance(plugin, TableDestination) and plugin.accepts.table
    key, path = plugin.output()
    assert key == f"destinations.{harness.name}.path" and not path.is_absolute()
    first = pd.DataFrame({"customer_id": ["c1", "c2"], "segment_name": ["Champions", "=HYPERLINK(1)"]})
    plugin.write_table(first)
    assert harness.read_output().to_dict("records") == [
        {"customer_id": "c1", "segment_name": "Champions"}, {"customer_id": "c2", "segment_name": "'=HYPERLINK(1)"}]
    plugin.write_table(first.iloc[:1])  # rewritten whole, not appended
    assert harness.read_output()["customer_id"].tolist() == ["c1"]


def test_an_unchanged_desired_state_leaves_the_output_untouched(harness) -> None:
    plugin = harness.plugin()
    table = pd.DataFrame({"customer_id": ["c1", "c2"], "segment_name": ["Champions", "=HYPERLINK(1)"]})
    written = plugin.write_table(table)
    assert written is not None
    before = written.stat()
    assert plugin.write_table(table.copy()) is None  # a quiet day: nothing written
    after = written.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in written.parent.iterdir() if p.name.startswith(".")) == []  # no temp file left
    changed = table.assign(segment_name=["Champions", "At risk"])
    assert plugin.write_table(changed) == written
    assert harness.read_output()["segment_name"].tolist() == ["Champions", "At risk"]
