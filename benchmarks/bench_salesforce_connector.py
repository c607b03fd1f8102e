"""Salesforce connector throughput and call counts against the sandbox on loopback (run by hand).

The Salesforce sandbox is served on 127.0.0.1 (threaded HTTP server) and every call takes
`--latency-ms` (100 ms by default). Measured, per 10,000 records:

- pull over REST (pages of 2,000, following nextRecordsUrl), and over Bulk API 2.0 query;
- an incremental pull after `--changes` records changed (the calls a quiet day costs);
- push through sObject Collections upserts on an External ID (200 per call), sequentially
  and with `--concurrency` calls in flight, and through one Bulk API 2.0 ingest job.

Salesforce has no per-second rate limit (only the daily total), so push throughput is
bounded by latency x concurrency: 200 records / 0.1 s = 2,000 records/s per call in flight.

    .venv/bin/python benchmarks/bench_salesforce_connector.py [--records 20000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.base import FieldUpdate, PullBatch
from connector.crm.salesforce import SalesforceConnector
from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import FaultConfig, Latency
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.server import SandboxServer

KEY = {"name": "Segsync_Key__c", "type": "Text", "length": 40, "externalId": True, "unique": True}
SEGMENT = {"name": "Segsync_Segment__c", "type": "Text", "length": 255}


def connector(url: str, sb: SalesforceSandbox, concurrency: int, *, bulk_ingest_threshold: int = 10**9,
              **source: Any) -> SalesforceConnector:
    creds = sb.credentials
    src = SalesforceSource.model_validate({
        "instance_url": url, "login_url": url,
        "auth": {"method": "jwt", "client_id": creds["client_id"], "username": creds["username"],
                 "private_key": creds["private_key"]},
        "http": {"concurrency": concurrency}, "quota_stop_share": 1.0, **source,
    })
    dest = SalesforceDestination(external_id_field="Segsync_Key__c", fields={"segment_name": "Segsync_Segment__c"},
                                 bulk_ingest_threshold=bulk_ingest_threshold)
    return SalesforceConnector(src, dest)


def measure(label: str, records: int, conn: SalesforceConnector, fn: Callable[[], Any]) -> None:
    conn.client.authenticator.headers(conn.client.http)  # log in outside the timing
    conn.counter.reset()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    calls = conn.counter.total()
    per_10k = calls * 10_000 / records if records else float("nan")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(conn.counter.by_kind().items()))
    print(f"{label:<44} {records:>7,} rec {seconds:7.2f} s {records / seconds:9,.0f} rec/s "
          f"{calls:>5} calls {per_10k:7.1f} calls/10k  [{kinds}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    sb = SalesforceSandbox(clock=SandboxClock(frozen=False), custom_fields={"Contact": [KEY, SEGMENT]},
                           faults=FaultConfig(latency=Latency.fixed(args.latency_ms)),
                           daily_api_limit=10_000_000, bulk_job_polls=2)
    ids = sb.store.insert("Contact", [{"LastName": f"C{i}", "Email": f"c{i}@example.com", "Segsync_Key__c": f"k{i}"}
                                      for i in range(args.records)])
    n = args.records
    print(f"Salesforce sandbox on loopback, {args.latency_ms:.0f} ms per call, {n:,} contacts")
    with SandboxServer(sb.app) as server:
        rest = connector(server.url, sb, 1, page_size=2000, bulk_query_threshold=10**9)
        cursor_box: list[Any] = []

        def pull(conn: SalesforceConnector) -> Callable[[], None]:
            def run() -> None:
                rows = [0]

                def sink(batch: PullBatch) -> None:
                    rows[0] += len(batch.rows)

                cursor_box[:] = [conn.pull_customers(sink)]
                assert rows[0] == n, rows[0]
            return run

        measure("pull, REST query (2,000 per page)", n, rest, pull(rest))
        bulk = connector(server.url, sb, 1, page_size=2000, bulk_query_threshold=0)
        measure("pull, Bulk API 2.0 query", n, bulk, pull(bulk))

        sb.clock.advance(seconds=60)
        for rid in ids[: args.changes]:
            sb.store.update("Contact", rid, {"Email": f"changed-{rid}@example.com"})
        since = cursor_box[0]
        measure(f"incremental pull, {args.changes} changed", args.changes, rest,
                lambda: rest.pull_customers(lambda b: None, since))

        def push(conn: SalesforceConnector, tag: str) -> Callable[[], None]:
            def run() -> None:
                results = list(conn.push_updates(FieldUpdate(f"k{i}", {"segment_name": f"{tag}-{i % 5}"})
                                                 for i in range(n)))
                assert len(results) == n and all(r.ok for r in results)
            return run

        seq = connector(server.url, sb, 1)
        measure("push, Collections upsert, 1 in flight", n, seq, push(seq, "a"))
        par = connector(server.url, sb, args.concurrency)
        measure(f"push, Collections upsert, {args.concurrency} in flight", n, par, push(par, "b"))
        one_job = connector(server.url, sb, 1, bulk_ingest_threshold=0)
        measure("push, one Bulk API 2.0 ingest job", n, one_job, push(one_job, "c"))
        print(f"minimum Collections calls for {n:,} updates: {math.ceil(n / 200)}")
        for c in (rest, bulk, seq, par, one_job):
            c.close()


if __name__ == "__main__":
    main()
