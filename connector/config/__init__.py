"""The YAML configuration: pydantic models, ${ENV} interpolation and key-path errors.

Precedence: values come from the YAML file; `${VAR}` references in it are resolved from the
process environment when the file is loaded (Docker Compose syntax: `${VAR}`,
`${VAR:-default}`, `${VAR:?message}`, and `$$` for a literal dollar). Secret fields are
`SecretStr`: they print as '**********' and are never written to logs or the state store.

Every component receives its own sub-model (`SalesforceSource`, `SegmentationConfig`, ...),
never the root config or a dict.
"""


from connector.config.base import (
    LoggingConfig,
    MetricsConfig,
    ScheduleConfig,
    StateConfig,
    Strict,
    TrackingConfig,
)
from connector.config.destinations import (
    DestinationsConfig,
    FilesDestination,
    HubSpotDestination,
    ListsConfig,
    SalesforceDestination,
)
from connector.config.engine import EngineConfig
from connector.config.features import EventFeaturesConfig, FeaturesConfig
from connector.config.materiality import MaterialityConfig, MaterialityRule
from connector.config.models import (
    Arm,
    ClvConfig,
    ExperimentConfig,
    ExperimentsConfig,
    HoldoutConfig,
    RetrainPolicy,
    ScoreTarget,
    ScoringConfig,
    SegmentationConfig,
)
from connector.config.offers import OfferRetrainPolicy, OfferRulesConfig, OffersConfig
from connector.config.root import Config, interpolate, json_schema, load_config, secret_values
from connector.config.serve import ServeConfig
from connector.config.sources import (
    FilesEvents,
    FilesSource,
    HttpConfig,
    HubSpotAuth,
    HubSpotEvents,
    HubSpotLineItems,
    HubSpotSource,
    IdentityConfig,
    QuarantineConfig,
    SalesforceAuth,
    SalesforceCustomers,
    SalesforceLineItems,
    SalesforceSource,
    SalesforceTransactions,
    SourcesConfig,
)
from connector.crm.errors import ConfigurationError

__all__ = [
    "Arm", "ClvConfig", "Config", "ConfigurationError", "DestinationsConfig", "EngineConfig", "ExperimentConfig",
    "EventFeaturesConfig", "ExperimentsConfig", "FeaturesConfig", "FilesDestination", "FilesEvents", "FilesSource", "HoldoutConfig", "HttpConfig", "HubSpotAuth",
    "HubSpotDestination", "HubSpotEvents", "HubSpotSource", "IdentityConfig", "ListsConfig", "LoggingConfig", "MaterialityConfig",
    "MaterialityRule", "MetricsConfig", "OfferRetrainPolicy", "OfferRulesConfig", "OffersConfig",
    "QuarantineConfig", "RetrainPolicy", "SalesforceAuth", "SalesforceCustomers", "SalesforceDestination", "SalesforceSource",
    "SalesforceTransactions", "ScheduleConfig", "ScoreTarget", "ScoringConfig", "SegmentationConfig", "ServeConfig",
    "SourcesConfig", "StateConfig", "HubSpotLineItems", "SalesforceLineItems", "Strict", "TrackingConfig", "interpolate", "json_schema", "load_config", "secret_values",
]
