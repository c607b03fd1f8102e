"""Trackers: where a retrain is recorded besides the state file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd


class Tracker(Protocol):
    def log_version(self, family: str, version: int, *, params: dict[str, Any], metrics: dict[str, float],
                    artifacts: dict[str, Any], model: Any, trigger: str, example: pd.DataFrame | None = None) -> None:
        """Record one retrain (a new version of `family`); `example`: a few feature rows (signature)."""
        ...

    def set_alias(self, family: str, alias: str, version: int | None) -> None:
        """Mirror an alias change (None removes the alias)."""
        ...


class NullTracker:
    """The built-in store needs nothing more than the state file."""

    def log_version(self, family: str, version: int, *, params: dict[str, Any], metrics: dict[str, float],
                    artifacts: dict[str, Any], model: Any, trigger: str, example: pd.DataFrame | None = None) -> None:
        return None

    def set_alias(self, family: str, alias: str, version: int | None) -> None:
        return None


def numeric_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metrics to name -> finite float (what a tracker can chart)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numeric_metrics(value, f"{name}."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and value == value and abs(value) != float("inf"):
            out[name] = float(value)
    return out
