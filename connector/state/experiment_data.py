"""Arms (sticky: a trigger forbids changing one), outcomes read back, and lift results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso

ARM_COLUMNS = ["experiment", "customer_id", "arm", "segment_id", "assigned_at"]
DEFINITION_PREFIX = "experiment:"
OUTCOME_COLUMNS = ["experiment", "customer_id", "metric", "value", "observed_at", "source", "source_id"]


class ExperimentData:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def arms(self, experiment: str | None = None) -> pd.DataFrame:
        sql = "SELECT experiment, customer_id, arm, segment_id, assigned_at FROM arms"
        params: list[Any] = []
        if experiment is not None:
            sql += " WHERE experiment = ?"
            params.append(experiment)
        return self.store.frame(sql, params)

    def arms_of(self, customer_id: str) -> pd.DataFrame:
        """One customer's arms in every experiment (the real-time API's read; uses the primary key's index)."""
        return self.store.frame(
            "SELECT experiment, customer_id, arm, segment_id, assigned_at FROM arms WHERE customer_id = ?", [customer_id]
        )

    def arm_names_of(self, customer_id: str) -> dict[str, str]:
        """experiment -> arm of one customer, without a DataFrame (the real-time API's read)."""
        return {r["experiment"]: r["arm"] for r in self.store.query("SELECT experiment, arm FROM arms WHERE customer_id = ?", (customer_id,))}

    @staticmethod
    def insert_arms(c: sqlite3.Connection, customer_id: str, segment_id: str | None, arms: list[tuple[str, str]],
                    assigned_at: str) -> dict[str, str]:
        """Inside an open transaction: store one customer's new (experiment, arm) pairs (an arm
        already stored is kept as it is); returns every arm of theirs as stored, experiment -> arm."""
        c.executemany("INSERT OR IGNORE INTO arms (experiment, customer_id, arm, segment_id, assigned_at, run_id) VALUES (?, ?, ?, ?, ?, NULL)",
                      [(e, customer_id, a, segment_id, assigned_at) for e, a in arms])
        return dict(c.execute("SELECT experiment, arm FROM arms WHERE customer_id = ?", (customer_id,)).fetchall())

    def add_arms(self, arms: pd.DataFrame, run_id: int | None = None) -> int:
        """Insert new assignments; an existing (experiment, customer_id) is kept as it is."""
        if arms.empty:
            return 0
        rows = [
            (r.experiment, str(r.customer_id), r.arm, None if pd.isna(r.segment_id) else str(r.segment_id), _iso(r.assigned_at), run_id)
            for r in arms[ARM_COLUMNS].itertuples(index=False)
        ]
        with self.store.transaction() as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO arms (experiment, customer_id, arm, segment_id, assigned_at, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return c.total_changes - before

    def outcomes(self, experiment: str | None = None) -> pd.DataFrame:
        sql = "SELECT experiment, customer_id, metric, value, observed_at, source, source_id FROM outcomes"
        params: list[Any] = []
        if experiment is not None:
            sql += " WHERE experiment = ?"
            params.append(experiment)
        df = self.store.frame(sql, params)
        df["observed_at"] = pd.to_datetime(df["observed_at"], utc=True, format="ISO8601")
        return df

    def add_outcomes(self, outcomes: pd.DataFrame) -> int:
        """Upsert outcome rows keyed by (experiment, metric, source, source_id): re-reads don't double count."""
        if outcomes.empty:
            return 0
        rows = [
            (r.experiment, str(r.customer_id), r.metric, float(r.value), _iso(r.observed_at), r.source, str(r.source_id))
            for r in outcomes[OUTCOME_COLUMNS].itertuples(index=False)
        ]
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO outcomes (experiment, customer_id, metric, value, observed_at, source, source_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(experiment, metric, source, source_id) DO UPDATE SET "
                "customer_id = excluded.customer_id, value = excluded.value, observed_at = excluded.observed_at",
                rows,
            )
        return len(rows)

    def save_lift(self, run_id: int, experiment: str, results: pd.DataFrame) -> None:
        payload = results.to_json(orient="records", date_format="iso")
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO lift_results (run_id, experiment, computed_at, rows) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(run_id, experiment) DO UPDATE SET rows = excluded.rows, computed_at = excluded.computed_at",
                (run_id, experiment, utcnow_iso(), payload),
            )

    def definitions(self) -> dict[str, dict[str, Any]]:
        """experiment key -> the definition its first stored arms were drawn with (see definition_of)."""
        rows = self.store.query("SELECT key, value FROM meta WHERE key LIKE ?", (f"{DEFINITION_PREFIX}%",))
        return {r["key"][len(DEFINITION_PREFIX):]: json.loads(r["value"]) for r in rows}

    def remember_definition(self, experiment: str, definition: dict[str, Any]) -> None:
        """Keep the first definition an experiment's arms were drawn with (later changes are warned about)."""
        with self.store.transaction() as c:
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                      (f"{DEFINITION_PREFIX}{experiment}", json.dumps(definition)))

    def lift_history(self, experiment: str) -> list[tuple[int, str, pd.DataFrame]]:
        rows = self.store.query(
            "SELECT run_id, computed_at, rows FROM lift_results WHERE experiment = ? ORDER BY run_id", (experiment,)
        )
        return [(r["run_id"], r["computed_at"], pd.DataFrame(json.loads(r["rows"]))) for r in rows]


def definition_of(experiment: Any, holdout: Any) -> dict[str, Any]:
    """What fixes who gets which arm: arms with weights and control, coverage, the holdout.

    `experiment` and `holdout` are the config's ExperimentConfig and HoldoutConfig (duck-typed)."""
    return {
        "arms": [[a.name, a.weight, a.control] for a in experiment.arms],
        "holdout": [holdout.share, holdout.seed],
    }


def experiment_changes(experiments: Any, stored: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per configured experiment whose arms, weights or holdout differ from the ones
    its stored arms were drawn with (`experiments` is the config's ExperimentsConfig)."""
    out = []
    for exp in experiments.items:
        before = stored.get(exp.key)
        now = definition_of(exp, experiments.holdout)
        if before is None or before == now:
            continue
        what = [name for name in ("arms", "holdout") if before.get(name) != now[name]]
        was = "; ".join(_describe(name, before.get(name)) for name in what)
        out.append(
            f"experiment {exp.key}: {' and '.join(what)} changed since its first assignment (was {was}). Customers "
            "already assigned keep their arms, so the new arms/weights/holdout reach only new customers and the "
            f"analysis mixes two allocations. Either keep the experiment as it is (restore the previous "
            f"{' and '.join(what)}), or start a new experiment: give it a new key"
        )
    return out


def _describe(name: str, value: Any) -> str:
    if name == "arms" and value:
        return "arms " + ", ".join(f"{a}={w:g}" + (" (control)" if c else "") for a, w, c in value)
    if name == "holdout" and value:
        return f"holdout share {value[0]:g}, seed {value[1]}"
    return f"{name} unknown"


def read_experiment_definitions(path: Path) -> dict[str, dict[str, Any]]:
    """The stored definitions, read-only, without creating or migrating the state file (for `validate`)."""
    if not path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (f"{DEFINITION_PREFIX}%",)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}  # no meta table yet, or unreadable: `run` reports the state file's own problems
    return {k[len(DEFINITION_PREFIX):]: json.loads(v) for k, v in rows}


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
