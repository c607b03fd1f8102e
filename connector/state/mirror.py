"""The local mirror of pulled records and the pull cursors that describe it.

A page of records and the cursor after it commit in one transaction (as dlt does), so a
cursor never moves past data that was not stored, and a crash mid-pull re-reads at most one
page. The cursor is the one every source uses (connector.cursor.Cursor): its (timestamp, id)
bound goes to `ts` / `last_id`, an unfinished scan to `extra` as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.cursor import Cursor
from connector.state.store import utcnow_iso


class Mirror:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ cursors
    def cursor(self, source: str, stream: str) -> Cursor | None:
        rows = self.store.query("SELECT ts, last_id, extra FROM cursors WHERE source = ? AND stream = ?", (source, stream))
        if not rows:
            return None
        r = rows[0]
        if r["ts"] is None or r["last_id"] is None:
            return None
        return Cursor.stored(r["ts"], r["last_id"], r["extra"])

    def reset_cursor(self, source: str, stream: str | None = None) -> None:
        """Forget a cursor (full resync next run)."""
        with self.store.transaction() as c:
            if stream is None:
                c.execute("DELETE FROM cursors WHERE source = ?", (source,))
            else:
                c.execute("DELETE FROM cursors WHERE source = ? AND stream = ?", (source, stream))

    # ------------------------------------------------------------------ pages
    def commit_page(
        self,
        source: str,
        stream: str,
        *,
        customers: Iterable[Mapping[str, Any]] = (),
        transactions: Iterable[Mapping[str, Any]] = (),
        line_items: Iterable[Mapping[str, Any]] = (),
        events: Iterable[Mapping[str, Any]] = (),
        cursor: Cursor | None = None,
    ) -> int:
        """Store one page of records and move the stream's cursor, atomically. Returns rows written.

        customers rows: source_id, email, created_at, modstamp, attributes (dict), deleted (bool).
        transactions rows: source_id, customer_source_id, occurred_at, amount (kept as text so a
        bad value is quarantined later with its original form), modstamp, deleted.
        line_items rows: source_id, transaction_source_id, product_id, product_name, category,
        quantity, unit_price (both kept as text, like amount), modstamp, deleted.
        events rows: source_id, customer_source_id, type, occurred_at, value (float or None),
        properties (dict), feature, modstamp, deleted.
        """
        tables = (
            (_UPSERT_CUSTOMERS, [_customer_values(source, r) for r in customers]),
            (_UPSERT_TRANSACTIONS, [_transaction_values(source, r) for r in transactions]),
            (_UPSERT_LINE_ITEMS, [_line_item_values(source, r) for r in line_items]),
            (_UPSERT_EVENTS, [_event_values(source, r) for r in events]),
        )
        with self.store.transaction() as c:
            for sql, rows in tables:
                if rows:
                    c.executemany(sql, rows)
            if cursor is not None:
                c.execute(
                    "INSERT INTO cursors (source, stream, ts, last_id, extra, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(source, stream) DO UPDATE SET ts = excluded.ts, last_id = excluded.last_id, "
                    "extra = excluded.extra, updated_at = excluded.updated_at",
                    (source, stream, cursor.timestamp.isoformat(), cursor.id, cursor.scan_json(), utcnow_iso()),
                )
        return sum(len(rows) for _, rows in tables)

    # ------------------------------------------------------------------ reads
    def customers(self, source: str | None = None, *, include_deleted: bool = False) -> pd.DataFrame:
        """Mirror rows: source, source_id, email, created_at (UTC), modstamp, attributes (dict), deleted."""
        sql = "SELECT source, source_id, email, created_at, modstamp, attributes, deleted FROM mirror_customers"
        df = self._frame(sql, source, include_deleted)
        df["attributes"] = df["attributes"].map(json.loads) if len(df) else df["attributes"]
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce", format="ISO8601")
        return df

    def transactions(self, source: str | None = None, *, include_deleted: bool = False) -> pd.DataFrame:
        """Mirror rows: source, source_id, customer_source_id, occurred_at (text), amount (text), deleted."""
        sql = "SELECT source, source_id, customer_source_id, occurred_at, amount, modstamp, deleted FROM mirror_transactions"
        return self._frame(sql, source, include_deleted)

    def line_items(self, source: str | None = None, *, include_deleted: bool = False) -> pd.DataFrame:
        """Mirror rows: source, source_id, transaction_source_id, product_id, product_name, category,
        quantity (text), unit_price (text), modstamp, deleted."""
        sql = ("SELECT source, source_id, transaction_source_id, product_id, product_name, category, quantity, "
               "unit_price, modstamp, deleted FROM mirror_line_items")
        return self._frame(sql, source, include_deleted)

    def events(self, source: str | None = None, *, include_deleted: bool = False) -> pd.DataFrame:
        """Mirror rows: source, source_id, customer_source_id, type, occurred_at (text), value
        (float or NaN), properties (dict), feature, modstamp, deleted."""
        sql = ("SELECT source, source_id, customer_source_id, type, occurred_at, value, properties, feature, modstamp, "
               "deleted FROM mirror_events")
        df = self._frame(sql, source, include_deleted)
        df["properties"] = df["properties"].map(json.loads) if len(df) else df["properties"]
        return df

    def counts(self) -> dict[str, int]:
        rows = self.store.query(
            "SELECT 'customers:' || source AS k, count(*) AS n FROM mirror_customers WHERE deleted = 0 GROUP BY source "
            "UNION ALL SELECT 'transactions:' || source, count(*) FROM mirror_transactions WHERE deleted = 0 GROUP BY source "
            "UNION ALL SELECT 'line_items:' || source, count(*) FROM mirror_line_items WHERE deleted = 0 GROUP BY source "
            "UNION ALL SELECT 'events:' || source, count(*) FROM mirror_events WHERE deleted = 0 GROUP BY source"
        )
        return {r["k"]: r["n"] for r in rows}

    def _frame(self, sql: str, source: str | None, include_deleted: bool) -> pd.DataFrame:
        where, params = [], []
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if not include_deleted:
            where.append("deleted = 0")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.store.frame(sql, params)


_UPSERT_CUSTOMERS = (
    "INSERT INTO mirror_customers (source, source_id, email, created_at, modstamp, attributes, deleted) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, source_id) DO UPDATE SET "
    "email = excluded.email, created_at = excluded.created_at, modstamp = excluded.modstamp, "
    "attributes = excluded.attributes, deleted = excluded.deleted"
)
_UPSERT_TRANSACTIONS = (
    "INSERT INTO mirror_transactions (source, source_id, customer_source_id, occurred_at, amount, modstamp, deleted) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, source_id) DO UPDATE SET "
    "customer_source_id = excluded.customer_source_id, occurred_at = excluded.occurred_at, "
    "amount = excluded.amount, modstamp = excluded.modstamp, deleted = excluded.deleted"
)
_UPSERT_LINE_ITEMS = (
    "INSERT INTO mirror_line_items (source, source_id, transaction_source_id, product_id, product_name, category, "
    "quantity, unit_price, modstamp, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(source, source_id) DO UPDATE SET transaction_source_id = excluded.transaction_source_id, "
    "product_id = excluded.product_id, product_name = excluded.product_name, category = excluded.category, "
    "quantity = excluded.quantity, unit_price = excluded.unit_price, modstamp = excluded.modstamp, "
    "deleted = excluded.deleted"
)

_UPSERT_EVENTS = (
    "INSERT INTO mirror_events (source, source_id, customer_source_id, type, occurred_at, value, properties, feature, "
    "modstamp, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, source_id) DO UPDATE SET "
    "customer_source_id = excluded.customer_source_id, type = excluded.type, occurred_at = excluded.occurred_at, "
    "value = excluded.value, properties = excluded.properties, feature = excluded.feature, "
    "modstamp = excluded.modstamp, deleted = excluded.deleted"
)


def _customer_values(source: str, r: Mapping[str, Any]) -> tuple[Any, ...]:
    attributes = json.dumps(r.get("attributes") or {}, sort_keys=True, default=str)
    return (source, str(r["source_id"]), r.get("email"), _iso(r.get("created_at")), _iso(r.get("modstamp")),
            attributes, int(bool(r.get("deleted", False))))


def _transaction_values(source: str, r: Mapping[str, Any]) -> tuple[Any, ...]:
    return (source, str(r["source_id"]), _text(r.get("customer_source_id")), _iso(r.get("occurred_at")),
            _amount_text(r.get("amount")), _iso(r.get("modstamp")), int(bool(r.get("deleted", False))))


def _line_item_values(source: str, r: Mapping[str, Any]) -> tuple[Any, ...]:
    return (source, str(r["source_id"]), _text(r.get("transaction_source_id")), _text(r.get("product_id")),
            _text(r.get("product_name")), _text(r.get("category")), _amount_text(r.get("quantity")),
            _amount_text(r.get("unit_price")), _iso(r.get("modstamp")), int(bool(r.get("deleted", False))))


def _event_values(source: str, r: Mapping[str, Any]) -> tuple[Any, ...]:
    properties = json.dumps(r.get("properties") or {}, sort_keys=True, default=str)
    return (source, str(r["source_id"]), _text(r.get("customer_source_id")), _text(r.get("type")),
            _iso(r.get("occurred_at")), r.get("value"), properties, _text(r.get("feature")), _iso(r.get("modstamp")),
            int(bool(r.get("deleted", False))))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _amount_text(value: Any) -> str | None:
    """Amounts are kept as text; a connector's NaN means the CRM had none: store it missing, so
    the quarantine says "missing amount" rather than "not a number ('nan')"."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
