"""Step `pull`: stream each CRM's changed customers, transactions and line items into the local mirror.

Each page and the cursor after it are stored in one transaction (crm.sink.MirrorSink over
Mirror.commit_page), so a crash or a stop mid-pull re-reads at most one page next run, and a
quiet day reads nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from connector.crm.base import Cursor, LineItemSource, PullBatch, Sink
from connector.crm.files import FilesReader
from connector.crm.sink import MirrorSink
from connector.crm.sql.plugin import SqlTables, pull_sql

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.pull")


@dataclass(frozen=True)
class PullResult:
    """The files source's tables as read this run (customers, transactions), or None, and its
    line items (raw canonical line_items) when it names a product column; events: canonical
    events of sources.sql (customer_id, occurred_at, type, value, properties), or None. CRM and
    SQL pulls of customers, transactions and line items land in the state store's mirror, not here."""

    files: tuple[pd.DataFrame, pd.DataFrame] | None = None
    line_items: pd.DataFrame | None = None
    events: pd.DataFrame | None = None


def pull(ctx: CycleContext) -> PullResult:
    for name, conn in ctx.connectors().items():
        _pull_stream(ctx, name, "customers", conn.pull_customers)
        _pull_stream(ctx, name, "transactions", conn.pull_transactions)
        if isinstance(conn, LineItemSource):
            _pull_stream(ctx, name, "line_items", conn.pull_line_items)
    sql = pull_sql(ctx) if ctx.config.sources.sql is not None else SqlTables()
    files = ctx.config.sources.files
    if files is None:
        return PullResult(events=sql.events)
    customers, transactions, line_items = FilesReader(files, ctx.config.base_dir).read_all()
    ctx.count("pulled_files_transactions", len(transactions))
    if line_items is not None:
        ctx.count("pulled_files_line_items", len(line_items))
    log.info("files: %d transaction row(s) from %s", len(transactions), files.transactions)
    return PullResult(files=(customers, transactions), line_items=line_items, events=sql.events)


def _pull_stream(ctx: CycleContext, name: str, stream: str, fn: Callable[[Sink, Cursor | None], Cursor | None]) -> None:
    """One stream of one source into the mirror, a page and its cursor at a time."""
    sink = MirrorSink(ctx.store.mirror, name, stream)
    since = sink.cursor()

    def page(batch: PullBatch) -> None:
        sink(batch)
        ctx.check_stop()  # the page is stored: a stop here loses nothing

    if fn(page, since) is None and since is None and not sink.rows:
        return  # a stream the source's configuration leaves off (line items not asked for)
    ctx.count(f"pulled_{name}_{stream}", sink.rows)
    if sink.deleted:
        ctx.count(f"deleted_{name}_{stream}", sink.deleted)
    window = since.timestamp.isoformat() if since is not None and not since.full_sync else "the beginning"
    resumed = " (resumed an interrupted scan)" if since is not None and since.scan is not None else ""
    log.info("%s %s: %d changed record(s) since %s%s", name, stream, sink.rows, window, resumed)
