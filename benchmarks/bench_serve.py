"""segsync serve at 1M customers: look-up latency at a constant arrival rate, scoring, events, memory.

    .venv/bin/python benchmarks/bench_serve.py --customers 1000000 --out /tmp/bench-serve

1. A real cycle on a seeded 10k-customer shop (files source) trains the segmentation and
   score models and stores them. The 1M-customer snapshot is then made from it: features
   resampled from the shop's customers with noise, segmented and scored by those stored
   models (with reason codes), arms hashed as the cycle does, published with the cycle's
   `publish`. (A 1M cycle is measured in bench_compute; here the point is the server.)
2. `segsync serve` runs in its own process (one uvicorn worker); the time from its start to
   /readyz and the in-process snapshot load are both reported.
3. benchmarks/loadgen.py, in another process, sends requests at a constant rate and measures
   latency from each request's due time (open loop): GET /v1/ping (a constant body behind
   the same auth, rate limit and metrics: the server's floor) and GET /v1/customers/{key}
   for random customers, both at 2,000/s, then the look-up at rising rates until p99 > 10 ms;
   POST /v1/score at 200/s (a new customer each time: arms assigned and stored); POST
   /v1/events at 100 and 200 requests/s of 50 events each.
4. The server's resident memory (VmRSS and its peak VmHWM) at the end, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  files:
    transactions: data/transactions.csv
segmentation:
  method: kmeans
  k: 5
  sample_size: 5000
scoring:
  targets:
    - {name: buy_90d, kind: propensity, horizon_days: 90}
  models: [logistic, gbm]
experiments:
  items:
    - key: welcome
      arms:
        - {name: control, weight: 0.5, control: true}
        - {name: offer, weight: 0.5}
serve:
  port: %(port)d
  rate_limit_per_second: 1000000
  rate_limit_burst: 1000000
"""


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def build_world(out: Path, customers: int, port: int) -> Path:
    from connector.cli import main as cli_main
    from connector.sandbox.population import PopulationGenerator
    from connector.sandbox.scenario import load_scenario

    out.mkdir(parents=True, exist_ok=True)
    pop = PopulationGenerator(load_scenario("default"), 10_000, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"), random_state=11).generate()
    tx = pop.transactions
    (out / "data").mkdir(exist_ok=True)
    pd.DataFrame({"CustomerID": tx["customer_id"].astype(str), "amount": tx["amount"].round(2),
                  "date": tx["occurred_at"].dt.strftime("%Y-%m-%d")}).to_csv(out / "data" / "transactions.csv", index=False)
    cfg_path = out / "segsync.yaml"
    cfg_path.write_text(CONFIG % {"port": port})
    t = time.perf_counter()
    assert cli_main(["--log-level", "WARNING", "run", str(cfg_path)]) == 0
    print(f"cycle on the 10k shop: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    expand(cfg_path, customers)
    print(f"1M snapshot made and published: {time.perf_counter() - t:.1f} s")
    return cfg_path


def expand(cfg_path: Path, n: int) -> None:
    """Publish an n-customer snapshot scored by the shop's stored models."""
    from connector.config import load_config
    from connector.identity import email_key
    from connector.serve.snapshot import SnapshotTables, load_current, publish
    from connector.state import StateStore
    from experiments.assignment import assign_arms
    from experiments.spec import ArmSpec, ExperimentSpec
    from segmentation.engine import assign_segments

    cfg = load_config(cfg_path)
    small = load_current(cfg.snapshot_dir())
    assert small is not None
    rng = np.random.default_rng(5)
    pick = rng.integers(0, len(small), n)
    names = small.meta["features"]
    feats = pd.DataFrame({c: small.columns[f"feature.{c}"][pick] for c in names})
    noise = rng.lognormal(0, 0.2, n)
    for c in ("monetary_total", "monetary_mean"):
        feats[c] = feats[c] * noise
    feats["recency_days"] = np.maximum(0, feats["recency_days"] + rng.integers(-5, 6, n))
    ids = np.char.add("C", np.char.zfill(np.arange(n).astype(str), 7))
    feats.index = pd.Index(ids, name="customer_id")
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        seg_model = store.models.get("segmentation", "default", small.meta["models"]["segmentation"])
        score_model = store.models.get("score", "buy_90d", small.meta["models"]["score.buy_90d"])
    segs = assign_segments(seg_model, feats)
    table = small.segment_table()
    scores = score_model.score(feats).set_index("customer_id")
    scores["clv"] = small.columns["score.clv"][pick] * noise
    spec = ExperimentSpec(key="welcome", arms=(ArmSpec("control", 0.5, True), ArmSpec("offer", 0.5)))
    arms = assign_arms(pd.DataFrame({"customer_id": ids, "segment_id": segs.to_numpy()}), spec, pd.DataFrame(), None, pd.Timestamp("2026-03-01", tz="UTC"))
    half = np.arange(n) % 2 == 0
    customers = pd.DataFrame({
        "customer_id": ids, "email_key": [email_key(f"c{i}@example.com") for i in range(n)],
        "salesforce_id": np.where(half, np.char.add("003", np.char.zfill(np.arange(n).astype(str), 12)), None),
        "hubspot_id": np.where(~half, np.arange(n).astype(str), None),
    })
    segments = pd.DataFrame({"customer_id": ids, "segment_id": segs.to_numpy(), "segment_name": segs.map(lambda s: table[s][0]).to_numpy()})
    publish(cfg.snapshot_dir(), SnapshotTables(
        run_id=1000, as_of=small.as_of, customers=customers, segments=segments, scores=scores, features=feats, arms=arms,
        actions={s: a for s, (_, a) in table.items()}, score_names=["buy_90d"], models=small.meta["models"], events_through=0,
    ))


def load_in_process(cfg_path: Path) -> dict:
    from connector.config import load_config
    from connector.serve.service import ServeService
    from connector.state import StateStore

    cfg = load_config(cfg_path)
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        service = ServeService(cfg, store)
        t, cpu = time.perf_counter(), time.process_time()
        service.reload()
        seconds = time.perf_counter() - t
        return {"snapshot_load_s": round(seconds, 2), "snapshot_load_cpu_s": round(time.process_time() - cpu, 2),
                "customers": len(service.loaded().snapshot)}


def start_server(cfg_path: Path, port: int) -> tuple[subprocess.Popen, float]:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "--log-level", "WARNING", "serve", str(cfg_path), "--port", str(port)], cwd=ROOT)
    with httpx.Client() as http:
        while True:
            try:
                if http.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    return proc, time.perf_counter() - t
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            time.sleep(0.2)


