"""An open-loop HTTP/1.1 load generator at a constant arrival rate (run in its own process).

Request i is due at start + i / rate whether or not earlier ones have been answered
(open loop: a slow server does not slow the generator down, so queueing shows up in the
figures instead of hiding). Latency is measured from the request's due time to the last
byte of its response, on the generator's side, which counts any wait for a free
connection too (no coordinated omission). Keep-alive connections, up to --connections.

    python benchmarks/loadgen.py --url http://127.0.0.1:8080/v1/ping --rate 2000 --seconds 10 \
        --header "Authorization: Bearer KEY" [--paths FILE] [--bodies FILE.jsonl --method POST]

Prints one JSON line: rate, sent (measured) and sent_total (with the warm-up), ok, errors,
p50/p90/p99/p99.9/max in ms, the generator's wall and CPU seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from urllib.parse import urlsplit

import numpy as np


class Target:
    def __init__(self, url: str, method: str, headers: list[str], paths: list[str] | None, bodies: list[bytes] | None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.method = method
        self.headers = "".join(f"{h}\r\n" for h in headers)
        self.paths = paths
        self.bodies = bodies

    def request(self, i: int) -> bytes:
        path = self.paths[i % len(self.paths)] if self.paths else self.path
        body = self.bodies[i % len(self.bodies)] if self.bodies else b""
        head = f"{self.method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(target: Target, rate: float, seconds: float, connections: int, warmup: float) -> dict:
    pool: asyncio.Queue = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    total = int(rate * (warmup + seconds))
    measure_from = int(rate * warmup)

    async def one(i: int, due: float) -> None:
        nonlocal opened, errors
        if pool.empty() and opened < connections:
            opened += 1
            pool.put_nowait(await asyncio.open_connection(target.host, target.port))
        reader, writer = await pool.get()
        try:
            status = await _exchange(reader, writer, target.request(i))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            writer.close()
            opened -= 1
            return
        pool.put_nowait((reader, writer))
        if i >= measure_from:
            latencies.append(loop.time() - due)
            statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    i = 0
    while i < total:
        now = loop.time()
        while i < total and start + i / rate <= now:  # everything due by now goes out now
            tasks.append(asyncio.ensure_future(one(i, start + i / rate)))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
    await asyncio.gather(*tasks)
    lat = np.asarray(latencies) * 1000
    ok = statuses.get(200, 0) + statuses.get(202, 0)
    pct = {f"p{q}": round(float(np.percentile(lat, q)), 3) for q in (50, 90, 99, 99.9)} if len(lat) else {}
    return {"rate": rate, "seconds": seconds, "sent": len(lat), "sent_total": total, "ok": ok, "statuses": statuses,
            "errors": errors, **pct, "max": round(float(lat.max()), 3) if len(lat) else None, "connections": opened}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--connections", type=int, default=128)
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--paths", help="file of request paths, one a line (cycled)")
    p.add_argument("--bodies", help="file of JSON bodies, one a line (cycled)")
    a = p.parse_args()
    paths = open(a.paths).read().split() if a.paths else None
    bodies = [line.encode() for line in open(a.bodies).read().splitlines() if line] if a.bodies else None
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = asyncio.run(run(Target(a.url, a.method, a.header, paths, bodies), a.rate, a.seconds, a.connections, a.warmup))
    out["wall"] = round(time.perf_counter() - t0, 2)
    out["cpu_s"] = round(time.process_time() - cpu0, 2)  # the generator's own CPU: it shares the machine with the server
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
