"""What the Spark tests cost CI: wall, CPU of every process they start, peak memory.

    .venv/bin/python benchmarks/bench_spark_tests.py              # the Spark tests of this checkout
    .venv/bin/python benchmarks/bench_spark_tests.py --root DIR   # those of another checkout (a baseline)
    .venv/bin/python benchmarks/bench_spark_tests.py --tests tests/connector/engine/test_spark_clv.py -- -x

Runs `python -m pytest tests/connector/engine tests/e2e/test_spark_*.py --durations=15` in a
child process and prints its output, then one line: wall seconds, CPU seconds, peak resident
memory of the process tree, load average at start. CI's limit (issue 20) is 3 minutes of wall on
a 2-core machine; on a shared machine the CPU seconds are the comparable figure.

CPU: this process makes itself the child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every
process the tests start, including those nobody waits for (pyspark's driver JVM, which exits only
when pytest's stdin pipe closes, and the Python workers under it), is reaped here, and
getrusage(RUSAGE_CHILDREN) counts all of them: the figure is exact, not sampled. Memory: the
tree's resident size, summed over its processes every 0.5 s (process_tree.py; a lower bound).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_tree import ProcessTree  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
#: The Spark tests: the engine's (parity, cluster) and the end-to-end cycles on Spark.
TESTS = ["tests/connector/engine", "tests/e2e/test_spark_*.py"]


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed: CPU of orphans would be missed")


def reap_all() -> None:
    """Wait for every descendant left (orphans re-parented to this process) so their CPU is counted."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose tests run (default: this one); this interpreter runs them")
    parser.add_argument("--tests", nargs="+", default=TESTS, help=f"test paths or globs under --root (default: {' '.join(TESTS)})")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --, e.g. -- -k cluster")
    args = parser.parse_args()
    become_subreaper()
    load = os.getloadavg()
    tests = [str(path.relative_to(args.root)) for pattern in args.tests for path in sorted(args.root.glob(pattern))]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=15", *tests,
               *args.pytest_args]
    print(f"$ (cd {args.root} && {' '.join(command)})", flush=True)
    t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(command, cwd=args.root)
    tree = ProcessTree(proc.pid)
    tree.start()
    code = proc.wait()
    wall = time.perf_counter() - t0
    tree.done.set()
    reap_all()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime - cpu0.ru_utime + usage.ru_stime - cpu0.ru_stime
    print(f"\nSpark tests: exit {code}; wall {wall:.1f} s; CPU {cpu:.1f} s (every process, reaped); "
          f"peak RSS {tree.peak['tree'] / 1024:.2f} GB (tree, sampled), largest process "
          f"{usage.ru_maxrss / 2**20:.2f} GB; {os.cpu_count()} CPUs; load average at start "
          f"{' '.join(f'{x:.1f}' for x in load)}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
