"""`SqlSource`: customers, purchases and their line items streamed out of a database, page by page, into a sink.

The pull keeps the shared cursor's rules (connector.cursor). With a cursor column a scan reads
rows after the stored (timestamp, key) bound in that order, one chunk at a time through a
server-side cursor; each page goes to the sink with the scan's position, so a crash re-reads
at most one page, and the bound moves to the last row only once the scan completes. A SQL
table is read in order from its primary store, so no overlap window is held back.

Before a scan the source refuses a cursor that went backwards (the row the last pull stopped
at now has an older value: a restore or a rewrite; reading on would silently skip rows), and
reports rows whose cursor is NULL (an incremental pull never sees them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.base import PullBatch, Sink
from connector.crm.errors import FatalError, RetriableError
from connector.crm.sql.database import first_line, open_engine, safe_url, session
from connector.crm.sql.records import SOURCE, Converter, as_utc, record_id
from connector.crm.sql.selection import Selection
from connector.cursor import BEGINNING, Cursor, decode_mark, encode_mark, query_key

log = logging.getLogger("segsync.sql")

#: Receives rows refused at the pull: (entity, [{record_key, reason, payload}]).
Rejections = Callable[[str, list[dict[str, Any]]], None]
#: Receives the keys of rows read without a problem: (entity, keys), so earlier rejections of them can close.
Acceptances = Callable[[str, list[str]], None]
NULL_CURSOR_SAMPLE = 1000


class SqlSource:
    """Reads the configured entities of `sources.sql`. `now` is the wall clock (injected in tests)."""

    name = SOURCE

    def __init__(self, cfg: SqlSourceConfig, base_dir: Path, *, reject: Rejections | None = None,
                 accept: Acceptances | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.cfg = cfg
        self.engine = open_engine(cfg, base_dir)
        self.reject: Rejections = reject or (lambda _entity, _rows: None)
        self.accept: Acceptances = accept or (lambda _entity, _keys: None)
        self.now = now or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"SqlSource({safe_url(self.engine.url)})"

    def selection(self, entity: str) -> Selection:
        cfg = self.cfg.entities().get(entity)
        if cfg is None:
            raise ValueError(f"sources.sql has no {entity} entity")
        return Selection(entity, cfg)

    def pull_customers(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Stream customers changed after `since` (all without a cursor column) into `sink`."""
        return self.pull("customers", sink, since)

    def pull_transactions(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Stream transactions changed after `since` (all without a cursor column) into `sink`."""
        return self.pull("transactions", sink, since)

    def pull_line_items(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Stream line items changed after `since` (all without a cursor column) into `sink`; None without a
        line_items entity (nothing asked for)."""
        if self.cfg.line_items is None:
            return None
        return self.pull("line_items", sink, since)

    def pull(self, entity: str, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Stream one entity's pages into `sink`; the cursor after the last page (None without a cursor column)."""
        sel = self.selection(entity)
        with self._session() as conn:
            sel.check(conn)
            if not sel.cfg.cursor_column:
                for page in self._pages(conn, sel, None, None):
                    sink(PullBatch(page.rows, page.deleted, Cursor(BEGINNING)))
                return None
            return self._incremental(conn, sel, sink, since)

    def _incremental(self, conn: Connection, sel: Selection, sink: Sink, since: Cursor | None) -> Cursor:
        base = since.bound if since is not None else Cursor(BEGINNING)
        self._refuse_backwards(conn, sel, base)
        self._report_null_cursors(conn, sel)
        qkey = query_key(SOURCE, sel.name, sel.cfg.table or sel.cfg.query or "", sel.cfg.cursor_column or "",
                         sel.cfg.key_column)
        resumed = since.resumable(qkey) if since is not None else None
        mark = decode_mark(resumed.position) if resumed is not None else None
        after = mark or (None if base.full_sync and not base.id else (base.timestamp, base.id))
        overlap = timedelta(seconds=sel.cfg.overlap_seconds)
        started = None
        if overlap:  # the hold-back counts from the scan's first start, on the database's clock (connector.cursor)
            started = resumed.started_at if resumed is not None else as_utc(self._execute(conn, sel.clock(), sel).scalar())
        for page in self._pages(conn, sel, after, mark):
            if page.mark is not None:
                mark = page.mark
            sink(PullBatch(page.rows, page.deleted, base.scanning(qkey, encode_mark(*mark), started) if mark else base))
        done = base.scanning(qkey, "", started).complete(mark, overlap)
        sink(PullBatch([], [], done))
        return done

    def _pages(self, conn: Connection, sel: Selection, after: tuple[datetime, str] | None,
               mark: tuple[datetime, str] | None) -> Iterator[Any]:
        convert = Converter(sel.name, sel.cfg, self.now())
        size = self.cfg.chunk_size
        result = self._execute(conn.execution_options(stream_results=True, yield_per=size), sel.rows(after), sel)
        for chunk in result.mappings().partitions(size):
            page = convert.page(chunk, mark)
            mark = page.mark
            if page.rejected:
                self.reject(sel.name, page.rejected)
            refused = {r["record_key"] for r in page.rejected}
            self.accept(sel.name, [k for k in map(record_id, page.rows) if k not in refused])
            yield page

    def keys(self, entity: str) -> set[str]:
        """Every key of the entity now in the database (a full key scan, read in chunks)."""
        sel = self.selection(entity)
        with self._session() as conn:
            sel.check(conn)
            result = self._execute(conn.execution_options(stream_results=True, yield_per=self.cfg.chunk_size),
                                   sel.keys(), sel)
            return {str(k) for chunk in result.scalars().partitions(self.cfg.chunk_size) for k in chunk}

    def read(self, entity: str) -> list[Mapping[str, Any]]:
        """Every row of an entity with canonical names (events): read whole, in chunks."""
        sel = self.selection(entity)
        with self._session() as conn:
            sel.check(conn)
            result = self._execute(conn.execution_options(stream_results=True, yield_per=self.cfg.chunk_size),
                                   sel.rows(None), sel)
            return [dict(r) for chunk in result.mappings().partitions(self.cfg.chunk_size) for r in chunk]

    def _refuse_backwards(self, conn: Connection, sel: Selection, base: Cursor) -> None:
        """The row the last pull stopped at must not now sort before where it was: if it does, its cursor was
        rewritten backwards (a restore, a bulk update) and the rows around it cannot be trusted to come again.
        A deleted row proves nothing (deletes are the key scan's business)."""
        if base.full_sync or not base.id:
            return
        now = as_utc(self._execute(conn, sel.cursor_of(base.id), sel).scalar())
        if now is not None and now < base.timestamp:
            raise FatalError(
                f"sources.sql.{sel.name}.cursor_column {sel.cfg.cursor_column} went backwards: row {base.id}, where "
                f"the last pull stopped at {base.timestamp.isoformat()}, now has {now.isoformat()}; the table was "
                "restored or the column rewritten, and reading on would skip rows. The cursor was not moved; "
                f"`segsync resync CONFIG {SOURCE} {sel.name}` pulls the entity again in full", crm=SOURCE)

    def _report_null_cursors(self, conn: Connection, sel: Selection) -> None:
        keys = self._execute(conn, sel.null_cursors(NULL_CURSOR_SAMPLE), sel).scalars().all()
        if keys:
            reason = (f"{sel.cfg.cursor_column} is NULL: an incremental pull cannot place the row, so it is never read; "
                      "give it a value")
            self.reject(sel.name, [{"record_key": k, "reason": f"sources.sql.{sel.name}: {reason}"} for k in keys])
            log.warning("sql %s: %d row(s) (first %d shown in rejected rows) have a NULL %s and are not pulled",
                        sel.name, len(keys), NULL_CURSOR_SAMPLE, sel.cfg.cursor_column)

    def _execute(self, conn: Connection, stmt: Any, sel: Selection) -> Any:
        try:
            return conn.execute(stmt)
        except DBAPIError as exc:
            message = f"sources.sql.{sel.name}: reading {sel.where} failed: {first_line(exc)}"
            if exc.connection_invalidated or "timeout" in message.lower() or "cancel" in message.lower():
                raise RetriableError(message, crm=SOURCE) from None
            raise FatalError(message, crm=SOURCE) from None

    def _session(self) -> AbstractContextManager[Connection]:
        return session(self.engine, self.cfg.statement_timeout_seconds)

    def close(self) -> None:
        """Release the connections (a DuckDB file is free for a writer again)."""
        self.engine.dispose()

    def __enter__(self) -> SqlSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
