"""Runs and their steps: what ran, where it stopped, and the checkpoint to resume from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso

FINISHED = ("succeeded", "failed", "interrupted", "quota_stopped", "resumed")


@dataclass(frozen=True)
class RunRecord:
    id: int
    started_at: str
    finished_at: str | None
    status: str
    current_step: str | None
    dry_run: bool
    counts: dict[str, Any]
    error: str | None
    resumed_from: int | None


class Runs:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def start(self, *, dry_run: bool = False, resumed_from: int | None = None) -> int:
        with self.store.transaction() as c:
            cur = c.execute(
                "INSERT INTO runs (started_at, status, dry_run, resumed_from) VALUES (?, 'running', ?, ?)",
                (utcnow_iso(), int(dry_run), resumed_from),
            )
            return int(cur.lastrowid or 0)

    def finish(self, run_id: int, status: str, *, counts: dict[str, Any] | None = None, error: str | None = None) -> None:
        if status not in FINISHED:
            raise ValueError(f"unknown run status {status!r}")
        with self.store.transaction() as c:
            c.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counts = ?, error = ? WHERE id = ?",
                (utcnow_iso(), status, json.dumps(counts or {}, sort_keys=True), self.store.redact(error), run_id),
            )

    def add_counts(self, run_id: int, counts: dict[str, int]) -> None:
        with self.store.transaction() as c:
            row = c.execute("SELECT counts FROM runs WHERE id = ?", (run_id,)).fetchone()
            merged = json.loads(row[0]) if row else {}
            for k, v in counts.items():
                merged[k] = merged.get(k, 0) + v
            c.execute("UPDATE runs SET counts = ? WHERE id = ?", (json.dumps(merged, sort_keys=True), run_id))

    def step_started(self, run_id: int, step: str) -> None:
        with self.store.transaction() as c:
            c.execute("UPDATE runs SET current_step = ? WHERE id = ?", (step, run_id))
            c.execute(
                "INSERT INTO run_steps (run_id, step, status, started_at) VALUES (?, ?, 'running', ?) "
                "ON CONFLICT(run_id, step) DO UPDATE SET status = 'running'",
                (run_id, step, utcnow_iso()),
            )

    def checkpoint(self, run_id: int, step: str, data: dict[str, Any]) -> None:
        """Record progress inside a step (e.g. batches confirmed) so a later run resumes there."""
        with self.store.transaction() as c:
            c.execute(
                "UPDATE run_steps SET checkpoint = ? WHERE run_id = ? AND step = ?",
                (json.dumps(data, sort_keys=True, default=str), run_id, step),
            )

    def step_done(self, run_id: int, step: str, *, status: str = "done") -> None:
        with self.store.transaction() as c:
            c.execute(
                "UPDATE run_steps SET status = ?, finished_at = ? WHERE run_id = ? AND step = ?",
                (status, utcnow_iso(), run_id, step),
            )

    def steps(self, run_id: int) -> dict[str, dict[str, Any]]:
        rows = self.store.query("SELECT step, status, checkpoint FROM run_steps WHERE run_id = ?", (run_id,))
        return {r["step"]: {"status": r["status"], "checkpoint": json.loads(r["checkpoint"])} for r in rows}

    def unfinished(self) -> RunRecord | None:
        """The newest run left 'running' by a process that died (the lock proves nobody runs it now)."""
        rows = self.store.query("SELECT * FROM runs WHERE status = 'running' ORDER BY id DESC LIMIT 1")
        return _record(rows[0]) if rows else None

    def get(self, run_id: int) -> RunRecord | None:
        rows = self.store.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        return _record(rows[0]) if rows else None

    def last(self, n: int = 10) -> list[RunRecord]:
        return [_record(r) for r in self.store.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (n,))]

    def last_success(self) -> RunRecord | None:
        rows = self.store.query(
            "SELECT * FROM runs WHERE status = 'succeeded' AND dry_run = 0 ORDER BY id DESC LIMIT 1"
        )
        return _record(rows[0]) if rows else None


def _record(row: Any) -> RunRecord:
    return RunRecord(
        id=row["id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        current_step=row["current_step"],
        dry_run=bool(row["dry_run"]),
        counts=json.loads(row["counts"] or "{}"),
        error=row["error"],
        resumed_from=row["resumed_from"],
    )
