"""`segsync demo`: the whole loop against the sandbox CRMs, no credentials needed.

1. Start the Salesforce and HubSpot sandboxes and load CDNOW's 23,570 customers and 69,659
   purchases into them (some customers in both CRMs, the rest in one); each purchase holds
   products (`--products`, Online Retail's best sellers drawn from each latent segment's
   planted taste) as OpportunityLineItems and HubSpot line items.
2. Run the cycle: pull, segment, score, assign arms of a per-segment experiment, push fields
   and lists (Campaigns, static lists) to both CRMs.
3. Advance simulated days: customers buy, and treated ones buy more (the scenario's true
   effect per latent segment). Each day the cycle runs again and reads the outcomes.
4. Write the HTML report and print estimated against true lift per segment.

The CRMs run in-process (their WSGI apps behind httpx's WSGI transport): the same HTTP
requests, bodies and replies as over a socket, without ports. `segsync sandbox serve` serves
them on loopback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from connector.config import Config, load_config
from connector.identity import email_key, normalise_email
from connector.pipeline import run_cycle
from connector.report import write_report
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.state import StateLock, StateStore

DEMO_START = datetime(1998, 7, 1, tzinfo=UTC)  # the day after CDNOW's last purchase
EXPERIMENT = "demo-winback"

CONFIG = """\
# Written by `segsync demo`: the sandbox CRMs in this process. Secrets come from the
# environment; the defaults below are the sandbox's own dummy credentials (never real ones),
# so `segsync status` and `segsync report` work on this file as it is.
version: 1
state:
  path: segsync-demo.sqlite
sources:
  salesforce:
    instance_url: {sf_instance}
    login_url: {sf_instance}
    auth:
      method: client_credentials
      client_id: ${{DEMO_SF_CLIENT_ID:-{sf_client_id}}}
      client_secret: ${{DEMO_SF_CLIENT_SECRET:-{sf_client_secret}}}
  hubspot:
    auth:
      method: token
      token: ${{DEMO_HUBSPOT_TOKEN:-{hs_token}}}
    tier_requests_per_10s: 190
    # the sandbox's search index has no lag, so a short re-read window is enough here
    search_overlap_minutes: 5
destinations:
  salesforce:
    fields:
      segment_id: Segsync_Segment_Id__c
      segment_name: Segsync_Segment__c
      arm: Segsync_Arm__c
      buy_90d: Segsync_Buy_90d__c
      buy_90d_reasons: Segsync_Buy_90d_Reasons__c
      clv: Segsync_CLV__c
    create_missing_fields: true
  hubspot:
    properties:
      segment_id: segsync_segment_id
      segment_name: segsync_segment
      arm: segsync_arm
      buy_90d: segsync_buy_90d
      clv: segsync_clv
segmentation:
  method: kmeans
  k: auto
  k_min: 3
  k_max: 6
  retrain:
    every_days: 60
scoring:
  targets:
    - name: buy_90d
      kind: propensity
      horizon_days: 90
  retrain_every_days: 60
experiments:
  holdout:
    share: 0.05
  sequential: true
  correction: holm
  items:
    - key: {experiment}
      arms:
        - {{name: control, weight: 0.5, control: true}}
        - {{name: treatment, weight: 0.5}}
      metrics: [conversion, revenue]
      conversion_window_days: 30
      cuped_days: 90
