"""The product cycle on Spark: `run_cycle`'s steps (not bench_spark.py's phases), and what reaches the driver.

    .venv/bin/python benchmarks/bench_spark_driver.py --customers 1000000 --data-dir /work/spark-benchdata

Data: bench_spark.py's Parquet population (about 10 purchases per customer, chunks of 1M
customers, kept between runs in --data-dir), read by a files source with `engine: {kind: spark}`.
The cycle is the product's: pull, features (quarantine.judge, features on the executors, a
driver sample), segment (k-means, k chosen on the sample), score (one propensity target,
logistic and gbm compared out of time, reason codes) and CLV, assign (one experiment with a
holdout), plan (the desired state built on the executors; no destination is configured, so
nothing is collected for a push: with one, only its changed rows would be), measure. With
--cycles 2 a second cycle runs on the same data: nothing changed. (bench_spark_cycle.py runs
`segsync run` with a files destination, a file rewritten whole, on both engines.)

The cycle runs in a child process (driver capped by --driver-memory); a sampler walks its process
tree (Python driver, JVM, Python workers) every 0.5 s for the peak RSS and the CPU time. Printed:
wall and CPU per step and in all, the tree's peak RSS, the load average at start, and the rows
every Spark result handed to the driver (toPandas, collect, toLocalIterator), by kind: results
that carry a customer_id (the features' sample, training rows, quarantined rows, new arms,
changed rows) and aggregates (per rule, segment, RFM cell, CLV key, k-means iteration, the measure
step's sums per experiment x segment x arm); and the same rows by step of the cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spark import (  # noqa: E402
    last_line,
    oom_kills,
    run_child,
    shuffle_partitions,
    spark_conf,
    write_population,
)

ROWS: dict[str, int] = {}  # rows handed to the driver per kind, in the child
STEP_ROWS: dict[str, int] = {}  # the same rows per step of the cycle
STEP: list[str] = ["(outside a step)"]  # the step running now


def kind_of(columns: frozenset[str]) -> str:
    if "customer_id" not in columns:
        return "aggregates"
    for mark, kind in (("reason", "quarantined rows"), ("_label", "training rows"), ("assigned_at", "new arms"),
                       ("transaction_id", "purchases (measure)")):
        if mark in columns:
            return kind
    if any(c.startswith(("_values", "_order")) for c in columns):
        return "desired-state rows"
    if "recency_days" in columns and not columns & {"segment_id", "clv"}:
        return "features sample"
    return "other per-customer: " + ",".join(sorted(columns))[:80]


def spy() -> None:
    """Count the rows of every Spark result handed to the driver, by kind (ROWS)."""
    from pyspark.sql.classic.dataframe import DataFrame

    to_pandas, collect, local = DataFrame.toPandas, DataFrame.collect, DataFrame.toLocalIterator

    def count(columns: list[str], n: int) -> None:
        kind = kind_of(frozenset(columns))
        ROWS[kind] = ROWS.get(kind, 0) + n
        STEP_ROWS[STEP[0]] = STEP_ROWS.get(STEP[0], 0) + n

    def spy_pandas(self: DataFrame):  # noqa: ANN202
        out = to_pandas(self)
        count(list(out.columns), len(out))
        return out

    def spy_collect(self: DataFrame):  # noqa: ANN202
        out = collect(self)
        count(self.columns, len(out))
        return out

    def spy_local(self: DataFrame, prefetchPartitions: bool = False) -> Iterator:  # noqa: N803
        rows = list(local(self, prefetchPartitions))
        count(self.columns, len(rows))
        return iter(rows)

    DataFrame.toPandas, DataFrame.collect, DataFrame.toLocalIterator = spy_pandas, spy_collect, spy_local  # type: ignore[method-assign]


def child(data: str, driver_memory: str, master: str, partitions: int, cycles: int) -> None:
    with tempfile.TemporaryDirectory(prefix="segsync-bench-cycle-") as state:
        cycle(Path(state), data, driver_memory, master, partitions, cycles)


def cycle(folder: Path, data: str, driver_memory: str, master: str, partitions: int, cycles: int) -> None:
    """Run `cycles` cycles with a fresh state file in `folder`; print the RESULT line."""
    from connector.config import Config
    from connector.pipeline import default_steps, run_cycle
    from connector.state import StateStore

    config = Config.model_validate({
        "version": 1, "state": {"path": str(folder / "state.sqlite")},
        "engine": {"kind": "spark", "master": master,
                   "spark_conf": spark_conf(Path(data), driver_memory, partitions)},
        "sources": {"files": {"transactions": data, "format": "parquet", "customer_id_column": "customer_id",
                              "transaction_id_column": "transaction_id", "date_column": "occurred_at",
                              "amount_column": "amount"}},
        "segmentation": {"method": "kmeans"},
        "scoring": {"targets": [{"name": "buy_90d", "kind": "propensity", "horizon_days": 90}]},
        "experiments": {"holdout": {"share": 0.1}, "items": [{"key": "welcome", "arms": [
            {"name": "control", "weight": 0.5, "control": True}, {"name": "offer", "weight": 0.5}]}]},
    })
    spy()
    results = []
    with StateStore(folder / "state.sqlite") as store:
        for k in range(1, cycles + 1):
            ROWS.clear()
            STEP_ROWS.clear()
            steps = {name: timed(f"{name} #{k}", fn, name) for name, fn in default_steps().items()}
            result = run_cycle(config, store, steps=steps)
            results.append({"status": result.status, "error": result.error, "counts": result.counts,
                            "rows_to_driver": dict(ROWS), "rows_to_driver_by_step": dict(STEP_ROWS)})
    ok = all(r["status"] == "succeeded" for r in results)
    print("RESULT " + json.dumps({"ok": ok, "cycles": results, "error": None if ok else results[-1]["error"]}),
          flush=True)


def timed(label: str, fn, step: str):  # noqa: ANN001, ANN201
    def run(ctx):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        STEP[0] = step
        try:
            return fn(ctx)
        finally:
            STEP[0] = "(outside a step)"
            print(f"PHASE {json.dumps({'phase': label, 's': time.perf_counter() - t, 'cpu_self_s': time.process_time()})}",
                  flush=True)
    return run


def measure(data: Path, n: int, args: argparse.Namespace) -> dict:
    kills, load, t0 = oom_kills(), os.getloadavg(), time.perf_counter()
    log = Path(args.data_dir).resolve() / "logs" / f"cycle-{data.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", f"--data={data}", f"--driver-memory={args.driver_memory}",
           f"--master={args.master}", f"--cycles={args.cycles}",
           f"--shuffle-partitions={shuffle_partitions(n, args.shuffle_partitions)}"]
    steps: dict[str, float] = {}
    run = run_child(cmd, log, "cycle", steps, t0, args.timeout)
    result = run.result or {"ok": False, "error": f"exit code {run.returncode}: {last_line(log)}"}
    if not result.get("ok") and oom_kills() > kills:
        result["error"] = f"{result.get('error')} (the OOM killer killed {oom_kills() - kills} process(es))"
    return {**result, "steps": steps, "wall_s": time.perf_counter() - t0, "cpu_tree_s": run.cpu_s,
            "peak_mb": run.peak_mb, "load_at_start": load, "log": str(log)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data-dir", default="/tmp/segsync-bench-spark")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (local mode: driver and executors)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=0, help="Spark's; 0: one per ~312k customers")
    parser.add_argument("--cycles", type=int, default=1, help="2: a second cycle on the same data (nothing changed)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds; the child is killed after it")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.data, args.driver_memory, args.master, args.shuffle_partitions, args.cycles)
    data, rows = write_population(args.customers, Path(args.data_dir))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()}, master "
          f"{args.master}, driver memory {args.driver_memory}; {args.customers:,} customers, {rows:,} purchases",
          flush=True)
    r = measure(data, args.customers, args)
    peak = {k: v / 1024 for k, v in r["peak_mb"].items()}
    print(f"\n{'ok' if r.get('ok') else 'FAILED: ' + str(r.get('error')) + ' (log ' + r['log'] + ')'} | wall "
          f"{r['wall_s']:.1f} s | CPU (tree) {r['cpu_tree_s']:.1f} s | peak RSS tree {peak['tree']:.2f} GB (driver "
          f"{peak['driver']:.2f}, JVM {peak['jvm']:.2f}, Python workers {peak['python_workers']:.2f}) | load at start "
          f"{r['load_at_start'][0]:.1f}")
    print("steps: " + "  ".join(f"{k} {v:.1f}s" for k, v in r["steps"].items()))
    for k, cycle in enumerate(r.get("cycles", []), start=1):
        rows_by_kind = cycle["rows_to_driver"]
        print(f"cycle {k}: {cycle['status']}; customers {cycle['counts'].get('customers')}, new arms "
              f"{cycle['counts'].get('new_arms')}; rows to the driver {sum(rows_by_kind.values()):,}: "
              + ", ".join(f"{kind} {n:,}" for kind, n in sorted(rows_by_kind.items(), key=lambda kv: -kv[1])))
        print(f"cycle {k}: rows to the driver by step: "
              + ", ".join(f"{step} {n:,}" for step, n in cycle.get("rows_to_driver_by_step", {}).items()))


if __name__ == "__main__":
    main()
