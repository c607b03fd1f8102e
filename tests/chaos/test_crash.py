"""Crash anywhere: `segsync run` killed with SIGKILL mid-cycle, then the next run converges.

The child is the real command line (`crash_child.py` is `segsync` plus a step hook) talking
HTTP to both sandbox CRMs on loopback sockets. It dies either at its n-th request (killed
by the sandbox server, before the CRM saw that request or after the CRM applied it, its
reply lost) or at a named step. The next run (in-process, same state file, same CRMs) must:
mark the dead run resumed; send nothing the ledger had confirmed; leave every stored arm as
it was (and all arms equal to a run that never crashed); and end with the CRMs exactly in
the desired state, with no duplicate record, list or member. CI runs 8 points; SEGSYNC_LONG=1
runs 50 (34 request points spread over the cycle, and every step before and after).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from connector.pipeline import STEPS, run_cycle
from connector.state import StateStore
from tests.chaos.conftest import LONG
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.wire import KillSwitch, RequestCount, WriteLog
from tests.chaos.world import SandboxWorld

SEED = 5
N_CUSTOMERS = 150
CHILD = Path(__file__).with_name("crash_child.py")
ARM_KEY = ["experiment", "customer_id"]


def crash_world() -> SandboxWorld:
    world = SandboxWorld(N_CUSTOMERS, SEED, frozen=False)
    world.sf_app, world.hs_app = WriteLog(world.sf_app), WriteLog(world.hs_app)
    return world


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A cycle that never crashed: its arms, and how many requests a whole cycle makes."""
    world = crash_world()
    with StateStore(tmp_path_factory.mktemp("reference") / "state.sqlite") as store:
        result = run_cycle(world.config(), store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        arms = store.experiments.arms()
    return {"arms": _arms(arms), "requests": world.sf_app.requests + world.hs_app.requests}


def crash_points() -> list[str]:
    """'request:<fraction of the cycle>:<before|after>' or 'step:<name>:<before|after>'."""
    rng = random.Random(20261128)
    n_requests, steps = (34, [f"step:{s}:{w}" for s in STEPS for w in ("before", "after")]) if LONG else \
        (6, ["step:assign:after", "step:plan:after"])
    fractions = [(i + rng.random()) / n_requests for i in range(n_requests)]  # one per slice of the cycle
    return [f"request:{f:.3f}:{rng.choice(['before', 'after'])}" for f in fractions] + steps


def _arms(arms: pd.DataFrame) -> pd.DataFrame:
    return arms[[*ARM_KEY, "arm", "segment_id"]].sort_values(ARM_KEY).reset_index(drop=True)


def run_killed_child(world: SandboxWorld, point: str, folder: Path, total_requests: int) -> int:
    kind, where, when = point.split(":")
    count, child = RequestCount(), {"pid": None}
    at = max(1, round(float(where) * total_requests)) if kind == "request" else 0
    servers = world.serve(lambda app: KillSwitch(app, count, at, when, lambda: child["pid"]))
    config = world.write_config(folder, servers[0].url, servers[1].url)
    env = {"SEGSYNC_CHAOS_KILL_STEP": f"{where}:{when}"} if kind == "step" else {}
    try:
        proc = subprocess.Popen([sys.executable, str(CHILD), "run", str(config)], env={**_env(), **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        child["pid"] = proc.pid
        _, err = proc.communicate(timeout=240)
    finally:
        for s in servers:
            s.stop()
    assert proc.returncode == -signal.SIGKILL, f"{point}: child was not killed (exit {proc.returncode}): {err[-800:]!r}"
    return count.n


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}


def confirmed_ids(store: StateStore) -> dict[str, set]:
    """What the ledger had confirmed, as the CRM-side keys WriteLog records."""
    lists = {d: {name: store.ledger.list_id(d, name) for name in store.ledger.list_members(d)} for d in ("salesforce", "hubspot")}
    members = {
        "sf-member": {(lists["salesforce"][n], crm) for n, m in store.ledger.list_members("salesforce").items() for crm in m.values()},
        "hs-member": {(lists["hubspot"][n], crm) for n, m in store.ledger.list_members("hubspot").items() for crm in m.values()},
    }
    return {
        "sf-update": {v["crm_id"] for v in store.ledger.confirmed_fields("salesforce").values()},
        "hs-update": {v["crm_id"] for v in store.ledger.confirmed_fields("hubspot").values()},
        **members,
    }


@pytest.mark.slow
@pytest.mark.parametrize("point", crash_points())
def test_killed_cycle_is_finished_by_the_next_run(point, reference, tmp_path):
    world = crash_world()
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    run_killed_child(world, point, tmp_path, reference["requests"])
    config = world.config()
    with StateStore(tmp_path / "state.sqlite") as store:
        arms_before = _arms(store.experiments.arms())
        confirmed = confirmed_ids(store)
        world.sf_app.clear()
        world.hs_app.clear()
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        dead = store.runs.get(result.run_id - 1)
        assert dead is not None and dead.status == "resumed"
        for kind, log in (("sf-update", world.sf_app), ("sf-member", world.sf_app),
                          ("hs-update", world.hs_app), ("hs-member", world.hs_app)):
            again = log.keys(kind) & confirmed[kind]
            assert not again, f"{point}: {len(again)} confirmed {kind} write(s) sent again, e.g. {sorted(again)[:3]}"
        arms_after = _arms(store.experiments.arms())
        kept = arms_after.merge(arms_before, on=ARM_KEY, suffixes=("", "_before"))
        assert len(kept) == len(arms_before) and (kept["arm"] == kept["arm_before"]).all(), "a stored arm moved"
        pd.testing.assert_frame_equal(arms_after, reference["arms"])
        assert_converged(world, store, config, n_contacts=contacts)
