"""The SaaS conversion case against its planted truth: drivers and ROC AUC next to the oracle.

    .venv/bin/python benchmarks/bench_saas.py                      # 20,000 users, seeds 7 and 8
    .venv/bin/python benchmarks/bench_saas.py --users 50000 --seeds 1 2 3

Per seed: simulate the SaaS scenario (connector/sandbox/scenarios/saas.yaml), build each user's
usage features at their cutoff from the raw events, train a gradient-boosted model on signup
months 1-6 and validate on month 7 (connector.saas_demo.evaluate), then print the table of
estimated against planted drivers and the ROC AUC of the model and of an oracle that knows each
user's planted probability. Prints wall and process CPU seconds per step, peak RSS and the load
average at the start (a shared machine inflates the wall time, not the CPU time much).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.saas_demo import evaluate, render  # noqa: E402
from connector.sandbox.saas import simulate_saas  # noqa: E402
from connector.sandbox.saas_scenario import load_saas_scenario  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    scenario = load_saas_scenario("saas")
    failed = 0
    for seed in args.seeds:
        w0, c0 = time.perf_counter(), time.process_time()
        population = simulate_saas(scenario, args.users, random_state=seed)
        w1, c1 = time.perf_counter(), time.process_time()
        outcome = evaluate(population, random_state=seed)
        w2, c2 = time.perf_counter(), time.process_time()
        print(f"\nseed {seed}: {args.users:,} users, {len(population.events):,} events; simulate wall {w1 - w0:.1f} s "
              f"CPU {c1 - c0:.1f} s; features + model wall {w2 - w1:.1f} s CPU {c2 - c1:.1f} s")
        print(render(outcome))
        failed += int(not outcome.top3_match or outcome.oracle_auc - outcome.auc > 0.02)
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
