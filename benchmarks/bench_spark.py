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
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compute import AS_OF, HORIZON, generate  # noqa: E402
from process_tree import ProcessTree  # noqa: E402

CHUNK = 1_000_000


# --------------------------------------------------------------------------- data


def write_population(n: int, folder: Path) -> tuple[Path, int]:
    """(a folder of Parquet files holding n customers' purchases, their row count). Chunks of 1M
    customers are generated one at a time into a shared pool (chunk k is the same for every n),
    and each size links the first n / 1M of them."""
    import pyarrow.parquet as pq

    folder = folder.resolve()  # the links must not depend on the working directory
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
        if link.is_symlink() and not link.exists():
            link.unlink()  # a dangling link (e.g. a relative one from an older run)
        if not link.exists():
            link.symlink_to(part)
        rows += pq.ParquetFile(part).metadata.num_rows
    return target, rows


# --------------------------------------------------------------------------- the engines


class PhaseLog(dict):
    """Phase -> seconds, each phase printed the moment it ends (a child killed later still told
    the parent how far it got, and at what CPU time)."""

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        print(f"PHASE {json.dumps({'phase': key, 's': value, 'cpu_self_s': time.process_time()})}", flush=True)


def run_pandas(data: Path, phases: dict) -> dict:
    from bench_compute import run_segsync

    t = time.perf_counter()
    tx = pd.read_parquet(data)
    tx["customer_id"] = tx["customer_id"].astype("str")
    phases["read"] = time.perf_counter() - t
    return run_segsync(tx, phases, full=True)


def shuffle_partitions(n: int, asked: int) -> int:
    """--shuffle-partitions, or one per ~312k customers (4 at 1M, 64 at 20M): Spark's default 200
    leaves every task of a 1M run (50 k-means iterations each) a few thousand rows, so
    scheduling, not work, would be measured on local[2]."""
    return asked or min(200, max(4, round(n / 312_500)))


def spark_conf(data: Path, driver_memory: str, partitions: int) -> dict:
    return {"spark.driver.memory": driver_memory, "spark.sql.shuffle.partitions": partitions,
            "spark.sql.execution.arrow.maxRecordsPerBatch": 20_000, "spark.local.dir": str(data.parent / "spark-tmp"),
            "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning"}


def run_spark(data: Path, phases: dict, driver_memory: str, master: str, partitions: int) -> dict:
    from connector.config.engine import EngineConfig
    from connector.engine.spark import clv, quarantine, scoring
    from connector.engine.spark import features as sfeatures
    from connector.engine.spark import segmentation as ssegmentation
    from connector.engine.spark.session import spark_session
    from segmentation.engine import SegmentationParams
    from segmentation.scoring import ScoreParams

    t = time.perf_counter()
    spark = spark_session(EngineConfig(kind="spark", master=master, spark_conf=spark_conf(data, driver_memory, partitions)))
    phases["session"] = time.perf_counter() - t
    t = time.perf_counter()
    # every row judged once, stored by customer, the rejected rows counted by the same job
    judged = quarantine.judge(spark.read.parquet(str(data)))
    counts, clean = judged.counts, judged.clean
    phases["quarantine"] = time.perf_counter() - t
    t = time.perf_counter()
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
    phases["train"] = time.perf_counter() - t
    t = time.perf_counter()
    mean_score = scoring.score(model, features).agg({"buy_90d": "avg"}).first()[0]
    phases["score"] = time.perf_counter() - t
    t = time.perf_counter()
    values, _ = clv.clv_scores(clean, AS_OF, 365, 0.10)
    mean_clv = values.agg({"clv": "avg"}).first()[0]
    phases["clv"] = time.perf_counter() - t
    return {"customers": n_customers, "segments": int(seg.profiles["segment_id"].nunique()),
            "rejected": int(counts["count"].sum()) if len(counts) else 0, "chosen": model.chosen,
            "auc": metrics[model.chosen].get("roc_auc"), "mean_score": float(mean_score), "mean_clv": float(mean_clv)}


