"""CPU per request of the API's routes, in process (ASGI calls, no network), on a published snapshot.

    .venv/bin/python benchmarks/bench_serve_cpu.py /tmp/bench-serve/segsync.yaml

CPU seconds (process_time) per request are what a busy shared machine changes least: the
wall-clock figures of bench_serve.py are only as good as the CPU the machine lends the server.
The capacity of one core is 1 / (this + uvicorn's HTTP parsing, about 30-60 us).
"""

from __future__ import annotations

import asyncio
import json
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


async def measure(app, token: str, n_customers: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    score = orjson.dumps({"email": "x@example.net", "transactions": [{"occurred_at": "2026-01-10T10:00:00Z", "amount": 20.0}]})
    events = orjson.dumps({"events": [{"customer_id": f"C{k:07d}", "type": "view", "occurred_at": "2026-02-27T09:00:00Z"} for k in range(50)]})
    routes = {
        "GET /v1/ping": ("GET", lambda i: "/v1/ping", b"", 3000),
        "GET /v1/customers/{key}": ("GET", lambda i: f"/v1/customers/C{(i * 7919) % n_customers:07d}", b"", 3000),
        "GET /v1/customers/{key}?by=email": ("GET", lambda i: f"/v1/customers/c{(i * 7919) % n_customers}@example.com?by=email", b"", 3000),
        "POST /v1/score": ("POST", lambda i: "/v1/score", score, 100),
        "POST /v1/events (50 events)": ("POST", lambda i: "/v1/events", events, 200),
    }
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
    cfg = load_config(sys.argv[1])
    with StateStore(cfg.resolve(cfg.state.path), synchronous="FULL") as store:
        service = ServeService(cfg, store)
        t, cpu = time.perf_counter(), time.process_time()
        service.reload()
        print(json.dumps({"snapshot_load_wall_s": round(time.perf_counter() - t, 2), "snapshot_load_cpu_s": round(time.process_time() - cpu, 2),
                          "customers": len(service.loaded().snapshot)}))
        token = store.api_keys.create(frozenset({"read", "score", "events"}), name="bench-cpu")[1]
        app = create_app(service, KeyRing(store), RateLimiter(1e9, 10**9), ServeMetrics())
        print(json.dumps({"cpu_us_per_request": asyncio.run(measure(app, token, len(service.loaded().snapshot))),
                          "loadavg": open("/proc/loadavg").read().split()[:3]}))


if __name__ == "__main__":
    main()
