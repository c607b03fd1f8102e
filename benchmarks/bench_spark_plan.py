"""The plan's diff at scale: the pandas path against the Spark engine's (only changed rows collected).

    nice -n 15 .venv/bin/python benchmarks/bench_spark_plan.py --customers 200000 --changed 0.01

A ledger that confirmed yesterday's desired state of every customer (one destination: segment,
arm and a score as fields, segment and arm lists) is written to a state file; today `--changed`
of the customers moved segment. Each engine then plans today in its own child process:

- pandas: desired_table over everyone, plan_fields and plan_lists against the whole ledger
  (connector.steps.plan.destination_plan's work);
- spark (local[2]): the desired state on the executors (connector.engine.spark.desired), the
  ledger streamed to Parquet and joined there (connector.engine.spark.changes), plan_fields and
  plan_lists on the collected rows with their ledger rows (connector.steps.spark_plan's work).

Printed per engine: rows of the desired state that reached the planning code, updates and list
changes planned (they must agree), wall time, CPU time of the process tree (JVM and Python
workers included: process_tree.ProcessTree), peak RSS of the driver's Python process and of the
tree, and the load average at start.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from process_tree import ProcessTree  # noqa: E402

FIELDS = {"segment_name": "Segment__c", "arm": "Arm__c", "buy_90d": "Buy_90d__c"}
DEST, ID = "salesforce", "salesforce_id"


def inputs(n: int, changed: float, day: int, seed: int = 7) -> dict:
    """desired_table's inputs for `n` customers; on day 1 a `changed` share moved segment."""
    from connector.config import Arm, ExperimentConfig

    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:08d}" for i in range(n)], dtype=object)
    seg = rng.integers(0, 4, n)
    if day == 1:
        moved = rng.random(n) < changed
        seg = np.where(moved, (seg + 1) % 4, seg)
    segments = pd.DataFrame({"customer_id": ids, "segment_id": [f"s{s}" for s in seg],
                             "segment_name": [f"Segment {s}" for s in seg]})
    customers = pd.DataFrame({"customer_id": ids, "email": [f"{i}@example.com" for i in ids],
                              ID: [f"003{i:012d}" for i in range(n)]})
    scores = pd.DataFrame({"buy_90d": np.round(np.random.default_rng(seed + 1).random(n), 2)}, index=ids)
    exp = ExperimentConfig(key="winback", arms=[Arm(name="control", weight=0.5, control=True),
                                                Arm(name="offer", weight=0.5)])
    arms = pd.DataFrame({"experiment": "winback", "customer_id": ids,
                         "arm": np.where(np.random.default_rng(seed + 2).random(n) < 0.5, "control", "offer")})
    return {"segments": segments, "customers": customers, "id_columns": [ID], "scores": scores, "arms": arms,
            "experiments": [exp]}


def write_ledger(state: Path, n: int) -> None:
    """The state file with yesterday's desired state confirmed (fields and lists)."""
    from connector.config import ListsConfig, MaterialityConfig
    from connector.state import StateStore
    from connector.steps.desired import desired_table, list_memberships, record_values
    from connector.steps.diff import mapping_hash

    table = desired_table(**inputs(n, 0.0, 0))
    keys = list(FIELDS)
    with StateStore(state) as store:
        rows = [(c, r, record_values(v, keys)) for c, r, v in
                zip(table["customer_id"], table[ID], table[keys].to_dict("records"), strict=True)]
        store.ledger.confirm_fields(DEST, rows, mapping_hash=mapping_hash(FIELDS, MaterialityConfig()))
        for name, members in list_memberships(table, ID, ListsConfig(), inputs(1, 0, 0)["experiments"]).items():
            store.ledger.remember_list(DEST, name, f"701{abs(hash(name)) % 10**9}")
            store.ledger.confirm_list_changes(DEST, name, added=list(members.items()))


def plan_pandas(state: Path, n: int, changed: float) -> dict:
    from connector.config import ListsConfig, MaterialityConfig
    from connector.state import StateStore
    from connector.steps.desired import desired_table, list_memberships
    from connector.steps.diff import DestinationPlan, plan_fields, plan_lists

    given = inputs(n, changed, 1)
    with StateStore(state) as store:
        table = desired_table(**given)
        p: DestinationPlan = plan_fields(DEST, table, FIELDS, ID, ID, store.ledger.confirmed_fields(DEST),
                                         MaterialityConfig())
        plan_lists(p, list_memberships(table, ID, ListsConfig(), given["experiments"]), store.ledger.list_members(DEST),
                   set())
    return {"rows_planned": len(table), **_figures(p)}


