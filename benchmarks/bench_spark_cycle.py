"""A whole `segsync run` on a Parquet files source: the pandas engine against the Spark cycle.

    .venv/bin/python benchmarks/bench_spark_cycle.py --customers 200000     # ~2M purchases, a few minutes

The data is bench_spark.py's seeded population (about 10 purchases per customer, a folder of
Parquet parts; shared with it under --data-dir). Each engine runs one cycle of the real CLI
(`segsync run CONFIG`) in its own process, with the same config but `engine:` (k-means k=4, one
propensity target with logistic regression, CLV, one experiment, a files destination):
`{kind: pandas}` reads the files source whole on the driver; `{kind: spark, master: local[2]}`
reads it on the executors (connector.steps.spark_cycle) and the driver receives customers'
results only. Printed per engine: wall time, the process tree's CPU time (JVM and Python workers
included; process_tree.ProcessTree), and the peak resident memory of the driver's Python process
(its VmHWM: where the purchases would be), of the JVM (local mode: driver and executors) and of
Spark's Python workers, sampled every 0.5 s, and the load average at start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spark import write_population  # noqa: E402
from process_tree import ProcessTree  # noqa: E402

CONFIG = """\
version: 1
state: {{path: state.sqlite}}
engine: {engine}
sources:
  files:
    transactions: {data}
    format: parquet
    customer_id_column: customer_id
    transaction_id_column: transaction_id
    date_column: occurred_at
    amount_column: amount
destinations:
  files: {{path: out/segments.csv}}
segmentation: {{method: kmeans, k: 4}}
scoring:
  targets: [{{name: buy_90d, kind: propensity, horizon_days: 90}}]
  models: [logistic]
experiments:
  items:
    - key: welcome
      arms: [{{name: control, weight: 0.5, control: true}}, {{name: offer, weight: 0.5}}]
"""
ENGINES = {
    "pandas": "{{kind: pandas}}",
    "spark": '{{kind: spark, master: "{master}", spark_conf: {{spark.driver.memory: "{memory}", '
             'spark.sql.shuffle.partitions: 16, spark.ui.enabled: false}}}}',
}


class PeakOfRoot(threading.Thread):
    """VmHWM (the kernel's own peak RSS) of one process, read until it exits: MB."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb = pid, 0.0

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM"))
            except (OSError, StopIteration):
                return  # gone (or a zombie without memory figures)
            self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
            time.sleep(0.2)


def run(engine: str, data: Path, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"segsync-cycle-{engine}-") as folder:
        config = Path(folder) / "segsync.yaml"
        config.write_text(CONFIG.format(engine=ENGINES[engine].format(master=args.master, memory=args.driver_memory),
                                        data=data), encoding="utf-8")
        segsync = Path(sys.executable).with_name("segsync")
        load, t0 = os.getloadavg(), time.perf_counter()
        env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "SPARK_LOCAL_IP": "127.0.0.1"}
        proc = subprocess.Popen([str(segsync), "run", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, cwd=folder)
        sampler, root = ProcessTree(proc.pid), PeakOfRoot(proc.pid)
        sampler.start()
        root.start()
        out, _ = proc.communicate()
        sampler.done.set()
        sampler.join()
        root.join()
        summary = [line for line in out.splitlines() if "cycle succeeded" in line or "cycle failed" in line]
        return {"wall_s": time.perf_counter() - t0, "load": load, "peak": sampler.peak, "code": proc.returncode,
                "python_driver_mb": root.peak_mb,
                "cpu_s": sampler.cpu_s,
                "summary": summary[-1] if summary else out[-2000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--engines", nargs="+", default=["pandas", "spark"], choices=list(ENGINES))
    parser.add_argument("--data-dir", default="/tmp/segsync-bench-spark")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()
    data, rows = write_population(args.customers, Path(args.data_dir))
    print(f"{args.customers:,} customers, {rows:,} purchases; {os.cpu_count()} CPUs; load average at start "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    print("| engine | wall s | CPU s (tree) | peak RSS driver Python MB | JVM MB | Python workers MB | load at start |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine in args.engines:
        r = run(engine, data, args)
        peak = r["peak"]
        print(f"| {engine} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['python_driver_mb']:.0f} | {peak['jvm']:.0f} | "
              f"{peak['python_workers']:.0f} | {r['load'][0]:.1f} |", flush=True)
        print(f"  exit {r['code']}: {r['summary']}", flush=True)


if __name__ == "__main__":
    main()
