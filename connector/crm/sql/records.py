"""Database rows to segsync's records: values parsed, bad ones kept visible with a reason.

A row without a key cannot be stored: it is rejected with its values. An amount or date that
does not parse is passed on missing (NaN / None, so the features step quarantines the purchase)
and rejected here too with the value itself, so the reason says what the database held. A
cursor value that is not a timestamp, or that goes backwards within a scan, stops the pull
before its page is stored: the cursor never moves past a row it could not place.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connector.config.sql import SqlEntity
from connector.crm.base import CustomerRecord, EventRecord, LineItemRecord, TransactionRecord
from connector.crm.errors import FatalError
from connector.crm.sql.selection import CURSOR, DELETED, KEY

SOURCE = "sql"
FALSE_TEXT = frozenset({"", "0", "f", "false", "n", "no"})


@dataclass
class Page:
    """One chunk converted: records to store, keys deleted (soft deletes), rows rejected with reasons, and the
    (cursor, key) mark of its last row (None without a cursor column)."""

    rows: list[Any] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    mark: tuple[datetime, str] | None = None


def record_id(record: Any) -> str:
    """The source id of a pulled customer, transaction, line item or event."""
    for name in ("source_id", "transaction_id", "line_item_id"):
        if hasattr(record, name):
            return str(getattr(record, name))
    raise TypeError(f"not a pulled record: {type(record).__name__}")


def null_key(entity: str, values: Mapping[str, Any]) -> str:
    """The name of a row without a key: a digest of its values (the same bad row read again is the same row)."""
    digest = hashlib.sha256(json.dumps(dict(values), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{entity}:null-key:{digest}"


def as_utc(value: Any) -> datetime | None:
    """A database timestamp as an aware UTC datetime (naive values are UTC); None when it is not one."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def as_amount(value: Any) -> float | None:
    """A number as float; None when the value is not one (NaN and infinities included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def is_deleted(value: Any) -> bool:
    """A soft-delete flag: true, a non-zero number, a timestamp; NULL, false, 0 and 'false'/'no' are not."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_TEXT
    return bool(value)


