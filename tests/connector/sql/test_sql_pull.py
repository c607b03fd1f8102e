"""The SQL source against DuckDB and a real PostgreSQL: full and incremental pulls, ties, updates, deletes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import IdentityConfig
from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.base import PullBatch
from connector.crm.sql import SqlSource, pull_into_mirror
from connector.crm.sql.mirroring import MirrorCounts
from connector.cursor import BEGINNING, Cursor, decode_mark
from connector.identity import canonical_tables
from connector.state.store import StateStore
from tests.connector.sql.conftest import Warehouse

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDERS = ("CREATE TABLE orders (id INTEGER, customer_id VARCHAR(20), amount NUMERIC(12, 2), ordered_at TIMESTAMP, "
          "updated_at TIMESTAMP WITH TIME ZONE, deleted_at TIMESTAMP)")
INSERT = ("INSERT INTO orders (id, customer_id, amount, ordered_at, updated_at, deleted_at) "
          "VALUES (:id, :customer_id, :amount, :ordered_at, :updated_at, :deleted_at)")


def order(i: int, updated: datetime, *, customer: str | None = None, amount: float = 10.0,
          deleted: datetime | None = None) -> dict[str, object]:
    return {"id": i, "customer_id": customer or f"C{i % 4}", "amount": amount,
            "ordered_at": datetime(2026, 2, 1) + timedelta(days=i), "updated_at": updated, "deleted_at": deleted}


def tx_config(wh: Warehouse, **extra: object) -> dict[str, object]:
    return {"transactions": {"table": "orders", "customer_id_column": "customer_id", "amount_column": "amount",
                             "date_column": "ordered_at", "cursor_column": "updated_at", **extra}}


def mirror_pull(cfg: SqlSourceConfig, store: StateStore, now: datetime) -> MirrorCounts:
    """One pull into the mirror with a source opened and closed around it (a DuckDB file is then free to write)."""
    with SqlSource(cfg, Path(".")) as source:
        return pull_into_mirror(source, store.mirror, now)


def pull_pages(cfg: SqlSourceConfig, sink: Callable[[PullBatch], None], since: Cursor | None) -> Cursor | None:
    with SqlSource(cfg, Path(".")) as source:
        return source.pull("transactions", sink, since)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite") as s:
        yield s


def live(store: StateStore) -> dict[str, str]:
    """transaction id -> amount of the mirror's live rows."""
    frame = store.mirror.transactions("sql")
    return dict(zip(frame["source_id"], frame["amount"], strict=True))


def test_full_pull_reads_every_row_with_values_and_cursor(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0 + timedelta(minutes=i), amount=i + 0.5) for i in range(1, 8)])
    counts = mirror_pull(warehouse.config(**tx_config(warehouse), chunk_size=3), store, T0)
    assert counts.rows["transactions"] == 7
    assert live(store) == {str(i): str(i + 0.5) for i in range(1, 8)}
    tx = store.mirror.transactions("sql").set_index("source_id")
    assert tx.loc["3", "customer_source_id"] == "C3"
    assert tx.loc["3", "occurred_at"] == "2026-02-04T00:00:00+00:00"  # a TIMESTAMP without zone is UTC
    cursor = store.mirror.cursor("sql", "transactions")
    assert cursor == Cursor(T0 + timedelta(minutes=7), "7") and cursor.scan is None
    # without a customers entity each purchaser is a customer of the source
    assert sorted(store.mirror.customers("sql")["source_id"]) == ["C0", "C1", "C2", "C3"]


def test_ties_across_a_chunk_boundary_are_neither_lost_nor_read_twice(warehouse: Warehouse, store: StateStore) -> None:
    """Five rows share one updated_at and straddle the chunk boundary (chunk 2); a run stops after the first page
    of the second pull, and the next run resumes from the stored position."""
    warehouse.run(ORDERS)
    same = T0 + timedelta(hours=1)
    warehouse.run(INSERT, [order(1, T0), *[order(i, same) for i in (12, 3, 7, 10, 5)]])
    cfg = warehouse.config(**tx_config(warehouse), chunk_size=2)
    pages: list[PullBatch] = []
    first = pull_pages(cfg, pages.append, None)
    ids = [r.transaction_id for p in pages for r in p.rows]
    assert ids == ["1", "10", "12", "3", "5", "7"]  # (cursor, key as text) order, each once
    assert first == Cursor(same, "7")
    # pages carry the scan's position while the bound stays where the scan began (never half-advanced)
    assert [p.cursor.timestamp for p in pages[:-1]] == [BEGINNING] * 3
    assert [decode_mark(p.cursor.scan.position)[1] for p in pages[:-1] if p.cursor.scan] == ["10", "3", "7"]

    # more rows at the very same timestamp (keys after the stored one) and one a second later
    warehouse.run(INSERT, [order(8, same), order(9, same), order(4, same + timedelta(seconds=1))])
    seen: list[str] = []

    class Stop(Exception):
        pass

    def stop_after_first(batch: PullBatch) -> None:
        seen.extend(r.transaction_id for r in batch.rows)
        pages.append(batch)
        raise Stop

    with pytest.raises(Stop):
        pull_pages(cfg, stop_after_first, first)
    assert seen == ["8", "9"]
    resumed_from = pages[-1].cursor
    assert resumed_from.bound == first and resumed_from.scan is not None
    rest: list[PullBatch] = []
    done = pull_pages(cfg, rest.append, resumed_from)
    assert [r.transaction_id for p in rest for r in p.rows] == ["4"]
    assert done == Cursor(same + timedelta(seconds=1), "4")


