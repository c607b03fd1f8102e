"""`segsync plan` and `segsync run [--dry-run]` as a user runs them, against both sandbox CRMs
served on loopback: the plan and the dry run write nothing to either CRM and print, per
destination, the updates, list adds and removals, new arms, rejected rows and the power;
after a real run the plan has nothing left to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.cli import main as cli_main
from connector.state import StateStore
from tests.e2e.world import EXPERIMENT_KEY, E2EWorld


def _value(text: str, dest: str, key: str) -> int:
    block = text.split(f"  {dest}:\n", 1)[1]
    return int(re.search(rf"^    {key}\s+(\d+)$", block, re.M).group(1))  # type: ignore[union-attr]


def test_plan_and_dry_run_through_the_cli_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = E2EWorld(tmp_path, n_customers=800, seed=21, hubspot_rate_limits=False)
    servers = world.serve()
    try:
        cfg = str(world.write_config(monkeypatch))
        n_sf, n_hs = len(list(world.sf.store.records("Contact"))), len(list(world.hs.store.records("contacts")))
        for argv in (["plan", cfg], ["run", cfg, "--dry-run"]):
            mark = world.mark()
            assert cli_main(argv) == 0
            out = capsys.readouterr().out
            writes = world.writes_since(mark)
            assert writes.total == 0, f"{argv[0]} wrote {writes}"
            assert "nothing below has been written to any CRM" in out
            for dest, n in (("salesforce", n_sf), ("hubspot", n_hs)):
                assert _value(out, dest, "updates") == n
                assert _value(out, dest, "unchanged") == 0
                assert _value(out, dest, "new lists") == 6
                assert _value(out, dest, "list removals") == 0
                # every customer is in one segment list, and in one arm list unless held out
                adds = _value(out, dest, "list adds")
                assert n < adds <= 2 * n
                assert _value(out, dest, "new arms") > 0.8 * 800 * 0.9
                assert _value(out, dest, "rejected") == 0
            assert len(re.findall(rf"^  experiment {EXPERIMENT_KEY} segment seg-\d+ \(.+\) arm offer: n per arm \d+", out, re.M)) == 4
            with StateStore(tmp_path / "state.sqlite") as store:
                assert store.experiments.arms().empty  # a dry run stores no arm
                assert store.ledger.confirmed_fields("salesforce") == {}

        assert cli_main(["run", cfg]) == 0
        capsys.readouterr()
        mark = world.mark()
        assert cli_main(["plan", cfg]) == 0
        out = capsys.readouterr().out
        assert world.writes_since(mark).total == 0
        for dest, n in (("salesforce", n_sf), ("hubspot", n_hs)):
            assert (_value(out, dest, "updates"), _value(out, dest, "unchanged")) == (0, n)
            assert (_value(out, dest, "list adds"), _value(out, dest, "new arms")) == (0, 0)
    finally:
        for server in servers:
            server.stop()
