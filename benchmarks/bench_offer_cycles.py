"""The offers step across daily cycles: cost per simulated day and offer churn, before and after
the cached offer model and offer stability; and the out-of-time precision stability costs.

    .venv/bin/python benchmarks/bench_offer_cycles.py demo [--days 3] [--variants before,after]
    .venv/bin/python benchmarks/bench_offer_cycles.py precision [--days 14]

demo: `segsync demo --products 40`'s world (CDNOW's 23,570 customers in both sandbox CRMs, every
purchase holding products, offers written to both CRMs, `offers.max_eval_customers: 5000`), day 0
then `--days` simulated days of about 100 purchases each, once per variant:

- before: `offers.retrain.every_days: 0` and `offers.min_score_gain: 0`: every cycle re-runs the
  out-of-time comparison and refits the ranker, and takes the newest top three (what segsync did
  before the offer model was cached);
- after: the defaults (refit every 7 data days or on a product-mix shift; keep a customer's
  offers unless a new product scores 25 % above the weakest, or one became ineligible).

Per cycle it prints wall and process CPU seconds of the cycle and of its offers step, the
customers whose offer_1..3 changed (and their share of those offered), the records each CRM
confirmed rewritten, the CRMs' non-GET requests (writes, plus HubSpot searches, which are POSTs)
and the peak RSS so far. Printed first: the load average.

precision: UCI Online Retail, the ranker (settings as the offers step, no evaluation) run daily
for `--days` days up to 2011-09-01, once taking the newest top three each day and once carrying
each customer's offers forward with stability; both judged on what customers bought in the 91
days after 2011-09-01 (precision@3 and hit@3 as in segmentation.offer_evaluation), together with
the share of customers whose list changed per day.

OpenMP/BLAS use one thread unless OMP_NUM_THREADS says otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# one OpenMP/BLAS thread, as the other compute benchmarks on this shared machine (set before numpy loads)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = {"before": {"retrain": {"every_days": 0}, "min_score_gain": 0.0}, "after": {}}
CUTOFF = pd.Timestamp("2011-09-01", tz="UTC")


def _usage(t0: float, c0: float) -> dict[str, float]:
    return {"wall_s": round(time.monotonic() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)}


def _peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)


def _timed_steps(spent: dict[str, float]) -> dict[str, Any]:
    """The cycle's steps, with the offers step's wall and CPU seconds recorded in `spent`."""
    from connector.pipeline import default_steps

    steps = dict(default_steps())
    inner = steps["offers"]

    def offers(ctx: Any) -> Any:
        t0, c0 = time.monotonic(), time.process_time()
        try:
            return inner(ctx)
        finally:
            spent.update(offers_wall_s=round(time.monotonic() - t0, 1), offers_cpu_s=round(time.process_time() - c0, 1))

    steps["offers"] = offers
    return steps


def demo_variant(name: str, days: int, seed: int) -> list[dict[str, Any]]:
    from connector.demo import DemoWorld
    from connector.pipeline import run_cycle
    from connector.state import StateStore

    with tempfile.TemporaryDirectory() as tmp:
        world = DemoWorld.create(Path(tmp), seed=seed, scenario="default", products=40)
        settings = world.cfg.offers.model_dump()
        for key, value in VARIANTS[name].items():
            settings[key] = {**settings[key], **value} if isinstance(value, dict) else value
        cfg = world.cfg.model_copy(update={"offers": type(world.cfg.offers).model_validate(settings)})
        print(f"{name}: offers.retrain {cfg.offers.retrain.model_dump()}, min_score_gain {cfg.offers.min_score_gain}", flush=True)
        rows = []
        with StateStore(Path(tmp) / "state.sqlite", redact=world.secrets) as store:
            for day in range(days + 1):
                purchases = world.sim.advance_days(1)["purchases"] if day else 0
                spent: dict[str, float] = {}
                t0, c0 = time.monotonic(), time.process_time()
                result = run_cycle(cfg, store, connector_factory=world.factory, steps=_timed_steps(spent))
                assert result.status == "succeeded", result.error
                c = result.counts
                offered = max(c.get("offers", 0), 1)
                rows.append({
                    "variant": name, "day": day, "purchases": purchases, **_usage(t0, c0),
                    **spent, "offers": c.get("offers", 0),
                    "offers_changed": c.get("offers_changed", 0),
                    "churn": round(c.get("offers_changed", 0) / offered, 4),
                    "pushed_salesforce": c.get("pushed_salesforce", 0), "pushed_hubspot": c.get("pushed_hubspot", 0),
                    "write_requests": sum(v for k, v in c.items() if k.startswith("requests_") and not k.endswith("_get")),
                    "peak_rss_gb": _peak_gb(),
                })
                print(f"  {rows[-1]}", flush=True)
    return rows


def demo(args: argparse.Namespace) -> None:
    rows = [r for v in args.variants.split(",") for r in demo_variant(v, args.days, args.seed)]
    table = pd.DataFrame(rows)
    print("\n| variant | day | purchases | cycle wall s | cycle CPU s | offers step wall s | CPU s | offer lists changed | "
          "share | Salesforce records rewritten | HubSpot | non-GET requests |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in table.itertuples(index=False):
        print(f"| {r.variant} | {r.day} | {r.purchases} | {r.wall_s} | {r.cpu_s} | {r.offers_wall_s} | {r.offers_cpu_s} | "
              f"{r.offers_changed:,} | "
              f"{r.churn:.1%} | {r.pushed_salesforce:,} | {r.pushed_hubspot:,} | {r.write_requests:,} |")
    later = table[table["day"] > 0].groupby("variant")[["wall_s", "cpu_s", "offers_wall_s", "offers_cpu_s", "churn",
                                                        "pushed_salesforce", "pushed_hubspot", "write_requests"]].mean()
    print(f"\nmean of days 1-{args.days}:\n{later.round(3).to_string()}")


def _judge(offers: pd.DataFrame, truth: pd.DataFrame, judged: pd.Index) -> tuple[float, float]:
    """precision@3 and hit@3 of `offers` (customer_id, offer_1_id..) over the judged customers."""
    bought = set(zip(truth["customer_id"].astype(str), truth["product_id"].astype(str), strict=True))
    rows = offers.set_index("customer_id").reindex(judged)
    hits = sum(((c, str(rows.at[c, f"offer_{j}_id"])) in bought) for c in judged for j in (1, 2, 3))
    hit_any = sum(any((c, str(rows.at[c, f"offer_{j}_id"])) in bought for j in (1, 2, 3)) for c in judged)
    return hits / (3 * len(judged)), hit_any / len(judged)


def precision(args: argparse.Namespace) -> None:
    from benchmarks.bench_offers import own_segments
    from connector.sandbox.online_retail import online_retail_line_items, read_online_retail
    from segmentation.line_items import clean_line_items
    from segmentation.offers import OfferParams, recommend_offers

    clean, _ = clean_line_items(online_retail_line_items(read_online_retail()))
    clean["customer_id"] = clean["customer_id"].astype(str)
    segments = own_segments(clean, CUTOFF).rename("segment_id").reset_index().assign(model_version="k4")
    window = clean[(clean["occurred_at"] >= CUTOFF) & (clean["occurred_at"] < CUTOFF + pd.Timedelta(days=91))]
    before = clean[clean["occurred_at"] < CUTOFF]
    judged = pd.Index(sorted(set(window["customer_id"]) & set(before["customer_id"])))
    days = [CUTOFF - pd.Timedelta(days=args.days - 1 - d) for d in range(args.days)]
    params = OfferParams(method="ranker", evaluate=False, horizon_days=91)
    ids = ["customer_id", "offer_1_id", "offer_2_id", "offer_3_id"]
    model, fresh_prev, stable = None, None, None
    churn: dict[str, list[float]] = {"fresh": [], "stable": []}
    t0, c0 = time.monotonic(), time.process_time()
    for day in days:
        fresh = recommend_offers(clean, segments, day, params, previous=model)
        model = fresh.model
        kept = recommend_offers(clean, segments, day, params, previous=model, current=stable)
        for name, now, prev in (("fresh", fresh.offers[ids], fresh_prev), ("stable", kept.offers[ids], stable)):
            if prev is not None:
                both = now.set_index("customer_id").join(prev.set_index("customer_id"), rsuffix="_prev", how="inner")
                moved = sum((both[f"offer_{j}_id"] != both[f"offer_{j}_id_prev"]) for j in (1, 2, 3)) > 0
                churn[name].append(float(moved.mean()))
        fresh_prev, stable = fresh.offers[ids], kept.offers[ids]
        print(f"  {day.date()}: refitted: {fresh.retrained}; lists changed fresh {churn['fresh'][-1:]}, "
              f"stable {churn['stable'][-1:]}", flush=True)
    assert fresh_prev is not None and stable is not None
    for name, offers in (("newest top three each day", fresh_prev), ("with stability (min_score_gain 0.25)", stable)):
        p, h = _judge(offers, window, judged)
        key = "fresh" if name.startswith("newest") else "stable"
        mean_churn = sum(churn[key]) / max(len(churn[key]), 1)
        print(f"{name}: precision@3 {p:.4f}, hit@3 {h:.4f} on {len(judged):,} customers; "
              f"lists changed per day {mean_churn:.1%}")
    print({**_usage(t0, c0), "peak_rss_gb": _peak_gb()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo")
    d.add_argument("--days", type=int, default=3)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--variants", default="before,after")
    p = sub.add_parser("precision")
    p.add_argument("--days", type=int, default=14)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    {"demo": demo, "precision": precision}[args.command](args)


if __name__ == "__main__":
    main()
