"""How `segsync status` prints the last runs: one readable line each, the detail on request.

A line says what an operator scans for: the run's status, when it started, how long it took,
how many customers it covered, what it wrote (records rewritten, list memberships changed,
both CRMs together) and how many errors it had (refused records, quarantined rows, or the
run's own failure). `--verbose` adds every counter and the full error under each line;
`--json` gives the same as one JSON document for scripts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from connector.state.runs import RunRecord

#: An error message is cut to this many characters on the one-line view (the full text: --verbose).
ERROR_CHARS = 70
HEADER = f"{'run':>5}  {'status':<13} {'started (UTC)':<16}  {'took':>7}  {'customers':>9}  {'writes':<30} errors"


def run_summary(run: RunRecord) -> dict[str, Any]:
    """The figures of one run's line: ids, times, customers, writes and errors."""
    c = run.counts
    records = sum(v for k, v in c.items() if k.startswith("pushed_"))
    lists = sum(v for k, v in c.items() if k.startswith(("list_adds_", "list_removals_")))
    failed = sum(v for k, v in c.items() if k.startswith("push_failed_"))
    return {
        "run": run.id, "status": run.status, "dry_run": run.dry_run, "started_at": run.started_at,
        "finished_at": run.finished_at, "seconds": _seconds(run), "current_step": run.current_step,
        "customers": c.get("customers"), "records_written": records, "list_changes": lists,
        "files_rows_written": c.get("files_rows_written", 0),
        "errors": failed + c.get("rejected_rows", 0) + (1 if run.error else 0), "error": run.error,
        "resumed_from": run.resumed_from, "counts": dict(sorted(c.items())),
    }


def render_line(s: dict[str, Any]) -> str:
    """One run on one line of about 100 characters."""
    status = s["status"] + (" (dry)" if s["dry_run"] else "")
    if s["status"] == "running" and s["current_step"]:
        status = f"running:{s['current_step']}"
    started = s["started_at"][:16].replace("T", " ")
    took = _duration(s["seconds"])
    customers = f"{s['customers']:,}" if s["customers"] is not None else "-"
    errors = str(s["errors"])
    if s["error"]:
        first = s["error"].splitlines()[0] if s["error"].strip() else s["error"]
        errors += ": " + (first if len(first) <= ERROR_CHARS else first[: ERROR_CHARS - 1] + "…")
    return f"{s['run']:>5}  {status:<13} {started:<16}  {took:>7}  {customers:>9}  {_writes(s):<30} {errors}"


def render_verbose(s: dict[str, Any]) -> str:
    """The line, then every counter and the full error, indented."""
    lines = [render_line(s)]
    if s["resumed_from"]:
        lines.append(f"         resumed run {s['resumed_from']}")
    for key, value in s["counts"].items():
        lines.append(f"         {key:<34} {value:>12,}" if isinstance(value, int) else f"         {key:<34} {value}")
    if s["error"]:
        lines.extend("         error: " + line if i == 0 else "                " + line
                     for i, line in enumerate(s["error"].splitlines()))
    return "\n".join(lines)


def render_json(runs: list[RunRecord], rejected: pd.DataFrame, open_rejected: int) -> str:
    """Runs (newest first) and the open rejected rows, as one JSON document."""
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rejected.to_dict("records")]
    return json.dumps({"runs": [run_summary(r) for r in runs], "open_rejected_rows": open_rejected,
                       "rejected": rows}, indent=2, default=str)


def _writes(s: dict[str, Any]) -> str:
    if s["files_rows_written"] and not s["records_written"] and not s["list_changes"]:
        return f"{s['files_rows_written']:,} file rows"
    return f"{s['records_written']:,} records, {s['list_changes']:,} list changes"


def _seconds(run: RunRecord) -> float | None:
    if not run.finished_at:
        return None
    return (datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)).total_seconds()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
