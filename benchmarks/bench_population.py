"""Synthetic population at scale: time and peak memory for 1M customers / 10M purchases.

    .venv/bin/python benchmarks/bench_population.py                # both modes, 1M customers
    .venv/bin/python benchmarks/bench_population.py --customers 200000

Each mode runs in its own subprocess so its peak RSS (ru_maxrss) is its own:
- generate: the whole population in memory as DataFrames (customers, transactions, latent);
- chunks: streamed block by block (iter_chunks), nothing kept.
The scenario is the shipped default with faster buyers (purchase rates x5, dropout /4) over
two years, so a million customers make about ten million purchases.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import Scenario, load_scenario


def bench_scenario() -> Scenario:
    data = load_scenario("default").model_dump()
    for seg in data["segments"]:
        seg["purchase_rate"]["rate"] /= 5.0
        seg["dropout"]["b"] *= 4.0
    data["name"] = "bench"
    return Scenario.model_validate(data)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_mode(mode: str, customers: int, seed: int) -> dict:
    gen = PopulationGenerator(bench_scenario(), customers, history_days=730, random_state=seed)
    before = _rss_mb()
    start = time.perf_counter()
    if mode == "generate":
        pop = gen.generate()
        n_tx = len(pop.transactions)
        frame_mb = sum(f.memory_usage(deep=True).sum() for f in (pop.customers, pop.transactions, pop.latent)) / 2**20
    else:
        n_tx, frame_mb = 0, 0.0
        for chunk in gen.iter_chunks():
            n_tx += len(chunk.transactions)
    seconds = time.perf_counter() - start
    return {"mode": mode, "customers": customers, "purchases": n_tx, "seconds": round(seconds, 2),
            "peak_rss_mb": round(_rss_mb()), "rss_before_mb": round(before), "frames_mb": round(frame_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["generate", "chunks"])
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.customers, args.seed)))
        return
    print(f"{'mode':<9} {'customers':>10} {'purchases':>11} {'seconds':>8} {'peak RSS MB':>12} "
          f"{'RSS before':>11} {'frames MB':>10}")
    for mode in ("generate", "chunks"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--customers", str(args.customers),
                              "--seed", str(args.seed)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{r['mode']:<9} {r['customers']:>10,} {r['purchases']:>11,} {r['seconds']:>8.2f} "
              f"{r['peak_rss_mb']:>12,} {r['rss_before_mb']:>11,} {r['frames_mb']:>10,}")


if __name__ == "__main__":
    main()
