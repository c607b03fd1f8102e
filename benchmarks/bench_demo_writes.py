"""Daily rewrites of the demo, per CRM, without and with the materiality policy.

    .venv/bin/python benchmarks/bench_demo_writes.py [--days 7] [--seed 7]

Runs `segsync demo`'s world (CDNOW's 23,570 customers in both sandbox CRMs, the demo's mapping:
segment, arm, buy_90d, its reason codes (Salesforce) and CLV) twice, each for day 0 and `--days`
simulated days with about 100 purchases a day:

- before: every change of a written value is a rewrite (scores at whole percentage points, CLV
  at whole units, reason codes on any change of their text): what segsync did before the policy;
- after: the default policy (connector.config.materiality): scores rewritten when they move 5
  points, CLV when it moves 10 %, reason codes with their score or when their drivers change.

Prints, per day and CRM, the records rewritten (field updates the CRM confirmed) and the
customers the next pull re-read (segsync's own writes change SystemModstamp / lastmodifieddate).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.config import MaterialityConfig, MaterialityRule  # noqa: E402
from connector.demo import DemoWorld  # noqa: E402
from connector.pipeline import run_cycle  # noqa: E402
from connector.state import StateStore  # noqa: E402

POLICIES = {
    "before": MaterialityConfig(scores=MaterialityRule(round_to=0.01), clv=MaterialityRule(round_to=1), reasons="text"),
    "after": MaterialityConfig(),
}
CRMS = ("salesforce", "hubspot")


def measure(policy: MaterialityConfig, days: int, seed: int) -> list[dict[str, int]]:
    """Per cycle (day 0 first): records rewritten and customers pulled per CRM, purchases that day."""
    with tempfile.TemporaryDirectory() as tmp:
        world = DemoWorld.create(Path(tmp), seed=seed, scenario="default")
        cfg = world.cfg.model_copy(update={"destinations": world.cfg.destinations.model_copy(update={"materiality": policy})})
        rows = []
        with StateStore(Path(tmp) / "state.sqlite") as store:
            for day in range(days + 1):
                purchases = world.sim.advance_days(1)["purchases"] if day else 0
                result = run_cycle(cfg, store, connector_factory=world.factory)
                assert result.status == "succeeded", result.error
                c = result.counts
                rows.append({"day": day, "purchases": purchases, "customers": c.get("customers", 0),
                             **{f"pushed_{k}": c.get(f"pushed_{k}", 0) for k in CRMS},
                             **{f"pulled_{k}": c.get(f"pulled_{k}_customers", 0) for k in CRMS}})
                print(f"  {rows[-1]}", flush=True)
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    results = {}
    for name, policy in POLICIES.items():
        print(f"{name}: {policy.model_dump()}", flush=True)
        results[name] = measure(policy, args.days, args.seed)
    print("\n| day | purchases | Salesforce rewrites before | after | HubSpot rewrites before | after | customers re-pulled before | after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b, a in zip(results["before"], results["after"], strict=True):
        pulled_b, pulled_a = b["pulled_salesforce"] + b["pulled_hubspot"], a["pulled_salesforce"] + a["pulled_hubspot"]
        print(f"| {b['day']} | {b['purchases']} | {b['pushed_salesforce']:,} | {a['pushed_salesforce']:,} | "
              f"{b['pushed_hubspot']:,} | {a['pushed_hubspot']:,} | {pulled_b:,} | {pulled_a:,} |")
    quiet = [(b, a) for b, a in zip(results["before"], results["after"], strict=True) if b["day"] > 0]
    for crm in CRMS:
        before = sum(b[f"pushed_{crm}"] for b, _ in quiet) / len(quiet)
        after = sum(a[f"pushed_{crm}"] for _, a in quiet) / len(quiet)
        n = quiet[0][0]["customers"]
        print(f"{crm}: mean daily rewrites over days 1-{args.days}: before {before:,.0f} ({before / n:.1%} of {n:,} customers), "
              f"after {after:,.0f} ({after / n:.1%})")


if __name__ == "__main__":
    main()
