"""Writes: API calls per cycle against the minimum, and push throughput against the rate limit.

    .venv/bin/python benchmarks/bench_writes.py calls [--customers 20000]
    .venv/bin/python benchmarks/bench_writes.py throughput [--records 150000] [--concurrency 8]

calls: both sandbox CRMs in-process with a simulated population (30 % of customers in both),
whole cycles through `run_cycle`. Every request is classified from the wire (method and
path), so the figures do not depend on segsync's own counters. For each cycle and CRM:
field-update calls against ceil(updates / batch size) (above 10,000 changes Salesforce goes
through one Bulk API 2.0 ingest job: create, upload, close, whatever the size), list calls against the per-list
minimum (one create per new list, ceil(adds / chunk) and ceil(removals / chunk) per list:
200 CampaignMembers per Collections call, 1,000 ids per HubSpot membership call), and
provisioning calls (first cycle only). Cycle 1 is the first full push, cycle 2 changes
nothing (must make zero write calls), cycle 3 follows 7 simulated days of purchases.

throughput: the HubSpot connector's batch update (what the push step calls) against the
sandbox on a loopback socket with its rate limiter on the wall clock (190 calls per 10 s,
Professional) and every call taking 50-150 ms (uniform). The idle account's first burst is
spent by a warm-up push so the timed push runs in the steady state. Share = calls per second
achieved / 19, and calls / the most a rolling window admits in the elapsed time. Salesforce has no short-window limit (a daily allocation, measured by calls
per cycle above), so its figure is records per second at the same latency.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the chaos suite's sandbox world

from connector.pipeline import run_cycle  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.chaos.world import SandboxWorld  # noqa: E402

SF_BATCH, SF_MEMBERS, HS_BATCH, HS_MEMBERS = 200, 200, 100, 1_000
READ_MARKERS = ("/search", "/oauth", "/token", "/query", "/batch/read", "/limits")


class WireCount:
    """WSGI middleware: counts write calls by kind, read from method and path."""

    def __init__(self, app) -> None:
        self.app, self.lock, self.calls = app, threading.Lock(), Counter()

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        kind = classify(method, path)
        with self.lock:
            self.calls[kind] += 1
        return self.app(environ, start_response)


def classify(method: str, path: str) -> str:
    if method == "GET" or any(m in path for m in READ_MARKERS):
        return "read"
    if "/tooling/" in path or "/properties/" in path:
        return "provisioning"
    if path.endswith("/composite/sobjects"):
        return "field updates" if method == "PATCH" else "list members"
    if "/batch/update" in path or "/batch/upsert" in path or "/jobs/ingest" in path:  # Bulk API 2.0 ingest too
        return "field updates"
    if "/memberships/" in path:
        return "list members"
    if path.endswith("/sobjects/Campaign") or ("/lists" in path and method == "POST"):
        return "list create"
    return f"other {method} {path}"


def minimum(plan: dict, batch: int, chunk: int, adds: dict, removes: dict) -> dict[str, int]:
    lists = plan["new_lists"] + sum(math.ceil(len(v) / chunk) for v in adds.values()) + \
        sum(math.ceil(len(v) / chunk) for v in removes.values())
    return {"field updates": math.ceil(plan["updates"] / batch), "lists": lists}


def default_mapping(world: SandboxWorld):
    """The shipped field mapping (segment id and name, arm): values that move only when a
    customer changes segment or gets an arm, unlike a daily-moving score such as CLV."""
    from connector.config import Config

    data = world.config_data()
    for crm, key in (("salesforce", "fields"), ("hubspot", "properties")):
        data["destinations"][crm][key] = {k: v for k, v in data["destinations"][crm][key].items() if k != "clv"}
    return Config.model_validate(data)


def cycle(world: SandboxWorld, store: StateStore, counters: dict[str, WireCount], label: str) -> None:
    for c in counters.values():
        c.calls.clear()
    started = time.perf_counter()
    seen = []
    result = run_cycle(default_mapping(world), store, connector_factory=world.factory, observe=seen.append)
    took = time.perf_counter() - started
    assert result.status == "succeeded", result.error
    detail = seen[0].plan.destinations if seen[0].plan is not None else {}
    print(f"\n{label}: {result.status} in {took:.1f} s")
    for crm, (batch, chunk) in (("salesforce", (SF_BATCH, SF_MEMBERS)), ("hubspot", (HS_BATCH, HS_MEMBERS))):
        p = detail.get(crm)
        summary = next(s for s in result.plan if s["destination"] == crm)
        low = minimum(summary, batch, chunk, p.list_adds if p else {}, p.list_removes if p else {})
        calls = counters[crm].calls
        lists = calls["list members"] + calls["list create"]
        writes = sum(n for k, n in calls.items() if k != "read")
        print(f"  {crm:10s} updates {summary['updates']:6,d} -> field-update calls {calls['field updates']:4d} "
              f"(minimum {low['field updates']}); list adds {summary['list_adds']:6,d} / removals "
              f"{summary['list_removals']:5,d} in {summary['new_lists'] and str(summary['new_lists']) + ' new ' or ''}"
              f"lists -> list calls {lists:4d} (minimum {low['lists']}); provisioning {calls['provisioning']}; "
              f"all write calls {writes}; reads {calls['read']}")
        others = {k: n for k, n in calls.items() if k.startswith("other")}
        if others:
            print(f"    unclassified: {others}")


def bench_calls(customers: int) -> None:
    print(f"{customers:,} simulated customers; load average {os.getloadavg()}")
    world = SandboxWorld(customers, seed=1)
    counters = {"salesforce": WireCount(world.sf_app), "hubspot": WireCount(world.hs_app)}
    world.sf_app, world.hs_app = counters["salesforce"], counters["hubspot"]
    with tempfile.TemporaryDirectory() as tmp, StateStore(Path(tmp) / "state.sqlite") as store:
        cycle(world, store, counters, "cycle 1 (first push)")
        world.settle()
        cycle(world, store, counters, "cycle 2 (nothing changed)")
        world.sim.advance_days(7)
        world.settle()
        cycle(world, store, counters, "cycle 3 (after 7 simulated days)")


def bench_throughput(records: int, concurrency: int) -> None:
    from pydantic import SecretStr

    from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource
    from connector.crm.base import FieldSpec, FieldUpdate
    from connector.crm.hubspot import HubSpotConnector
    from connector.sandbox.clock import SandboxClock
    from connector.sandbox.faults import FaultConfig, Latency
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.server import SandboxServer

    print(f"HubSpot push of {records:,} records, concurrency {concurrency}, latency uniform 50-150 ms, "
          f"tier 190 / 10 s; load average {os.getloadavg()}")
    sandbox = HubSpotSandbox(SandboxClock(frozen=False), FaultConfig(latency=Latency.uniform(50, 150)),
                             tier_requests_per_10s=190)
    ids = sandbox.store.create("contacts", [{"email": f"t{i}@example.com"} for i in range(records)])
    with SandboxServer(sandbox.app) as server:
        source = HubSpotSource(base_url=server.url, tier_requests_per_10s=190,
                               auth=HubSpotAuth(method="token", token=SecretStr(sandbox.credentials["token"])),
                               http=HttpConfig(concurrency=concurrency))
        conn = HubSpotConnector(source, HubSpotDestination(properties={"segment_name": "segsync_segment"}))
        conn.provision([FieldSpec("segment_name", "Segment")])
        warm = ids[: 190 * HS_BATCH]  # spends the idle account's first burst
        list(conn.push_updates([FieldUpdate(i, {"segment_name": "warm"}) for i in warm]))
        before = sandbox.calls("objects.batch.update")
        started = time.perf_counter()
        results = list(conn.push_updates([FieldUpdate(i, {"segment_name": "timed"}) for i in ids]))
        took = time.perf_counter() - started
        calls = sandbox.calls("objects.batch.update") - before
        refused = sandbox.calls("objects.batch.update", 429)
        conn.close()
    ok = sum(r.ok for r in results)
    # A rolling window admits at most 190 x ceil(T / 10) calls in T seconds; over a short push
    # the ratio to 19/s flatters (a burst as the warm-up's calls age out), so both are shown.
    bound = 190 * math.ceil(took / 10)
    print(f"  {ok:,} of {len(results):,} records confirmed in {took:.1f} s: {calls} calls, {calls / took:.2f} calls/s "
          f"= {calls / took / 19:.1%} of 19 calls/s; {calls / bound:.1%} of the {bound} calls a rolling window "
          f"admits in that time; {ok / took:,.0f} records/s; 429s received: {refused}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    calls = sub.add_parser("calls")
    calls.add_argument("--customers", type=int, default=20_000)
    tp = sub.add_parser("throughput")
    tp.add_argument("--records", type=int, default=150_000, help="at least 19,000 (the warm-up)")
    tp.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.what == "calls":
        bench_calls(args.customers)
    else:
        bench_throughput(args.records, args.concurrency)


if __name__ == "__main__":
    main()
