"""Step `pull`: stream each CRM's changed customers and transactions into the local mirror.

Each page and the cursor after it are stored in one transaction (Mirror.commit_page), so a
crash or a stop mid-pull re-reads at most one page next run, and a quiet day reads nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.crm.base import Cursor as CrmCursor
from connector.crm.base import CustomerRecord, PullBatch, TransactionRecord
from connector.crm.files import FilesReader
from connector.state import Cursor as StateCursor

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.pull")


def pull(ctx: CycleContext) -> None:
    for name, conn in ctx.connectors().items():
        for stream in ("customers", "transactions"):
            since = _crm_cursor(ctx.store.mirror.cursor(name, stream))
            fn = conn.pull_customers if stream == "customers" else conn.pull_transactions
            before = ctx.counts.get(f"pulled_{name}_{stream}", 0)
            fn(_sink(ctx, name, stream), since)
            n = ctx.counts.get(f"pulled_{name}_{stream}", 0) - before
            log.info("%s %s: %d changed record(s) since %s", name, stream, n, since.timestamp.isoformat() if since else "the beginning")
    files = ctx.config.sources.files
    if files is not None:
        customers, transactions = FilesReader(files, ctx.config.base_dir).read()
        ctx.outputs["files"] = (customers, transactions)
        ctx.count("pulled_files_transactions", len(transactions))
        log.info("files: %d transaction row(s) from %s", len(transactions), files.transactions)


def _sink(ctx: CycleContext, source: str, stream: str):
    def store_page(batch: PullBatch) -> None:
        rows = [_row(r) for r in batch.rows]
        rows += [{"source_id": i, "deleted": True} for i in batch.deleted_ids]
        cursor = StateCursor(batch.cursor.timestamp.isoformat(), batch.cursor.id)
        kwargs = {"customers": rows} if stream == "customers" else {"transactions": rows}
        ctx.store.mirror.commit_page(source, stream, cursor=cursor, **kwargs)
        ctx.count(f"pulled_{source}_{stream}", len(batch.rows))
        if batch.deleted_ids:
            ctx.count(f"deleted_{source}_{stream}", len(batch.deleted_ids))
        ctx.check_stop()  # the page is stored: a stop here loses nothing

    return store_page


def _row(record: CustomerRecord | TransactionRecord) -> dict[str, Any]:
    if isinstance(record, CustomerRecord):
        return {
            "source_id": record.source_id,
            "email": record.email,
            "created_at": record.created_at,
            "modstamp": record.modified_at,
            "attributes": dict(record.attributes),
        }
    return {
        "source_id": record.transaction_id,
        "customer_source_id": record.customer_source_id,
        "occurred_at": record.occurred_at,
        "amount": record.amount,
        "modstamp": record.modified_at,
    }


def _crm_cursor(cursor: StateCursor | None) -> CrmCursor | None:
    if cursor is None or cursor.ts is None:
        return None
    return CrmCursor(datetime.fromisoformat(cursor.ts), cursor.last_id or "")
