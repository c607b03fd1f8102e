"""The SQL source's pull into the state file's mirror: full, after a day of changes, and quiet.

    .venv/bin/python benchmarks/bench_sql.py                       # 1M orders from DuckDB and PostgreSQL
    .venv/bin/python benchmarks/bench_sql.py --rows 100000 --no-postgres   # a quick look, DuckDB only

Data: seeded synthetic orders (id, customer_id among rows/10 customers, amount, ordered_at,
updated_at, deleted flag) written to a DuckDB file and, unless --no-postgres, to a throwaway
PostgreSQL started from Debian's binaries (tests/connector/sql/postgres.py: initdb + pg_ctl
on 127.0.0.1). Timed per database, with `pull_into_mirror` (chunk_size 10,000, incremental by
(updated_at, id), soft deletes): the full pull of every row; the pull after 1 % of the rows were
updated and 0.1 % soft-deleted (reads only those); a quiet pull (reads nothing). Printed: wall
and process CPU seconds per step (the PostgreSQL server's own CPU is not ours and not counted),
rows per second, peak RSS of this process (ru_maxrss) and the load average when it started (a
shared machine inflates the wall time).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.config.sql import SqlSource as SqlSourceConfig  # noqa: E402
from connector.crm.sql import SqlSource, pull_into_mirror  # noqa: E402
from connector.state.store import StateStore  # noqa: E402

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def orders(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": np.char.add("C", rng.integers(0, max(1, n // 10), n).astype(str)),
        "amount": rng.gamma(2.0, 30.0, n).round(2),
        "ordered_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 420 * 1440, n), unit="min"),
        # many rows per timestamp: ties at every chunk boundary
        "updated_at": pd.Timestamp("2026-02-01") + pd.to_timedelta(rng.integers(0, 20_000, n), unit="s"),
        "deleted": False,
    })


def load_duckdb(frame: pd.DataFrame, folder: Path) -> str:
    import duckdb

    path = folder / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.register("frame", frame)
        db.execute("CREATE TABLE orders AS SELECT * FROM frame")
    return f"duckdb:///{path}"


def load_postgres(frame: pd.DataFrame, url: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id TEXT, amount NUMERIC(12, 2), "
                    "ordered_at TIMESTAMP, updated_at TIMESTAMP, deleted BOOLEAN)")
        with cur.copy("COPY orders FROM STDIN") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(row)
        cur.execute("CREATE INDEX orders_cursor ON orders (updated_at, (id::text))")


def change(url: str, n: int, when: datetime) -> None:
    """1 % of rows updated, 0.1 % soft-deleted, stamped `when`."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    stamp = when.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text("UPDATE orders SET amount = amount + 1, updated_at = :t WHERE id % 100 = 7"), {"t": stamp})
        conn.execute(text("UPDATE orders SET deleted = true, updated_at = :t WHERE id % 1000 = 3"), {"t": stamp})
    engine.dispose()


def timed(label: str, cfg: SqlSourceConfig, store: StateStore, now: datetime) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    with SqlSource(cfg, Path(".")) as source:
        counts = pull_into_mirror(source, store.mirror, now)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = counts.rows["transactions"]
    print(f"  {label:<28} rows {rows:>9,}  soft-deleted {counts.soft_deleted['transactions']:>6,}  wall {wall:7.2f} s  "
          f"cpu {cpu:7.2f} s  {rows / wall if wall else 0:>10,.0f} rows/s")


def bench(kind: str, url: str, n: int, folder: Path) -> None:
    cfg = SqlSourceConfig.model_validate({"url": url, "chunk_size": 10_000, "transactions": {
        "table": "orders", "date_column": "ordered_at", "cursor_column": "updated_at", "soft_delete_column": "deleted"}})
    print(f"{kind}: {n:,} orders")
    with StateStore(folder / f"state-{kind}.sqlite") as store:
        timed("full pull", cfg, store, T0)
        change(url, n, T0 + timedelta(days=1))
        timed("after a day (1 % changed)", cfg, store, T0 + timedelta(days=1))
        timed("quiet", cfg, store, T0 + timedelta(days=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true", help="DuckDB only")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    frame = orders(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        folder = Path(tmp)
        bench("duckdb", load_duckdb(frame, folder), args.rows, folder)
        if not args.no_postgres:
            from tests.connector.sql.postgres import PostgresServer, binaries

            bin_dir = binaries()
            if bin_dir is None:
                sys.exit("PostgreSQL binaries not found (apt-get install postgresql), or pass --no-postgres")
            server = PostgresServer(bin_dir).start()
            try:
                url = server.create_database("bench")
                load_postgres(frame, url)
                bench("postgresql", url, args.rows, folder)
            finally:
                server.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:,.0f} MB (input frame included)")


if __name__ == "__main__":
    main()
