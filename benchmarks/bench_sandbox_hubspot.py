"""How fast the HubSpot sandbox serves a big portal (run by hand, not in the tests).

At 1,000,000 contacts: list pages of 100, batch updates of 100 and search pages of 200,
in-process (httpx.WSGITransport, how tests mount it) and over a loopback socket
(SandboxServer, how the official SDK and `segsync sandbox serve` reach it). Rate limits
are off so the figures measure the sandbox itself; they are compared with the fastest
real HubSpot tier (190 requests / 10 s = 19 requests/s).

    .venv/bin/python benchmarks/bench_sandbox_hubspot.py [--contacts 1000000]
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from datetime import UTC, datetime

import httpx

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.server import SandboxServer

REAL_REQUESTS_PER_SECOND = 19.0  # Professional/Enterprise: 190 per 10 s (reference §B6)


def build(n: int) -> tuple[HubSpotSandbox, float]:
    hs = HubSpotSandbox(SandboxClock(datetime(2026, 6, 1, tzinfo=UTC)), rate_limits=False)
    started = time.perf_counter()
    chunk = 50_000
    for start in range(0, n, chunk):
        hs.store.create("contacts", [
            {"email": f"c{i}@example.com", "firstname": f"F{i % 997}", "lastname": f"L{i % 991}",
             "lifecyclestage": "customer" if i % 7 == 0 else "lead"}
            for i in range(start, min(n, start + chunk))])
        hs.clock.advance(seconds=60)
    return hs, time.perf_counter() - started


def list_pages(api: httpx.Client, first_id: int, pages: int) -> float:
    after, started = str(first_id), time.perf_counter()
    for _ in range(pages):
        body = api.get("/crm/v3/objects/contacts",
                       params={"limit": 100, "after": after, "properties": "email,firstname,lifecyclestage"}).json()
        assert len(body["results"]) == 100
        after = body["paging"]["next"]["after"]
    return pages * 100 / (time.perf_counter() - started)


def batch_updates(api: httpx.Client, ids: list[int], batches: int, rng: random.Random) -> float:
    started = time.perf_counter()
    for b in range(batches):
        inputs = [{"id": str(i), "properties": {"lifecyclestage": "customer", "lastname": f"B{b}"}}
                  for i in rng.sample(ids, 100)]
        r = api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs})
        assert r.status_code == 200, r.text
    return batches * 100 / (time.perf_counter() - started)


def search_pages(api: httpx.Client, filters: list[dict], pages: int) -> tuple[float, int, float]:
    """(seconds for the first page, total matches, records/s over the next pages)."""
    body = {"filterGroups": [{"filters": filters}], "properties": ["email"], "limit": 200,
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
    started = time.perf_counter()
    first = api.post("/crm/v3/objects/contacts/search", json=body | {"after": "0"}).json()
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    after = first["paging"]["next"]["after"]
    for _ in range(pages):
        page = api.post("/crm/v3/objects/contacts/search", json=body | {"after": after}).json()
        after = page["paging"]["next"]["after"]
    return first_s, first["total"], pages * 200 / (time.perf_counter() - started)


def report_search(name: str, result: tuple[float, int, float]) -> None:
    first_s, total, rate = result
    print(f"  search {name}: {total:,} matches; first page {first_s:.2f} s, next pages of 200 "
          f"{rate:,.0f} records/s ({rate / 200 / 4:,.0f}x the 4 searches/s limit)")


def report(name: str, records_per_s: float, per_call: int) -> None:
    calls = records_per_s / per_call
    print(f"  {name:<38} {records_per_s:>10,.0f} records/s  ({calls:,.0f} calls/s, "
          f"{calls / REAL_REQUESTS_PER_SECOND:,.0f}x HubSpot's 19 calls/s)")


def run(api: httpx.Client, hs: HubSpotSandbox, label: str, pages: int, batches: int) -> None:
    rng = random.Random(0)
    first = int(next(iter(hs.store.records("contacts")))["id"])
    n = len(hs.store.rows["contacts"])
    ids = list(range(first, first + n))
    print(f"{label}:")
    report("list pages of 100 (from the start)", list_pages(api, first, pages), 100)
    report("list pages of 100 (at the end)", list_pages(api, first + n - (pages + 1) * 100, pages), 100)
    report("batch updates of 100 (random ids)", batch_updates(api, ids, batches, rng), 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=1000)
    args = parser.parse_args()

    hs, build_s = build(args.contacts)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"portal: {args.contacts:,} contacts created in {build_s:.1f} s "
          f"({args.contacts / build_s:,.0f}/s); peak RSS {rss_mb:,.0f} MB")
    token = {"Authorization": f"Bearer {hs.credentials['token']}"}
    since = int(hs.clock.advance(seconds=60).timestamp() * 1000)  # the batch updates happen now
    with httpx.Client(transport=httpx.WSGITransport(app=hs.app), base_url="http://hubspot.test",
                      headers=token) as api:
        run(api, hs, "in-process (httpx.WSGITransport)", args.pages, args.batches)
        report_search("lifecyclestage = customer (scans every record)", search_pages(
            api, [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}], 40))
        report_search("lastmodifieddate >= the updates (incremental)", search_pages(
            api, [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}], 40))
    with SandboxServer(hs.app) as server, httpx.Client(base_url=server.url, headers=token) as api:
        run(api, hs, f"loopback socket ({server.url}, keep-alive)", args.pages // 4, args.batches // 4)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS at the end: {rss_mb:,.0f} MB")


if __name__ == "__main__":
    main()
