"""The state store's mirror of a SQL source: pages with their cursor, soft deletes, hard deletes.

Each page is stored with the cursor after it (crm.sink.MirrorSink), so a stop or a crash loses
nothing and re-reads at most one page. Hard deletes (rows gone from the table) are found by
comparing every key in the database with the mirror's live keys: on every run for an entity
read whole (no cursor column), every `full_scan_every` for an incremental one, the time of the
last key scan kept as the cursor of the stream `<entity>:keys`. Without a customers entity,
each purchase's customer id becomes a customer of its own (as the files source does).

Line items and events are mirrored like purchases (a line takes its customer and date from its
parent purchase when the tables are joined, connector.identity): with a cursor column only the
events changed since the last pull are read. The cycle takes every live mirrored event
(`mirrored_events`, canonical events keyed by the source's ids, `customer_source_id`) and maps
them to segsync's customer key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.base import PullBatch
from connector.crm.sink import MirrorSink
from connector.crm.sql.records import SOURCE, record_id
from connector.cursor import Cursor

if TYPE_CHECKING:
    from connector.crm.sql.source import SqlSource
    from connector.state.mirror import Mirror

log = logging.getLogger("segsync.sql")
MIRRORED = ("customers", "transactions", "line_items", "events")


@dataclass
class MirrorCounts:
    """What one pull changed in the mirror, per entity: rows stored, soft deletes, hard deletes."""

    rows: dict[str, int] = field(default_factory=dict)
    soft_deleted: dict[str, int] = field(default_factory=dict)
    hard_deleted: dict[str, int] = field(default_factory=dict)


def pull_into_mirror(source: SqlSource, mirror: Mirror, now: datetime,
                     after_page: Callable[[], None] = lambda: None) -> MirrorCounts:
    """Pull customers, transactions, line items and events into `mirror`; `after_page` runs once each page is stored (a
    stop check)."""
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
    live = {"customers": mirror.customers, "transactions": mirror.transactions, "line_items": mirror.line_items,
            "events": mirror.events}[entity](SOURCE)
    gone = sorted(set(live["source_id"].astype(str)) - present)
    tombstones = [{"source_id": k, "deleted": True} for k in gone]
    mirror.commit_page(SOURCE, stream, cursor=Cursor(now) if cfg.cursor_column else None, **{entity: tombstones})
    if gone:
        log.info("sql %s: %d row(s) no longer in the database, deleted in the mirror", entity, len(gone))
    return len(gone)


EVENT_COLUMNS = ["event_id", "customer_source_id", "occurred_at", "type", "value", "properties", "feature"]


def mirrored_events(mirror: Mirror) -> pd.DataFrame:
    """Every live event of the source in the mirror as canonical events: event_id, customer_source_id,
    occurred_at (UTC), type, value (float or NaN), properties (dict), feature (text or None). Events stored
    without a customer, type or valid timestamp were reported at the pull and are left out."""
    rows = mirror.events(SOURCE)
    rows = rows[rows["customer_source_id"].notna() & rows["type"].notna() & rows["occurred_at"].notna()]
    frame = pd.DataFrame({
        "event_id": rows["source_id"].astype(str), "customer_source_id": rows["customer_source_id"].astype(str),
        "occurred_at": pd.to_datetime(rows["occurred_at"], utc=True, format="ISO8601"), "type": rows["type"].astype(str),
        "value": pd.to_numeric(rows["value"], errors="coerce"), "properties": rows["properties"],
        "feature": rows["feature"].astype(object).where(rows["feature"].notna(), None)}, columns=EVENT_COLUMNS)
    return frame.reset_index(drop=True)
