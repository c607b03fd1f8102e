"""Segmentation, scoring and experiment settings (mapped onto the pure core's own parameter types)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from connector.config.base import Strict

_MODELS: tuple[Literal["logistic", "gbm"], ...] = ("logistic", "gbm")
_METRICS: tuple[Literal["conversion", "revenue"], ...] = ("conversion", "revenue")
#: The shape of a usage feature's name (connector.config.features, segmentation.events).
_USAGE = re.compile(r"^(?:[a-z][a-z0-9_]*_(?:count|trend)_\d+d|days_since_[a-z][a-z0-9_]*|features_adopted)$")
#: numpy's seeds are 32-bit: a larger random_state crashes scikit-learn mid-run.
MAX_SEED = 2**32 - 1

# --------------------------------------------------------------------------- segmentation, scoring


class RetrainPolicy(Strict):
    every_days: int | None = Field(30, ge=1, le=3650, description="Retrain at least this often.")
    psi_threshold: float | None = Field(0.25, gt=0, le=100, description="Retrain when any feature's PSI passes this.")
    share_shift_threshold: float | None = Field(0.10, gt=0, le=1, description="Retrain when a segment's share moves this much.")


class SegmentationConfig(Strict):
    method: Literal["rfm", "kmeans", "minibatch_kmeans", "bisecting_kmeans", "gmm", "dbscan", "hdbscan", "hierarchical"] = "kmeans"
    k: Annotated[int, Field(ge=2, le=50)] | Literal["auto"] = "auto"
    k_min: int = Field(2, ge=2, le=50)
    k_max: int = Field(10, ge=2, le=50)
    features: list[str] = Field(
        default_factory=lambda: ["recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days"]
    )
    attributes: list[str] = Field(default_factory=list, description="Canonical customer attributes used as features.")
    sample_size: int = Field(20_000, ge=100, le=1_000_000, description="Rows used to pick k and compute silhouette.")
    min_cluster_size: int = Field(50, ge=2, le=1_000_000, description="DBSCAN/HDBSCAN minimum segment size.")
    random_state: int = Field(0, ge=0, le=MAX_SEED)
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    channel_costs: dict[str, Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]] = Field(
        default_factory=lambda: {"email": 0.01}, description="Cost to reach one customer, per channel."
    )

    @model_validator(mode="after")
    def _consistent(self) -> SegmentationConfig:
        from segmentation.features import (
            BEHAVIOUR_COLUMNS,  # lazily: pandas is not needed to read YAML
        )

        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is larger than k_max ({self.k_max})")
        if not self.features and not self.attributes:
            raise ValueError("features is empty: name at least one of " + ", ".join(BEHAVIOUR_COLUMNS))
        # usage features (features.events) are checked by the root config, which knows that section
        unknown = [f for f in self.features if f not in BEHAVIOUR_COLUMNS and not _USAGE.match(f)]
        if unknown:
            raise ValueError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(BEHAVIOUR_COLUMNS)} "
                             "(customer attributes go under segmentation.attributes)")
        for name, values in (("features", self.features), ("attributes", self.attributes)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a name twice ({', '.join(values)})")
        return self


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
    horizon_days: int = Field(365, ge=1, le=3650)
    annual_discount_rate: float = Field(0.10, ge=0, lt=1)


class ScoringConfig(Strict):
    targets: list[ScoreTarget] = Field(default_factory=list)
    clv: ClvConfig = Field(default_factory=ClvConfig)
    cutoffs: int = Field(4, ge=1, le=24, description="Stacked training cutoffs; the last one validates out of time.")
    retrain_every_days: int = Field(
        7, ge=0, le=3650, description="Reuse a score model younger than this (data days); 0 retrains every run."
    )
    reason_codes: int = Field(3, ge=0, le=10)
    models: list[Literal["logistic", "gbm"]] = Field(default_factory=lambda: list(_MODELS))
    smote: bool = False
    random_state: int = Field(0, ge=0, le=MAX_SEED)


# --------------------------------------------------------------------------- experiments


class Arm(Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,40}$")
    weight: float = Field(..., gt=0, le=1)
    control: bool = False
    offers: Literal["personalised", "segment_default"] | None = Field(
        None, description="Which offers (offer_1..3) this arm's customers get: personalised (the model's) or "
        "segment_default (their segment's most popular products); unset leaves the offers alone.",
    )


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
    conversion_window_days: int = Field(30, ge=1, le=730)
    cuped_days: int = Field(90, ge=0, le=730, description="Pre-period for CUPED; 0 turns it off.")
    revenue_cap_quantile: float | None = Field(0.99, gt=0, le=1)

    @model_validator(mode="after")
    def _spec(self) -> ExperimentConfig:
        """The pure spec's own checks (arms, weights, ISO start/end, their order), run at load time."""
        from experiments.spec import ArmSpec, ExperimentSpec

        try:
            self._spec_of(ArmSpec, ExperimentSpec)
        except ValueError as exc:  # the key path already says which experiment
            raise ValueError(str(exc).removeprefix(f"experiment {self.key!r}: ")) from None
        return self

    def _spec_of(self, arm_spec: Any, experiment_spec: Any) -> Any:
        return experiment_spec(
            key=self.key, arms=tuple(arm_spec(a.name, a.weight, a.control) for a in self.arms), coverage=self.coverage,
            start=self.start, end=self.end, metrics=tuple(self.metrics),  # type: ignore[arg-type]  # ISO text; the spec parses it
            conversion_window_days=self.conversion_window_days, cuped_days=self.cuped_days,
            revenue_cap_quantile=self.revenue_cap_quantile,
        )


class ExperimentsConfig(Strict):
    holdout: HoldoutConfig = Field(default_factory=HoldoutConfig)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    sequential: bool = Field(True, description="Always-valid intervals, honest under daily looks.")
    sequential_tuning: int | None = Field(None, ge=1, le=1_000_000_000, description="Expected sample per segment; defaults to its size.")
    correction: Literal["holm", "bh", "none"] = "holm"
    items: list[ExperimentConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_keys(self) -> ExperimentsConfig:
        keys = [e.key for e in self.items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"experiment keys must be unique (repeated: {', '.join(dup)})")
        return self