class Converter:
    """Turns the rows of one entity into records; `now` stamps rows of an entity without a cursor column."""

    def __init__(self, entity: str, cfg: SqlEntity, now: datetime) -> None:
        self.entity = entity
        self.cfg = cfg
        self.now = now

    def page(self, rows: Sequence[Mapping[str, Any]], previous: tuple[datetime, str] | None) -> Page:
        out = Page(mark=previous)
        for row in rows:
            key = row[KEY]
            stamp = self._stamp(row, key, out.mark)
            if key is None:
                out.rejected.append(self._reject(None, f"{self.cfg.key_column} is NULL: a row needs a key to be stored",
                                                 row))
                continue
            key = str(key)
            if stamp is not None and self.cfg.cursor_column:
                out.mark = (stamp, key)
            if self.cfg.soft_delete_column and is_deleted(row[DELETED]):
                out.deleted.append(key)
                continue
            record, problems = self._record(row, key, stamp or self.now)
            out.rows.append(record)
            out.rejected.extend(self._reject(key, p, row) for p in problems)
        return out

    def _stamp(self, row: Mapping[str, Any], key: Any, mark: tuple[datetime, str] | None) -> datetime | None:
        if not self.cfg.cursor_column:
            return None
        col = f"sources.sql.{self.entity}.cursor_column {self.cfg.cursor_column}"
        stamp = as_utc(row[CURSOR]) if not isinstance(row[CURSOR], str) else None
        if stamp is None:
            raise FatalError(f"{col}: {row[CURSOR]!r} (row {key}) is not a timestamp; the cursor was not moved. "
                             "Name a timestamp column, or cast it in a query:", crm=SOURCE)
        if mark is not None and stamp < mark[0]:
            raise FatalError(f"{col} went backwards within one ordered read ({stamp.isoformat()} after "
                             f"{mark[0].isoformat()}, row {key}); the cursor was not moved", crm=SOURCE)
        return stamp

    def _reject(self, key: str | None, reason: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A rejected row; one without a key is named by a digest of its values, so the same bad row read again is
        the same rejected row, not a new one."""
        payload = {k: v for k, v in row.items() if not k.startswith("_")}
        return {"record_key": key if key is not None else null_key(self.entity, payload), "reason": f"sources.sql.{self.entity}: {reason}", "payload": payload}

    def _record(self, row: Mapping[str, Any], key: str, stamp: datetime) -> tuple[Any, list[str]]:
        """The entity's record and what did not parse in it."""
        if self.entity == "customers":
            return self._customer(row, key, stamp)
        if self.entity == "line_items":
            return self._line_item(row, key, stamp)
        if self.entity == "events":
            return self._event(row, key, stamp)
        return self._transaction(row, key, stamp)

    def _customer(self, row: Mapping[str, Any], key: str, stamp: datetime) -> tuple[CustomerRecord, list[str]]:
        cfg = self.cfg
        problems, created = [], None
        if "created_at" in row and row["created_at"] is not None:
            created = as_utc(row["created_at"])
            if created is None:
                problems.append(f"{getattr(cfg, 'created_at_column', '')} {row['created_at']!r} is not a date; left empty")
        attrs = {k.removeprefix("attr:"): _plain(v) for k, v in row.items() if k.startswith("attr:")}
        email = row.get("email")
        return CustomerRecord(SOURCE, key, None if email is None else str(email), created or stamp, stamp, attrs), problems

    def _transaction(self, row: Mapping[str, Any], key: str, stamp: datetime) -> tuple[TransactionRecord, list[str]]:
        cfg = self.cfg
        problems = []
        amount = as_amount(row["amount"])
        if amount is None and row["amount"] is not None:
            problems.append(f"{getattr(cfg, 'amount_column', '')} {row['amount']!r} is not a number")
        occurred = as_utc(row["occurred_at"])
        if occurred is None and row["occurred_at"] is not None:
            problems.append(f"{getattr(cfg, 'date_column', '')} {row['occurred_at']!r} is not a date")
        customer = row["customer_source_id"]
        record = TransactionRecord(key, "" if customer is None else str(customer), occurred,
                                   float("nan") if amount is None else amount, SOURCE, stamp)
        return record, problems

    def _line_item(self, row: Mapping[str, Any], key: str, stamp: datetime) -> tuple[LineItemRecord, list[str]]:
        problems = []
        numbers = {}
        for name, default in (("quantity", 1.0), ("unit_price", float("nan"))):
            raw = row.get(name)
            number = as_amount(raw) if raw is not None else default
            if number is None:
                problems.append(f"{getattr(self.cfg, name + '_column', '')} {raw!r} is not a number")
            numbers[name] = float("nan") if number is None else number
        parent, product = row["transaction_source_id"], row["product_id"]
        record = LineItemRecord(key, None if parent is None else str(parent), None if product is None else str(product),
                                _text(row.get("product_name")), _text(row.get("category")), numbers["quantity"],
                                numbers["unit_price"], SOURCE, stamp)
        return record, problems

    def _event(self, row: Mapping[str, Any], key: str, stamp: datetime) -> tuple[EventRecord, list[str]]:
        """An event without a customer, type or timestamp is stored (it replaces its earlier version) and
        reported; the cycle leaves it out (connector.crm.sql.mirroring.mirrored_events)."""
        cfg = self.cfg
        customer, kind, occurred = row["customer_id"], row["type"], as_utc(row["occurred_at"])
        problems = [f"{getattr(cfg, column)} is NULL" for name, column in
                    (("customer_id", "customer_id_column"), ("type", "type_column")) if row[name] is None]
        if occurred is None:
            problems.append(f"{getattr(cfg, 'date_column', '')} {row['occurred_at']!r} is not a timestamp")
        value = as_amount(row["value"]) if row.get("value") is not None else None
        record = EventRecord(key, _text(customer), _text(kind), occurred, float("nan") if value is None else value,
                             _properties(row.get("properties")), _text(row.get("feature")), SOURCE, stamp)
        return record, problems[:1]


def _properties(value: Any) -> dict[str, Any]:
    """An event's properties: a JSON object, or its text; anything else is kept as {"value": text}."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str | bytes) else None
    except ValueError:
        loaded = None
    return loaded if isinstance(loaded, dict) else {"value": str(value)}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """An attribute value the mirror can keep as JSON."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return json.loads(json.dumps(value, default=str))
