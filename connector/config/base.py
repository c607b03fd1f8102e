"""The base of every config model, and the daemon's own settings (state, schedule, logging, metrics)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- secrets and URLs

#: Shorter than this is not a real credential, and masking it would blank that text in every log line.
SECRET_MIN_CHARS = 8
SECRET_MAX_CHARS = 16_384  # a 4096-bit PEM key is ~3.3k characters


def _plausible(value: SecretStr, *, multiline: bool) -> SecretStr:
    """Refuse a secret that cannot be one; the message never quotes the value."""
    text = value.get_secret_value()
    allowed = "\n\r" if multiline else ""
    if any((ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 for ch in text):
        raise ValueError("contains a control character (a newline or tab pasted with it?); value not shown")
    if not SECRET_MIN_CHARS <= len(text) <= SECRET_MAX_CHARS:
        raise ValueError(
            f"implausible length {len(text)} (a credential has {SECRET_MIN_CHARS} to {SECRET_MAX_CHARS} characters)"
        )
    return value


#: A token, password or client secret: one line of plausible length.
Secret = Annotated[SecretStr, AfterValidator(lambda v: _plausible(v, multiline=False))]
#: A PEM private key given inline: line breaks are part of it.
MultilineSecret = Annotated[SecretStr, AfterValidator(lambda v: _plausible(v, multiline=True))]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, verify_tls: bool = True) -> str:
    """An http(s) URL with a host; plain http and TLS verification off only for a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an https:// URL with a host (got {url!r})")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"plain http:// sends credentials unencrypted; use https:// (got {url!r})")
    if not verify_tls and not is_loopback(parts.hostname):
        raise ValueError(f"http.verify_tls: false is allowed only for the loopback sandbox, not {parts.hostname}")
    return url



# --------------------------------------------------------------------------- state, schedule


class StateConfig(Strict):
    path: Path = Field(
        Path("segsync.sqlite"),
        description="SQLite state file (WAL mode, created with mode 0600). Relative to the config file.",
    )


class ScheduleConfig(Strict):
    """When the daemon runs a cycle: a cron expression or a fixed interval, never both."""

    cron: str | None = Field(None, description="Five-field cron expression, e.g. '0 6 * * *'.")
    interval_minutes: int | None = Field(None, ge=1, le=527_040, description="Run every N minutes instead of cron.")
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in.")
    misfire_grace_seconds: int = Field(
        3600, ge=1, le=604_800, description="A run that missed its time by less than this still runs (once)."
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
