"""Line-item pulls from both sandbox CRMs: a full pull, then after 1 % of lines changed, then quiet.

    .venv/bin/python benchmarks/bench_line_items.py [--customers 20000] [--products 40] [--share 0.01]

Both sandboxes in-process (tests/e2e/world.py) hold a simulated population whose purchases
hold products (1-3 lines each): OpportunityLineItems with Product2 in Salesforce, line items
associated to closed-won deals in HubSpot. Each connector pulls its line items into a state
store's mirror, as the pull step does:
1. full: every line (Salesforce: REST pages, then one Bulk job above the threshold; HubSpot:
   the list endpoint, one v4 association batch read per page of 100);
2. `--share` of the lines in each CRM get a new quantity: the incremental pull should read that
   many (HubSpot re-reads its search overlap window, here 0 minutes);
3. nothing changed: a quiet pull.
Prints per pull the lines read, API calls, wall and process CPU time; and peak RSS and the
load average at start (figures under load are inflated: re-run on a quiet machine).
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

from connector.config import Config  # noqa: E402
from connector.crm.sink import MirrorSink  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.e2e.world import E2EWorld  # noqa: E402


def calls(world: E2EWorld) -> tuple[int, int]:
    return world.sf.request_count["total"], world.hs.calls()


def pull(world: E2EWorld, conns: dict, store: StateStore, label: str) -> None:
    before, wall, cpu = calls(world), time.perf_counter(), time.process_time()
    read = {}
    for crm, conn in conns.items():
        sink = MirrorSink(store.mirror, crm, "line_items")
        conn.pull_line_items(sink, sink.cursor())
        read[crm] = sink.rows
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = calls(world)
    print(f"{label:12s} read salesforce {read['salesforce']:8,d} hubspot {read['hubspot']:8,d} lines; "
          f"API calls salesforce {after[0] - before[0]:4d} hubspot {after[1] - before[1]:4d}; "
          f"wall {wall:6.1f} s, CPU {cpu:6.1f} s")


def touch(world: E2EWorld, share: float, rng: np.random.Generator) -> tuple[int, int]:
    """Give `share` of each CRM's lines a new quantity (someone edits the order)."""
    sf_ids = [r["Id"] for r in world.sf.store.records("OpportunityLineItem")]
    hs_ids = [r["id"] for r in world.hs.store.records("line_items")]
    for rid in rng.choice(sf_ids, int(len(sf_ids) * share), replace=False):
        world.sf.store.update("OpportunityLineItem", str(rid), {"Quantity": 2})
    for rid in rng.choice(hs_ids, int(len(hs_ids) * share), replace=False):
        world.hs.store.update("line_items", str(rid), {"quantity": "2"})
    world.clock.advance(seconds=60)
    return int(len(sf_ids) * share), int(len(hs_ids) * share)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--products", type=int, default=40)
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        world = E2EWorld(Path(tmp), n_customers=args.customers, seed=args.seed, products=args.products,
                         hubspot_rate_limits=False)
        sf_lines = sum(1 for _ in world.sf.store.records("OpportunityLineItem"))
        hs_lines = sum(1 for _ in world.hs.store.records("line_items"))
        print(f"sandboxes loaded: {args.customers:,d} customers, {sf_lines:,d} Salesforce and {hs_lines:,d} HubSpot "
              f"lines in {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
        data = world.config_data()
        for crm in ("salesforce", "hubspot"):
            data["sources"][crm]["line_items"] = {"enabled": True}
        data["sources"]["hubspot"]["search_overlap_minutes"] = 0
        config = Config.model_validate(data)
        conns = world.factory(config)
        with StateStore(Path(tmp) / "bench.sqlite") as store:
            pull(world, conns, store, "full")
            sf_n, hs_n = touch(world, args.share, np.random.default_rng(args.seed))
            print(f"edited {sf_n:,d} Salesforce and {hs_n:,d} HubSpot lines")
            pull(world, conns, store, "incremental")
            pull(world, conns, store, "quiet")
            mirrored = store.mirror.counts()
            print(f"mirror: {mirrored.get('line_items:salesforce', 0):,d} Salesforce, "
                  f"{mirrored.get('line_items:hubspot', 0):,d} HubSpot lines")
    print(f"total wall {time.perf_counter() - started:.1f} s, CPU {time.process_time() - cpu:.1f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
