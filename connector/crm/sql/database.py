"""The connection to the configured database: engine, session settings, errors in segsync's terms.

Every query runs in a transaction that first sets, with bound parameters, a statement
timeout and UTC as the session's time zone (PostgreSQL: `set_config(..., true)`, local to the
transaction). DuckDB has no statement timeout (it runs in-process; docs/sources-sql.md); its
time zone is set to UTC once per connection. A timestamp without a time zone is read as UTC.

DuckDB is the embedded default: `duckdb:///warehouse.duckdb` (opened read-only: segsync never
writes to a source) or `duckdb:///:memory:` with `files: folder/`, where each .parquet/.csv
file becomes a temporary view named after the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.errors import ConfigurationError, RetriableError

try:
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.engine import URL, Connection, Engine, make_url
    from sqlalchemy.exc import DBAPIError
except ImportError as exc:  # pragma: no cover - the sql extra is part of dev
    raise ConfigurationError("sources.sql needs SQLAlchemy: pip install 'segsync[sql]'") from exc

log = logging.getLogger("segsync.sql")

FILE_READERS = {".parquet": "read_parquet", ".pq": "read_parquet", ".csv": "read_csv", ".tsv": "read_csv"}


def database_url(cfg: SqlSourceConfig, base_dir: Path) -> URL:
    """The URL to connect with: the password put back, a relative DuckDB file resolved against the config's folder."""
    url = make_url(cfg.url)
    if cfg.password is not None:
        url = url.set(password=cfg.password.get_secret_value())
    if is_duckdb(url) and url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
        url = url.set(database=str(base_dir / url.database))
    return url


def is_duckdb(url: URL) -> bool:
    return url.get_backend_name() == "duckdb"


def is_postgresql(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def open_engine(cfg: SqlSourceConfig, base_dir: Path) -> Engine:
    """An engine for `cfg`; DuckDB files are opened read-only and `files:` views are made on each connection."""
    url = database_url(cfg, base_dir)
    kwargs: dict[str, Any] = {}
    if is_duckdb(url):
        if url.database and url.database != ":memory:":
            if not Path(url.database).exists():
                raise ConfigurationError(f"sources.sql.url: the DuckDB file {url.database} does not exist")
            kwargs["connect_args"] = {"read_only": True}
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:  # no such dialect or driver
        raise ConfigurationError(f"sources.sql.url: cannot use {safe_url(url)}: {first_line(exc)}") from None
    if is_duckdb(url):
        folder = None if cfg.files is None else (cfg.files if cfg.files.is_absolute() else base_dir / cfg.files)
        _prepare_duckdb(engine, folder)
    return engine


def _prepare_duckdb(engine: Engine, folder: Path | None) -> None:
    files = _data_files(folder) if folder is not None else []

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        cur.close()
        for path in files:
            # DuckDB's relation API: the path is an argument, not SQL text, and the view lives with the connection
            reader = getattr(dbapi_conn, FILE_READERS[path.suffix.lower()])
            reader(str(path)).create_view(path.stem, replace=True)


def _data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigurationError(f"sources.sql.files: {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FILE_READERS and p.is_file())
    if not files:
        raise ConfigurationError(f"sources.sql.files: {folder} holds no .parquet or .csv file")
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise ConfigurationError(f"sources.sql.files: {', '.join(dupes)} exist in more than one format; keep one")
    return files


@contextmanager
def session(engine: Engine, timeout_seconds: float) -> Iterator[Connection]:
    """A connection in a transaction with the statement timeout and UTC set (PostgreSQL), rolled back at the end:
    segsync only reads."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise RetriableError(f"sources.sql: cannot connect to {safe_url(engine.url)}: {first_line(exc)}",
                             crm="sql") from None
    with conn:
        with conn.begin() as tx:
            if is_postgresql(engine.url):
                conn.execute(text("SELECT set_config('statement_timeout', :ms, true), set_config('TimeZone', 'UTC', true)"),
                             {"ms": str(int(timeout_seconds * 1000))})
            try:
                yield conn
            finally:
                tx.rollback()


def safe_url(url: URL | str) -> str:
    """The URL as a log line may show it: the password masked."""
    return (make_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """The database's own message, without SQLAlchemy's statement dump and background link."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
