"""HubSpot connector push throughput against the sandbox on loopback (run by hand).

The sandbox is served on 127.0.0.1 with every call taking `--latency-ms` (100 ms by
default) and its rate limiter ON, on the wall clock, at the tier's burst limit (190 per
10 s for Professional/Enterprise), so a connector that paced badly would collect 429s and
lose the window. The ceiling is 190 calls x 100 records per 10 s = 1,900 records/s.

The first window's burst is free (an idle account can spend 190 calls at once), which would
flatter a short run; so a warm-up push spends it first and the timed push starts with the
window full, which is the steady state of a long push.

    .venv/bin/python benchmarks/bench_hubspot_connector.py [--windows 3] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import time

from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource
from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.hubspot import HubSpotConnector
from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import FaultConfig, Latency
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.server import SandboxServer

BATCH = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", type=int, default=190, choices=(100, 190, 250))
    parser.add_argument("--windows", type=int, default=3, help="10-second windows the timed push should need")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()

    ceiling = args.tier / 10 * BATCH  # records per second the tier allows
    timed_calls = args.tier * args.windows
    warm_calls = args.tier
    hs = HubSpotSandbox(SandboxClock(frozen=False), FaultConfig(latency=Latency.fixed(args.latency_ms)),
                        tier_requests_per_10s=args.tier, daily_limit=10_000_000)
    ids = hs.store.create("contacts", [{"email": f"c{i}@example.com"} for i in range((warm_calls + timed_calls) * BATCH)])
    with SandboxServer(hs.app) as server:
        source = HubSpotSource(base_url=server.url, tier_requests_per_10s=args.tier,
                               auth=HubSpotAuth(method="token", token=SecretStr(hs.credentials["token"])),
                               http=HttpConfig(concurrency=args.concurrency))
        dest = HubSpotDestination(properties={"segment_id": "segsync_segment_id", "churn": "segsync_churn"})
        with HubSpotConnector(source, dest) as conn:
            conn.provision([FieldSpec("segment_id", "Segment", "enumeration", ("s0", "s1", "s2")),
                            FieldSpec("churn", "Churn", "number")])

            def updates(part: list[str]):
                return (FieldUpdate(i, {"segment_id": f"s{n % 3}", "churn": n % 100 / 100}) for n, i in enumerate(part))

            warm = ids[: warm_calls * BATCH]
            list(conn.push_updates(updates(warm)))  # spends the free first burst
            timed = ids[warm_calls * BATCH:]
            started = time.perf_counter()
            results = list(conn.push_updates(updates(timed)))
            elapsed = time.perf_counter() - started
    ok = sum(r.ok for r in results)
    rate = ok / elapsed
    print(f"tier {args.tier}/10 s, latency {args.latency_ms:.0f} ms, concurrency {args.concurrency}")
    print(f"timed push: {ok:,} of {len(timed):,} records confirmed in {elapsed:.1f} s "
          f"({hs.calls('objects.batch.update') - warm_calls} batch calls after warm-up)")
    print(f"throughput: {rate:,.0f} records/s = {rate / ceiling:.1%} of the {ceiling:,.0f} records/s ceiling")
    print(f"429 replies: {hs.calls(status=429)}; calls by status: {dict(sorted(hs.request_count.items()))}")


if __name__ == "__main__":
    main()
