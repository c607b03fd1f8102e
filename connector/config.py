"""The YAML configuration: pydantic models, ${ENV} interpolation and key-path errors.

Precedence: values come from the YAML file; `${VAR}` references in it are resolved from the
process environment when the file is loaded (Docker Compose syntax: `${VAR}`,
`${VAR:-default}`, `${VAR:?message}`, and `$$` for a literal dollar). Secret fields are
`SecretStr`: they print as '**********' and are never written to logs or the state store.

Every component receives its own sub-model (`SalesforceSource`, `SegmentationConfig`, ...),
never the root config or a dict.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connector.configload import load_yaml_with_lines, render_validation_errors
from connector.crm.errors import ConfigurationError

__all__ = [
    "Config",
    "load_config",
    "ConfigurationError",
    "secret_values",
]


_MODELS: tuple[Literal["logistic", "gbm"], ...] = ("logistic", "gbm")
_METRICS: tuple[Literal["conversion", "revenue"], ...] = ("conversion", "revenue")


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


# --------------------------------------------------------------------------- transport


class HttpConfig(Strict):
    """The one HTTP transport's knobs, per CRM."""

    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    max_attempts: int = Field(6, ge=1, le=20, description="Attempts per request, first one included.")
    max_wait_seconds: float = Field(300.0, gt=0, description="Cap on the total time spent waiting to retry one request.")
    backoff_base_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(60.0, gt=0)
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once during a push.")
    verify_tls: bool = Field(True, description="Leave on. Only the sandbox on loopback may turn it off.")


# --------------------------------------------------------------------------- sources


class SalesforceAuth(Strict):
    method: Literal["jwt", "client_credentials", "password"] = "jwt"
    client_id: str = Field(..., description="Consumer key of the External Client App.")
    client_secret: SecretStr | None = None
    username: str | None = Field(None, description="JWT subject / password-grant user.")
    private_key_file: Path | None = Field(None, description="PEM private key for the JWT bearer flow.")
    private_key: SecretStr | None = Field(None, description="PEM private key given inline (e.g. from ${SF_PRIVATE_KEY}).")
    password: SecretStr | None = Field(None, description="Password grant only (deprecated by Salesforce).")
    security_token: SecretStr | None = None

    @model_validator(mode="after")
    def _method_fields(self) -> SalesforceAuth:
        need: dict[str, tuple[str, ...]] = {
            "jwt": ("username",),
            "client_credentials": ("client_secret",),
            "password": ("username", "password", "client_secret"),
        }
        missing = [f for f in need[self.method] if getattr(self, f) is None]
        if self.method == "jwt" and self.private_key_file is None and self.private_key is None:
            missing.append("private_key_file or private_key")
        if missing:
            raise ValueError(f"method {self.method} needs {', '.join(missing)}")
        return self


class SalesforceCustomers(Strict):
    object: Literal["Contact", "Lead", "Account"] = "Contact"
    email_field: str = "Email"
    fields: list[str] = Field(default_factory=list, description="Extra fields to pull.")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Canonical attribute name -> Salesforce field, e.g. country: MailingCountry."
    )
    where: str | None = Field(None, description="Extra SOQL condition (trusted: written by the admin).")


class SalesforceTransactions(Strict):
    object: str = "Opportunity"
    amount_field: str = "Amount"
    date_field: str = "CloseDate"
    customer_field: str = Field("ContactId", description="Lookup from the transaction to the customer.")
    where: str | None = Field("IsWon = true", description="SOQL condition for a completed purchase.")


class SalesforceSource(Strict):
    instance_url: str = Field(..., description="https://<MyDomain>.my.salesforce.com")
    login_url: str = Field("https://login.salesforce.com", description="Token endpoint host (test. for sandboxes).")
    api_version: str = Field("66.0", pattern=r"^\d{2,3}\.0$")
    auth: SalesforceAuth
    customers: SalesforceCustomers = Field(default_factory=SalesforceCustomers)
    transactions: SalesforceTransactions = Field(default_factory=SalesforceTransactions)
    bulk_query_threshold: int = Field(10_000, ge=0, description="Use Bulk API 2.0 query above this many records.")
    page_size: int = Field(2000, ge=200, le=2000)
    quota_stop_share: float = Field(
        0.8, gt=0, le=1, description="Stop the run cleanly once this share of the daily API limit is used."
    )
    http: HttpConfig = Field(default_factory=HttpConfig)