"""


def sandbox_connectors(salesforce: Any | None, hubspot: Any | None, clock: SandboxClock, *,
                       realistic_pacing: bool = False) -> Callable[[Config], dict[str, Any]]:
    """A connector factory that mounts the sandboxes' WSGI apps in-process.

    By default the connectors' waits (pacing under HubSpot's 190 requests per 10 s and 4
    searches per second, backoff) move the sandbox clock instead of sleeping: the same
    requests, the same windows and the same results, without minutes of wall-clock waiting.
    `realistic_pacing` keeps real sleeps, as against a real CRM.
    """

    def factory(cfg: Config) -> dict[str, Any]:
        waits = None if realistic_pacing else TransportClock(clock)
        out: dict[str, Any] = {}
        if cfg.sources.salesforce is not None and salesforce is not None:
            from connector.crm.salesforce import SalesforceConnector

            out["salesforce"] = SalesforceConnector(
                cfg.sources.salesforce, cfg.destinations.salesforce, transport=httpx.WSGITransport(app=salesforce.app),
                clock=waits, now=clock.now,
            )
        if cfg.sources.hubspot is not None and hubspot is not None:
            from connector.crm.hubspot import HubSpotConnector

            out["hubspot"] = HubSpotConnector(
                cfg.sources.hubspot, cfg.destinations.hubspot, transport=httpx.WSGITransport(app=hubspot.app), now=clock.now,
                clock=waits,
            )
        return out

    return factory


@dataclass
class DemoWorld:
    """The demo's sandbox CRMs loaded with CDNOW, its simulation, config and connector factory."""

    out: Path
    cfg_path: Path
    cfg: Config
    sim: Any
    factory: Callable[[Config], dict[str, Any]]
    secrets: list[str]

    @classmethod
    def create(cls, out: Path, *, seed: int, scenario: str, realistic_pacing: bool = False, products: int = 0,
               say: Callable[[str], None] = lambda _: None) -> DemoWorld:
        """Start both sandboxes, load CDNOW (with products from a catalog of `products`), write the
        config into `out`."""
        from connector.sandbox.hubspot import HubSpotSandbox
        from connector.sandbox.salesforce import SalesforceSandbox
        from connector.sandbox.simulation import Simulation

        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("segsync-demo.sqlite*"):
            stale.unlink()  # a demo starts from nothing
        clock = SandboxClock(DEMO_START, frozen=False)
        sf = SalesforceSandbox(clock=clock, seed=seed)
        hs = HubSpotSandbox(clock, seed=seed, tier_requests_per_10s=190)
        say("loading CDNOW (23,570 customers, 69,659 purchases" + (f" holding {products} products" if products else "")
            + ") into the Salesforce and HubSpot sandboxes ...")
        sim = Simulation.cdnow(scenario, salesforce=sf, hubspot=hs, clock=clock, random_state=seed, products=products)
        clock.advance(seconds=1800)  # the first sync starts after the load, as it would in a real org
        env = {"DEMO_SF_CLIENT_ID": sf.credentials["client_id"], "DEMO_SF_CLIENT_SECRET": sf.credentials["client_secret"],
               "DEMO_HUBSPOT_TOKEN": hs.credentials["token"]}
        cfg_path = out / "segsync.yaml"
        cfg_path.write_text(CONFIG.format(
            sf_instance=sf.credentials["instance_url"], experiment=EXPERIMENT, sf_client_id=env["DEMO_SF_CLIENT_ID"],
            sf_client_secret=env["DEMO_SF_CLIENT_SECRET"], hs_token=env["DEMO_HUBSPOT_TOKEN"],
        ))
        if products:
            cfg_path.write_text(with_offers(cfg_path.read_text()))
        cfg = load_config(cfg_path, env={**os.environ, **env})
        factory = sandbox_connectors(sf, hs, clock, realistic_pacing=realistic_pacing)
        return cls(out, cfg_path, cfg, sim, factory, list(env.values()))


OFFER_KEYS = ("offer_1", "offer_2", "offer_3", "offer_reasons")


def with_offers(config: str) -> str:
    """The demo config when purchases hold products: both CRMs' line items are pulled, and the
    offers go to Segsync_Offer_*__c fields and segsync_offer_* properties."""
    lines = "\n    line_items:\n      enabled: true"
    sf = "".join(f"\n      {k}: Segsync_{k.title()}__c" for k in OFFER_KEYS)
    hs = "".join(f"\n      {k}: segsync_{k}" for k in OFFER_KEYS)
    anchors = (("\n  hubspot:\n    auth:", lines), ("\n    search_overlap_minutes: 5", lines),
               ("\n      clv: Segsync_CLV__c", sf), ("\n      clv: segsync_clv", hs))
    for anchor, extra in anchors:
        if config.count(anchor) != 1:
            raise ValueError(f"the demo config has no single {anchor.strip()!r} to put the offers after")
        at = config.index(anchor) + (0 if anchor.startswith("\n  hubspot") else len(anchor))
        config = config[:at] + extra + config[at:]
    # the out-of-time table of methods on a sample: every simulated day runs a cycle
    return config + "offers:\n  max_eval_customers: 5000\n"


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    say = _printer()
    say(f"segsync demo (seed {args.seed}, scenario {args.scenario}, {args.days} simulated days) in {out}"
        + ("" if args.realistic_pacing else "; the CRMs' rate limits are waited out on the simulated clock "
           "(--realistic-pacing to wait in real time)"))
    world = DemoWorld.create(out, seed=args.seed, scenario=args.scenario, realistic_pacing=args.realistic_pacing,
                             products=getattr(args, "products", 0), say=say)
    cfg = world.cfg
    state_path = cfg.resolve(cfg.state.path)
    with StateLock(state_path), StateStore(state_path, redact=world.secrets) as store:
        result = _cycles(world, store, args.days, say)
        if result is None:
            return 1
        arms = store.experiments.arms(EXPERIMENT)
    report = write_report(cfg, out / "report")
    table = estimated_vs_true(result.lift, arms, world.sim.truth())
    say("\nestimated vs true conversion lift per segment (absolute, percentage points; "
        "interval: always-valid 95 %):")
    say(_render(table))
    inside = int(table["true_inside"].sum())
    say(f"\n{inside} of {len(table)} true effects inside their interval. Report: {report}")
    window = cfg.experiments.items[0].conversion_window_days
    if args.days < window:
        say(f"(After {args.days} day(s) the {window}-day conversion window has not closed: the estimates are still "
            f"rising towards the true effect over the whole window. Run with --days {window + 1} to see it recovered.)")
    say(f"State, config and report are in {out}; try `segsync status {world.cfg_path}`.")
    return 0


