"""Throughput of the Salesforce sandbox at 1,000,000 contacts (run by hand, not in tests).

Shows the sandbox is never the bottleneck: REST query pages of 2,000 records and sObject
Collections writes of 200 records are served far above what a real org allows. The
reference ceiling: a 100,000-call daily allocation is 1.16 calls/s on average, i.e. about
2,300 records/s for 2,000-record query pages and 230 records/s for 200-record writes.

    .venv/bin/python benchmarks/bench_sandbox_salesforce.py [--contacts 1000000] [--pages 100]
        [--writes 100] [--tls]

--tls serves the app on loopback with TLS (server.py) instead of mounting it in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import ssl
import time
from datetime import UTC, datetime

import httpx

from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.server import SandboxServer

VERSION = "66.0"
DAILY_CALLS = 100_000


def build(n: int) -> tuple[SalesforceSandbox, float]:
    sb = SalesforceSandbox(clock=SandboxClock(datetime(2026, 6, 1, tzinfo=UTC)),
                           daily_api_limit=10_000_000, custom_fields={"Contact": [
                               {"name": "Ext_Id__c", "type": "Text", "length": 40,
                                "externalId": True, "unique": True},
                               {"name": "Segment__c", "type": "Text", "length": 80}]})
    t = time.perf_counter()
    chunk = 100_000
    for start in range(0, n, chunk):
        sb.store.insert("Contact", [
            {"FirstName": f"F{i}", "LastName": f"L{i}", "Email": f"user{i}@example.com",
             "Ext_Id__c": f"C{i}"} for i in range(start, min(n, start + chunk))])
    return sb, time.perf_counter() - t


def login(client: httpx.Client, sb: SalesforceSandbox) -> None:
    c = sb.credentials
    r = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "username": c["username"], "password": c["password"] + c["security_token"]})
    r.raise_for_status()
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


def bench_query(client: httpx.Client, pages: int) -> dict:
    soql = ("SELECT Id, Email, LastName, SystemModstamp FROM Contact "
            "WHERE SystemModstamp >= 2026-01-01T00:00:00Z ORDER BY SystemModstamp, Id")
    t = time.perf_counter()
    body = client.get(f"/services/data/v{VERSION}/query", params={"q": soql}).json()
    first = time.perf_counter() - t
    got, t = 0, time.perf_counter()
    for _ in range(pages):
        body = client.get(body["nextRecordsUrl"]).json()
        got += len(body["records"])
    elapsed = time.perf_counter() - t
    return {"first_page_s": first, "total": body["totalSize"], "records": got, "seconds": elapsed}


def bench_writes(client: httpx.Client, sb: SalesforceSandbox, calls: int) -> dict:
    ids = [r["Id"] for _, r in zip(range(calls * 200), sb.store.records("Contact"), strict=False)]
    t = time.perf_counter()
    for k in range(calls):
        recs = [{"attributes": {"type": "Contact"}, "id": i, "Segment__c": f"seg{k % 4}"}
                for i in ids[k * 200:(k + 1) * 200]]
        r = client.patch(f"/services/data/v{VERSION}/composite/sobjects",
                         json={"allOrNone": False, "records": recs})
        assert all(x["success"] for x in r.json()), r.text[:300]
    update_s = time.perf_counter() - t
    t = time.perf_counter()
    for k in range(calls):
        recs = [{"attributes": {"type": "Contact"}, "Ext_Id__c": f"C{i}", "LastName": f"U{i}"}
                for i in range(k * 200, (k + 1) * 200)]
        r = client.patch(f"/services/data/v{VERSION}/composite/sobjects/Contact/Ext_Id__c",
                         json={"allOrNone": False, "records": recs})
        assert all(x["success"] for x in r.json()), r.text[:300]
    return {"records": calls * 200, "update_s": update_s, "upsert_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--writes", type=int, default=100)
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args()
    sb, insert_s = build(args.contacts)
    print(f"store.insert: {args.contacts:,} contacts in {insert_s:.1f} s "
          f"({args.contacts / insert_s:,.0f} records/s)")
    with contextlib.ExitStack() as stack:
        if args.tls:
            srv = stack.enter_context(SandboxServer(sb.app, tls=True))
            ctx = ssl.create_default_context(cafile=str(srv.cert_path))
            client = httpx.Client(base_url=srv.url, verify=ctx, timeout=120)
        else:
            client = httpx.Client(transport=httpx.WSGITransport(app=sb.app),
                                  base_url="https://sandbox.my.salesforce.com", timeout=120)
        stack.enter_context(client)
        login(client, sb)
        q = bench_query(client, args.pages)
        w = bench_writes(client, sb, args.writes)
    mode = "TLS loopback" if args.tls else "in-process WSGI"
    rate = q["records"] / q["seconds"]
    print(f"[{mode}] query over {q['total']:,} rows: first page (filter+sort+cursor) "
          f"{q['first_page_s']:.2f} s; next {args.pages} pages: {q['records']:,} records in "
          f"{q['seconds']:.2f} s = {rate:,.0f} records/s ({args.pages / q['seconds']:.1f} pages/s)")
    up, ups = w["records"] / w["update_s"], w["records"] / w["upsert_s"]
    print(f"[{mode}] collections: {w['records']:,} updates at {up:,.0f} records/s; "
          f"{w['records']:,} upserts by external id at {ups:,.0f} records/s")
    ceiling_q, ceiling_w = DAILY_CALLS / 86400 * 2000, DAILY_CALLS / 86400 * 200
    print(f"real ceiling at {DAILY_CALLS:,} calls/day: {ceiling_q:,.0f} query records/s, "
          f"{ceiling_w:,.0f} write records/s -> sandbox is {rate / ceiling_q:,.0f}x and "
          f"{min(up, ups) / ceiling_w:,.0f}x above")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
