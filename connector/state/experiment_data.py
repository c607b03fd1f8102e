"""Arms (sticky: a trigger forbids changing one), outcomes read back, and lift results."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso

ARM_COLUMNS = ["experiment", "customer_id", "arm", "segment_id", "assigned_at"]
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

    def lift_history(self, experiment: str) -> list[tuple[int, str, pd.DataFrame]]:
        rows = self.store.query(
            "SELECT run_id, computed_at, rows FROM lift_results WHERE experiment = ? ORDER BY run_id", (experiment,)
        )
        return [(r["run_id"], r["computed_at"], pd.DataFrame(json.loads(r["rows"]))) for r in rows]


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
