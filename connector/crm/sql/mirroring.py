"""The state store's mirror of a SQL source: pages with their cursor, soft deletes, hard deletes.

Each page is stored with the cursor after it (crm.sink.MirrorSink), so a stop or a crash loses
nothing and re-reads at most one page. Hard deletes (rows gone from the table) are found by
comparing every key in the database with the mirror's live keys: on every run for an entity
read whole (no cursor column), every `full_scan_every` for an incremental one, the time of the
last key scan kept as the cursor of the stream `<entity>:keys`. Without a customers entity,
each purchase's customer id becomes a customer of its own (as the files source does).

Line items are mirrored like purchases (a line takes its customer and date from its parent
purchase when the tables are joined, connector.identity). Events are read whole each run into
canonical events keyed by the source's ids (`customer_source_id`); the cycle maps them to
segsync's customer key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.base import PullBatch
from connector.crm.sink import MirrorSink
from connector.crm.sql.records import SOURCE, as_amount, as_utc, null_key, record_id
from connector.cursor import Cursor

if TYPE_CHECKING:
    from connector.config.sql import SqlEvents
    from connector.crm.sql.source import SqlSource
    from connector.state.mirror import Mirror

log = logging.getLogger("segsync.sql")
MIRRORED = ("customers", "transactions", "line_items")


@dataclass
class MirrorCounts:
    """What one pull changed in the mirror, per entity: rows stored, soft deletes, hard deletes."""

    rows: dict[str, int] = field(default_factory=dict)
    soft_deleted: dict[str, int] = field(default_factory=dict)
    hard_deleted: dict[str, int] = field(default_factory=dict)


def pull_into_mirror(source: SqlSource, mirror: Mirror, now: datetime,
                     after_page: Callable[[], None] = lambda: None) -> MirrorCounts:
    """Pull customers, transactions and line items into `mirror`; `after_page` runs once each page is stored (a stop check)."""
    counts = MirrorCounts()
    entities = source.cfg.entities()
    for entity in (e for e in MIRRORED if e in entities):
        sink = MirrorSink(mirror, SOURCE, entity)
        seen: set[str] = set()
        derive = entity == "transactions" and "customers" not in entities

        def page(batch: PullBatch, sink: MirrorSink = sink, seen: set[str] = seen, derive: bool = derive) -> None:
            if derive:
                _store_purchasers(mirror, batch)
            sink(batch)
            seen.update(record_id(r) for r in batch.rows)
            seen.update(batch.deleted_ids)
            after_page()

        since = sink.cursor()
        source.pull(entity, page, since)
        counts.rows[entity] = sink.rows
        counts.soft_deleted[entity] = sink.deleted
        counts.hard_deleted[entity] = _hard_deletes(source, mirror, entity, seen, now)
    return counts


def _store_purchasers(mirror: Mirror, batch: PullBatch) -> None:
    ids = sorted({getattr(r, "customer_source_id", "") for r in batch.rows} - {""})
    if ids:
        rows: list[dict[str, Any]] = [{"source_id": i, "email": None, "created_at": None, "modstamp": None, "attributes": {}} for i in ids]
        mirror.commit_page(SOURCE, "customers", customers=rows)


def _hard_deletes(source: SqlSource, mirror: Mirror, entity: str, seen: set[str], now: datetime) -> int:
    cfg = source.cfg.entities()[entity]
    stream = f"{entity}:keys"
    if cfg.cursor_column:
        last = mirror.cursor(SOURCE, stream)
        if cfg.full_scan_every is None or (last is not None and now - last.timestamp < cfg.full_scan_every):
            return 0
        present = source.keys(entity)
    else:
        present = seen
    live = {"customers": mirror.customers, "transactions": mirror.transactions, "line_items": mirror.line_items}[entity](
        SOURCE)
    gone = sorted(set(live["source_id"].astype(str)) - present)
    tombstones = [{"source_id": k, "deleted": True} for k in gone]
    mirror.commit_page(SOURCE, stream, cursor=Cursor(now) if cfg.cursor_column else None, **{entity: tombstones})
    if gone:
        log.info("sql %s: %d row(s) no longer in the database, deleted in the mirror", entity, len(gone))
    return len(gone)


EVENT_COLUMNS = ["event_id", "customer_source_id", "occurred_at", "type", "value", "properties", "feature"]


def read_events(source: SqlSource) -> pd.DataFrame:
    """The events entity whole as canonical events: event_id, customer_source_id, occurred_at (UTC), type, value
    (float or NaN), properties (dict), feature (text or None); rows without a key, customer, type or valid
    timestamp are rejected with the reason."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    cfg = source.cfg.events
    assert cfg is not None
    for r in source.read("events"):
        problem = _event_problem(r, cfg)
        if problem:
            key = r["_key"] if r["_key"] is not None else null_key("events", {k: v for k, v in r.items() if k != "_key"})
            rejected.append({"record_key": key, "reason": f"sources.sql.events: {problem}"})
            continue
        value = as_amount(r["value"]) if r.get("value") is not None else None
        rows.append({"event_id": str(r["_key"]), "customer_source_id": str(r["customer_id"]),
                     "occurred_at": as_utc(r["occurred_at"]), "type": str(r["type"]),
                     "value": float("nan") if value is None else value, "properties": _properties(r.get("properties")),
                     "feature": None if r.get("feature") is None else str(r["feature"])})
    if rejected:
        source.reject("events", rejected)
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def _event_problem(row: Mapping[str, Any], cfg: SqlEvents) -> str | None:
    if row["_key"] is None:
        return f"{cfg.event_id_column} is NULL"
    for name, column in (("customer_id", cfg.customer_id_column), ("type", cfg.type_column)):
        if row[name] is None:
            return f"{column} is NULL"
    if as_utc(row["occurred_at"]) is None:
        return f"{cfg.date_column} {row['occurred_at']!r} is not a timestamp"
    return None


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str | bytes) else None
    except ValueError:
        loaded = None
    return loaded if isinstance(loaded, dict) else {"value": str(value)}
