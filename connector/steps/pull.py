"""Step `pull`: every source's changed records into the local mirror, or its tables as read.

A RecordSource (connector.crm.plugin) streams each entity it provides that the mirror holds:
each page and the cursor after it are stored in one transaction (crm.sink.MirrorSink over
Mirror.commit_page), so a crash or a stop mid-pull re-reads at most one page next run, and a
quiet day reads nothing. A TableSource is read whole; its tables live in this step's result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.base import PullBatch
from connector.crm.plugin import ENTITIES, PullContext, RecordSource
from connector.crm.sink import MirrorSink

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.pull")


@dataclass(frozen=True)
class PullResult:
    """tables: source name -> entity -> canonical table keyed by segsync's customer_id, as read
    whole this run (a files source's tables, the events of sources.sql); what record sources
    pull lands in the state store's mirror, not here."""

    tables: Mapping[str, Mapping[str, pd.DataFrame]] = field(default_factory=dict)

    def table(self, entity: str) -> pd.DataFrame | None:
        """Every source's `entity` table read this run, as one frame (None: no source read one)."""
        frames = [t[entity] for t in self.tables.values() if entity in t]
        if not frames:
            return None
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    @property
    def events(self) -> pd.DataFrame | None:
        """Canonical events read this run (customer_id, occurred_at, type, value, properties, source)."""
        return self.table("events")


def pull(ctx: CycleContext) -> PullResult:
    plugins = ctx.plugins()
    for source in plugins.record_sources():
        for entity in [e for e in ENTITIES if e in source.provides and e in MirrorSink.STREAMS]:
            _pull_stream(ctx, source, entity)
    tables: dict[str, Mapping[str, pd.DataFrame]] = {}
    for mirroring in plugins.mirroring_sources():
        book = PullRejections(ctx, mirroring.name)
        read = mirroring.pull_into(PullContext(ctx.store.mirror, ctx.check_stop, book.reject, book.accept,
                                               ctx.count, ctx.config.identity))
        if read:
            tables[mirroring.name] = read
    from connector.steps.spark_cycle import reads_on_spark, stage_pulls

    on_spark = reads_on_spark(ctx)  # the features step reads the sources on the executors
    if on_spark:
        stage_pulls(ctx)
    for table_source in plugins.table_sources():
        if on_spark:
            log.info("%s: read by Spark in the features step, not here", table_source.name)
            continue
        read = table_source.read_tables()
        if not read:
            continue
        tables[table_source.name] = read
        for entity, frame in read.items():
            if entity != "customers":
                ctx.count(f"pulled_{table_source.name}_{entity}", len(frame))
        log.info("%s: %s", table_source.name, ", ".join(f"{len(f)} {e} row(s)" for e, f in read.items()))
    return PullResult(tables)


class PullRejections:
    """Rows a source refuses at the pull, as rejected rows of this step: one open rejection per
    row (a row read again replaces its own), closed once the row is read without a problem."""

    def __init__(self, ctx: CycleContext, source: str) -> None:
        self.ctx = ctx
        self.source = source
        open_rows = ctx.store.rejected.open()
        mine = open_rows[(open_rows["step"] == "pull") & (open_rows["source"] == source)]
        self.open: set[str] = set(mine["record_key"].dropna().astype(str))

    def reject(self, _entity: str, rows: list[dict[str, Any]]) -> None:
        keys = {str(r["record_key"]) for r in rows}
        self._close(keys)
        self.ctx.store.rejected.add(self.ctx.run_id, "pull", self.source, rows)
        self.open |= keys

    def accept(self, _entity: str, keys: list[str]) -> None:
        self._close(set(keys))

    def _close(self, keys: set[str]) -> None:
        done = keys & self.open
        if done:
            self.ctx.store.rejected.resolve("pull", self.source, sorted(done))
            self.open -= done


def _pull_stream(ctx: CycleContext, source: RecordSource, stream: str) -> None:
    name = source.name
    sink = MirrorSink(ctx.store.mirror, name, stream)
    since = sink.cursor()

    def page(batch: PullBatch) -> None:
        sink(batch)
        ctx.check_stop()  # the page is stored: a stop here loses nothing

    source.pull(stream, page, since)
    ctx.count(f"pulled_{name}_{stream}", sink.rows)
    if sink.deleted:
        ctx.count(f"deleted_{name}_{stream}", sink.deleted)
    window = since.timestamp.isoformat() if since is not None and not since.full_sync else "the beginning"
    resumed = " (resumed an interrupted scan)" if since is not None and since.scan is not None else ""
    log.info("%s %s: %d changed record(s) since %s%s", name, stream, sink.rows, window, resumed)