def plan_spark(state: Path, n: int, changed: float, staging: Path) -> dict:
    from connector.config import ListsConfig, MaterialityConfig
    from connector.config.engine import EngineConfig
    from connector.engine.spark.changes import destination_changes
    from connector.engine.spark.desired import (
        DesiredParts,
        DestinationKeys,
        desired_frame,
        join_inputs,
    )
    from connector.engine.spark.session import spark_session
    from connector.state import StateStore
    from connector.state.staging import export_ledger
    from connector.steps.desired import list_memberships
    from connector.steps.diff import plan_fields, plan_lists

    session = spark_session(EngineConfig(kind="spark", master="local[2]", spark_conf={
        "spark.sql.shuffle.partitions": 8, "spark.ui.enabled": False, "spark.driver.memory": "2g",
        "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}))
    given = inputs(n, changed, 1)
    parts = DesiredParts(**{**given, "id_columns": tuple(given["id_columns"]), "experiments": tuple(given["experiments"])})
    keys = DestinationKeys(DEST, tuple(FIELDS), ID, ListsConfig())
    with StateStore(state) as store:
        desired = desired_frame(join_inputs(session, parts), parts, [keys]).persist()
        with_id = desired.where(desired[ID].isNotNull()).count()
        fields, lists = export_ledger(store, staging, DEST)
        changes = destination_changes(desired, session.read.parquet(str(fields)), session.read.parquet(str(lists)),
                                      keys, with_id)
        rows = changes.rows
        who = [*rows["customer_id"], *changes.departed]
        p = plan_fields(DEST, rows, FIELDS, ID, ID, store.ledger.confirmed_fields_of(DEST, who), MaterialityConfig())
        p.unchanged += changes.unchanged
        plan_lists(p, list_memberships(rows, ID, ListsConfig(), given["experiments"]),
                   store.ledger.list_members_of(DEST, who), set())
    session.stop()
    return {"rows_planned": len(rows), **_figures(p)}


def _figures(p) -> dict:
    return {"updates": len(p.updates), "unchanged": p.unchanged,
            "list_adds": sum(map(len, p.list_adds.values())), "list_removals": sum(map(len, p.list_removes.values()))}


def child(args: argparse.Namespace) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    if args.engine == "pandas":
        out = plan_pandas(args.state, args.customers, args.changed)
    else:
        out = plan_spark(args.state, args.customers, args.changed, args.state.parent / "staging")
    out.update(wall_s=time.perf_counter() - t0, driver_cpu_s=time.process_time() - c0,
               driver_peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--engine", choices=["pandas", "spark"], help=argparse.SUPPRESS)  # a child's run
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args)
        return
    print(f"{args.customers:,} customers, {args.changed:.1%} moved segment; {os.cpu_count()} CPUs; load average at "
          f"start {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-spark-plan-") as tmp:
        state = Path(tmp) / "state.sqlite"
        t0 = time.perf_counter()
        write_ledger(state, args.customers)
        print(f"ledger of {args.customers:,} confirmed records written in {time.perf_counter() - t0:.1f} s", flush=True)
        print("| engine | desired rows planned | updates | unchanged | list adds | list removals | wall s | "
              "CPU s (tree) | driver Python peak MB | tree peak MB | load at start |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for engine in ("pandas", "spark"):
            load = os.getloadavg()[0]
            proc = subprocess.Popen([sys.executable, __file__, "--engine", engine, "--state", str(state),
                                     "--customers", str(args.customers), "--changed", str(args.changed)],
                                    stdout=subprocess.PIPE, text=True)
            tree = ProcessTree(proc.pid)
            tree.start()
            out, _ = proc.communicate()
            tree.done.set()
            r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            print(f"| {engine} | {r['rows_planned']:,} | {r['updates']:,} | {r['unchanged']:,} | {r['list_adds']:,} | "
                  f"{r['list_removals']:,} | {r['wall_s']:.1f} | {max(tree.cpu_s, r['driver_cpu_s']):.1f} | "
                  f"{r['driver_peak_mb']:.0f} | {tree.peak['tree']:.0f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
