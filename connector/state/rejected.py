"""Rejected rows: bad input and CRM refusals, stored with a reason, listed, retried next run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso


class Rejected:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def add(self, run_id: int | None, step: str, source: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """rows: record_key, reason, payload (optional, any JSON-able). Returns the count."""
        now = utcnow_iso()
        values = [
            (
                run_id,
                step,
                source,
                None if r.get("record_key") is None else str(r["record_key"]),
                self.store.redact(str(r["reason"])),
                self.store.redact(json.dumps(r.get("payload"), default=str)) if r.get("payload") is not None else None,
                now,
            )
            for r in rows
        ]
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO rejected (run_id, step, source, record_key, reason, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        return len(values)

    def resolve(self, step: str, source: str, record_keys: Iterable[str]) -> None:
        """Mark open rejections of these records as resolved (they went through on a retry)."""
        now = utcnow_iso()
        with self.store.transaction() as c:
            c.executemany(
                "UPDATE rejected SET resolved_at = ? WHERE resolved_at IS NULL AND step = ? AND source = ? AND record_key = ?",
                [(now, step, source, k) for k in record_keys],
            )

    def resolve_step(self, step: str, source: str | None = None) -> None:
        """Close every open rejection of a step, of one source or of all (the step re-checks
        all its input each run)."""
        sql = "UPDATE rejected SET resolved_at = ? WHERE resolved_at IS NULL AND step = ?"
        with self.store.transaction() as c:
            if source is None:
                c.execute(sql, (utcnow_iso(), step))
            else:
                c.execute(sql + " AND source = ?", (utcnow_iso(), step, source))

    def open(self, limit: int | None = None) -> pd.DataFrame:
        sql = (
            "SELECT id, run_id, step, source, record_key, reason, payload, created_at FROM rejected "
            "WHERE resolved_at IS NULL ORDER BY id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.store.frame(sql)

    def open_count(self) -> int:
        return int(self.store.query("SELECT count(*) AS n FROM rejected WHERE resolved_at IS NULL")[0]["n"])
