"""Next best offer on the Spark executors at 1M customers x 2,000 products (connector.engine.spark.offers).

    .venv/bin/python benchmarks/bench_spark_offers.py --customers 1000000 --products 2000

The input is bench_offers.py scale's: planted line items (connector.sandbox.products, seed 2,
about 7 lines per customer) and each customer's planted segment, written as Parquet (times in
microseconds: Spark cannot read nanoseconds) by a first child. A second child reads them with
`spark.read.parquet` on local[2] and runs `spark_offers` twice, as the offers step does: the day
before (no stored model: the ranker fitted on the driver from its training sample, then everyone
served) and the daily cycle (that model reused and each customer's current offers, the day
before's, kept unless beaten by the margin), each with rules on (one product excluded, at most 2
per category), every customer's offers written to a no-op sink so nothing is skipped by laziness.
A last phase does what the offers step then does on Spark (connector.steps.spark_offers): the
daily offers diffed against the day before's as stored (only the changed rows come to the
driver: their count is printed), the top offers per segment and the counts aggregated.

A sampler walks the child's process tree (the Python driver, its JVM, which in local mode hosts
the executors, and the executors' Python workers) every 0.5 s: wall and CPU seconds of the tree
per phase, its peak RSS (and the driver's: Python + JVM) and the load average at the start. The
pandas path's figure to compare with: bench_offers.py scale --cached (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_tree import ProcessTree  # noqa: E402

CONF = {"spark.driver.memory": "3g", "spark.sql.execution.arrow.maxRecordsPerBatch": 20_000,
        "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning", "spark.ui.enabled": "false"}


def generate(customers: int, products: int, data: Path) -> None:
    from connector.sandbox.products import planted_products

    world = planted_products(customers, products, seed=2)
    items = world.items
    items = items.assign(occurred_at=items["occurred_at"].dt.floor("us"))
    items.to_parquet(data / "items.parquet", coerce_timestamps="us", allow_truncated_timestamps=True)
    world.segments.astype(str).to_parquet(data / "segments.parquet")
    print("RESULT " + json.dumps({"line_items": len(items)}), flush=True)


def child(data: Path, partitions: int) -> None:
    from pyspark.sql import functions as F

    from connector.config.engine import EngineConfig
    from connector.engine.spark.offer_changes import offer_changes, offer_counts, top_by_segment
    from connector.engine.spark.offers import OFFER_COLUMNS, numbered, spark_offers
    from connector.engine.spark.session import spark_session
    from segmentation.offer_selection import OfferRules
    from segmentation.offers import OfferParams

    t = time.perf_counter()
    conf = {**CONF, "spark.sql.shuffle.partitions": partitions, "spark.local.dir": str(data / "spark-tmp")}
    spark = spark_session(EngineConfig(kind="spark", master="local[2]", spark_conf=conf))
    phase("session", t)
    items = numbered(spark.read.parquet(str(data / "items.parquet")))
    segments = spark.read.parquet(str(data / "segments.parquet"))
    last = items.agg(F.max("occurred_at")).first()[0]
    today = pd.Timestamp(last).tz_localize("UTC").normalize() + pd.Timedelta(days=1)
    params = OfferParams(method="ranker", evaluate=False, n_jobs=1)
    rules = OfferRules(exclude_products=("P00000",), max_per_category=2)
    t = time.perf_counter()
    before = spark_offers(spark, items, segments, today - pd.Timedelta(days=1), params, rules)
    current = before.offers.select("customer_id", "offer_1_id", "offer_2_id", "offer_3_id")
    current.write.mode("overwrite").parquet(str(data / "current.parquet"))
    phase("fit_and_serve", t, retrained=before.retrained)
    t = time.perf_counter()
    daily = spark_offers(spark, items, segments, today, params, rules, previous=before.model,
                         current=spark.read.parquet(str(data / "current.parquet")))
    daily.offers.select(*OFFER_COLUMNS).write.format("noop").mode("overwrite").save()
    phase("daily_cached", t, retrained=daily.retrained, **(daily.stability or {}))
    t = time.perf_counter()
    changes = offer_changes(daily.offers, spark.read.parquet(str(data / "current.parquet")))
    top, (rows, offered) = top_by_segment(daily.offers, segments), offer_counts(daily.offers)
    phase("diff_and_figures", t, changed_rows_collected=len(changes.rows), gone=len(changes.gone),
          top_by_segment_rows=len(top), customers=rows, offered=offered)
    print("RESULT " + json.dumps({"customers": daily.offers.count(), "method": daily.method}), flush=True)


def phase(name: str, t: float, **extra: object) -> None:
    print("PHASE " + json.dumps({"phase": name, "s": round(time.perf_counter() - t, 1), **extra}, default=str), flush=True)


def run(cmd: list[str], label: str) -> None:
    load, t0 = os.getloadavg(), time.perf_counter()
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    tree = ProcessTree(proc.pid)
    tree.start()
    cpu0 = 0.0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(("PHASE ", "RESULT ")):
            out = json.loads(line.split(" ", 1)[1])
            cpu = tree.cpu_s
            print(f"[{label}] {json.dumps(out)} | tree CPU {cpu - cpu0:.1f} s, tree RSS peak so far "
                  f"{tree.peak['tree'] / 1024:.2f} GB (driver+JVM {tree.peak['driver'] / 1024:.2f} GB)", flush=True)
            cpu0 = cpu
    proc.wait()
    tree.done.set()
    tree.join()
    print(f"[{label}] exit {proc.returncode}: wall {time.perf_counter() - t0:.1f} s, tree CPU {tree.cpu_s:.1f} s, "
          f"peak RSS tree {tree.peak['tree'] / 1024:.2f} GB, driver+JVM {tree.peak['driver'] / 1024:.2f} GB, "
          f"Python workers {tree.peak['python_workers'] / 1024:.2f} GB; load average at start {load}", flush=True)
    if proc.returncode:
        raise SystemExit(proc.returncode)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    ap.add_argument("--_generate", dest="generate", help=argparse.SUPPRESS)
    ap.add_argument("--_child", dest="child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(args.customers, args.products, Path(args.generate))
        return
    if args.child:
        child(Path(args.child), args.partitions)
        return
    with tempfile.TemporaryDirectory(prefix="bench_spark_offers_") as folder:
        me = [sys.executable, __file__, "--customers", str(args.customers), "--products", str(args.products)]
        run([*me, "--_generate", folder], "generate")
        run([*me, "--partitions", str(args.partitions), "--_child", folder], "spark")


if __name__ == "__main__":
    main()
