"""Issue 23 as the chaos run found it: `segsync run` killed with SIGKILL mid-pull, then edits.

HubSpot only, `search_overlap_minutes: 1`, no scores. Run 1 (a child process, exit 0) syncs;
more than a search page of deals change; run 2 is SIGKILLed by the HubSpot server as it asks
for the second page of the deals search, so the first page and its mid-scan cursor are in
the state file; the deal with the lowest id gets amount 777.77, a second later the highest id
888.88; 70 s pass on the sandbox clock; runs 3 and 4 exit 0. The mirror must hold both edits.
Before the fix it kept 10.0 for the lowest id: the resumed scan skipped ids below its resume
point and then moved the cursor past the edit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from connector.state import StateStore
from tests.chaos.world import SandboxWorld

CHILD = Path(__file__).with_name("crash_child.py")
WON = {"dealstage": "closedwon", "closedate": "2026-02-20T00:00:00Z", "pipeline": "default", "amount": "10.0"}


class KillOnSecondDealsPage:
    """SIGKILL the child when it asks for the second page of a deals search (the first page's
    rows and cursor are committed by then: pages are stored before the next one is read)."""

    def __init__(self, app: Callable) -> None:
        self.app, self.pid, self.armed, self.searches, self.fired = app, None, False, 0, False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.armed and environ.get("PATH_INFO", "").endswith("/deals/search"):
            self.searches += 1
            if self.searches == 2 and self.pid is not None:
                self.fired = True
                os.kill(self.pid, signal.SIGKILL)
        return self.app(environ, start_response)


def segsync_run(config: Path, kill: KillOnSecondDealsPage | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGSYNC_")}
    proc = subprocess.Popen([sys.executable, str(CHILD), "run", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill is not None:
        kill.pid = proc.pid
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, -signal.SIGKILL), err[-1500:]
    return proc.returncode


@pytest.mark.slow
def test_edits_while_a_killed_deals_search_waits_reach_the_mirror(tmp_path: Path) -> None:
    world = SandboxWorld(100, seed=7, frozen=False)
    contacts = sorted((str(r["id"]) for r in world.hs.store.records("contacts")), key=int)
    new = world.hs.store.create("deals", [dict(WON, dealname=f"extra {i}") for i in range(450)])
    for n, deal in enumerate(new):
        world.hs.store.associate("deals", deal, "contacts", contacts[n % len(contacts)])
    world.settle()
    kill = KillOnSecondDealsPage(world.hs_app)
    world.hs_app = kill
    servers = world.serve()
    try:
        data = world.config_data(servers[0].url, servers[1].url)
        data["sources"].pop("salesforce")
        data["destinations"].pop("salesforce")
        data["sources"]["hubspot"]["search_overlap_minutes"] = 1
        data["state"] = {"path": "state.sqlite"}
        config = tmp_path / "segsync.yaml"
        config.write_text(json.dumps(data), encoding="utf-8")

        assert segsync_run(config) == 0  # run 1
        world.clock.advance(seconds=600)
        for deal in new:  # more than a search page (200) of changes for run 2
            world.hs.store.update("deals", deal, {"dealname": "touched"})
        world.clock.advance(seconds=120)
        kill.armed = True
        assert segsync_run(config, kill) == -signal.SIGKILL and kill.fired  # run 2
        kill.armed = False
        with StateStore(tmp_path / "state.sqlite") as store:
            stored = store.mirror.cursor("hubspot", "transactions")
        assert stored is not None and stored.scan is not None  # a committed mid-scan position

        deals = sorted((str(r["id"]) for r in world.hs.store.records("deals")
                        if r["properties"].get("dealstage") == "closedwon"), key=int)
        world.hs.store.update("deals", deals[0], {"amount": "777.77"})
        world.clock.advance(seconds=1)
        world.hs.store.update("deals", deals[-1], {"amount": "888.88"})
        world.clock.advance(seconds=70)
        assert segsync_run(config) == 0  # run 3
        assert segsync_run(config) == 0  # run 4
    finally:
        for server in servers:
            server.stop()
    with StateStore(tmp_path / "state.sqlite") as store:
        mirror = store.mirror.transactions("hubspot").set_index("source_id")["amount"]
    assert (float(mirror[deals[0]]), float(mirror[deals[-1]])) == (777.77, 888.88)
