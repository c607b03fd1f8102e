"""The daemon does not grow: resident memory after 200 cycles against after 10.

    .venv/bin/python benchmarks/bench_daemon_memory.py [--customers 2000] [--cycles 200]

A files-source shop (tests/e2e/shop.py: a CSV of simulated purchases; segmentation, a
propensity score, CLV, one experiment, a files destination) run by `Daemon.cycle`, the job
APScheduler calls on each tick, back to back in one process, so whatever a cycle leaves
behind accumulates as it would in a daemon that runs for months. Resident memory (VmRSS, not
the peak) is read after a full garbage collection at each checkpoint. Each cycle re-reads the
same file, so every cycle does the full work on the same data.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/e2e/shop.py

from connector.daemon import Daemon  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.e2e.shop import write_shop  # noqa: E402


def rss_mb() -> float:
    """This process's current resident set size (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=200)
    args = ap.parse_args()
    checkpoints = sorted({10, 50, 100, 150, args.cycles} & set(range(1, args.cycles + 1)))
    print(f"{args.customers:,} customers, {args.cycles} cycles; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        config = write_shop(Path(tmp), args.customers, seed=1)
        daemon = Daemon(config)
        rss: dict[int, float] = {}
        started = time.perf_counter()
        with StateStore(config.resolve(config.state.path)) as store:
            for n in range(1, args.cycles + 1):
                daemon.cycle(store)
                last = daemon.results[-1]
                if last.status != "succeeded":
                    raise SystemExit(f"cycle {n} {last.status}: {last.error}")
                if n in checkpoints:
                    gc.collect()
                    rss[n] = rss_mb()
                    print(f"  after {n:4d} cycles: RSS {rss[n]:7.1f} MB ({time.perf_counter() - started:6.1f} s)", flush=True)
    base = rss[checkpoints[0]]
    print(f"RSS after {args.cycles} cycles / after {checkpoints[0]}: {rss[args.cycles] / base:.3f} "
          f"({rss[args.cycles] - base:+.1f} MB); daemon keeps {len(daemon.results)} summaries; "
          f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
