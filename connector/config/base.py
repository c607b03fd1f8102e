"""The base of every config model, and the daemon's own settings (state, schedule, logging, metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)



# --------------------------------------------------------------------------- state, schedule


class StateConfig(Strict):
    path: Path = Field(
        Path("segsync.sqlite"),
        description="SQLite state file (WAL mode, created with mode 0600). Relative to the config file.",
    )


class ScheduleConfig(Strict):
    """When the daemon runs a cycle: a cron expression or a fixed interval, never both."""

    cron: str | None = Field(None, description="Five-field cron expression, e.g. '0 6 * * *'.")
    interval_minutes: int | None = Field(None, ge=1, description="Run every N minutes instead of cron.")
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in.")
    misfire_grace_seconds: int = Field(
        3600, ge=1, description="A run that missed its time by less than this still runs (once)."
    )
    run_on_start: bool = Field(False, description="Run one cycle as soon as the daemon starts.")

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if self.cron and self.interval_minutes:
            raise ValueError("set either cron or interval_minutes, not both")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError(f"cron must have five fields (got {self.cron!r})")
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except Exception:  # noqa: BLE001 - any failure means the name is unknown
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


# --------------------------------------------------------------------------- logging, metrics


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class MetricsConfig(Strict):
    enabled: bool = False
    host: str = Field("127.0.0.1", description="Bind address; loopback unless you mean otherwise.")
    port: int = Field(9464, ge=0, le=65535, description="0 picks a free port (tests).")


class TrackingConfig(Strict):
    """Model lifecycle: where retrains are tracked, and when a new version becomes champion.

    `builtin` keeps versions, aliases and metrics in the state file only. `mlflow` (optional
    extra `segsync[mlflow]`) also logs every retrain as an MLflow run with its parameters,
    metrics, artifacts and the model, registers a version per model family and keeps the
    `champion` / `challenger` aliases in step; the cycle always reads the champion from the
    state file, so CRM writes are the same with or without MLflow.
    """

    kind: Literal["builtin", "mlflow"] = "builtin"
    uri: str | None = Field(
        None, description="MLflow tracking (and registry) URI, e.g. http://127.0.0.1:5000; default: a SQLite "
        "store mlflow.db beside the state file (no server needed).",
    )
    experiment: str | None = Field(None, description="MLflow experiment name; default: segsync/<config file name>.")
    promote_on: Literal["roc_auc", "pr_auc", "top_decile_lift", "brier", "log_loss"] = Field(
        "roc_auc", description="Out-of-time metric a retrained score model must win on to become champion."
    )
    margin: float = Field(0.0, ge=0, le=1, description="How much better the challenger must be on promote_on.")
