"""One entity's rows as SQLAlchemy Core statements: never a value formatted into SQL text.

A `table:` becomes a quoted table clause; a `query:` is wrapped as a subquery (`SELECT ...
FROM (<query>) AS src`), so segsync's filters apply to it like to a table. Every value segsync
adds (the cursor's timestamp and key) is a bound parameter. Rows come back labelled with
canonical names; `_key` (the key as text), `_cursor` and `_deleted` are segsync's own.

Incremental order is (cursor, key as text): the tie-safe rule of every pull (connector.cursor):
`cursor > :ts OR (cursor = :ts AND key > :id)`. The key is compared as text so the stored mark
(text) and the database's order agree whatever the key's type.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, and_, cast, column, func, literal_column, or_, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ColumnElement, FromClause, Select

from connector.config.sql import SqlEntity
from connector.crm.errors import ConfigurationError
from connector.crm.sql.database import first_line
from connector.cursor import utc

KEY, CURSOR, DELETED = "_key", "_cursor", "_deleted"


class Selection:
    """The statements segsync runs for one configured entity (`name`: customers, transactions, ...)."""

    def __init__(self, name: str, cfg: SqlEntity) -> None:
        self.name = name
        self.cfg = cfg
        self.columns = cfg.columns()
        wanted = [*self.columns.values(), cfg.key_column]
        for extra in (cfg.cursor_column, cfg.soft_delete_column):
            if extra:
                wanted.append(extra)
        self.source_columns = list(dict.fromkeys(wanted))
        self.source = self._from(self.source_columns)

    @property
    def where(self) -> str:
        """The entity's origin as an error message names it."""
        return f"table {self.cfg.table}" if self.cfg.table else "its query"

    def _from(self, names: list[str]) -> FromClause:
        if self.cfg.table is not None:
            *schema, name = self.cfg.table.split(".")
            return table(name, *[column(n) for n in names], schema=".".join(schema) or None)
        assert self.cfg.query is not None
        return text(self.cfg.query).columns(*[column(n) for n in names]).subquery("src")

    def col(self, name: str) -> ColumnElement:
        return self.source.c[name]

    @property
    def key(self) -> ColumnElement:
        return cast(self.col(self.cfg.key_column), String)

    def check(self, conn: Connection) -> None:
        """Refuse, naming entity and column, a missing table or column (one LIMIT 0 query)."""
        src = self._schema_table() if self.cfg.table else self._from([])
        try:
            have = list(conn.execute(select(literal_column("*")).select_from(src).limit(0)).keys())
        except DBAPIError as exc:
            raise ConfigurationError(f"sources.sql.{self.name}: cannot read {self.where}: {first_line(exc)}") from None
        missing = [c for c in self.source_columns if c not in have]
        if missing:
            raise ConfigurationError(
                f"sources.sql.{self.name}: column(s) {', '.join(missing)} not found in {self.where}; "
                f"it has {', '.join(have) or 'no column'}")

    def _schema_table(self) -> FromClause:
        assert self.cfg.table is not None
        *schema, name = self.cfg.table.split(".")
        return table(name, schema=".".join(schema) or None)

    def rows(self, after: tuple[datetime, str] | None = None) -> Select:
        """The entity's rows, canonical labels plus `_key` (and `_cursor`, `_deleted` when configured).

        With a cursor column: only rows strictly after `after` in (cursor, key) order, in that
        order; NULL cursors are left out (`null_cursors` reports them)."""
        cols = [self.col(src).label(canon) for canon, src in self.columns.items()]
        cols.append(self.key.label(KEY))
        if self.cfg.soft_delete_column:
            cols.append(self.col(self.cfg.soft_delete_column).label(DELETED))
        stmt = select(*cols)
        if not self.cfg.cursor_column:
            return stmt
        cur = self.col(self.cfg.cursor_column)
        stmt = stmt.add_columns(cur.label(CURSOR)).where(cur.is_not(None))
        if after is not None:
            ts = naive_utc(after[0])
            stmt = stmt.where(or_(cur > ts, and_(cur == ts, self.key > after[1])))
        return stmt.order_by(cur, self.key)

    @staticmethod
    def clock() -> Select:
        """The database's own time (the clock updated_at defaults use)."""
        return select(func.current_timestamp())

    def cursor_of(self, key: str) -> Select:
        """The cursor value of the row with this key now (to tell a cursor that went backwards)."""
        return select(func.max(self.col(self.cfg.cursor_column or ""))).where(self.key == key)

    def null_cursors(self, limit: int) -> Select:
        """Keys of rows whose cursor is NULL: an incremental pull cannot place them."""
        return select(self.key).where(self.col(self.cfg.cursor_column or "").is_(None)).limit(limit)

    def keys(self) -> Select:
        """Every key (as text): the full key scan that finds hard deletes."""
        return select(self.key).where(self.col(self.cfg.key_column).is_not(None))


def naive_utc(value: datetime) -> datetime:
    """A bound timestamp as naive UTC: the session runs in UTC, so it compares right with columns with and
    without a time zone alike."""
    return utc(value).replace(tzinfo=None)
