"""`segsync demo` waits out the sandbox CRMs' rate limits on the simulated clock, unless asked not to.

Most of a simulated day used to go to pulls paced in wall-clock time (HubSpot: 190 requests per
10 s, search 4 per second). By default the demo's connectors wait on the sandbox clock: the same
requests and windows, no real waiting. `--realistic-pacing` keeps real sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from connector.cli import _parser as build_parser
from connector.config import load_config
from connector.demo import CONFIG, DEMO_START, EXPERIMENT, sandbox_connectors
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox

SEARCH = "/crm/v3/objects/contacts/search"


def _config(tmp_path: Path, token: str):
    path = tmp_path / "segsync.yaml"
    path.write_text(CONFIG.format(sf_instance="https://127.0.0.1:9", experiment=EXPERIMENT, sf_client_id="demo-client-id",
                                  sf_client_secret="demo-client-secret", hs_token=token))
    return load_config(path, env={})


def _ahead(clock: SandboxClock) -> float:
    """Seconds the sandbox clock has moved beyond the wall clock since DEMO_START was set."""
    return (clock.now() - datetime.now(UTC)).total_seconds()


def test_demo_waits_on_the_simulated_clock_not_in_real_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SandboxClock(DEMO_START, frozen=False)
    hs = HubSpotSandbox(clock, tier_requests_per_10s=190)  # the real limits: 4 searches per second
    cfg = _config(tmp_path, hs.credentials["token"])
    monkeypatch.setattr("connector.crm.clock.time.sleep", lambda s: pytest.fail(f"slept {s:.2f} s in real time"))
    conn = sandbox_connectors(None, hs, clock)(cfg)["hubspot"]
    before = _ahead(clock)
    replies = [conn.api.call("POST", SEARCH, kind="search", json={"limit": 1}, search=True) for _ in range(21)]
    assert all("results" in r for r in replies)
    # 21 searches at 4 per second: at least 4 s of waiting, all of it on the sandbox clock
    assert _ahead(clock) - before >= 4.0


def test_realistic_pacing_sleeps_in_real_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SandboxClock(DEMO_START, frozen=False)
    hs = HubSpotSandbox(clock, rate_limits=False)  # only the connector's own pacing waits here
    cfg = _config(tmp_path, hs.credentials["token"])
    fake = SimpleNamespace(t=1000.0, slept=[])
    fake.monotonic = lambda: fake.t
    fake.sleep = lambda s: (fake.slept.append(s), setattr(fake, "t", fake.t + s))
    monkeypatch.setattr("connector.crm.clock.time", fake)  # SystemClock's time module: no real wait here
    conn = sandbox_connectors(None, hs, clock, realistic_pacing=True)(cfg)["hubspot"]
    before = _ahead(clock)
    for _ in range(9):
        conn.api.call("POST", SEARCH, kind="search", json={"limit": 1}, search=True)
    assert sum(fake.slept) >= 1.0  # 9 searches at 4 per second: the connector slept for real
    assert _ahead(clock) - before < 0.5  # and the sandbox clock did not jump


def test_cli_has_the_realistic_pacing_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["demo"]).realistic_pacing is False
    assert parser.parse_args(["demo", "--realistic-pacing"]).realistic_pacing is True
