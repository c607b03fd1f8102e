"""Scenario files: the latent customer segments of the sandbox and the true campaign effects.

A scenario says, per latent segment, how customers buy (a BG/NBD process with Gamma-Gamma
spend, Fader, Hardie & Lee 2005) and how much being treated by a campaign raises the chance
to buy, and the spend, within `window_days`. It also says which arm names mark treatment,
control and holdout in the Salesforce Campaign / HubSpot list names segsync writes.

Units: rates are per day. For a customer of a segment,
- purchase rate lambda ~ Gamma(shape=purchase_rate.shape, rate=purchase_rate.rate);
- after each purchase the customer drops out with probability p ~ Beta(dropout.a, dropout.b);
- spend per purchase z ~ Gamma(spend.p, rate=nu) with nu ~ Gamma(spend.q, rate=spend.gamma),
  so the mean spend is p * gamma / (q - 1).

Shipped scenarios live in connector/sandbox/scenarios/: `default` (effects) and `null`
(the same segments, no effect anywhere, for false-positive tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connector.configload import load_yaml_with_lines, render_validation_errors
from connector.crm.errors import ConfigurationError

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GammaSpec(_Strict):
    shape: float = Field(..., gt=0)
    rate: float = Field(..., gt=0, description="Per day for purchase rates.")


class BetaSpec(_Strict):
    a: float = Field(..., gt=0)
    b: float = Field(..., gt=0)


class SpendSpec(_Strict):
    p: float = Field(..., gt=0, description="Shape of spend per purchase.")
    q: float = Field(..., gt=1, description="Shape of the customer's spend rate (q > 1 for a finite mean).")
    gamma: float = Field(..., gt=0, description="Rate of the customer's spend rate.")

    @property
    def mean(self) -> float:
        return self.p * self.gamma / (self.q - 1)


class EffectSpec(_Strict):
    conversion_lift: float = Field(
        default=0.0, ge=0, lt=1, description="Absolute rise in P(at least one purchase within window_days)."
    )
    spend_lift: float = Field(default=0.0, gt=-1, description="Relative rise of every purchase amount in the window.")


class SegmentSpec(_Strict):
    name: str = Field(..., pattern=r"^[a-z][a-z0-9_]{0,39}$")
    share: float = Field(..., gt=0, le=1)
    purchase_rate: GammaSpec
    dropout: BetaSpec
    spend: SpendSpec
    attributes: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="attribute -> {value: probability} within this segment."
    )
    effect: EffectSpec = Field(default_factory=lambda: EffectSpec())

    @model_validator(mode="after")
    def _attribute_probabilities(self) -> SegmentSpec:
        for attr, dist in self.attributes.items():
            if any(p < 0 for p in dist.values()) or abs(sum(dist.values()) - 1) > 1e-6:
                raise ValueError(f"attributes.{attr}: probabilities must be >= 0 and sum to 1")
        return self


class ArmNames(_Strict):
    treatment: list[str] = Field(default_factory=lambda: ["treatment"])
    control: list[str] = Field(default_factory=lambda: ["control"])
    holdout: list[str] = Field(default_factory=lambda: ["holdout"])

    def kind(self, arm: str) -> str | None:
        """'treatment', 'control', 'holdout' or None for an arm name (case-insensitive)."""
        low = arm.lower()
        for kind in ("treatment", "control", "holdout"):
            if low in (n.lower() for n in getattr(self, kind)):
                return kind
        return None


class Scenario(_Strict):
    name: str
    description: str = ""
    window_days: int = Field(30, ge=1, le=365, description="Effects act within this many days of treatment.")
    name_template: str = Field(
        "segsync {experiment} {arm}", description="How campaign / list names carry experiment and arm."
    )
    arms: ArmNames = Field(default_factory=ArmNames)
    responded_status: str = Field("Responded", description="CampaignMember Status set when a member buys.")
    segments: list[SegmentSpec] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _segments(self) -> Scenario:
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError(f"segment names must be unique (got {names})")
        total = sum(s.share for s in self.segments)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"segment shares must sum to 1 (got {total:g})")
        if "{arm}" not in self.name_template:
            raise ValueError("name_template must contain {arm}")
        return self

    @property
    def segment_names(self) -> list[str]:
        return [s.name for s in self.segments]

    def attribute_values(self) -> dict[str, list[str]]:
        """Every attribute and its values across segments, in first-seen order."""
        out: dict[str, list[str]] = {}
        for seg in self.segments:
            for attr, dist in seg.attributes.items():
                values = out.setdefault(attr, [])
                values.extend(v for v in dist if v not in values)
        return out

    def name_pattern(self) -> re.Pattern[str]:
        """A regex for name_template with named groups (experiment, arm, segment_id, segment_name)."""
        parts = re.split(r"(\{[a-z_]+\})", self.name_template)
        regex = ""
        for part in parts:
            field = part[1:-1] if part.startswith("{") and part.endswith("}") else None
            if field in ("experiment", "segment_id", "segment_name") and f"(?P<{field}>" not in regex:
                regex += f"(?P<{field}>.+?)"
            elif field == "arm":
                regex += r"(?P<arm>[A-Za-z0-9_-]+)"
            else:
                regex += re.escape(part)
        return re.compile(f"^{regex}$")


def load_scenario(source: str | Path) -> Scenario:
    """A shipped scenario by name ('default', 'null') or a YAML file path.

    Raises ConfigurationError naming file, line and key for every problem.
    """

    def purchases_only(data: dict[str, Any], name: str) -> None:
        if "behaviours" in data and "segments" not in data:
            raise ConfigurationError(f"{name}: a SaaS scenario (usage and conversion, no purchases); "
                                     "run it with `segsync demo --scenario saas` (connector.sandbox.saas)")

    return load_scenario_file(source, Scenario, purchases_only)


ModelT = TypeVar("ModelT", bound=BaseModel)


def load_scenario_file(source: str | Path, model: type[ModelT],
                       check: Callable[[dict[str, Any], str], None] | None = None) -> ModelT:
    """A scenario of type ``model``: a shipped one by name or a YAML file path; ``check`` may
    refuse the parsed mapping first. ConfigurationError names file, line and key."""
    path = Path(source)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{source}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        shipped = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
        raise ConfigurationError(f"scenario {source}: not found (shipped: {', '.join(shipped)})") from None
    data, lines, errors = load_yaml_with_lines(text, path.name, lambda s, _where: s)
    if errors:
        raise ConfigurationError("\n".join(errors))
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path.name}:1: a scenario must be a mapping")
    if check is not None:
        check(data, path.name)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError("\n".join(render_validation_errors(exc, model, lines, path.name))) from None
