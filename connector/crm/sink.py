"""Pull sinks: where a connector's pages go. `MirrorSink` stores them in the state store.

A connector calls the sink once per page with a `PullBatch`; `MirrorSink` commits the rows,
the deletions and the cursor after them in one transaction of the state store's mirror
(`Mirror.commit_page`), so a cursor never moves past data that was not stored.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from connector.crm.base import (
    Cursor,
    CustomerRecord,
    EventRecord,
    LineItemRecord,
    PullBatch,
    TransactionRecord,
)

if TYPE_CHECKING:
    from connector.state.mirror import Mirror


def _customer_row(r: CustomerRecord) -> dict[str, Any]:
    return {"source_id": r.source_id, "email": r.email, "created_at": r.created_at, "modstamp": r.modified_at,
            "attributes": dict(r.attributes), "deleted": False}


def _transaction_row(r: TransactionRecord) -> dict[str, Any]:
    amount = None if math.isnan(r.amount) else r.amount
    return {"source_id": r.transaction_id, "customer_source_id": r.customer_source_id or None,
            "occurred_at": r.occurred_at, "amount": amount, "modstamp": r.modified_at, "deleted": False}


def _line_item_row(r: LineItemRecord) -> dict[str, Any]:
    return {"source_id": r.line_item_id, "transaction_source_id": r.transaction_source_id or None,
            "product_id": r.product_id, "product_name": r.product_name, "category": r.category,
            "quantity": None if math.isnan(r.quantity) else r.quantity,
            "unit_price": None if math.isnan(r.unit_price) else r.unit_price,
            "modstamp": r.modified_at, "deleted": False}


def _event_row(r: EventRecord) -> dict[str, Any]:
    return {"source_id": r.source_id, "customer_source_id": r.customer_source_id, "type": r.type,
            "occurred_at": r.occurred_at, "value": None if math.isnan(r.value) else r.value,
            "properties": dict(r.properties), "feature": r.feature, "modstamp": r.modified_at, "deleted": False}


_ROWS = {"customers": _customer_row, "transactions": _transaction_row, "line_items": _line_item_row,
         "events": _event_row}


class MirrorSink:
    """Commits each page into `mirror` under (source, stream) with its cursor."""

    #: The entities a record source's pulls store in the mirror. Its events are read on demand
    #: (`read_events`); a mirroring source (sources.sql) stores events through this sink too.
    STREAMS = ("customers", "transactions", "line_items")

    def __init__(self, mirror: Mirror, source: str, stream: str) -> None:
        if stream not in _ROWS:
            raise ValueError(f"stream must be one of {', '.join(_ROWS)} (got {stream!r})")
        self.mirror = mirror
        self.source = source
        self.stream = stream
        self.rows = 0
        self.deleted = 0

    def cursor(self) -> Cursor | None:
        """Where the stream's last pull stopped."""
        return self.mirror.cursor(self.source, self.stream)

    def __call__(self, batch: PullBatch) -> None:
        to_row: Any = _ROWS[self.stream]
        rows = [to_row(r) for r in batch.rows]
        rows += [{"source_id": i, "deleted": True} for i in batch.deleted_ids]
        self.mirror.commit_page(self.source, self.stream, cursor=batch.cursor, **{self.stream: rows})
        self.rows += len(batch.rows)
        self.deleted += len(batch.deleted_ids)
