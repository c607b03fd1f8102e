"""Bad input from a SQL source: clear errors naming entity and column, or rows quarantined with reasons;
never a half-advanced cursor, never a password in a message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.errors import ConfigurationError, FatalError, RetriableError
from connector.crm.sql import SqlSource, pull_into_mirror
from connector.cursor import Cursor
from connector.state.store import StateStore
from segmentation.features import Plausible, clean_transactions
from tests.connector.sql.conftest import Warehouse

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXT_ORDERS = ("CREATE TABLE orders (id INTEGER, customer_id VARCHAR(20), amount VARCHAR(20), ordered_at VARCHAR(40), "
               "updated_at TIMESTAMP)")
INSERT = "INSERT INTO orders VALUES (:id, :customer_id, :amount, :ordered_at, :updated_at)"
TX = {"table": "orders", "amount_column": "amount", "date_column": "ordered_at", "cursor_column": "updated_at"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite") as s:
        yield s


def pull(cfg: SqlSourceConfig, store: StateStore, rejected: list[dict[str, Any]] | None = None) -> None:
    def keep(_entity: str, rows: list[dict[str, Any]]) -> None:
        if rejected is not None:
            rejected.extend(rows)

    with SqlSource(cfg, Path("."), reject=keep) as source:
        pull_into_mirror(source, store.mirror, T0)


def row(i: int | None, amount: str | None = "10.5", day: str | None = "2026-02-01", *,
        updated: datetime | None = datetime(2026, 3, 1)) -> dict[str, Any]:
    return {"id": i, "customer_id": "C1", "amount": amount, "ordered_at": day, "updated_at": updated}


def test_missing_table_names_entity_and_table(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run("CREATE TABLE other (x INTEGER)")
    with pytest.raises(ConfigurationError, match=r"sources\.sql\.transactions: cannot read table orders: .*orders"):
        pull(warehouse.config(transactions=TX), store)
    assert store.mirror.cursor("sql", "transactions") is None


def test_missing_column_names_entity_column_and_what_the_table_has(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    cfg = warehouse.config(transactions={**TX, "amount_column": "total"})
    with pytest.raises(ConfigurationError) as err:
        pull(cfg, store)
    assert str(err.value) == ("sources.sql.transactions: column(s) total not found in table orders; "
                              "it has id, customer_id, amount, ordered_at, updated_at")


def test_values_that_do_not_parse_are_quarantined_with_reasons(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(1), row(2, amount="abc"), row(3, day="2026-13-45"), row(4, amount=None)])
    rejected: list[dict[str, Any]] = []
    pull(warehouse.config(transactions=TX), store, rejected)
    assert {(r["record_key"], r["reason"]) for r in rejected} == {
        ("2", "sources.sql.transactions: amount 'abc' is not a number"),
        ("3", "sources.sql.transactions: ordered_at '2026-13-45' is not a date"),
    }
    # stored missing, so the features step quarantines the purchase instead of counting it
    mirror = store.mirror.transactions("sql")
    frame = pd.DataFrame({"transaction_id": mirror["source_id"], "customer_id": "C1", "occurred_at": mirror["occurred_at"],
                          "amount": mirror["amount"], "source": "sql"})
    clean, quarantined = clean_transactions(frame, Plausible(1e9, pd.Timestamp("2026-12-31", tz="UTC"),
                                                             pd.Timestamp("1970-01-01", tz="UTC")))
    assert list(clean["transaction_id"]) == ["1"]
    assert sorted(quarantined["transaction_id"]) == ["2", "3", "4"]


def test_null_keys_are_quarantined_and_the_rest_stored(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(1), row(None, amount="7"), row(3)])
    rejected: list[dict[str, Any]] = []
    pull(warehouse.config(transactions=TX), store, rejected)
    assert sorted(store.mirror.transactions("sql")["source_id"]) == ["1", "3"]
    assert len(rejected) == 1 and rejected[0]["record_key"].startswith("transactions:null-key:")
    assert rejected[0]["reason"] == "sources.sql.transactions: id is NULL: a row needs a key to be stored"
    assert rejected[0]["payload"]["amount"] == "7"


def test_null_cursor_values_are_reported(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(1), row(2, updated=None)])
    rejected: list[dict[str, Any]] = []
    pull(warehouse.config(transactions=TX), store, rejected)
    assert [(r["record_key"], r["reason"]) for r in rejected] == [
        ("2", "sources.sql.transactions: updated_at is NULL: an incremental pull cannot place the row, so it is "
              "never read; give it a value")]


def test_cursor_going_backwards_is_refused_and_the_cursor_kept(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(i, updated=datetime(2026, 3, 1) + timedelta(hours=i)) for i in (1, 2, 3)])
    cfg = warehouse.config(transactions=TX)
    pull(cfg, store)
    before = store.mirror.cursor("sql", "transactions")
    assert before == Cursor(datetime(2026, 3, 1, 3, tzinfo=UTC), "3")
    warehouse.run("UPDATE orders SET updated_at = :t, amount = '1'", {"t": datetime(2026, 1, 1)})  # a restore
    with pytest.raises(FatalError, match=r"sources\.sql\.transactions\.cursor_column updated_at went backwards: "
                                         r"row 3, where the last pull stopped at 2026-03-01T03:00:00\+00:00, "
                                         r"now has 2026-01-01T00:00:00\+00:00.*"
                                         r"`segsync resync CONFIG sql transactions` pulls the entity again in full"):
        pull(cfg, store)
    assert store.mirror.cursor("sql", "transactions") == before
    assert set(store.mirror.transactions("sql")["amount"]) == {"10.5"}


def test_deleting_the_newest_row_is_not_a_cursor_going_backwards(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(i, updated=datetime(2026, 3, 1) + timedelta(hours=i)) for i in (1, 2, 3)])
    cfg = warehouse.config(transactions=TX)
    pull(cfg, store)
    warehouse.run("DELETE FROM orders WHERE id = 3")
    warehouse.run(INSERT, [row(4, updated=datetime(2026, 3, 2))])
    pull(cfg, store)
    assert store.mirror.cursor("sql", "transactions") == Cursor(datetime(2026, 3, 2, tzinfo=UTC), "4")


def test_cursor_column_that_is_not_a_timestamp_stops_before_storing(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run(TEXT_ORDERS)
    warehouse.run(INSERT, [row(1)])
    cfg = warehouse.config(transactions={**TX, "cursor_column": "ordered_at"})
    with pytest.raises(FatalError, match=r"cursor_column ordered_at: '2026-02-01' \(row 1\) is not a timestamp"):
        pull(cfg, store)
    assert store.mirror.cursor("sql", "transactions") is None
    assert store.mirror.transactions("sql").empty


def test_wrong_password_is_an_error_without_the_password(postgres_server: Any) -> None:
    url = postgres_server.url("postgres").replace(postgres_server.password, "Wrong-Secret-123")
    cfg = SqlSourceConfig.model_validate({"url": url, "transactions": TX})
    assert "Wrong-Secret-123" not in cfg.url and cfg.password is not None
    with pytest.raises(RetriableError) as err, SqlSource(cfg, Path(".")) as source:
        source.keys("transactions")
    assert "password authentication failed" in str(err.value)
    assert "Wrong-Secret-123" not in str(err.value) and "***" in str(err.value)


@pytest.mark.parametrize(("fields", "message"), [
    ({"transactions": {"table": "orders; DROP TABLE x"}}, "is not a table name"),
    ({"transactions": {"query": "DELETE FROM orders"}}, "must be one SELECT"),
    ({"transactions": {"query": "SELECT 1; SELECT 2"}}, "must be one statement"),
    ({"transactions": {"table": "orders", "query": "SELECT 1"}}, "exactly one of table or query"),
    ({"transactions": {"table": "orders", "full_scan_every": "weekly"}}, "not a span like 30m, 12h, 7d or 2w"),
    ({}, "name at least one entity"),
])
def test_config_errors_name_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqlSourceConfig.model_validate({"url": "duckdb:///w.duckdb", **fields})
