"""Pulls are incremental: after 1 % of records changed, a cycle reads about 1 % of records.

    .venv/bin/python benchmarks/bench_pulls.py [--customers 20000] [--share 0.01]

Both sandbox CRMs in-process with a simulated population and its purchase history. Cycles:
1. first cycle: full pull of every contact and won deal / Opportunity;
2. the next cycle: reads back what cycle 1 wrote (segsync's own field updates move
   SystemModstamp / lastmodifieddate: the "write echo"), nothing else changed;
3. `--share` of the contacts in each CRM edited by someone else (a name change), and the
   simulation's purchases of one day: the cycle should read about that many records.
Records read come from segsync's pull counts; calls from the sandboxes' request counters.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the chaos suite's sandbox world

from connector.pipeline import run_cycle  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.chaos.world import SandboxWorld  # noqa: E402

STREAMS = [(crm, stream) for crm in ("salesforce", "hubspot") for stream in ("customers", "transactions")]


def sizes(world: SandboxWorld) -> dict[tuple[str, str], int]:
    sf, hs = world.sf.store, world.hs.store
    return {
        ("salesforce", "customers"): sum(1 for _ in sf.records("Contact")),
        ("salesforce", "transactions"): sum(1 for _ in sf.records("Opportunity")),
        ("hubspot", "customers"): sum(1 for _ in hs.records("contacts")),
        ("hubspot", "transactions"): sum(1 for _ in hs.records("deals")),
    }


def calls(world: SandboxWorld) -> tuple[int, int]:
    return world.sf.request_count["total"], world.hs.calls()


def cycle(world: SandboxWorld, store: StateStore, label: str) -> None:
    before, started = calls(world), time.perf_counter()
    result = run_cycle(world.config(), store, connector_factory=world.factory)
    took = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    after, total = calls(world), sizes(world)
    print(f"\n{label}: {took:.1f} s; API calls salesforce {after[0] - before[0]}, hubspot {after[1] - before[1]} "
          "(pulls, pushes and lists)")
    for crm, stream in STREAMS:
        read = result.counts.get(f"pulled_{crm}_{stream}", 0)
        n = total[(crm, stream)]
        print(f"  {crm:10s} {stream:12s} read {read:7,d} of {n:7,d} = {read / n:6.2%}")


def edit_contacts(world: SandboxWorld, share: float) -> int:
    """Someone else edits `share` of the contacts in each CRM; returns how many."""
    rng = np.random.default_rng(0)
    world.clock.advance(seconds=60)
    sf_ids = [r["Id"] for r in world.sf.store.records("Contact")]
    hs_ids = [r["id"] for r in world.hs.store.records("contacts")]
    picked_sf = rng.choice(sf_ids, max(1, int(len(sf_ids) * share)), replace=False)
    picked_hs = rng.choice(hs_ids, max(1, int(len(hs_ids) * share)), replace=False)
    for rid in picked_sf:
        world.sf.store.update("Contact", str(rid), {"LastName": "Edited"})
    for rid in picked_hs:
        world.hs.store.update("contacts", str(rid), {"lastname": "Edited"})
    return len(picked_sf) + len(picked_hs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--share", type=float, default=0.01)
    args = parser.parse_args()
    print(f"{args.customers:,} simulated customers; load average {os.getloadavg()}")
    world = SandboxWorld(args.customers, seed=2)
    with tempfile.TemporaryDirectory() as tmp, StateStore(Path(tmp) / "state.sqlite") as store:
        cycle(world, store, "cycle 1 (first, full pull)")
        world.settle()
        cycle(world, store, "cycle 2 (reads back cycle 1's own writes)")
        edited = edit_contacts(world, args.share)
        day = world.sim.advance_days(1)
        world.settle()
        print(f"\nchanged since: {edited:,} contacts edited ({args.share:.0%} per CRM), "
              f"{day['purchases']:,} purchases in one simulated day")
        cycle(world, store, f"cycle 3 (after {args.share:.0%} of contacts changed and a day of purchases)")


if __name__ == "__main__":
    main()
