"""The root model and loading: ${ENV} interpolation, validation with key-path errors, the JSON Schema."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from connector.config.base import (
    LoggingConfig,
    MetricsConfig,
    ScheduleConfig,
    StateConfig,
    Strict,
    TrackingConfig,
)
from connector.config.destinations import DestinationsConfig
from connector.config.engine import EngineConfig
from connector.config.features import FeaturesConfig
from connector.config.models import ExperimentsConfig, ScoringConfig, SegmentationConfig
from connector.config.offers import OffersConfig
from connector.config.paths import check_outputs
from connector.config.serve import ServeConfig
from connector.config.sources import IdentityConfig, QuarantineConfig, SourcesConfig
from connector.configload import (
    INTERNAL_KEYS,
    load_yaml_with_lines,
    render_validation_errors,
    warn_plaintext_secrets,
)
from connector.crm.errors import ConfigurationError

# --------------------------------------------------------------------------- root


class Config(Strict):
    version: Literal[1] = 1
    state: StateConfig = Field(default_factory=StateConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    quarantine: QuarantineConfig = Field(default_factory=QuarantineConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    offers: OffersConfig = Field(default_factory=OffersConfig)
    destinations: DestinationsConfig = Field(default_factory=DestinationsConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    serve: ServeConfig | None = Field(None, description="The real-time API; `segsync daemon` serves it alongside the schedule.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    #: Directory of the file the config was loaded from; relative paths resolve against it.
    base_dir: Annotated[Path, Field(exclude=True)] = Path(".")
    #: The file it was loaded from (None when built in code); no output may replace it.
    source_file: Annotated[Path | None, Field(exclude=True)] = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if self.destinations.salesforce is not None and self.sources.salesforce is None:
            raise ValueError("destinations.salesforce needs sources.salesforce (credentials and instance)")
        if self.destinations.hubspot is not None and self.sources.hubspot is None:
            raise ValueError("destinations.hubspot needs sources.hubspot (credentials)")
        self._event_features_declared()
        return self

    def _event_features_declared(self) -> None:
        """segmentation.features may name usage features only when features.events builds them."""
        from segmentation.features import BEHAVIOUR_COLUMNS

        extra = [f for f in self.segmentation.features if f not in BEHAVIOUR_COLUMNS]
        events = self.features.events
        known = events.columns() if events is not None else []
        unknown = [f for f in extra if f not in known]
        if unknown:
            hint = f"features.events builds {', '.join(known)}" if known else "declare features.events to use usage features"
            raise ValueError(f"segmentation.features: unknown feature(s) {', '.join(unknown)}; {hint}")

    def resolve(self, path: Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    def snapshot_dir(self) -> Path:
        """Where cycles publish the serving snapshot (serve.snapshot_dir, else beside the state file)."""
        if self.serve is not None and self.serve.snapshot_dir is not None:
            return self.resolve(self.serve.snapshot_dir)
        state = self.resolve(self.state.path)
        return state.with_name(state.name + ".snapshots")



# --------------------------------------------------------------------------- loading

_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\})")


def interpolate(text: str, env: dict[str, str] | os._Environ[str], where: str) -> str:
    """Resolve `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$` in one string.

    An unset `${VAR}` with no default is an error, as in Vector: silently empty credentials
    make for confusing authentication failures much later.
    """

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name, op, arg = m.group(2), m.group(3), m.group(4)
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == ":?":
            if not value:
                raise ConfigurationError(f"{where}: {arg or 'required'} (environment variable {name} is not set)")
            return value
        if value is None:
            raise ConfigurationError(
                f"{where}: environment variable {name} is not set (use ${{{name}:-default}} for a default)"
            )
        return value

    return _VAR.sub(sub, text)


#: A config is a few kilobytes; parsing megabytes of YAML takes minutes.
MAX_CONFIG_BYTES = 1_000_000


def read_config_text(path: Path) -> str:
    """The file's text, refusing what cannot be a config: not a regular file, too large, not UTF-8."""
    try:
        if not path.is_file():  # a FIFO or /dev/zero would hang or fill memory
            if not path.exists():
                raise ConfigurationError(f"{path}: file not found")
            raise ConfigurationError(f"{path}: not a regular file")
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigurationError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; not a configuration")
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise ConfigurationError(f"{path}:{line}: contains a NUL byte; not a text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigurationError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8") from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Load, interpolate and validate a config file; raise ConfigurationError listing every problem."""
    path = Path(path)
    env_map = os.environ if env is None else env
    text = read_config_text(path)
    data, lines, errors = load_yaml_with_lines(text, path.name, lambda s, where: interpolate(s, env_map, where))
    if errors:
        raise ConfigurationError("\n".join(errors))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path.name}:1: the top level must be a mapping of sections")
    from pydantic import ValidationError

    # accepted, they would be overwritten below without a word (base_dir, source_file)
    problems = [f"{path.name}:{lines.get((k,), 1)} {k}: unknown key; segsync sets it from where this file is"
                for k in INTERNAL_KEYS if k in data]
    try:
        cfg = Config.model_validate({k: v for k, v in data.items() if k not in INTERNAL_KEYS})
    except ValidationError as exc:
        problems += render_validation_errors(exc, Config, lines, path.name)
    if problems:
        raise ConfigurationError("\n".join(problems)) from None
    cfg = cfg.model_copy(update={"base_dir": path.resolve().parent, "source_file": path.resolve()})
    check_outputs(cfg)
    warn_plaintext_secrets(Config, data, lines, path.name)
    return cfg


def secret_values(cfg: BaseModel) -> list[str]:
    """Every secret value in a config tree, for log redaction."""
    found: list[str] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, SecretStr):
            v = obj.get_secret_value()
            if v:
                found.append(v)
        elif isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name))
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                walk(v)

    walk(cfg)
    return found


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, for `# yaml-language-server: $schema=`."""
    schema = Config.model_json_schema()
    for key in INTERNAL_KEYS:
        schema.get("properties", {}).pop(key, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "segsync configuration"
    return schema