def _cycles(world: DemoWorld, store: StateStore, days: int, say: Callable[[str], None]) -> Any:
    """Day 0's cycle, then one simulated day and one cycle per day; the last result, None if one failed."""
    started = time.monotonic()
    result = run_cycle(world.cfg, store, connector_factory=world.factory)
    if result.status != "succeeded":
        say(f"the first cycle ended {result.status}: {result.error}")
        return None
    say(f"day 0: {_fmt_counts(result.counts)} ({time.monotonic() - started:.0f} s)")
    for _ in range(days):
        happened = world.sim.advance_days(1)
        t0 = time.monotonic()
        result = run_cycle(world.cfg, store, connector_factory=world.factory)
        say(f"day {happened['day']}: {happened['purchases']} purchases ({happened['extra_purchases']} caused by the campaign); "
            f"cycle {result.status} in {time.monotonic() - t0:.0f} s; {_writes_line(result.counts)}; "
            f"{_lift_line(result.lift)}")
        if result.status != "succeeded":
            say(f"stopping: {result.error}")
            return None
    return result


def estimated_vs_true(lift: pd.DataFrame | None, arms: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per segment: segsync's estimate of the conversion lift and the simulation's true effect.

    The truth is the mean, over the customers segsync assigned to the experiment in that
    segment (either arm: intention to treat), of the rise in P(buy within the window) that
    treatment gives each of them, from their latent segment in the scenario.
    """
    if lift is None or lift.empty:
        return pd.DataFrame(columns=["segment_id", "n_control", "n_treatment", "estimate", "ci_low", "ci_high", "true_effect", "true_inside"])
    normalised = truth["email"].map(lambda e: normalise_email(e, _IDENTITY))
    keys = normalised.map(lambda e: email_key(e) if e else None)
    effect = pd.Series(truth["expected_conversion_effect"].to_numpy(), index=keys)
    effect = effect[effect.index.notna()]
    effect = effect[~effect.index.duplicated()]
    assigned = arms[arms["arm"] != "holdout"]
    true = effect.reindex(assigned["customer_id"]).groupby(assigned["segment_id"].to_numpy()).mean()
    conv = lift[lift["metric"] == "conversion"]
    table = pd.DataFrame({
        "segment_id": conv["segment_id"].to_numpy(),
        "n_control": conv["n_control"].to_numpy(),
        "n_treatment": conv["n_treatment"].to_numpy(),
        "estimate": conv["abs_estimate"].to_numpy(dtype=float),
        "ci_low": conv["abs_ci_low"].to_numpy(dtype=float),
        "ci_high": conv["abs_ci_high"].to_numpy(dtype=float),
    })
    table["true_effect"] = table["segment_id"].map(true).astype(float)
    table["true_inside"] = (table["ci_low"] <= table["true_effect"]) & (table["true_effect"] <= table["ci_high"])
    return table


def _render(table: pd.DataFrame) -> str:
    lines = [f"{'segment':<10} {'n ctrl':>7} {'n treat':>7} {'estimate':>9} {'interval':>20} {'true':>7}  inside"]
    for r in table.itertuples(index=False):
        lines.append(
            f"{r.segment_id:<10} {int(r.n_control):>7} {int(r.n_treatment):>7} {r.estimate * 100:>+8.2f} "
            f"{f'[{r.ci_low * 100:+.2f}, {r.ci_high * 100:+.2f}]':>20} {r.true_effect * 100:>+7.2f}  {'yes' if r.true_inside else 'NO'}"
        )
    return "\n".join(lines)


def _lift_line(lift: pd.DataFrame | None) -> str:
    if lift is None or lift.empty:
        return "no outcomes yet"
    conv = lift[lift["metric"] == "conversion"]
    sig = int(conv["significant"].sum())
    parts = [f"{r.segment_id} {r.abs_estimate * 100:+.1f}pt" for r in conv.itertuples(index=False) if pd.notna(r.abs_estimate)]
    return f"conversion lift {', '.join(parts)} ({sig} significant)"


def _writes_line(counts: dict[str, int]) -> str:
    """Records rewritten per CRM this cycle (field updates; list changes are separate)."""
    return "rewrote " + ", ".join(f"{counts.get(f'pushed_{crm}', 0)} {name}" for crm, name in
                                  (("salesforce", "Salesforce"), ("hubspot", "HubSpot"))) + " records"


def _fmt_counts(counts: dict[str, int]) -> str:
    keys = ("customers", "segments", "new_arms", "pushed_salesforce", "pushed_hubspot", "list_adds_salesforce", "list_adds_hubspot")
    return ", ".join(f"{k.replace('_', ' ')} {counts[k]}" for k in keys if k in counts)


def _printer() -> Callable[[str], None]:
    def say(text: str) -> None:
        print(text, flush=True)

    return say


class _Identity:
    lowercase = True
    strip_plus_tags = False


_IDENTITY: Any = _Identity()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(argparse.Namespace(out="segsync-demo", seed=7, days=31, scenario="default", realistic_pacing=False)))