def child(engine: str, data: str, driver_memory: str, master: str, cap_gb: float, partitions: int) -> None:
    if engine == "pandas" and cap_gb > 0:
        limit = int(cap_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    phases = PhaseLog()
    cpu, t0 = time.process_time(), time.perf_counter()
    try:
        out = run_pandas(Path(data), phases) if engine == "pandas" else \
            run_spark(Path(data), phases, driver_memory, master, partitions)
        out["ok"] = True
    except MemoryError as exc:
        out = {"ok": False, "error": f"MemoryError ({type(exc).__name__}; address space capped at {cap_gb} GB)"}
    except Exception as exc:  # noqa: BLE001 - a benchmark reports any failure and its stage
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        out = {"ok": False, "error": f"{type(exc).__name__}: {first}"}
    out.update(phases=dict(phases), total_s=time.perf_counter() - t0, cpu_self_s=time.process_time() - cpu)
    print("RESULT " + json.dumps(out, default=float), flush=True)


# --------------------------------------------------------------------------- measuring

PHASES = {"pandas": ["read", "features", "segment", "score", "clv"],
          "spark": ["session", "quarantine", "features", "segment", "train", "score", "clv"]}


def measure(engine: str, data: Path, n: int, args: argparse.Namespace) -> dict:
    kills, load, t0 = oom_kills(), os.getloadavg(), time.perf_counter()
    logs = Path(args.data_dir).resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{engine}-{data.name}.log"
    cmd = [sys.executable, __file__, "--child", engine, f"--data={data}", f"--driver-memory={args.driver_memory}",
           f"--master={args.master}", f"--mem-cap={args.mem_cap}",
           f"--shuffle-partitions={shuffle_partitions(n, args.shuffle_partitions)}"]
    phases: dict[str, float] = {}
    run = run_child(cmd, log, engine, phases, t0, args.timeout)
    result = run.result
    if not result:
        result = {"ok": False, "error": f"exit code {run.returncode}: {last_line(log)}"}
    result.setdefault("phases", phases)
    if not result.get("ok"):
        if oom_kills() > kills:
            result["error"] += f" (the kernel's OOM killer killed {oom_kills() - kills} process(es) meanwhile)"
        done = list(result["phases"])
        result["failed_in"] = next((p for p in PHASES[engine] if p not in done), "after the last phase")
        result["log"] = str(log)
    result.update(wall_s=time.perf_counter() - t0, cpu_tree_s=run.cpu_s, load_at_start=load,
                  peak_mb=run.peak_mb, exit_code=run.returncode)
    return result


@dataclass
class ChildRun:
    """What `run_child` saw: the child's RESULT ({} if none), its exit code, the CPU seconds of its
    whole tree (reaped rusage or sampled, whichever is larger) and the tree's peak RSS in MB."""

    result: dict
    returncode: int | None
    cpu_s: float
    peak_mb: dict


def run_child(cmd: list[str], log: Path, label: str, phases: dict, t0: float, timeout: float) -> ChildRun:
    """Run a benchmark child in its own session (stderr to `log`), follow its phases while its
    process tree is sampled, and kill whatever of it is left at the end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "SPARK_LOCAL_IP": "127.0.0.1"}
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, start_new_session=True)
    tree = ProcessTree(proc.pid)
    tree.start()
    result: dict = {}
    try:
        result = follow(proc, tree, label, phases, t0, timeout)
    except KeyboardInterrupt:
        result = {"ok": False, "error": "interrupted"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        tree.done.set()
        tree.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return ChildRun(result, proc.returncode, max(rusage, tree.cpu_s), tree.peak)


def follow(proc: subprocess.Popen, tree: ProcessTree, engine: str, phases: dict, t0: float,
           timeout: float) -> dict:
    """Echo the child's phases as they end (wall, tree CPU, RSS now); its RESULT, or {} if none."""
    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL)) if timeout else None
    if watchdog:
        watchdog.start()
    result: dict = {}
    for line in proc.stdout:
        if line.startswith("PHASE "):
            step = json.loads(line[6:])
            phases[step["phase"]] = step["s"]
            now = tree.current
            print(f"  [{engine}] {step['phase']:9s} {step['s']:8.1f} s | at {time.perf_counter() - t0:7.1f} s wall, "
                  f"tree CPU {tree.cpu_s:7.1f} s, RSS now {now['tree'] / 1024:5.2f} GB (peak {tree.peak['tree'] / 1024:5.2f}), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
    proc.wait()
    if watchdog:
        watchdog.cancel()
        if not result and proc.returncode == -signal.SIGKILL:
            result = {"ok": False, "error": f"stopped by --timeout {timeout:.0f} s"}
    return result


def oom_kills() -> int:
    """Processes the kernel's OOM killer has killed since boot (a JVM killed so says nothing)."""
    for line in Path("/proc/vmstat").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


def last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def report(engine: str, n: int, rows: int, r: dict) -> None:
    peak = r["peak_mb"]
    phases = "  ".join(f"{k} {v:.1f}s" for k, v in r.get("phases", {}).items())
    status = "ok" if r.get("ok") else f"FAILED in {r.get('failed_in')}: {r.get('error')} (log {r.get('log')})"
    print(f"{engine:6s} {n:>11,} customers {rows:>12,} purchases | wall {r['wall_s']:7.1f} s  CPU {r['cpu_tree_s']:7.1f} s | "
          f"peak RSS tree {peak['tree'] / 1024:5.2f} GB (driver {peak['driver'] / 1024:5.2f}, JVM {peak['jvm'] / 1024:5.2f}, "
          f"python workers {peak['python_workers'] / 1024:5.2f}) | load {r['load_at_start'][0]:.1f} | {status} | {phases}",
          flush=True)
    if r.get("ok"):
        print(f"       customers {r['customers']:,}  segments {r['segments']}  rejected {r.get('rejected')}  "
              f"auc {r.get('auc') or float('nan'):.3f}  mean score {r['mean_score']:.4f}  mean clv {r.get('mean_clv', float('nan')):.2f}",
              flush=True)


def table(rows: list[tuple[str, int, dict]]) -> None:
    """The Markdown table of every run so far, and the growth per million customers per engine."""
    print("\n| customers | engine | wall | CPU (tree) | peak RSS tree / driver / JVM / Python workers | load at start | outcome |")
    print("|---|---|---|---|---|---|---|")
    for engine, n, r in rows:
        gb = {k: v / 1024 for k, v in r["peak_mb"].items()}
        outcome = "ok" if r.get("ok") else f"failed in {r.get('failed_in')} at {gb['tree']:.2f} GB: {r.get('error')}"
        print(f"| {n / 1e6:g}M | {engine} | {r['wall_s']:,.1f} s | {r['cpu_tree_s']:,.1f} s | {gb['tree']:.2f} / "
              f"{gb['driver']:.2f} / {gb['jvm']:.2f} / {gb['python_workers']:.2f} GB | {r['load_at_start'][0]:.1f} | {outcome} |")
    for engine in dict.fromkeys(e for e, _, _ in rows):
        done = sorted((n, r) for e, n, r in rows if e == engine and r.get("ok"))
        if len(done) >= 2:
            (n0, a), (n1, b) = done[0], done[-1]
            per = 1e6 / (n1 - n0)
            print(f"{engine}: per extra million customers ({n0 / 1e6:g}M -> {n1 / 1e6:g}M): "
                  f"CPU {(b['cpu_tree_s'] - a['cpu_tree_s']) * per:,.1f} s, "
                  f"peak RSS {(b['peak_mb']['tree'] - a['peak_mb']['tree']) * per / 1024:.2f} GB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", default=["pandas", "spark"], choices=["pandas", "spark"])
    parser.add_argument("--data-dir", default="/tmp/segsync-bench-spark")
    parser.add_argument("--driver-memory", default="4g", help="spark.driver.memory (local mode: driver and executors)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--mem-cap", type=float, default=10.0, help="address-space cap of the pandas child, GB")
    parser.add_argument("--data-only", action="store_true", help="write the Parquet files and stop")
    parser.add_argument("--shuffle-partitions", type=int, default=0, help="Spark's; 0: one per ~312k customers")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per engine run; 0: none (partial phases are reported)")
    parser.add_argument("--child", choices=["pandas", "spark"])
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data, args.driver_memory, args.master, args.mem_cap, args.shuffle_partitions)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()}, "
          f"master {args.master}, driver memory {args.driver_memory}, pandas cap {args.mem_cap} GB", flush=True)
    done: list[tuple[str, int, dict]] = []
    for n in args.customers:
        t = time.perf_counter()
        data, rows = write_population(n, Path(args.data_dir))
        if args.data_only:
            continue
        print(f"data: {n:,} customers, {rows:,} purchases in {len(list(data.glob('part-*')))} Parquet files "
              f"({sum(p.resolve().stat().st_size for p in data.glob('part-*')) / 2**30:.2f} GB; ready in {time.perf_counter() - t:.0f} s); "
              f"Spark shuffle partitions {shuffle_partitions(n, args.shuffle_partitions)}", flush=True)
        for engine in args.engines:
            result = measure(engine, data, n, args)
            report(engine, n, rows, result)
            done.append((engine, n, result))
    if done:
        table(done)


if __name__ == "__main__":
    main()
