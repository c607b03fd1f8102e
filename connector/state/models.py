"""Fitted models (segmentation state, score models), versioned, stored as pickled bytes.

Pickle is read back only from this private state file (mode 0600), which segsync itself wrote.
"""

from __future__ import annotations

import json
import pickle  # noqa: S403 - the state file is written by segsync only, mode 0600
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso


class Models:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def save(self, kind: str, name: str, obj: Any, *, meta: dict[str, Any] | None = None, run_id: int | None = None) -> int:
        """Store a new version; returns its version number."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self.store.transaction() as c:
            row = c.execute("SELECT max(version) FROM models WHERE kind = ? AND name = ?", (kind, name)).fetchone()
            version = (row[0] or 0) + 1
            c.execute(
                "INSERT INTO models (kind, name, version, created_at, run_id, meta, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, name, version, utcnow_iso(), run_id, json.dumps(meta or {}, sort_keys=True, default=str), data),
            )
        return version

    def latest(self, kind: str, name: str) -> tuple[int, Any, dict[str, Any]] | None:
        rows = self.store.query(
            "SELECT version, data, meta FROM models WHERE kind = ? AND name = ? ORDER BY version DESC LIMIT 1", (kind, name)
        )
        if not rows:
            return None
        r = rows[0]
        return r["version"], pickle.loads(r["data"]), json.loads(r["meta"])  # noqa: S301

    def get(self, kind: str, name: str, version: int) -> Any | None:
        """One stored version (the serving snapshot pins the versions its cycle used)."""
        rows = self.store.query("SELECT data FROM models WHERE kind = ? AND name = ? AND version = ?", (kind, name, version))
        return pickle.loads(rows[0]["data"]) if rows else None  # noqa: S301

    def latest_version(self, kind: str, name: str) -> int | None:
        rows = self.store.query("SELECT max(version) AS v FROM models WHERE kind = ? AND name = ?", (kind, name))
        return rows[0]["v"] if rows else None

    def metas(self, kind: str, name: str) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.store.query(
            "SELECT version, created_at, meta FROM models WHERE kind = ? AND name = ? ORDER BY version", (kind, name)
        )
        return [(r["version"], r["created_at"], json.loads(r["meta"])) for r in rows]
