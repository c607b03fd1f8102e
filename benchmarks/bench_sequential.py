"""Peeking study and assignment throughput for experiments/ (run by hand, not in the tests).

    .venv/bin/python benchmarks/bench_sequential.py                # full run
    .venv/bin/python benchmarks/bench_sequential.py --sims 1000    # quicker

Part 1, under a null effect with daily looks for 60 days: how often the fixed-horizon test
and the always-valid confidence sequence (gbstats / Waudby-Smith et al.) call a winner at
some look. Under planted effects: interval coverage of the truth (fixed horizon at the
last look; both at every look). Part 2: time to assign 1M customers (hash v2 + holdout).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from experiments.analysis import analyse_experiment
from experiments.assignment import ARMS_COLUMNS, assign_arms
from experiments.simulation import simulate_daily_looks
from experiments.spec import ArmSpec, ExperimentSpec, HoldoutSpec


def peeking(sims: int, alpha: float) -> None:
    print(f"alpha={alpha}, 60 daily looks, N* = final total sample; rates over replicates")
    header = f"{'metric':<11}{'daily/arm':>10}{'effect':>8}{'sims':>7}  {'fixed any':>9} {'fixed end':>9} {'seq any':>8}  {'cov fixed@end':>13} {'cov fixed all':>13} {'cov seq all':>11} {'CPU s':>6}"
    print(header)
    runs = [
        ("conversion", 200, 0.0, sims), ("conversion", 200, 0.05, sims), ("conversion", 200, 0.15, sims),
        ("conversion", 1000, 0.0, sims), ("revenue", 200, 0.0, max(sims // 5, 200)),
        ("revenue", 200, 0.2, max(sims // 5, 200)),
    ]
    for i, (metric, daily, effect, n) in enumerate(runs):
        cpu = time.process_time()
        s = simulate_daily_looks(
            n_sims=n, days=60, daily_per_arm=daily, baseline_rate=0.1, relative_effect=effect,
            metric=metric, alpha=alpha, random_state=1000 + i,
        )
        secs = time.process_time() - cpu
        print(
            f"{metric:<11}{daily:>10}{effect:>8.2f}{n:>7}  {s.fixed_any_look:>9.4f} {s.fixed_final:>9.4f} "
            f"{s.sequential_any_look:>8.4f}  {s.fixed_final_coverage:>13.4f} {s.fixed_uniform_coverage:>13.4f} "
            f"{s.sequential_uniform_coverage:>11.4f} {secs:>6.2f}"
        )


def assignment(n: int) -> None:
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({
        "customer_id": [f"0038a00000{i:08d}" for i in range(n)],  # Salesforce-like 18-char ids
        "segment_id": rng.integers(0, 8, n).astype(str),
    })
    spec = ExperimentSpec(key="spring-promo", arms=[ArmSpec("control", 0.5, True), ArmSpec("a", 0.25), ArmSpec("b", 0.25)], coverage=0.5)
    holdout = HoldoutSpec(share=0.05)
    at = pd.Timestamp("2026-03-01T06:00:00Z")
    with Timer() as t:
        first = assign_arms(customers, spec, pd.DataFrame(columns=ARMS_COLUMNS), holdout, at)
    print(f"assign {n:,} customers (coverage 0.5, holdout 5%): {t}, {len(first):,} rows")
    ramped = ExperimentSpec(key=spec.key, arms=spec.arms, coverage=1.0)
    with Timer() as t:
        second = assign_arms(customers, ramped, first, holdout, at)
    print(f"ramp to coverage 1.0 with {len(first):,} existing arms: {t}, {len(second):,} new rows")
    arms = pd.concat([first, second], ignore_index=True)
    live = arms[arms["arm"] != "holdout"]
    buyers = live.sample(frac=0.1, random_state=1)
    outcomes = pd.DataFrame({
        "experiment": spec.key, "customer_id": buyers["customer_id"], "metric": "revenue",
        "value": rng.lognormal(3, 1, len(buyers)), "observed_at": at + pd.Timedelta(days=2),
    })
    pre = pd.DataFrame({"customer_id": live["customer_id"], "value": rng.gamma(0.3, 40, len(live))})
    with Timer() as t:
        result = analyse_experiment(arms, outcomes, spec, pre_period=pre, sequential_tuning=100_000)
    print(f"analyse {len(live):,} assigned customers, {len(outcomes):,} outcomes, CUPED: {t}, {len(result)} rows")


class Timer:
    """Wall and CPU seconds (the CPU figure is the honest one on a shared machine)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall / {self.cpu:.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=5000, help="replicates per conversion scenario")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    peeking(args.sims, args.alpha)
    assignment(args.customers)


if __name__ == "__main__":
    main()
