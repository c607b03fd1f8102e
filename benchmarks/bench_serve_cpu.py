"""CPU per request of the API's routes, in process (ASGI calls, no network), on a published snapshot.

    .venv/bin/python benchmarks/bench_serve_cpu.py /tmp/segsync-bench-serve-1000000/run/segsync.yaml

(the config bench_serve.py writes for its last run; any config with a published snapshot will do).

CPU seconds (process_time) per request are what a busy shared machine changes least: the
wall-clock figures of bench_serve.py are only as good as the CPU the machine lends the server.
The capacity of one core is 1 / (this + uvicorn's HTTP parsing, about 30-60 us).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import orjson

from connector.config import load_config
from connector.serve.access import KeyRing, RateLimiter
from connector.serve.app import create_app
from connector.serve.metrics import ServeMetrics
from connector.serve.service import ServeService
from connector.state import StateStore


async def call(app, method: str, path: str, token: str, body: bytes = b"") -> int:  # type: ignore[no-untyped-def]
    path, _, query = path.partition("?")
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("bench", 80), "client": ("bench", 1), "root_path": ""}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def measure(app, token: str, ids: list[str], by_email: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    n_customers = len(ids)
    score = orjson.dumps({"email": "x@example.net", "transactions": [
        {"occurred_at": "2025-06-10T10:00:00Z", "amount": 42.0}, {"occurred_at": "2026-01-10T10:00:00Z", "amount": 20.0},
        {"occurred_at": "2026-02-11T10:00:00Z", "amount": 35.5}]})
    events = orjson.dumps({"events": [{"customer_id": f"C{k:07d}", "type": "view", "occurred_at": "2026-02-27T09:00:00Z"} for k in range(50)]})
    routes = {
        "GET /v1/ping": ("GET", lambda i: "/v1/ping", b"", 3000),
        "GET /v1/customers/{key}": ("GET", lambda i: f"/v1/customers/{ids[(i * 7919) % n_customers]}", b"", 3000),
        # bench_serve.py's world gives customer i the email c<i>@example.com
        "GET /v1/customers/{key}?by=email": ("GET", lambda i: f"/v1/customers/c{(i * 7919) % n_customers}@example.com?by=email", b"", 3000),
        "POST /v1/score (3 purchases, new customer: arm stored)": ("POST", lambda i: "/v1/score", score, 300),
        "POST /v1/events (50 events)": ("POST", lambda i: "/v1/events", events, 200),
    }
    if not by_email:
        del routes["GET /v1/customers/{key}?by=email"]
    out = {}
    for name, (method, path, body, n) in routes.items():
        if method == "POST" and name.startswith("POST /v1/score"):
            bodies = [score.replace(b"x@example", f"x{i}@example".encode()) for i in range(n + 5)]
        else:
            bodies = [body] * (n + 5)
        for i in range(5):
            await call(app, method, path(i), token, bodies[i])
        t = time.process_time()
        codes = [await call(app, method, path(i), token, bodies[i + 5]) for i in range(n)]
        out[name] = round((time.process_time() - t) / n * 1e6, 1)
        assert set(codes) <= {200, 202}, (name, set(codes))
    return out


def main() -> None:
    started, cpu0 = time.perf_counter(), time.process_time()
    print(json.dumps({"loadavg_at_start": open("/proc/loadavg").read().split()[:3]}))
    cfg = load_config(sys.argv[1])
    with StateStore(cfg.resolve(cfg.state.path), synchronous="FULL") as store:
        service = ServeService(cfg, store)
        t, cpu = time.perf_counter(), time.process_time()
        service.reload()
        print(json.dumps({"snapshot_load_wall_s": round(time.perf_counter() - t, 2), "snapshot_load_cpu_s": round(time.process_time() - cpu, 2),
                          "customers": len(service.loaded().snapshot)}))
        token = store.api_keys.create(frozenset({"read", "score", "events"}), name="bench-cpu")[1]
        app = create_app(service, KeyRing(store), RateLimiter(1e9, 10**9), ServeMetrics())
        print(json.dumps({"cpu_us_per_request": asyncio.run(measure(app, token, service.loaded().snapshot.ids,
                                                                           bool(service.loaded().snapshot.index["email"]))),
                          "score_model": service.loaded().models.scores["buy_90d"].chosen if "buy_90d" in service.loaded().models.scores else None,
                          "loadavg": open("/proc/loadavg").read().split()[:3]}))
        service.close()
    print(json.dumps({"wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(time.process_time() - cpu0, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "loadavg_at_end": open("/proc/loadavg").read().split()[:3]}))


if __name__ == "__main__":
    main()
