"""A full cycle for both CRMs under the issue's faults converges in one go.

Faults (seeded): 10 % 429, 3 % 5xx, 1 % connections dropped before the CRM saw the request,
1 % replies lost after it applied it, 0.5 % read timeouts, latency with a long tail (lognormal, median 120 ms,
sigma 1), Salesforce sessions revoked every minute of sandbox time and HubSpot OAuth tokens
living one minute. Every request takes 5 s of sandbox time, so a cycle spans several token
lifetimes; nothing sleeps for real (the transport's sleeps move the sandbox clock).
"""

from __future__ import annotations

import pytest

from connector.pipeline import run_cycle
from connector.state import StateStore
from tests.chaos.conftest import seeds
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.world import SandboxWorld, issue_faults

WRITE_COUNTS = ("pushed_", "list_adds_", "list_removals_", "lists_created_")


def faulty_world(seed: int) -> SandboxWorld:
    return SandboxWorld(300, seed, faults=issue_faults(seed), lost_replies=0.01, session_seconds=60,
                        request_seconds=5, hubspot_oauth=True)


def small_batches(world: SandboxWorld):
    """Small write batches, so the push makes enough calls to meet every kind of fault."""
    data = world.config_data()
    data["destinations"]["salesforce"]["batch_size"] = 50
    data["destinations"]["hubspot"]["batch_size"] = 25
    from connector.config import Config

    return Config.model_validate(data)


@pytest.mark.parametrize("seed", seeds(6, 30))
def test_cycle_under_faults_converges_in_one_run(seed, tmp_path):
    world = faulty_world(seed)
    config = small_batches(world)
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        injected = world.sf.faults.counts + world.hs.faults.counts
        assert injected["429"] >= 2 and injected["ok"] > 60, injected
        # tokens really expired during the cycle and were renewed on the data path
        assert world.sf.request_count[("oauth", 200)] >= 2
        assert world.hs.calls("oauth.token", 200) >= 2
        assert result.counts["pushed_salesforce"] > 0 and result.counts["pushed_hubspot"] > 0
        arms = store.experiments.arms()
        assert_converged(world, store, config, n_contacts=contacts)

        again = run_cycle(config, store, connector_factory=world.factory)
        assert again.status == "succeeded", again.error
        assert [k for k in again.counts if k.startswith(WRITE_COUNTS)] == [], again.counts
        assert store.experiments.arms().equals(arms)


def test_faults_are_really_injected_in_every_family(tmp_path):
    """Over the CI seeds together, each fault kind of the issue's mix happened."""
    total = {}
    for seed in seeds(6, 30):
        world = faulty_world(seed)
        with StateStore(tmp_path / f"{seed}.sqlite") as store:
            run_cycle(small_batches(world), store, connector_factory=world.factory)
        for counter in (world.sf.faults.counts, world.hs.faults.counts):
            for k, v in counter.items():
                total[k] = total.get(k, 0) + v
        total["lost"] = total.get("lost", 0) + world.sf_app.app.lost + world.hs_app.app.lost
    assert {"429", "drop", "timeout"} <= set(total), total
    assert any(total.get(s, 0) for s in ("500", "502", "503", "504")), total
    assert total["lost"] >= 1, total
