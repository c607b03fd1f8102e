"""Fixtures for the SQL source: a warehouse per test, DuckDB (a file) and a real PostgreSQL.

The PostgreSQL server starts once per session (tests/connector/sql/postgres.py) and each test
gets a fresh database in it. Without Debian's binaries the PostgreSQL cases skip, saying so,
except in CI (CI=true), where they fail: CI installs the package (.ci/run).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connector.config import IdentityConfig
from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.plugin import PullContext
from connector.crm.sql.plugin import SqlPlugin
from connector.state.store import StateStore
from connector.steps.pull import PullRejections
from tests.connector.sql.postgres import PostgresServer, binaries

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = binaries()
    if bin_dir is None:
        message = "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the PostgreSQL tests; .ci/run installs the package")
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


class Warehouse:
    """A database the tests write to (`run`) and a `sources.sql` config pointing at it (`config`)."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url

    def run(self, statement: str, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None) -> None:
        """Execute one statement (executemany over `rows` when a list); the engine is closed after, so a DuckDB
        file is free for the source to open read-only."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), rows if rows is not None else {})
        finally:
            engine.dispose()

    def config(self, **fields: Any) -> SqlSourceConfig:
        return SqlSourceConfig.model_validate({"url": self.url, **fields})


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        return Warehouse("duckdb", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Warehouse("postgresql", server.create_database(f"t{next(_numbers)}"))


def cycle(cfg: SqlSourceConfig, store: StateStore, run_id: int) -> Any:
    """The parts of a CycleContext the SQL pull uses."""
    config = SimpleNamespace(sources=SimpleNamespace(sql=cfg), base_dir=Path("."), identity=IdentityConfig())
    counts: dict[str, int] = {}
    ctx = SimpleNamespace(config=config, store=store, run_id=run_id, check_stop=lambda: None,
                          count=lambda k, n=1: counts.__setitem__(k, counts.get(k, 0) + n), counts=counts)
    return ctx


def pull_sql(ctx: Any) -> Any:
    """What the pull step does with the SQL plugin (connector.steps.pull)."""
    book = PullRejections(ctx, "sql")
    plugin = SqlPlugin(ctx.config.sources.sql, ctx.config.base_dir)
    return plugin.pull_into(PullContext(ctx.store.mirror, ctx.check_stop, book.reject, book.accept, ctx.count,
                                        ctx.config.identity))
