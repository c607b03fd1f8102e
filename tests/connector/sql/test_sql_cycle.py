"""The SQL source in a cycle's pull: rejected rows kept once and closed when fixed; events; DuckDB over files;
PostgreSQL's statement timeout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.errors import RetriableError
from connector.crm.sql import SqlSource, pull_into_mirror
from connector.state.store import StateStore
from tests.connector.sql.conftest import Warehouse, cycle, pull_sql
from tests.connector.sql.postgres import PostgresServer

ORDERS = "CREATE TABLE orders (id INTEGER, customer_id VARCHAR(20), amount VARCHAR(20), ordered_at DATE, updated_at TIMESTAMP)"
TX = {"table": "orders", "amount_column": "amount", "date_column": "ordered_at", "cursor_column": "updated_at"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite") as s:
        yield s


def test_pull_rejections_are_kept_once_and_closed_when_the_row_is_fixed(warehouse: Warehouse,
                                                                         store: StateStore) -> None:
    warehouse.run(ORDERS)
    warehouse.run("INSERT INTO orders VALUES (:id, 'C1', :amount, '2026-02-01', :t)", [
        {"id": 1, "amount": "5", "t": datetime(2026, 3, 1)}, {"id": 2, "amount": "abc", "t": datetime(2026, 3, 1)},
        {"id": 3, "amount": "7", "t": None}])
    cfg = warehouse.config(transactions=TX)
    for run in (1, 2):
        pull_sql(cycle(cfg, store, run))
        open_rows = store.rejected.open()
        assert sorted(open_rows["record_key"]) == ["2", "3"], f"run {run}"
    assert "amount 'abc' is not a number" in open_rows.set_index("record_key").loc["2", "reason"]
    warehouse.run("UPDATE orders SET amount = '6', updated_at = :t WHERE id = 2", {"t": datetime(2026, 3, 2)})
    warehouse.run("UPDATE orders SET updated_at = :t WHERE id = 3", {"t": datetime(2026, 3, 2)})
    ctx = cycle(cfg, store, 3)
    pull_sql(ctx)
    assert store.rejected.open().empty
    assert ctx.counts["pulled_sql_transactions"] == 2


def test_events_are_canonical_and_bad_ones_rejected(warehouse: Warehouse, store: StateStore) -> None:
    warehouse.run("CREATE TABLE usage (eid VARCHAR(10), uid VARCHAR(10), kind VARCHAR(20), at_ts TIMESTAMP, "
                  "feature VARCHAR(20), props VARCHAR(100))")
    warehouse.run("INSERT INTO usage VALUES (:eid, :uid, :kind, :at_ts, :feature, :props)", [
        {"eid": "e1", "uid": "U1", "kind": "login", "at_ts": datetime(2026, 3, 1, 9), "feature": None,
         "props": json.dumps({"device": "ios"})},
        {"eid": "e2", "uid": "U1", "kind": "feature_used", "at_ts": datetime(2026, 3, 1, 10), "feature": "export",
         "props": None},
        {"eid": "e3", "uid": "U2", "kind": None, "at_ts": datetime(2026, 3, 1), "feature": None, "props": None},
        {"eid": None, "uid": "U2", "kind": "login", "at_ts": datetime(2026, 3, 1), "feature": None, "props": None},
    ])
    cfg = warehouse.config(events={"table": "usage", "event_id_column": "eid", "customer_id_column": "uid",
                                   "type_column": "kind", "date_column": "at_ts", "feature_column": "feature",
                                   "properties_column": "props"})
    events = pull_sql(cycle(cfg, store, 1))["events"].sort_values("event_id", ignore_index=True)
    assert list(events["event_id"]) == ["e1", "e2"]
    assert list(events["customer_id"]) == ["sql-U1", "sql-U1"] and set(events["source"]) == {"sql"}
    assert list(events["type"]) == ["login", "feature_used"]
    assert events["feature"].isna().tolist() == [True, False] and events["feature"][1] == "export"
    assert events["occurred_at"].tolist() == [pd.Timestamp("2026-03-01 09:00", tz="UTC"),
                                              pd.Timestamp("2026-03-01 10:00", tz="UTC")]
    assert events["properties"].tolist() == [{"device": "ios"}, {}]
    reasons = store.rejected.open().set_index("record_key")["reason"]
    assert reasons["e3"] == "sources.sql.events: kind is NULL"
    assert reasons.drop("e3").tolist() == ["sources.sql.events: eid is NULL: a row needs a key to be stored"]


def test_duckdb_reads_a_folder_of_parquet_and_csv(tmp_path: Path, store: StateStore) -> None:
    data = tmp_path / "lake"
    data.mkdir()
    pd.DataFrame({"id": [1, 2, 3], "customer_id": ["a", "b", "a"], "amount": [1.5, 2.0, 3.25],
                  "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
                  "updated_at": pd.to_datetime(["2026-01-05"] * 3)}).to_parquet(data / "orders.parquet")
    (data / "people.csv").write_text("customer_id,email,country\na,A@x.com,DE\nb,b@x.com,FR\n")
    cfg = SqlSourceConfig.model_validate({
        "url": "duckdb:///:memory:", "files": str(data),
        "customers": {"table": "people", "email_column": "email", "attribute_columns": ["country"]},
        "transactions": {"table": "orders", "cursor_column": "updated_at", "date_column": "ordered_at"}})
    with SqlSource(cfg, tmp_path) as source:
        counts = pull_into_mirror(source, store.mirror, datetime(2026, 1, 6, tzinfo=UTC))
    assert counts.rows == {"customers": 2, "transactions": 3}
    customers = store.mirror.customers("sql").set_index("source_id")
    assert customers.loc["a", "email"] == "A@x.com" and customers.loc["b", "attributes"] == {"country": "FR"}
    assert sorted(store.mirror.transactions("sql")["amount"]) == ["1.5", "2.0", "3.25"]


def test_duckdb_folder_errors_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = SqlSourceConfig.model_validate({"url": "duckdb:///:memory:", "files": str(tmp_path / "empty"),
                                          "transactions": {"table": "orders"}})
    with pytest.raises(Exception, match=r"sources\.sql\.files: .*empty holds no \.parquet or \.csv file"):
        SqlSource(cfg, tmp_path)


def test_postgresql_statement_timeout_stops_a_slow_query(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("slow")
    query = "SELECT 1 AS id, 'C1' AS customer_id, 1.0 AS amount, now() AS occurred_at FROM pg_sleep(5)"
    cfg = SqlSourceConfig.model_validate({"url": url, "statement_timeout_seconds": 0.3,
                                          "transactions": {"query": query}})
    with pytest.raises(RetriableError, match=r"sources\.sql\.transactions: reading its query failed: .*statement timeout"):
        with SqlSource(cfg, Path(".")) as source:
            source.pull("transactions", lambda _batch: None, None)
