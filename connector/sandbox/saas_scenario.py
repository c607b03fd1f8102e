"""The SaaS scenario file: latent behaviour types of free-tier users and the planted conversion model.

Shipped as connector/sandbox/scenarios/saas.yaml. Units: rates per day. For a user of a type,
- login rate lambda ~ Gamma(shape, rate) per day at the middle of the observation window,
  changing by a log factor trend ~ Normal(mean, sd) across it (the latent trend);
- each day a new product feature is adopted with probability ``adoption_per_day``;
- support tickets arrive at ``tickets_per_day``.
Conversion to paid within ``horizon_days`` of the user's cutoff (``observe_days`` after signup)
has probability sigmoid(intercept + sum of coefficient x driver), the drivers measured on the
user's own usage up to the cutoff (see connector.sandbox.saas).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.sandbox.scenario import GammaSpec, load_scenario_file

#: The drivers a scenario may plant: the usage features segsync computes with these names.
DRIVERS = ("login_trend_14d", "features_adopted", "ticket_count_30d")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormalSpec(_Strict):
    mean: float
    sd: float = Field(..., ge=0)


class BehaviourSpec(_Strict):
    name: str = Field(..., pattern=r"^[a-z][a-z0-9_]{0,39}$")
    share: float = Field(..., gt=0, le=1)
    logins_per_day: GammaSpec
    trend: NormalSpec
    adoption_per_day: float = Field(..., ge=0, le=1)
    tickets_per_day: float = Field(..., ge=0, le=10)


class ConversionSpec(_Strict):
    intercept: float
    coefficients: dict[str, float] = Field(..., min_length=1)
    paid_usage_multiplier: float = Field(1.0, gt=0, le=10, description="Login rate factor once paid.")

    @model_validator(mode="after")
    def _known_drivers(self) -> ConversionSpec:
        unknown = sorted(set(self.coefficients) - set(DRIVERS))
        if unknown:
            raise ValueError(f"unknown driver(s) {', '.join(unknown)}; known: {', '.join(DRIVERS)}")
        return self


class SaasScenario(_Strict):
    name: str
    description: str = ""
    start: date = Field(..., description="First day of month 1 (UTC).")
    signup_months: int = Field(7, ge=2, le=36, description="Users sign up uniformly over this many months.")
    observe_days: int = Field(28, ge=14, le=180, description="Each user's cutoff is this many days after signup.")
    horizon_days: int = Field(90, ge=1, le=365, description="Conversion counts within this many days after the cutoff.")
    product_features: int = Field(15, ge=1, le=1000)
    behaviours: list[BehaviourSpec] = Field(..., min_length=1)
    conversion: ConversionSpec

    @model_validator(mode="after")
    def _shares(self) -> SaasScenario:
        names = [b.name for b in self.behaviours]
        if len(set(names)) != len(names):
            raise ValueError(f"behaviour names must be unique (got {names})")
        total = sum(b.share for b in self.behaviours)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"behaviour shares must sum to 1 (got {total:g})")
        return self


def load_saas_scenario(source: str | Path = "saas") -> SaasScenario:
    """The shipped scenario by name ('saas') or a YAML file; ConfigurationError names file, line and key."""
    return load_scenario_file(source, SaasScenario)
