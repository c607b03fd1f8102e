"""The Spark engine against the pandas engine: time and peak memory, 1M to 20M customers.

    .venv/bin/python benchmarks/bench_spark.py --customers 1000000                 # both engines, 1M
    .venv/bin/python benchmarks/bench_spark.py --customers 1000000 10000000 --engines pandas spark
    .venv/bin/python benchmarks/bench_spark.py --customers 20000000 --engines spark --driver-memory 4g

Data: bench_compute.py's seeded population (about 10 purchases per customer, Poisson buying,
exponential lifetimes), generated in chunks of 1M customers and written as Parquet files, so
no process ever holds more than one chunk while writing (the data dir is kept between runs:
--data-dir). Work, the same on both engines (the product defaults): quarantine, features,
segmentation (k-means, k chosen 2..10 on a sample), one propensity target (4 stacked cutoffs,
logistic and gbm compared out of time, Platt calibration, 3 reason codes per customer) and
BG/NBD + Gamma-Gamma CLV; every output is computed for every customer (Spark: written to a
no-op sink, so nothing is skipped by laziness).

Each engine runs in its own child process. A sampler walks the child's process tree every
0.5 s and records the peak resident memory of: the whole tree, the driver (the child itself;
for Spark plus its JVM, which in local mode also hosts the executors) and the Python workers
(Spark's executors' Python side). Wall time, the tree's CPU time (getrusage of children) and
the load average at start are printed. --mem-cap (GB, default 10) is an address-space limit on
the pandas child: it fails with MemoryError instead of taking the shared machine down, which
is how its failure point is found.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compute import AS_OF, HORIZON, generate  # noqa: E402

CHUNK = 1_000_000


# --------------------------------------------------------------------------- data


def write_population(n: int, folder: Path) -> tuple[Path, int]:
    """(a folder of Parquet files holding n customers' purchases, their row count). Chunks of 1M
    customers are generated one at a time into a shared pool (chunk k is the same for every n),
    and each size links the first n / 1M of them."""
    import pyarrow.parquet as pq

    pool = folder / "chunks"
    pool.mkdir(parents=True, exist_ok=True)
    target = folder / f"tx_{n}"
    target.mkdir(exist_ok=True)
    rows = 0
    for k, start in enumerate(range(0, n, CHUNK)):
        size = min(CHUNK, n - start)
        part = pool / f"part-{k:04d}-{size}.parquet"
        if not part.exists():
            tx = generate(size, seed=1000 + k)
            tx["customer_id"] = f"K{k:03d}" + tx["customer_id"].astype(str)
            tx["transaction_id"] = f"K{k:03d}-" + tx["transaction_id"].astype(str)
            tx["occurred_at"] = tx["occurred_at"].astype("datetime64[us, UTC]")
            tx.to_parquet(part.with_suffix(".tmp"), index=False)
            part.with_suffix(".tmp").rename(part)
            del tx
        link = target / part.name
        if not link.exists():
            link.symlink_to(part)
        rows += pq.ParquetFile(part).metadata.num_rows
    return target, rows


# --------------------------------------------------------------------------- the engines


def run_pandas(data: Path, phases: dict) -> dict:
    from bench_compute import run_segsync

    t = time.perf_counter()
    tx = pd.read_parquet(data)
    tx["customer_id"] = tx["customer_id"].astype("str")
    phases["read"] = time.perf_counter() - t
    out = run_segsync(tx, phases, full=True)
    return out


def run_spark(data: Path, phases: dict, driver_memory: str, master: str) -> dict:
    from connector.config.engine import EngineConfig
    from connector.engine.spark import clv, quarantine, scoring
    from connector.engine.spark import features as sfeatures
    from connector.engine.spark import segmentation as ssegmentation
    from connector.engine.spark.session import spark_session
    from segmentation.engine import SegmentationParams
    from segmentation.scoring import ScoreParams

    t = time.perf_counter()
    spark = spark_session(EngineConfig(kind="spark", master=master, spark_conf={
        "spark.driver.memory": driver_memory, "spark.sql.shuffle.partitions": 64,
        "spark.sql.execution.arrow.maxRecordsPerBatch": 20_000, "spark.local.dir": str(data.parent / "spark-tmp"),
        "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning"}))
    phases["session"] = time.perf_counter() - t
    t = time.perf_counter()
    raw = spark.read.parquet(str(data))
    clean, rejected = quarantine.clean_transactions(raw)
    clean = clean.cache()
    counts = quarantine.rejection_counts(rejected)
    features = sfeatures.build_features(None, clean, AS_OF).cache()
    n_customers = features.count()
    phases["features"] = time.perf_counter() - t
    t = time.perf_counter()
    seg = ssegmentation.segment(features, SegmentationParams(k="auto"), None, AS_OF)
    seg.segments.write.format("noop").mode("overwrite").save()
    phases["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    params = ScoreParams(name="buy_90d", kind="propensity", horizon_days=HORIZON)
    model, metrics = scoring.train(None, clean, params, AS_OF)
    scored = scoring.score(model, features)
    mean_score = scored.agg({"buy_90d": "avg"}).first()[0]
    phases["score"] = time.perf_counter() - t
    t = time.perf_counter()
    values, _ = clv.clv_scores(clean, AS_OF, 365, 0.10)
    mean_clv = values.agg({"clv": "avg"}).first()[0]
    phases["clv"] = time.perf_counter() - t
    return {"customers": n_customers, "segments": int(seg.profiles["segment_id"].nunique()),
            "rejected": int(counts["count"].sum()) if len(counts) else 0, "chosen": model.chosen,
            "auc": metrics[model.chosen].get("roc_auc"), "mean_score": float(mean_score), "mean_clv": float(mean_clv)}


def child(engine: str, data: str, driver_memory: str, master: str, cap_gb: float) -> None:
    if engine == "pandas" and cap_gb > 0:
        limit = int(cap_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    phases: dict[str, float] = {}
    cpu, t0 = time.process_time(), time.perf_counter()
    try:
        out = run_pandas(Path(data), phases) if engine == "pandas" else \
            run_spark(Path(data), phases, driver_memory, master)
        out["ok"] = True
    except MemoryError:
        out = {"ok": False, "error": f"MemoryError after {list(phases)} (address space capped at {cap_gb} GB)"}
    out.update(phases=phases, total_s=time.perf_counter() - t0, cpu_self_s=time.process_time() - cpu)
    print("RESULT " + json.dumps(out, default=float), flush=True)


# --------------------------------------------------------------------------- measuring


class TreeMemory(threading.Thread):
    """Peak RSS (MB) of a process tree, sampled from /proc every `every` seconds."""

    def __init__(self, root: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peak = {"tree": 0.0, "driver": 0.0, "jvm": 0.0, "python_workers": 0.0}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def sample(self) -> None:
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                    procs[int(entry)] = (int(stat[1]), int(stat[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20, cmd)
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = {self.root}, [self.root]
        while frontier:
            parent = frontier.pop()
            kids = [p for p, (pp, _, _) in procs.items() if pp == parent and p not in tree]
            tree.update(kids)
            frontier.extend(kids)
        rss = {p: procs[p][1] for p in tree if p in procs}
        jvm = sum(v for p, v in rss.items() if procs[p][2].endswith("java"))
        workers = sum(v for p, v in rss.items() if p != self.root and not procs[p][2].endswith("java"))
        now = {"tree": sum(rss.values()), "driver": rss.get(self.root, 0.0) + jvm, "jvm": jvm, "python_workers": workers}
        for key, value in now.items():
            self.peak[key] = max(self.peak[key], value)


def measure(engine: str, data: Path, args: argparse.Namespace) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", engine, f"--data={data}", f"--driver-memory={args.driver_memory}",
           f"--master={args.master}", f"--mem-cap={args.mem_cap}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    sampler = TreeMemory(proc.pid)
    sampler.start()
    out, _ = proc.communicate()
    sampler.done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][7:]) if lines else {"ok": False, "error": f"exit code {proc.returncode}"}
    result.update(wall_s=time.perf_counter() - t0, cpu_tree_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                  load_at_start=load, peak_mb=sampler.peak, exit_code=proc.returncode)
    return result


def report(engine: str, n: int, rows: int, r: dict) -> None:
    peak = r["peak_mb"]
    phases = "  ".join(f"{k} {v:.1f}s" for k, v in r.get("phases", {}).items())
    status = "ok" if r.get("ok") else f"FAILED: {r.get('error')}"
    print(f"{engine:6s} {n:>11,} customers {rows:>12,} purchases | wall {r['wall_s']:7.1f} s  CPU {r['cpu_tree_s']:7.1f} s | "
          f"peak RSS tree {peak['tree'] / 1024:5.2f} GB (driver {peak['driver'] / 1024:5.2f}, JVM {peak['jvm'] / 1024:5.2f}, "
          f"python workers {peak['python_workers'] / 1024:5.2f}) | load {r['load_at_start'][0]:.1f} | {status} | {phases}",
          flush=True)
    if r.get("ok"):
        print(f"       customers {r['customers']:,}  segments {r['segments']}  rejected {r.get('rejected')}  "
              f"auc {r.get('auc') or float('nan'):.3f}  mean score {r['mean_score']:.4f}  mean clv {r.get('mean_clv', float('nan')):.2f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", default=["pandas", "spark"], choices=["pandas", "spark"])
    parser.add_argument("--data-dir", default="/tmp/segsync-bench-spark")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (local mode: driver and executors)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--mem-cap", type=float, default=10.0, help="address-space cap of the pandas child, GB")
    parser.add_argument("--data-only", action="store_true", help="write the Parquet files and stop")
    parser.add_argument("--child", choices=["pandas", "spark"])
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data, args.driver_memory, args.master, args.mem_cap)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
          f"master {args.master}, driver memory {args.driver_memory}, pandas cap {args.mem_cap} GB", flush=True)
    for n in args.customers:
        t = time.perf_counter()
        data, rows = write_population(n, Path(args.data_dir))
        if args.data_only:
            continue
        print(f"data: {n:,} customers, {rows:,} purchases in {len(list(data.glob('part-*')))} Parquet files "
              f"({sum(p.resolve().stat().st_size for p in data.glob('part-*')) / 2**30:.2f} GB; ready in {time.perf_counter() - t:.0f} s)", flush=True)
        for engine in args.engines:
            report(engine, n, rows, measure(engine, data, args))


if __name__ == "__main__":
    main()
