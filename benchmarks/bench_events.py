"""Usage features at scale: 1M customers x 50M events, as of one cutoff (target: <= 60 s, <= 4 GB).

    .venv/bin/python benchmarks/bench_events.py                              # 1M customers, 50M events
    .venv/bin/python benchmarks/bench_events.py --customers 100000 --events 5000000   # a quick look

Data: seeded synthetic usage, generated lean and in chunks of 100,000 customers (int32
customer codes, int16 type codes, int32 minutes, int32 feature codes), so the input itself
takes 14 bytes an event: each customer's number of events is Poisson around their own
activity level (mean events/customers), spread over 180 days with a per-customer trend
(logins rising or fading), types login 60 %, feature_used 30 % (one of 40 features, each
customer favouring a few), ticket 10 %.

Timed: segmentation.event_features.build_event_features with the default spec (3 types x
windows 7/14/30/90 days, a 14-day trend, days since last, features adopted) at one cutoff,
then again at a second cutoff 30 days earlier (the adoption table is built once per log); then
segmentation.event_features.usage_state at the first cutoff (what the serving snapshot carries
so that live usage events move a customer's usage features).
Printed: wall and process CPU seconds per step, peak RSS (ru_maxrss, input included) and the
load average when it started (a shared machine inflates the wall time).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmentation.event_features import build_event_features, usage_state  # noqa: E402
from segmentation.events import EventFeatureSpec, EventLog  # noqa: E402

ORIGIN = pd.Timestamp("2026-01-01", tz="UTC")
DAYS, CHUNK, FEATURES = 180, 100_000, 40


def generate(n_customers: int, n_events: int, seed: int = 0) -> EventLog:
    """A lean EventLog of about n_events events over n_customers, built chunk by chunk."""
    rng = np.random.default_rng(seed)
    spec = EventFeatureSpec()
    parts: list[tuple[np.ndarray, ...]] = []
    mean = n_events / n_customers
    for start in range(0, n_customers, CHUNK):
        m = min(CHUNK, n_customers - start)
        counts = rng.poisson(rng.gamma(2.0, mean / 2.0, m))
        customer = np.repeat(np.arange(start, start + m, dtype=np.int32), counts)
        trend = rng.normal(0.0, 0.6, m)[customer - start]
        # day position in [0, 1) with density rising or falling with the customer's trend
        u = rng.random(len(customer))
        pos = np.where(np.abs(trend) < 1e-3, u, np.log1p(u * np.expm1(trend)) / np.where(trend == 0, 1, trend))
        minute = (pos * DAYS * 1440).astype(np.int32)
        kind = rng.choice(3, len(customer), p=[0.6, 0.3, 0.1]).astype(np.int16)
        favourite = rng.integers(0, FEATURES, m)[customer - start]
        feature = np.where(kind == 1, (favourite + rng.geometric(0.4, len(customer))) % FEATURES, -1).astype(np.int32)
        parts.append((customer, kind, minute, feature))
    customers = pd.Index(np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), 8)), dtype=str)
    columns = [np.concatenate([p[i] for p in parts]) for i in range(4)]
    del parts
    return EventLog(*columns, customers=customers, types=spec.types, origin=ORIGIN,
                    feature_names=[f"feature_{i:02d}" for i in range(FEATURES)])


def _usage() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    w0, c0 = _usage()
    log = generate(args.customers, args.events)
    w1, c1 = _usage()
    print(f"generated {len(log):,} events for {args.customers:,} customers: wall {w1 - w0:.1f} s, CPU {c1 - c0:.1f} s; "
          f"input {sum(a.nbytes for a in (log.customer, log.kind, log.minute, log.feature)) / 2**20:,.0f} MiB")
    spec = EventFeatureSpec()
    cutoff = ORIGIN + pd.Timedelta(days=DAYS)
    for label, when in (("cutoff 1 (builds the adoption table)", cutoff), ("cutoff 2, 30 days earlier", cutoff - pd.Timedelta(days=30))):
        w0, c0 = _usage()
        features = build_event_features(log, when, spec)
        w1, c1 = _usage()
        print(f"{label}: {features.shape[0]:,} customers x {features.shape[1]} features: wall {w1 - w0:.1f} s, "
              f"CPU {c1 - c0:.1f} s")
    w0, c0 = _usage()
    state = usage_state(log, cutoff, spec)
    w1, c1 = _usage()
    print(f"usage state for the snapshot: {len(state.customers):,} customers, {state.trend_n.nbytes + state.adopted.nbytes:,} "
          f"bytes: wall {w1 - w0:.1f} s, CPU {c1 - c0:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB (input included)")
    summary = features[["login_count_30d", "login_trend_14d", "days_since_login", "features_adopted"]].describe()
    print(summary.loc[["mean", "min", "max"]].round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
