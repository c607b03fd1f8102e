"""The state file under stress: two daemons on it, corrupt or missing, a config change between runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import Config
from connector.pipeline import run_cycle
from connector.state import EXIT_LOCKED, StateStore
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.world import SandboxWorld
from tests.reaper import watch

SEED = 11
CLI = [sys.executable, "-m", "connector.cli"]


def contacts(world: SandboxWorld) -> tuple[int, int]:
    return len(salesforce_state(world)[0]), len(hubspot_state(world)[0])


def requests_seen(world: SandboxWorld) -> int:
    return world.sf.request_count["total"] + world.hs.calls()


def read_until(stream, text: str) -> list[str]:
    """Lines of a child's log up to the one containing `text` (or its end)."""
    lines = []
    for line in stream:
        lines.append(line)
        if text in line:
            break
    return lines


@pytest.mark.slow
def test_second_daemon_on_the_same_state_is_refused_and_the_first_converges(tmp_path):
    world = SandboxWorld(150, SEED, frozen=False)
    servers = world.serve()
    path = world.write_config(tmp_path, servers[0].url, servers[1].url,
                              schedule={"interval_minutes": 600, "run_on_start": True})
    first = subprocess.Popen([*CLI, "daemon", str(path)], stderr=subprocess.PIPE, text=True)
    watch(first.pid)
    try:
        assert any("daemon started" in ln for ln in read_until(first.stderr, "daemon started"))
        second = subprocess.run([*CLI, "daemon", str(path)], capture_output=True, text=True, timeout=120)
        assert second.returncode == EXIT_LOCKED, second.stderr
        assert f"pid {first.pid}" in second.stderr
        log = read_until(first.stderr, "cycle succeeded")
        assert any("cycle succeeded" in ln for ln in log), "".join(log[-20:])
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
        for s in servers:
            s.stop()
    with StateStore(tmp_path / "state.sqlite") as store:
        assert [r.status for r in store.runs.last()] == ["succeeded"]
        assert_converged(world, store, world.config(), n_contacts=contacts(world))


@pytest.mark.slow
def test_two_runs_started_together_never_overlap(tmp_path):
    world = SandboxWorld(150, SEED, frozen=False)
    servers = world.serve()
    path = world.write_config(tmp_path, servers[0].url, servers[1].url)
    try:
        procs = [subprocess.Popen([*CLI, "run", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        codes = sorted(p.wait(timeout=240) for p in procs)
    finally:
        for s in servers:
            s.stop()
    assert set(codes) <= {0, EXIT_LOCKED} and 0 in codes, codes
    with StateStore(tmp_path / "state.sqlite") as store:
        runs = store.runs.last()
        assert [r.status for r in runs] == ["succeeded"] * codes.count(0)
        assert_converged(world, store, world.config(), n_contacts=contacts(world))


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if how == "garbage":
        path.write_bytes(b"this is not a database\n" * 200)
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # pages overwritten after the first
        damaged = bytearray(data)
        for i in range(8192, len(damaged), 4096):
            damaged[i : i + 64] = bytes(range(64))
        path.write_bytes(bytes(damaged))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["garbage", "truncated", "overwritten"])
def test_corrupt_state_file_stops_before_any_crm_call_with_a_clear_message(how, tmp_path):
    world = SandboxWorld(150, SEED, frozen=False)
    servers = world.serve()
    path = world.write_config(tmp_path, servers[0].url, servers[1].url)
    try:
        assert subprocess.run([*CLI, "run", str(path)], capture_output=True, timeout=240).returncode == 0
        _damage(tmp_path / "state.sqlite", how)
        seen = requests_seen(world)
        broken = subprocess.run([*CLI, "run", str(path)], capture_output=True, text=True, timeout=240)
    finally:
        for s in servers:
            s.stop()
    assert broken.returncode == 2, broken.stderr
    assert str(tmp_path / "state.sqlite") in broken.stderr and "move it aside" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert requests_seen(world) == seen, "a run on a corrupt state file called a CRM"


def test_missing_state_file_rebuilds_without_duplicates_and_same_arms(tmp_path):
    world = SandboxWorld(200, SEED)
    config = world.config()
    with StateStore(tmp_path / "first.sqlite") as store:
        assert run_cycle(config, store, connector_factory=world.factory).status == "succeeded"
        arms = store.experiments.arms()[["experiment", "customer_id", "arm", "segment_id"]]
    lists = (len(salesforce_state(world)[1]), len(hubspot_state(world)[1]))
    os.remove(tmp_path / "first.sqlite")
    with StateStore(tmp_path / "fresh.sqlite") as store:  # the state is gone: a full resync
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        again = store.experiments.arms()[["experiment", "customer_id", "arm", "segment_id"]]
        assert again.sort_values(["customer_id"]).reset_index(drop=True).equals(
            arms.sort_values(["customer_id"]).reset_index(drop=True)), "arms are a pure function of key and customer"
        # existing Campaigns and lists are found by name, not created again
        assert (len(salesforce_state(world)[1]), len(hubspot_state(world)[1])) == lists
        assert_converged(world, store, config, n_contacts=contacts(world))


def _changed(world: SandboxWorld, change: str) -> Config:
    data = world.config_data()
    if change == "mapping":
        data["destinations"]["salesforce"]["fields"]["p_alive"] = "Segsync_P_Alive__c"
    elif change == "list names":
        data["destinations"]["hubspot"]["lists"] = {"segment_name_template": "Segment: {segment_name}"}
    else:  # arm weights
        data["experiments"]["items"][0]["arms"][0]["weight"] = 0.2
        data["experiments"]["items"][0]["arms"][1]["weight"] = 0.8
    return Config.model_validate(data)


@pytest.mark.parametrize("change", ["mapping", "list names", "weights"])
def test_config_change_between_runs(change, tmp_path):
    world = SandboxWorld(200, SEED)
    with StateStore(tmp_path / "state.sqlite") as store:
        assert run_cycle(world.config(), store, connector_factory=world.factory).status == "succeeded"
        arms = store.experiments.arms()
        config = _changed(world, change)
        plan = run_cycle(config, store, dry_run=True, connector_factory=world.factory).plan
        sf, hs = plan[0], plan[1]
        if change == "mapping":  # a full resend of Salesforce only, and the plan says why
            assert any("mapping changed" in n and "resent" in n for n in sf["notes"]), sf["notes"]
            assert sf["unchanged"] == 0 and sf["updates"] > 0
            assert hs["updates"] == 0 and not hs["notes"]
        elif change == "list names":  # every HubSpot member moves to the renamed segment lists
            assert hs["list_adds"] == hs["list_removals"] > 0 and hs["updates"] == 0
            assert (sf["list_adds"], sf["list_removals"], sf["updates"]) == (0, 0, 0)
        else:  # weights move nobody already assigned
            assert (sf["updates"], hs["updates"], sf["new_arms"]) == (0, 0, 0)
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        assert store.experiments.arms().equals(arms)
        assert_converged(world, store, config, n_contacts=contacts(world))
