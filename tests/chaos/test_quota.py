"""Quota stops mid-push: the run stops cleanly, the next one (a day later) finishes the work.

Salesforce: the hard daily allocation (403 REQUEST_LIMIT_EXCEEDED) and segsync's own guard
(stop at `quota_stop_share` of the limit, read from Sforce-Limit-Info). HubSpot: the DAILY
429 of a private-app token. Both CRMs are in every cycle: one stopping does not corrupt the
other's state. The command line says so with exit code 4.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from connector.config import Config
from connector.pipeline import run_cycle
from connector.state import StateStore
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.world import SandboxWorld

SEED = 7


def small_batches(world: SandboxWorld, share: float = 1.0) -> Config:
    """Batches of 20 so a push spans many calls and a quota can fall in the middle of it."""
    data = world.config_data()
    data["destinations"]["salesforce"]["batch_size"] = 20
    data["destinations"]["hubspot"]["batch_size"] = 20
    data["sources"]["salesforce"]["quota_stop_share"] = share
    return Config.model_validate(data)


class OthersSpendQuota:
    """WSGI middleware: other integrations spend the org's whole allocation just before our
    `at_write`-th Collections call, so the Sforce-Limit-Info guard cannot see it coming."""

    def __init__(self, app, world: SandboxWorld, at_write: int) -> None:
        self.app, self.world, self.at_write, self.writes = app, world, at_write, 0

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").endswith("/composite/sobjects"):
            self.writes += 1
            if self.writes == self.at_write:
                limits = self.world.sf.limits
                limits.use(limits.daily_max - limits.used)
        return self.app(environ, start_response)


def confirmed(store: StateStore, destination: str) -> int:
    return len(store.ledger.confirmed_fields(destination))


@pytest.fixture(scope="module")
def calls_per_cycle(tmp_path_factory) -> dict[str, int]:
    """API calls a whole first cycle makes per CRM (the limits below are set from these, so the
    tests stay mid-push when a connector's call pattern changes)."""
    world = SandboxWorld(200, SEED)
    with StateStore(tmp_path_factory.mktemp("reference") / "state.sqlite") as store:
        assert run_cycle(small_batches(world), store, connector_factory=world.factory).status == "succeeded"
    return {"salesforce": world.sf.limits.used, "hubspot": world.hs.limits.daily_used}


@pytest.mark.parametrize(
    ("crm", "share"),
    [("salesforce", 1.0), ("salesforce", 0.8), ("hubspot", 1.0)],
    ids=["salesforce-403", "salesforce-guard", "hubspot-daily"],
)
def test_quota_stop_mid_push_then_next_runs_finish(crm, share, calls_per_cycle, tmp_path):
    """403: others spend the org's allocation just before our 3rd write call. guard: the limit
    is set so 80 % of it falls at 70 % of a cycle's calls. DAILY: HubSpot's cap at 70 %."""
    limit = int(calls_per_cycle[crm] * 0.7 / share)
    world = SandboxWorld(200, SEED, **({"hs_daily_limit": limit} if crm == "hubspot" else
                                       {"sf_daily_limit": limit} if share < 1 else {}))
    if crm == "salesforce" and share == 1.0:
        world.sf_app = OthersSpendQuota(world.sf_app, world, at_write=3)
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    config = small_batches(world, share)
    with StateStore(tmp_path / "state.sqlite") as store:
        stopped = run_cycle(config, store, connector_factory=world.factory)
        assert stopped.status == "quota_stopped", (stopped.status, stopped.error)
        assert "next run" in stopped.error
        wanted = stopped.plan[0 if crm == "salesforce" else 1]
        assert wanted["destination"] == crm
        pushed = [stopped.counts.get(f"pushed_{crm}", 0)]
        assert 0 < pushed[0] < wanted["updates"] or stopped.counts.get(f"list_adds_{crm}", 0) < wanted["list_adds"], \
            "the quota should fall in the middle of the push"
        arms = store.experiments.arms()
        if crm == "salesforce":  # the 403 is never retried in a loop: one refusal (or none: the guard)
            refused = sum(n for k, n in world.sf.request_count.items() if isinstance(k, tuple) and k[1] == 403)
            assert refused == (1 if share == 1.0 else 0)
        for _ in range(4):  # each new day the allocation is back; a run may stop again, never fail
            world.clock.advance(days=1)
            resumed = run_cycle(config, store, connector_factory=world.factory)
            assert resumed.status in ("succeeded", "quota_stopped"), resumed.error
            pushed.append(resumed.counts.get(f"pushed_{crm}", 0))
            if resumed.status == "succeeded":
                break
        assert resumed.status == "succeeded"
        assert sum(pushed) == wanted["updates"], f"records pushed per run {pushed}: some twice or lost"
        assert store.experiments.arms().equals(arms)
        assert_converged(world, store, config, n_contacts=contacts)


def test_cli_exits_4_on_a_quota_stop(tmp_path):
    world = SandboxWorld(200, SEED, frozen=False, sf_daily_limit=20)
    servers = world.serve()
    try:
        path = world.write_config(tmp_path, servers[0].url, servers[1].url)
        proc = subprocess.run([sys.executable, "-m", "connector.cli", "run", str(path)], capture_output=True,
                              text=True, timeout=240)
    finally:
        for s in servers:
            s.stop()
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "quota_stopped" in proc.stdout
