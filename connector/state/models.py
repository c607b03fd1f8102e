"""Fitted models (segmentation state, score models, report artifacts): versions and aliases.

Each save is a new version of (kind, name) with its metadata (metrics, the retrain trigger,
the run). Aliases name one version each: `champion` is what the cycle and `segsync serve`
use, `challenger` a newer version that did not beat it (connector.lifecycle decides).
Objects are stored in the versioned envelope of connector.state.serialization and read back
through its allowlisting unpickler; a version that cannot be read is skipped with a log line
("retraining"), never a crash. Rows written by earlier segsync releases (bare pickles) are
read the same way and re-saved in the envelope once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.state.serialization import IncompatibleModel, dump_model, load_model, read_header

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso

log = logging.getLogger("segsync.models")
CHAMPION, CHALLENGER = "champion", "challenger"


def definition_hash(settings: Mapping[str, Any]) -> str:
    """The hash a model version keeps as meta["definition"]: of the settings that define the model
    (a score target's ScoreParams, the offers settings that shape the offer model). A stored
    version of another hash is refitted, so the encoding (JSON with sorted keys, str() for what
    JSON lacks) must not change: stored models would all be refitted after an upgrade."""
    return hashlib.sha256(json.dumps(dict(settings), sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    kind: str
    name: str
    version: int
    created_at: str
    run_id: int | None
    meta: dict[str, Any]
    aliases: tuple[str, ...]


class Models:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def save(self, kind: str, name: str, obj: Any, *, meta: dict[str, Any] | None = None, run_id: int | None = None) -> int:
        """Store a new version; returns its version number."""
        data = dump_model(obj)
        with self.store.transaction() as c:
            row = c.execute("SELECT max(version) FROM models WHERE kind = ? AND name = ?", (kind, name)).fetchone()
            version = (row[0] or 0) + 1
            c.execute(
                "INSERT INTO models (kind, name, version, created_at, run_id, meta, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, name, version, utcnow_iso(), run_id, json.dumps(meta or {}, sort_keys=True, default=str), data),
            )
        return version

    def latest(self, kind: str, name: str) -> tuple[int, Any, dict[str, Any]] | None:
        """The newest version that can be read (version, object, meta), or None."""
        rows = self.store.query(
            "SELECT version, data, meta FROM models WHERE kind = ? AND name = ? ORDER BY version DESC", (kind, name)
        )
        for r in rows:
            loaded = self._load(kind, name, r["version"], r["data"])
            if loaded is not None:
                return r["version"], loaded, json.loads(r["meta"])
        return None

    def get(self, kind: str, name: str, version: int) -> Any | None:
        """One stored version's object, or None (the serving snapshot pins the versions its cycle used)."""
        found = self.entry(kind, name, version)
        return None if found is None else found[1]

    def entry(self, kind: str, name: str, version: int) -> tuple[int, Any, dict[str, Any]] | None:
        """(version, object, meta) of one stored version, or None when missing or unreadable."""
        rows = self.store.query(
            "SELECT version, data, meta FROM models WHERE kind = ? AND name = ? AND version = ?", (kind, name, version)
        )
        if not rows:
            return None
        loaded = self._load(kind, name, version, rows[0]["data"])
        return None if loaded is None else (version, loaded, json.loads(rows[0]["meta"]))

    def champion(self, kind: str, name: str) -> tuple[int, Any, dict[str, Any]] | None:
        """The version aliased `champion`, else the newest readable one."""
        version = self.aliases(kind, name).get(CHAMPION)
        found = self.entry(kind, name, version) if version is not None else None
        return found or self.latest(kind, name)

    def champion_version(self, kind: str, name: str) -> int | None:
        """The champion's version number (else the newest), without loading anything."""
        return self.aliases(kind, name).get(CHAMPION) or self.latest_version(kind, name)

    def _load(self, kind: str, name: str, version: int, data: bytes) -> Any | None:
        try:
            obj = load_model(data)
        except IncompatibleModel as exc:
            then = "retraining" if kind in ("segmentation", "score") else "it is rebuilt by the next run"
            log.warning("stored %s model %r version %d cannot be used (%s): %s", kind, name, version, exc, then)
            return None
        if read_header(data) is None:  # a bare pickle of an earlier segsync: migrate it once
            with self.store.transaction() as c:
                c.execute("UPDATE models SET data = ? WHERE kind = ? AND name = ? AND version = ?",
                          (dump_model(obj), kind, name, version))
            log.info("migrated stored %s model %r version %d to the versioned format", kind, name, version)
        return obj

    def prune(self, kind: str, name: str, newest: int, keep: int) -> None:
        """Drop the versions older than the `keep` newest up to `newest` (artifacts kept for a few runs)."""
        with self.store.transaction() as c:
            c.execute("DELETE FROM models WHERE kind = ? AND name = ? AND version <= ?", (kind, name, newest - keep))

    def latest_version(self, kind: str, name: str) -> int | None:
        rows = self.store.query("SELECT max(version) AS v FROM models WHERE kind = ? AND name = ?", (kind, name))
        return rows[0]["v"] if rows else None

    def metas(self, kind: str, name: str) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.store.query(
            "SELECT version, created_at, meta FROM models WHERE kind = ? AND name = ? ORDER BY version", (kind, name)
        )
        return [(r["version"], r["created_at"], json.loads(r["meta"])) for r in rows]

    # ------------------------------------------------------------------ aliases

    def aliases(self, kind: str, name: str) -> dict[str, int]:
        rows = self.store.query("SELECT alias, version FROM model_aliases WHERE kind = ? AND name = ?", (kind, name))
        return {r["alias"]: r["version"] for r in rows}

    def set_alias(self, kind: str, name: str, alias: str, version: int | None, *, reason: str = "") -> None:
        """Point `alias` at `version` (None removes it); every change is kept in model_alias_log."""
        with self.store.transaction() as c:
            if version is None:
                c.execute("DELETE FROM model_aliases WHERE kind = ? AND name = ? AND alias = ?", (kind, name, alias))
            else:
                c.execute(
                    "INSERT INTO model_aliases (kind, name, alias, version) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, name, alias) DO UPDATE SET version = excluded.version",
                    (kind, name, alias, version),
                )
            c.execute(
                "INSERT INTO model_alias_log (kind, name, alias, version, set_at, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, name, alias, version, utcnow_iso(), reason),
            )

    def alias_history(self, kind: str, name: str, alias: str = CHAMPION) -> list[tuple[int | None, str, str]]:
        """(version, set_at, reason) of every change of `alias`, oldest first."""
        rows = self.store.query(
            "SELECT version, set_at, reason FROM model_alias_log WHERE kind = ? AND name = ? AND alias = ? ORDER BY id",
            (kind, name, alias),
        )
        return [(r["version"], r["set_at"], r["reason"]) for r in rows]

    def versions(self, kind: str | None = None) -> list[ModelVersion]:
        """Every stored version (no objects loaded), with its aliases; by kind, name, version."""
        where, args = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self.store.query(
            f"SELECT kind, name, version, created_at, run_id, meta FROM models {where} "  # noqa: S608 - constant text
            "ORDER BY kind, name, version", args,
        )
        aliases: dict[tuple[str, str, int], list[str]] = {}
        for r in self.store.query("SELECT kind, name, alias, version FROM model_aliases"):
            aliases.setdefault((r["kind"], r["name"], r["version"]), []).append(r["alias"])
        return [ModelVersion(r["kind"], r["name"], r["version"], r["created_at"], r["run_id"], json.loads(r["meta"]),
                             tuple(sorted(aliases.get((r["kind"], r["name"], r["version"]), []))))
                for r in rows]