class HubSpotAuth(Strict):
    method: Literal["token", "oauth"] = "token"
    token: SecretStr | None = Field(None, description="Service key or private-app token (Bearer).")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_path: Literal["2026-03", "v1"] = Field("2026-03", description="OAuth token endpoint version.")

    @model_validator(mode="after")
    def _method_fields(self) -> HubSpotAuth:
        need = {"token": ("token",), "oauth": ("client_id", "client_secret", "refresh_token")}
        missing = [f for f in need[self.method] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"method {self.method} needs {', '.join(missing)}")
        return self


class HubSpotSource(Strict):
    base_url: str = "https://api.hubapi.com"
    api_version: Literal["2026-03", "v3"] = Field("2026-03", description="Date-versioned CRM paths, or legacy /crm/v3.")
    auth: HubSpotAuth
    tier_requests_per_10s: Literal[100, 110, 190, 250] = Field(
        100, description="Burst limit of the account: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (capacity pack), 110 (OAuth app)."
    )
    search_requests_per_second: float = Field(4.0, gt=0, le=10)
    contact_properties: list[str] = Field(default_factory=lambda: ["email", "firstname", "lastname", "createdate"])
    attributes: dict[str, str] = Field(default_factory=dict, description="Canonical attribute name -> HubSpot property.")
    search_overlap_minutes: int = Field(60, ge=0, description="Incremental search re-reads this window (eventual consistency).")
    track_deletions: bool = Field(
        True, description="Incremental pulls also list archived records (one call per 100 archived) to report deletions."
    )
    http: HttpConfig = Field(default_factory=HttpConfig)


class FilesSource(Strict):
    """A CSV or Parquet of transactions, for running without a CRM."""

    transactions: Path
    format: Literal["csv", "parquet", "auto"] = "auto"
    customer_id_column: str = "CustomerID"
    amount_column: str = "amount"
    date_column: str = "date"
    transaction_id_column: str | None = None
    date_format: str | None = Field(None, description="strftime format, e.g. %Y%m%d; parsed as ISO 8601 when unset.")
    attribute_columns: list[str] = Field(default_factory=list)
    delimiter: str | None = Field(None, description="CSV delimiter, or 'whitespace'; sniffed when unset.")


class SourcesConfig(Strict):
    salesforce: SalesforceSource | None = None
    hubspot: HubSpotSource | None = None
    files: FilesSource | None = None


class IdentityConfig(Strict):
    match_on: Literal["email"] = Field("email", description="How one customer in both CRMs is recognised.")
    lowercase: bool = True
    strip_plus_tags: bool = Field(False, description="Treat a+tag@x.com as a@x.com.")


# --------------------------------------------------------------------------- segmentation, scoring


class RetrainPolicy(Strict):
    every_days: int | None = Field(30, ge=1, description="Retrain at least this often.")
    psi_threshold: float | None = Field(0.25, gt=0, description="Retrain when any feature's PSI passes this.")
    share_shift_threshold: float | None = Field(0.10, gt=0, description="Retrain when a segment's share moves this much.")


class SegmentationConfig(Strict):
    method: Literal["rfm", "kmeans", "minibatch_kmeans", "gmm", "dbscan", "hdbscan", "hierarchical"] = "kmeans"
    k: Annotated[int, Field(ge=2, le=50)] | Literal["auto"] = "auto"
    k_min: int = Field(2, ge=2)
    k_max: int = Field(10, ge=2)
    features: list[str] = Field(
        default_factory=lambda: ["recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days"]
    )
    attributes: list[str] = Field(default_factory=list, description="Canonical customer attributes used as features.")
    sample_size: int = Field(20_000, ge=100, description="Rows used to pick k and compute silhouette.")
    min_cluster_size: int = Field(50, ge=2, description="DBSCAN/HDBSCAN minimum segment size.")
    random_state: int = 0
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    channel_costs: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.01}, description="Cost to reach one customer, per channel."
    )


