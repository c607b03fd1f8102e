"""The SQL source in one cycle: pull into the mirror, read events, name customers by segsync's key.

Customers, purchases and line items land in the state store's mirror (source `sql`) like a
CRM's, so the features step joins them through identity as it does every source; events are
read whole and handed on keyed by segsync's customer id (`connector.identity.customer_keys`).
Rows refused at the pull are stored as rejected rows of the `pull` step with their reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.sql.mirroring import pull_into_mirror, read_events
from connector.crm.sql.records import SOURCE
from connector.crm.sql.source import SqlSource
from connector.identity import customer_keys

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.sql")


@dataclass(frozen=True)
class SqlTables:
    """What the cycle takes from sources.sql besides the mirror: canonical events, or None."""

    events: pd.DataFrame | None = None


def pull_sql(ctx: CycleContext) -> SqlTables:
    cfg = ctx.config.sources.sql
    assert cfg is not None

    book = PullRejections(ctx)
    with SqlSource(cfg, ctx.config.base_dir, reject=book.reject, accept=book.accept) as source:
        counts = pull_into_mirror(source, ctx.store.mirror, datetime.now(UTC), after_page=ctx.check_stop)
        events = read_events(source) if cfg.events is not None else None
    for entity, n in counts.rows.items():
        ctx.count(f"pulled_sql_{entity}", n)
        deleted = counts.soft_deleted[entity] + counts.hard_deleted[entity]
        if deleted:
            ctx.count(f"deleted_sql_{entity}", deleted)
        log.info("sql %s: %d changed row(s), %d deleted", entity, n, deleted)
    if events is not None:
        ctx.count("pulled_sql_events", len(events))
        keys = customer_keys(ctx.store.mirror.customers(SOURCE), ctx.config.identity).set_index("source_id")["customer_id"]
        events = events.assign(customer_id=_customer_ids(events["customer_source_id"], keys)).drop(
            columns="customer_source_id")
    return SqlTables(events)


class PullRejections:
    """Rows refused at the pull, as rejected rows of the `pull` step: one open rejection per row (a row read again
    replaces its own), closed once the row is read without a problem."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx
        open_rows = ctx.store.rejected.open()
        mine = open_rows[(open_rows["step"] == "pull") & (open_rows["source"] == SOURCE)]
        self.open: set[str] = set(mine["record_key"].dropna().astype(str))

    def reject(self, _entity: str, rows: list[dict[str, Any]]) -> None:
        keys = {str(r["record_key"]) for r in rows}
        self._close(keys)
        self.ctx.store.rejected.add(self.ctx.run_id, "pull", SOURCE, rows)
        self.open |= keys

    def accept(self, _entity: str, keys: list[str]) -> None:
        self._close(set(keys))

    def _close(self, keys: set[str]) -> None:
        done = keys & self.open
        if done:
            self.ctx.store.rejected.resolve("pull", SOURCE, sorted(done))
            self.open -= done


def _customer_ids(source_ids: pd.Series, keys: pd.Series) -> pd.Series:
    """segsync's key of each source customer id; one the mirror does not know keeps `sql-<id>`."""
    ids = source_ids.astype(str)
    return ids.map(keys).fillna(f"{SOURCE}-" + ids).astype(str)