def rss(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024 / 1024, 2) for k in ("VmRSS", "VmHWM")}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVER_PID = 0


def load(url: str, rate: float, token: str, seconds: float, **extra: str) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), "--url", url, "--rate", str(rate), "--seconds", str(seconds),
           "--header", f"Authorization: Bearer {token}"]
    for k, v in extra.items():
        cmd += [f"--{k}", v]
    before = cpu_seconds(SERVER_PID) if SERVER_PID else 0.0
    result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    if SERVER_PID:  # the server's CPU per request over the whole phase (warm-up included)
        total = result["sent"] * (1 + 2 / seconds)
        result["server_cpu_us_per_request"] = round((cpu_seconds(SERVER_PID) - before) / max(total, 1) * 1e6, 1)
    result["loadavg"] = loadavg()
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, default=Path("/tmp/bench-serve"))
    p.add_argument("--port", type=int, default=18088)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rates", default="2000,2500,3000,3500,4000,5000")
    a = p.parse_args()
    print(f"load average at start: {loadavg()}")
    cfg_path = build_world(a.out, a.customers, a.port)
    print(json.dumps(load_in_process(cfg_path)))
    from connector.cli import main as cli_main  # noqa: F401 - the CLI prints the key on its last line

    token = subprocess.run([sys.executable, "-m", "connector.cli", "apikey", "create", str(cfg_path), "--scope", "read,score,events"],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    proc, ready = start_server(cfg_path, a.port)
    global SERVER_PID
    SERVER_PID = proc.pid
    print(f"server ready in {ready:.1f} s (process start to /readyz 200); memory {rss(proc.pid)} GB")
    base = f"http://127.0.0.1:{a.port}"
    rng = np.random.default_rng(1)
    paths = a.out / "paths.txt"
    paths.write_text("\n".join(f"/v1/customers/C{i:07d}" for i in rng.integers(0, a.customers, 200_000)))
    results: dict[str, object] = {}
    try:
        results["ping_2000"] = load(f"{base}/v1/ping", 2000, token, a.seconds)
        results["get_2000"] = load(f"{base}/v1/customers/x", 2000, token, a.seconds, paths=str(paths))
        best = None
        for rate in [float(r) for r in a.rates.split(",")]:
            r = load(f"{base}/v1/customers/x", rate, token, a.seconds, paths=str(paths))
            if r["p99"] > 10 or r["errors"] or r["ok"] < r["sent"]:
                break
            best = rate
        results["max_rate_p99_le_10ms"] = best
        bodies = a.out / "score.jsonl"
        bodies.write_text("\n".join(json.dumps({"email": f"new{i}@example.net", "transactions": [
            {"occurred_at": "2026-01-10T10:00:00Z", "amount": float(20 + i % 50)}, {"occurred_at": "2026-02-11T10:00:00Z", "amount": 35.5}]})
            for i in range(20_000)))
        results["score_200"] = load(f"{base}/v1/score", 200, token, a.seconds, bodies=str(bodies), method="POST")
        events = a.out / "events.jsonl"
        events.write_text("\n".join(json.dumps({"events": [
            {"customer_id": f"C{(j * 50 + k) % a.customers:07d}", "type": "purchase" if k % 5 == 0 else "view", "value": 12.0 if k % 5 == 0 else None,
             "occurred_at": "2026-02-27T09:00:00Z"} for k in range(50)]}) for j in range(5000)))
        results["events_100x50"] = load(f"{base}/v1/events", 100, token, a.seconds, bodies=str(events), method="POST")
        results["events_200x50"] = load(f"{base}/v1/events", 200, token, a.seconds, bodies=str(events), method="POST")
        results["get_after_events_2000"] = load(f"{base}/v1/customers/x", 2000, token, a.seconds, paths=str(paths))
        results["memory_gb"] = rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    g, b = results["get_2000"], results["ping_2000"]
    print(f"look-up / bare at 2,000/s: p50 {g['p50'] / b['p50']:.2f}x, p99 {g['p99'] / b['p99']:.2f}x")  # type: ignore[index]
    print(json.dumps({k: results[k] for k in ("max_rate_p99_le_10ms", "memory_gb")}))
    print(f"load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