class ScoreTarget(Strict):
    name: str = Field(..., pattern=r"^[a-z][a-z0-9_]{0,39}$")
    kind: Literal["propensity", "churn", "conversion"]
    horizon_days: int = Field(30, ge=1, le=730)
    field: str | None = Field(None, description="conversion only: the customer attribute to watch.")
    value: str | None = Field(None, description="conversion only: the value it must reach.")

    @model_validator(mode="after")
    def _conversion_fields(self) -> ScoreTarget:
        if self.kind == "conversion" and (self.field is None or self.value is None):
            raise ValueError("kind conversion needs field and value")
        return self


class ClvConfig(Strict):
    enabled: bool = True
    horizon_days: int = Field(365, ge=1)
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)


class ScoringConfig(Strict):
    targets: list[ScoreTarget] = Field(default_factory=list)
    clv: ClvConfig = Field(default_factory=ClvConfig)
    cutoffs: int = Field(4, ge=1, le=24, description="Stacked training cutoffs; the last one validates out of time.")
    retrain_every_days: int = Field(
        7, ge=0, description="Reuse a score model younger than this (data days); 0 retrains every run."
    )
    reason_codes: int = Field(3, ge=0, le=10)
    models: list[Literal["logistic", "gbm"]] = Field(default_factory=lambda: list(_MODELS))
    smote: bool = False
    random_state: int = 0


# --------------------------------------------------------------------------- destinations


class ListsConfig(Strict):
    enabled: bool = True
    segment_name_template: str = Field("segsync {segment_name}", description="Fields: segment_id, segment_name.")
    arm_name_template: str = Field(
        "segsync {experiment} {arm}", description="Fields: experiment, arm, segment_id, segment_name."
    )


class SalesforceDestination(Strict):
    enabled: bool = True
    object: Literal["Contact", "Lead", "Account"] = "Contact"
    match: Literal["id", "external_id"] = Field(
        "id",
        description="Write by record Id (segsync pulled every record it writes), or upsert on external_id_field "
        "(every record must already carry segsync's customer key there, e.g. stamped by earlier runs).",
    )
    external_id_field: str | None = Field(
        None, description="A unique External ID field: segsync stamps its stable customer key there (and, with "
        "match: external_id, upserts on it)."
    )
    fields: dict[str, str] = Field(
        default_factory=lambda: {
            "segment_id": "Segsync_Segment_Id__c",
            "segment_name": "Segsync_Segment__c",
            "arm": "Segsync_Arm__c",
        },
        description="Desired-state key (segment_id, segment_name, arm, a score name, <score>_reasons) -> field.",
    )
    create_missing_fields: bool = Field(False, description="Create missing custom fields through the Tooling API.")
    lists: ListsConfig = Field(default_factory=ListsConfig)
    member_status: str = Field("Sent", description="CampaignMember Status for new members.")
    batch_size: int = Field(200, ge=1, le=200)
    bulk_ingest_threshold: int = Field(10_000, ge=0, description="Use Bulk API 2.0 ingest above this many changes.")

    @model_validator(mode="after")
    def _external_id(self) -> SalesforceDestination:
        if self.match == "external_id" and not self.external_id_field:
            raise ValueError("match external_id needs external_id_field")
        return self


class HubSpotDestination(Strict):
    enabled: bool = True
    match: Literal["id", "email"] = Field("id", description="Batch update by record id, or upsert by email.")
    property_group: str = "segsync"
    properties: dict[str, str] = Field(
        default_factory=lambda: {
            "segment_id": "segsync_segment_id",
            "segment_name": "segsync_segment",
            "arm": "segsync_arm",
        }
    )
    lists: ListsConfig = Field(default_factory=ListsConfig)
    batch_size: int = Field(100, ge=1, le=100)


class FilesDestination(Strict):
    path: Path = Field(Path("segsync-segments.csv"), description="CSV of segments, scores and arms per customer.")


