"""Features beyond purchases: usage events (logins, features used, tickets) as of each cutoff.

    features:
      events:
        types: [login, feature_used, ticket]
        windows: [7, 14, 30, 90]
        trend_days: 14

Each type gets <type>_count_<w>d per window, <type>_trend_<d>d and days_since_<type>, plus
features_adopted (distinct features named by `feature_type` events); segmentation.features and
the score models may then name them (segmentation.events has the definitions).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from connector.config.base import Strict

_NAME = r"^[a-z][a-z0-9_]{0,39}$"


class EventFeaturesConfig(Strict):
    types: list[str] = Field(default_factory=lambda: ["login", "feature_used", "ticket"], min_length=1,
                             description="Event types to build features for (others are ignored).")
    windows: list[int] = Field(default_factory=lambda: [7, 14, 30, 90], min_length=1,
                               description="Count windows, in days.")
    trend_days: int = Field(14, ge=2, le=365, description="Days over which the trend (least-squares slope) is fitted.")
    feature_type: str = Field("feature_used", description="The type whose events name a product feature "
                              "(properties.feature, a feature column, or value): features_adopted counts them.")

    @model_validator(mode="after")
    def _names(self) -> EventFeaturesConfig:
        import re

        bad = [t for t in self.types if not re.match(_NAME, t)]
        if bad:
            raise ValueError(f"types: {', '.join(map(repr, bad))} must be lowercase letters, digits and _ (a column name)")
        if len(set(self.types)) != len(self.types):
            raise ValueError(f"types lists a name twice ({', '.join(self.types)})")
        out = [w for w in self.windows if not 1 <= w <= 3650]
        if out:
            raise ValueError(f"windows must be 1 to 3650 days (got {out})")
        return self

    def spec(self) -> Any:
        """The pure core's segmentation.events.EventFeatureSpec."""
        from segmentation.events import EventFeatureSpec

        return EventFeatureSpec(types=tuple(self.types), windows=tuple(self.windows), trend_days=self.trend_days,
                                feature_type=self.feature_type)

    def columns(self) -> list[str]:
        return list(self.spec().columns)


class FeaturesConfig(Strict):
    events: EventFeaturesConfig | None = Field(None, description="Usage features from events; off when unset.")
