"""Live events accepted by `segsync serve`: durable once `add` returns, read by the next cycle.

events: id (arrival order), event_id (the client's idempotency key, optional), customer_id,
type, occurred_at (UTC ISO text), value (purchase amount, or NULL), properties (JSON).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.state.store import utcnow_iso

if TYPE_CHECKING:
    from connector.state.store import StateStore

PURCHASE = "purchase"
COLUMNS = ["id", "event_id", "customer_id", "type", "occurred_at", "value", "properties"]


class Events:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def add(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Store events in one transaction (committed when this returns); a repeated event_id is kept once.

        Returns the highest event row id after the insert.
        """
        with self.store.transaction() as c:
            return self.insert(c, events)

    @staticmethod
    def insert(c: sqlite3.Connection, events: Sequence[Mapping[str, Any]]) -> int:
        """`add` inside a transaction the caller holds (the API's group commit); same return."""
        received = utcnow_iso()
        rows = [
            (e.get("event_id"), e["customer_id"], e["type"], e["occurred_at"], e.get("value"),
             json.dumps(e.get("properties") or {}, sort_keys=True), received)
            for e in events
        ]
        c.executemany(
            "INSERT OR IGNORE INTO events (event_id, customer_id, type, occurred_at, value, properties, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return int(c.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def last_id(self) -> int:
        return int(self.store.query("SELECT coalesce(max(id), 0) AS n FROM events")[0]["n"])

    def since(self, after_id: int, customer_id: str | None = None) -> pd.DataFrame:
        """Events with id > after_id (optionally one customer's), oldest first."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM events WHERE id > ?"  # noqa: S608 - fixed column list
        params: list[Any] = [after_id]
        if customer_id is not None:
            sql += " AND customer_id = ?"
            params.append(customer_id)
        return self.store.frame(sql + " ORDER BY id", params)

    def of_customer(self, customer_id: str, after_id: int) -> list[tuple[int, str, str, float | None]]:
        """(id, type, occurred_at, value) of one customer's events with id > after_id, oldest first (no DataFrame: the API's hot path)."""
        rows = self.store.query(
            "SELECT id, type, occurred_at, value FROM events WHERE customer_id = ? AND id > ? ORDER BY id", (customer_id, after_id)
        )
        return [(r["id"], r["type"], r["occurred_at"], r["value"]) for r in rows]

    def purchases(self, through_id: int | None = None) -> pd.DataFrame:
        """Purchase events as canonical transactions: transaction_id, customer_id, occurred_at, amount, source='events'."""
        sql = "SELECT id, event_id, customer_id, occurred_at, value FROM events WHERE type = ?"
        params: list[Any] = [PURCHASE]
        if through_id is not None:
            sql += " AND id <= ?"
            params.append(through_id)
        rows = self.store.frame(sql, params)
        return pd.DataFrame({
            "transaction_id": "event-" + rows["event_id"].fillna(rows["id"].astype(str)).astype(str),
            "customer_id": rows["customer_id"].astype(str),
            "occurred_at": rows["occurred_at"],
            "amount": rows["value"],
            "source": "events",
        })
