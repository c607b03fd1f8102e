"""Champion/challenger over the state file's model versions, mirrored to a tracker.

A retrained score model is judged out of time against the current champion on
`tracking.promote_on` (segmentation.champion); it becomes `champion` only when it wins by
`tracking.margin`, otherwise it is kept as `challenger` and the reason is logged. A
segmentation retrain becomes champion at once: its drift trigger already said the old one no
longer fits, and segment ids stay stable through the segment registry. A person overrides
with `segsync models promote` / `rollback`; every alias change is kept with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from connector.config import TrackingConfig
from connector.lifecycle.tracking import NullTracker, Tracker, numeric_metrics
from connector.state.models import CHALLENGER, CHAMPION, Models
from segmentation.champion import Decision, decide

log = logging.getLogger("segsync.lifecycle")


@dataclass(frozen=True)
class Registered:
    version: int
    champion: bool
    reason: str


def family(kind: str, name: str) -> str:
    """The registered-model name of (kind, name) in a tracker."""
    return f"segsync-{kind}-{name}"


class ModelRegistry:
    def __init__(self, models: Models, config: TrackingConfig, tracker: Tracker | None = None) -> None:
        self.models = models
        self.config = config
        self.tracker = tracker or NullTracker()

    def register(self, kind: str, name: str, obj: Any, *, run_id: int | None, meta: dict[str, Any],
                 params: dict[str, Any], trigger: str, judged: tuple[float | None, float | None] | None = None,
                 artifacts: dict[str, Any] | None = None, example: pd.DataFrame | None = None,
                 metrics: dict[str, Any] | None = None) -> Registered:
        """Store a retrained model as a new version and decide its alias. `judged` is
        (challenger, champion) on `promote_on`; None promotes (segmentation, first versions).
        `metrics`: what the tracker charts (default: meta["metrics"], flattened)."""
        decision = (decide(self.config.promote_on, self.config.margin, *judged) if judged is not None
                    else Decision(True, f"champion at once: {trigger}"))
        version = self.models.save(kind, name, obj, run_id=run_id, meta={
            **meta, "params": params, "trigger": trigger, "decision": decision.reason,
            "judged_on": self.config.promote_on if judged is not None else None,
            "judged": list(judged) if judged is not None else None})
        fam = family(kind, name)
        self.tracker.log_version(fam, version, params=params, metrics=numeric_metrics(metrics if metrics is not None else meta.get("metrics", {})),
                                 artifacts=artifacts or {}, model=obj, trigger=trigger, example=example)
        alias = CHAMPION if decision.promote else CHALLENGER
        self._alias(kind, name, alias, version, decision.reason)
        if decision.promote and self.models.aliases(kind, name).get(CHALLENGER) is not None:
            self._alias(kind, name, CHALLENGER, None, "a newer champion")
        (log.info if decision.promote else log.warning)(
            "%s %s version %d is %s: %s", kind, name, version, alias, decision.reason)
        return Registered(version, decision.promote, decision.reason)

    def promote(self, kind: str, name: str, version: int, *, reason: str = "promoted by hand") -> None:
        if self.models.get(kind, name, version) is None:
            raise ValueError(f"{kind} {name} has no readable version {version}")
        self._alias(kind, name, CHAMPION, version, reason)
        if self.models.aliases(kind, name).get(CHALLENGER) == version:
            self._alias(kind, name, CHALLENGER, None, reason)

    def rollback(self, kind: str, name: str, *, reason: str = "rolled back by hand") -> int:
        """Make the champion before the current one champion again; returns its version."""
        current = self.models.aliases(kind, name).get(CHAMPION)
        earlier = [v for v, _, _ in self.models.alias_history(kind, name) if v is not None and v != current]
        if not earlier:
            raise ValueError(f"{kind} {name} has no earlier champion to roll back to")
        self.promote(kind, name, earlier[-1], reason=reason)
        return earlier[-1]

    def _alias(self, kind: str, name: str, alias: str, version: int | None, reason: str) -> None:
        self.models.set_alias(kind, name, alias, version, reason=reason)
        self.tracker.set_alias(family(kind, name), alias, version)


def open_registry(models: Models, config: TrackingConfig, *, state_path: Path) -> ModelRegistry:
    """The registry with the configured tracker (MLflow is imported only when configured).
    MLflow's defaults: a SQLite store beside the state file, experiment segsync/<state file name>."""
    if config.kind == "mlflow":
        from connector.lifecycle.mlflow_tracker import MlflowTracker

        uri = config.uri or f"sqlite:///{state_path.parent.resolve() / 'mlflow.db'}"
        return ModelRegistry(models, config, MlflowTracker(uri, config.experiment or f"segsync/{state_path.stem}"))
    return ModelRegistry(models, config)
