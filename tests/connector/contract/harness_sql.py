"""The SQL harness of the contract suite: a DuckDB file with customers, orders and events."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.sql.plugin import SqlPlugin

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEMA = (
    "CREATE TABLE customers (id VARCHAR, email VARCHAR, updated_at TIMESTAMP WITH TIME ZONE)",
    "CREATE TABLE orders (id INTEGER, customer_id VARCHAR, amount VARCHAR, ordered_at TIMESTAMP, "
    "updated_at TIMESTAMP WITH TIME ZONE)",
    "CREATE TABLE events (id INTEGER, customer_id VARCHAR, type VARCHAR, happened TIMESTAMP WITH TIME ZONE)",
)


class SqlHarness:
    name = "sql"
    kind = "mirroring"
    page_size = 50

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self.url = f"duckdb:///{Path(self._folder.name) / 'warehouse.duckdb'}"
        for statement in SCHEMA:
            self._run(statement)
        self._orders = self._events = 0

    def _run(self, statement: str, rows: list[dict[str, object]] | None = None) -> None:
        engine = create_engine(self.url)  # closed after each write: the source opens the file itself
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), rows or {})
        finally:
            engine.dispose()

    def plugin(self) -> SqlPlugin:
        cfg = SqlSourceConfig.model_validate({
            "url": self.url, "chunk_size": self.page_size,
            "customers": {"table": "customers", "customer_id_column": "id", "email_column": "email",
                          "cursor_column": "updated_at"},
            "transactions": {"table": "orders", "customer_id_column": "customer_id", "amount_column": "amount",
                             "date_column": "ordered_at", "cursor_column": "updated_at"},
            "events": {"table": "events", "date_column": "happened"},
        })
        return SqlPlugin(cfg, Path(self._folder.name))

    def seed_customers(self, n: int, at: datetime = T0) -> list[str]:
        ids = [f"C{i}" for i in range(n)]
        self._run("INSERT INTO customers VALUES (:id, :email, :at)",
                  [{"id": i, "email": f"{i.lower()}@example.com", "at": at} for i in ids])
        return ids

    def seed_purchase(self, customer_id: str, amount: str, at: datetime = T0) -> str:
        self._orders += 1
        self._run("INSERT INTO orders VALUES (:id, :c, :amount, :day, :at)",
                  [{"id": self._orders, "c": customer_id, "amount": amount, "day": datetime(2026, 2, 1), "at": at}])
        return str(self._orders)

    def seed_event(self, customer_id: str, kind: str) -> None:
        self._events += 1  # the event's key is unique (sources.sql.events.event_id_column)
        self._run("INSERT INTO events VALUES (:id, :c, :t, :at)",
                  [{"id": self._events, "c": customer_id, "t": kind, "at": T0 - timedelta(days=1)}])

    def touch_customers(self, ids: list[str]) -> None:
        for i in ids:
            self._run("UPDATE customers SET email = :e, updated_at = :at WHERE id = :id",
                      {"e": f"touched-{i.lower()}@example.com", "at": T0 + timedelta(hours=1), "id": i})

    def close(self) -> None:
        self._folder.cleanup()


HARNESS = SqlHarness