class DestinationsConfig(Strict):
    salesforce: SalesforceDestination | None = None
    hubspot: HubSpotDestination | None = None
    files: FilesDestination | None = None


# --------------------------------------------------------------------------- experiments


class Arm(Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,40}$")
    weight: float = Field(..., gt=0, le=1)
    control: bool = False


class HoldoutConfig(Strict):
    share: float = Field(0.0, ge=0, lt=1, description="Share of all customers held out of every campaign.")
    seed: str = "segsync-global-holdout"


class ExperimentConfig(Strict):
    key: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,60}$", description="Tracking key; also the hash seed.")
    segments: list[str] = Field(default_factory=list, description="Segment ids or names; empty means all.")
    arms: list[Arm]
    coverage: float = Field(1.0, gt=0, le=1, description="Raise to ramp up; nobody already assigned moves.")
    start: str | None = Field(None, description="ISO date the experiment starts.")
    end: str | None = Field(None, description="ISO date the experiment ends.")
    metrics: list[Literal["conversion", "revenue"]] = Field(default_factory=lambda: list(_METRICS))
    conversion_window_days: int = Field(30, ge=1)
    cuped_days: int = Field(90, ge=0, description="Pre-period for CUPED; 0 turns it off.")
    revenue_cap_quantile: float | None = Field(0.99, gt=0, le=1)

    @model_validator(mode="after")
    def _arms(self) -> ExperimentConfig:
        names = [a.name for a in self.arms]
        if len(names) < 2:
            raise ValueError("an experiment needs at least two arms")
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique (got {names})")
        total = sum(a.weight for a in self.arms)
        if not 0.99 <= total <= 1.01:
            raise ValueError(f"arm weights must sum to 1 (got {total:g})")
        if sum(a.control for a in self.arms) > 1:
            raise ValueError("at most one arm may be the control")
        return self


class ExperimentsConfig(Strict):
    holdout: HoldoutConfig = Field(default_factory=HoldoutConfig)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    sequential: bool = Field(True, description="Always-valid intervals, honest under daily looks.")
    sequential_tuning: int | None = Field(None, ge=1, description="Expected sample per segment; defaults to its size.")
    correction: Literal["holm", "bh", "none"] = "holm"
    items: list[ExperimentConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_keys(self) -> ExperimentsConfig:
        keys = [e.key for e in self.items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"experiment keys must be unique (repeated: {', '.join(dup)})")
        return self


# --------------------------------------------------------------------------- logging, metrics


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class MetricsConfig(Strict):
    enabled: bool = False
    host: str = Field("127.0.0.1", description="Bind address; loopback unless you mean otherwise.")
    port: int = Field(9464, ge=0, le=65535, description="0 picks a free port (tests).")


# --------------------------------------------------------------------------- root


class Config(Strict):
    version: Literal[1] = 1
    state: StateConfig = Field(default_factory=StateConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    destinations: DestinationsConfig = Field(default_factory=DestinationsConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    #: Directory of the file the config was loaded from; relative paths resolve against it.
    base_dir: Annotated[Path, Field(exclude=True)] = Path(".")

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if self.destinations.salesforce is not None and self.sources.salesforce is None:
            raise ValueError("destinations.salesforce needs sources.salesforce (credentials and instance)")
        if self.destinations.hubspot is not None and self.sources.hubspot is None:
            raise ValueError("destinations.hubspot needs sources.hubspot (credentials)")
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)


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


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Load, interpolate and validate a config file; raise ConfigurationError listing every problem."""
    path = Path(path)
    env_map = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from None
    data, lines, errors = load_yaml_with_lines(text, path.name, lambda s, where: interpolate(s, env_map, where))
    if errors:
        raise ConfigurationError("\n".join(errors))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path.name}:1: the top level must be a mapping of sections")
    from pydantic import ValidationError

    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError("\n".join(render_validation_errors(exc, Config, lines, path.name))) from None
    return cfg.model_copy(update={"base_dir": path.resolve().parent})


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
    schema.get("properties", {}).pop("base_dir", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "segsync configuration"
    return schema