def test_rows_updated_after_the_first_pull_are_read_again_and_only_they(warehouse: Warehouse,
                                                                         store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0) for i in range(1, 6)])
    source = warehouse.config(**tx_config(warehouse))
    mirror_pull(source, store, T0)
    warehouse.run("UPDATE orders SET amount = 99.5, updated_at = :t WHERE id = 4", {"t": T0 + timedelta(days=1)})
    counts = mirror_pull(source, store, T0 + timedelta(days=1))
    assert counts.rows["transactions"] == 1
    assert live(store)["4"] == "99.5" and live(store)["3"] == "10.0"
    assert mirror_pull(source, store, T0 + timedelta(days=2)).rows["transactions"] == 0


def test_soft_delete_column_tombstones_the_row(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0) for i in range(1, 5)])
    source = warehouse.config(**tx_config(warehouse, soft_delete_column="deleted_at"))
    mirror_pull(source, store, T0)
    warehouse.run("UPDATE orders SET deleted_at = :d, updated_at = :t WHERE id IN (2, 3)",
                  {"d": datetime(2026, 3, 2), "t": T0 + timedelta(hours=2)})
    counts = mirror_pull(source, store, T0 + timedelta(hours=3))
    assert counts.soft_deleted["transactions"] == 2
    assert sorted(live(store)) == ["1", "4"]
    every = store.mirror.transactions("sql", include_deleted=True).set_index("source_id")["deleted"]
    assert every.to_dict() == {"1": 0, "2": 1, "3": 1, "4": 0}


def test_full_key_scan_on_schedule_deletes_rows_gone_from_the_table(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0) for i in range(1, 6)])
    source = warehouse.config(**tx_config(warehouse, full_scan_every="7d"))
    assert mirror_pull(source, store, T0).hard_deleted["transactions"] == 0
    warehouse.run("DELETE FROM orders WHERE id IN (1, 5)")
    # a hard delete leaves no row to read: not seen until the key scan is due again
    assert mirror_pull(source, store, T0 + timedelta(days=6)).hard_deleted["transactions"] == 0
    assert sorted(live(store)) == ["1", "2", "3", "4", "5"]
    assert mirror_pull(source, store, T0 + timedelta(days=7)).hard_deleted["transactions"] == 2
    assert sorted(live(store)) == ["2", "3", "4"]
    assert store.mirror.cursor("sql", "transactions:keys") == Cursor(T0 + timedelta(days=7))


def test_entity_without_cursor_is_read_whole_and_absent_keys_deleted(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0) for i in range(1, 5)])
    cfg = {"transactions": {"table": "orders", "date_column": "ordered_at"}}
    source = warehouse.config(**cfg)
    assert mirror_pull(source, store, T0).rows["transactions"] == 4
    warehouse.run("DELETE FROM orders WHERE id = 2")
    counts = mirror_pull(source, store, T0)
    assert (counts.rows["transactions"], counts.hard_deleted["transactions"]) == (3, 1)
    assert sorted(live(store)) == ["1", "3", "4"]


def test_query_entity_is_wrapped_and_filtered_with_bound_parameters(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0 + timedelta(minutes=i), amount=i) for i in range(1, 6)])
    query = "SELECT id AS order_id, customer_id, amount * 2 AS doubled, ordered_at, updated_at FROM orders WHERE id <> 3"
    cfg = {"transactions": {"query": query, "transaction_id_column": "order_id", "amount_column": "doubled",
                            "date_column": "ordered_at", "cursor_column": "updated_at"}}
    source = warehouse.config(**cfg)
    mirror_pull(source, store, T0)
    assert {k: float(v) for k, v in live(store).items()} == {"1": 2.0, "2": 4.0, "4": 8.0, "5": 10.0}
    with SqlSource(source, Path(".")) as opened:
        statement = str(opened.selection("transactions").rows((T0, "2")).compile(opened.engine))
    assert "FROM (SELECT id AS order_id" in statement and "2026" not in statement  # values are parameters


