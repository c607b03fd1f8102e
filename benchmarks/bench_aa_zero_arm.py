"""A/A tests with a zero-conversion arm: the false-positive rate of segsync's lift test.

    .venv/bin/python benchmarks/bench_aa_zero_arm.py [--runs 200000] [--rate 0.01] [--n 300]

Both arms convert at the same `--rate` with `--n` customers each, so every "significant"
result is a false positive. Runs in which one arm converted nobody are the case of issue 15:
there the Welch test used to run on the other arm's variance alone. Printed per test, at
alpha = 0.05: the false-positive rate among the runs with a zero arm (must be <= alpha) and
over all runs, with a 95 % Wilson interval. For context, the old one-arm-variance test and
Fisher's exact test on the same runs (exact overall, but not among the zero-arm runs: given
that one arm converted nobody, no test holds its level for every rate).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.stats import lift_arrays  # noqa: E402

ALPHA = 0.05


def wilson(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{p:7.2%} [{max(centre - half, 0):.2%}, {centre + half:.2%}]"


def one_arm_welch_p(pa: np.ndarray, pb: np.ndarray, n: int) -> np.ndarray:
    """The test before the fix: Welch on p(1-p)/n per arm, a zero-variance arm included as is."""
    va, vb = pa * (1 - pa) / n, pb * (1 - pb) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (pb - pa) / np.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
        return np.where(va + vb > 0, 2 * sps.t.sf(np.abs(z), dof), np.nan)


def fisher_p(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Two-sided Fisher exact p per run, computed once per distinct table."""
    tables = np.stack([a, b], axis=1)
    unique, inverse = np.unique(tables, axis=0, return_inverse=True)
    p = np.array([sps.fisher_exact([[x, n - x], [y, n - y]]).pvalue for x, y in unique])
    return p[inverse.ravel()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    a, b = rng.binomial(args.n, args.rate, args.runs), rng.binomial(args.n, args.rate, args.runs)
    pa, pb = a / args.n, b / args.n
    zero = (a == 0) | (b == 0)
    n = np.full(args.runs, float(args.n))
    tests = {}
    for label, relative, tuning in (("segsync relative, fixed horizon", True, None),
                                    ("segsync absolute, fixed horizon", False, None),
                                    ("segsync relative, sequential N*=600", True, 600.0),
                                    ("segsync absolute, sequential N*=600", False, 600.0)):
        tests[label] = lift_arrays(pa, pa * (1 - pa), n, pb, pb * (1 - pb), n, relative=relative, alpha=ALPHA,
                                   sequential_tuning=tuning)[4]
    tests["before: Welch on one arm's variance"] = one_arm_welch_p(pa, pb, args.n)
    tests["Fisher exact (context)"] = fisher_p(a, b, args.n)
    print(f"A/A: {args.runs:,} runs, p = {args.rate}, n = {args.n} per arm, alpha = {ALPHA}; "
          f"{int(zero.sum()):,} runs ({zero.mean():.2%}) with a zero-conversion arm; load average {os.getloadavg()}")
    print(f"{'test':38s} {'false positives | zero arm':>34s} {'refused | zero arm':>19s} {'false positives | all runs':>34s}")
    for label, p in tests.items():
        hit = np.nan_to_num(p, nan=1.0) < ALPHA
        refused = f"{(np.isnan(p) & zero).sum() / zero.sum():.2%}" if zero.any() else "n/a"
        print(f"{label:38s} {wilson(int(hit[zero].sum()), int(zero.sum())):>34s} {refused:>19s} "
              f"{wilson(int(hit.sum()), args.runs):>34s}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
