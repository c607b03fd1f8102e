"""engine.staging: the mirror's purchases exported to Parquet after each pull, for Spark.

    .venv/bin/python benchmarks/bench_staging.py [--purchases 1000000 5000000] [--chunk 100000]

For each size, a state file's mirror is filled with that many live purchases (text values, as
the CRM pulls store them), then `connector.state.staging.export_transactions` writes them to
one Parquet file, as the pull step does each cycle with `engine.staging` set (a full rewrite:
deletes and re-keyed customers need no tombstones). Printed per size: wall time and process
CPU time of the export, its rate, the file's size, and the peak RSS of this process (the export
streams `--chunk` rows at a time, so the peak should not grow with the table). The load
average at start says how busy the machine was.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.state import StateStore  # noqa: E402
from connector.state.staging import TRANSACTIONS, export_transactions  # noqa: E402

_INSERT = ("INSERT INTO mirror_transactions (source, source_id, customer_source_id, occurred_at, amount, modstamp, "
           "deleted) VALUES (?, ?, ?, ?, ?, ?, 0)")


def fill(store: StateStore, n: int, seed: int = 0) -> None:
    """n purchases of n/10 customers in the mirror, written 200,000 at a time."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    for lo in range(0, n, 200_000):
        hi = min(n, lo + 200_000)
        customers = rng.integers(0, max(1, n // 10), hi - lo)
        seconds = rng.integers(0, 730 * 86_400, hi - lo)
        amounts = rng.gamma(2.0, 30.0, hi - lo)
        rows = [("salesforce", f"006{i:012d}", f"003{c:012d}", str(start + np.timedelta64(int(s), "s")) + "Z",
                 f"{a:.2f}", "2026-01-01T00:00:00Z") for i, c, s, a in zip(range(lo, hi), customers, seconds, amounts,
                                                                           strict=True)]
        with store.transaction() as c:
            c.executemany(_INSERT, rows)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--chunk", type=int, default=100_000)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; cores {os.cpu_count()}")
    print("| purchases | fill s | export wall s | export CPU s | rows/s | Parquet MB | peak RSS MB (after fill -> after export) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.purchases:
        with tempfile.TemporaryDirectory() as tmp, StateStore(Path(tmp) / "state.sqlite") as store:
            t = time.perf_counter()
            fill(store, n)
            filled, rss_before = time.perf_counter() - t, peak_rss_mb()
            wall, cpu = time.perf_counter(), time.process_time()
            written = export_transactions(store, Path(tmp) / "staging", chunk_rows=args.chunk)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert written == n, (written, n)
            size = (Path(tmp) / "staging" / TRANSACTIONS).stat().st_size / 1e6
            print(f"| {n:,} | {filled:.1f} | {wall:.1f} | {cpu:.1f} | {n / wall:,.0f} | {size:.0f} | "
                  f"{rss_before:.0f} -> {peak_rss_mb():.0f} |", flush=True)


if __name__ == "__main__":
    main()