def test_line_items_are_mirrored_incrementally_and_join_their_purchase(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, T0) for i in (1, 2)])
    warehouse.run("CREATE TABLE order_lines (line_id INTEGER, order_id INTEGER, sku VARCHAR(20), qty VARCHAR(10), "
                  "price NUMERIC(10, 2), updated_at TIMESTAMP)")
    lines = "INSERT INTO order_lines VALUES (:line_id, :order_id, :sku, :qty, :price, :updated_at)"
    warehouse.run(lines, [
        {"line_id": 10, "order_id": 1, "sku": "A", "qty": "2", "price": 3.5, "updated_at": datetime(2026, 3, 1)},
        {"line_id": 11, "order_id": 1, "sku": "B", "qty": "x", "price": 1, "updated_at": datetime(2026, 3, 1)},
        {"line_id": 12, "order_id": 9, "sku": "C", "qty": "1", "price": 1, "updated_at": datetime(2026, 3, 1)},
    ])
    cfg = warehouse.config(**tx_config(warehouse), line_items={
        "table": "order_lines", "line_id_column": "line_id", "transaction_id_column": "order_id",
        "product_column": "sku", "quantity_column": "qty", "unit_price_column": "price", "cursor_column": "updated_at"})
    rejected: list[dict[str, object]] = []
    with SqlSource(cfg, Path("."), reject=lambda _e, rows: rejected.extend(rows)) as source:
        assert pull_into_mirror(source, store.mirror, T0).rows["line_items"] == 3
    assert [(r["record_key"], r["reason"]) for r in rejected] == [("11", "sources.sql.line_items: qty 'x' is not a number")]
    mirrored = store.mirror.line_items("sql").set_index("source_id")
    assert mirrored.loc["10", ["transaction_source_id", "product_id", "quantity", "unit_price"]].tolist() == [
        "1", "A", "2.0", "3.5"]
    tables = canonical_tables(store.mirror.customers(), store.mirror.transactions(), IdentityConfig(), {},
                              mirror_line_items=store.mirror.line_items())
    assert tables.line_items is not None
    joined = tables.line_items.set_index("product_id")
    assert sorted(joined.index) == ["A", "B"]  # line 12's purchase 9 is not in the mirror: never a purchase
    assert joined.loc["A", "customer_id"] == "sql-C1" and joined.loc["A", "transaction_id"] == "sql-1"

    warehouse.run("UPDATE order_lines SET qty = '5', updated_at = :t WHERE line_id = 11", {"t": datetime(2026, 3, 2)})
    with SqlSource(cfg, Path(".")) as source:
        assert pull_into_mirror(source, store.mirror, T0).rows["line_items"] == 1
    assert store.mirror.line_items("sql").set_index("source_id").loc["11", "quantity"] == "5.0"


@pytest.mark.parametrize("overlap", [0, 600])
def test_overlap_reads_rows_committed_late_with_an_older_cursor(warehouse: Warehouse, store: StateStore,
                                                                overlap: int) -> None:
    """updated_at = now() is taken when a transaction starts: a long one commits after a pull has passed its
    timestamp. With overlap_seconds the next pull re-reads that window (by the database's clock) and finds it."""
    now = datetime.now(UTC).replace(microsecond=0)
    warehouse.run(ORDERS)
    warehouse.run(INSERT, [order(i, now - timedelta(seconds=60)) for i in (1, 2)])
    cfg = warehouse.config(**tx_config(warehouse, overlap_seconds=overlap))
    mirror_pull(cfg, store, now)
    cursor = store.mirror.cursor("sql", "transactions")
    assert cursor is not None and cursor.scan is None
    if overlap:  # held back to the scan's start minus the overlap, on the database's clock
        assert now - timedelta(seconds=overlap + 5) < cursor.timestamp <= now - timedelta(seconds=overlap) + timedelta(seconds=5)
    else:
        assert cursor == Cursor(now - timedelta(seconds=60), "2")
    warehouse.run(INSERT, [order(3, now - timedelta(seconds=120))])  # committed late, stamped before the others
    mirror_pull(cfg, store, now)
    assert ("3" in live(store)) is bool(overlap)
