"""`segsync status`: one readable line per run; the detail with --verbose or --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli import main as cli_main
from connector.state import StateStore

DAY = {"customers": 23570, "pushed_salesforce": 2905, "pushed_hubspot": 2149, "list_adds_salesforce": 134,
       "list_removals_salesforce": 134, "list_adds_hubspot": 137, "list_removals_hubspot": 137,
       "pulled_salesforce_customers": 2831, "pulled_hubspot_customers": 2039, "requests_hubspot_post": 35,
       "requests_salesforce_patch": 15, "transactions": 70325, "segments": 4, "new_arms": 0}
LONG_ERROR = "HubSpot refused the batch update: " + "x" * 300 + "\nTraceback line two"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    state = tmp_path / "state.sqlite"
    with StateStore(state) as store:
        ok = store.runs.start()
        store.runs.finish(ok, "succeeded", counts={**DAY, "push_failed_hubspot": 2, "rejected_rows": 1})
        failed = store.runs.start()
        store.runs.finish(failed, "failed", counts={"customers": 23570}, error=LONG_ERROR)
        with store.transaction() as c:  # fixed times: 42 s and 3 min 5 s
            c.execute("UPDATE runs SET started_at = '2026-12-05T05:35:04+00:00', finished_at = '2026-12-05T05:35:46+00:00' WHERE id = ?", (ok,))
            c.execute("UPDATE runs SET started_at = '2026-12-06T06:00:00+00:00', finished_at = '2026-12-06T06:03:05+00:00' WHERE id = ?", (failed,))
        store.rejected.add(ok, "push", "hubspot", [{"record_key": "c-17", "reason": "INVALID_EMAIL"}])
    path = tmp_path / "segsync.yaml"
    path.write_text(f"state:\n  path: {state}\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert cli_main(["status", *argv]) == 0
    return capsys.readouterr().out


def test_one_readable_line_per_run(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run(capsys, str(config)).splitlines()
    header, failed, ok = lines[:3]
    assert header.split() == ["run", "status", "started", "(UTC)", "took", "customers", "writes", "errors"]
    assert ok.split() == ["1", "succeeded", "2026-12-05", "05:35", "42", "s", "23,570", "5,054", "records,",
                          "542", "list", "changes", "3"]  # 2 refused by the CRM + 1 quarantined row
    assert failed.split()[:9] == ["2", "failed", "2026-12-06", "06:00", "3m05s", "23,570", "0", "records,", "0"]
    assert "1: HubSpot refused the batch update: xxx" in failed and failed.endswith("…")
    assert all(len(line) <= 170 for line in lines[:3]), [len(x) for x in lines]
    assert "Traceback" not in failed and "pulled_" not in ok  # the detail is for --verbose
    assert "open rejected rows: 1" in lines and "  run 1 push/hubspot c-17: INVALID_EMAIL" in lines


def test_verbose_adds_every_counter_and_the_whole_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, str(config), "--verbose")
    assert "pulled_salesforce_customers" in out and "2,831" in out and "requests_hubspot_post" in out
    assert "x" * 300 in out and "Traceback line two" in out


def test_json_gives_the_same_figures_for_scripts(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(_run(capsys, str(config), "--json"))
    failed, ok = doc["runs"]
    assert ok["status"] == "succeeded" and ok["seconds"] == 42.0 and ok["customers"] == 23570
    assert ok["records_written"] == 5054 and ok["list_changes"] == 542 and ok["errors"] == 3
    assert ok["counts"]["pulled_hubspot_customers"] == 2039
    assert failed["status"] == "failed" and failed["seconds"] == 185.0 and failed["error"] == LONG_ERROR
    assert doc["open_rejected_rows"] == 1 and doc["rejected"][0]["reason"] == "INVALID_EMAIL"


def test_verbose_and_json_exclude_each_other(config: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["status", str(config), "--verbose", "--json"])
    assert exc.value.code == 2
