"""The Spark engine's files reader on a CSV without transaction ids: numbering rows and the ISO date check.

    .venv/bin/python benchmarks/bench_spark_files.py --rows 2000000

A CSV of --rows purchases (customer, ISO date, amount; no transaction id column, so rows are named
by line as FilesReader names them) is written once to --data-dir, then read by
connector.engine.spark.sources.read_files_source on local[2] and forced end to end: every
transaction id, and the first customer row per customer (the reader's window). Printed: the time
of the read (the date check's passes included) and of the forced aggregation, the process tree's
CPU time and peak RSS (Python driver, JVM, Python workers: benchmarks/process_tree.py), the load
average at start.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from process_tree import ProcessTree  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    if path.exists():
        return
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    frame = pd.DataFrame({"CustomerID": rng.integers(0, rows // 10, rows).astype(str), "date": days.strftime("%Y-%m-%d"),
                          "amount": rng.gamma(2.0, 20.0, rows).round(2)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/segsync-bench-files"))
    args = parser.parse_args()
    load = os.getloadavg()
    path = args.data_dir / f"purchases_{args.rows}.csv"
    write_csv(path, args.rows)
    from pyspark.sql import functions as F

    from connector.config.engine import EngineConfig
    from connector.config.sources import FilesSource
    from connector.engine.spark.session import spark_session
    from connector.engine.spark.sources import read_files_source

    tree = ProcessTree(os.getpid())
    tree.start()
    cpu0 = time.process_time()
    spark = spark_session(EngineConfig(kind="spark", master="local[2]", spark_conf={
        "spark.driver.memory": "2g", "spark.sql.shuffle.partitions": 8}))
    t0 = time.perf_counter()
    tables = read_files_source(spark, FilesSource(transactions=path), path.parent)
    t_read = time.perf_counter() - t0
    row = tables.transactions.agg(F.count("transaction_id"), F.max(F.length("transaction_id"))).first()
    customers = tables.customers.count()
    t_all = time.perf_counter() - t0
    tree.sample()
    tree.done.set()
    spark.stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"rows {args.rows:,} ({path.stat().st_size / 2**20:.0f} MB CSV), load average at start {load}")
    print(f"read_files_source {t_read:.1f} s (the date check's passes); forced: {row[0]:,} transaction ids, "
          f"{customers:,} customers, {t_all:.1f} s wall in all")
    print(f"CPU: driver process {time.process_time() - cpu0:.1f} s, process tree {tree.cpu_s:.1f} s "
          f"(reaped children {children.ru_utime + children.ru_stime:.1f} s); peak RSS tree {tree.peak['tree']:,.0f} MB "
          f"(JVM {tree.peak['jvm']:,.0f} MB, Python workers {tree.peak['python_workers']:,.0f} MB)")


if __name__ == "__main__":
    main()
