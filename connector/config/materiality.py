"""When a changed number is worth a CRM write: the materiality policy of the written values.

Scores and lifetime values move a little every day as recency grows; written at full
precision they would rewrite most records every day, and in a real org every rewrite costs an
API call, fires flows and fills field history. A rule says how a value is written (rounded to
`round_to`: 0.01 is whole percentage points, 0.1 bands of ten points, 1 whole currency units)
and how far it must move from the value the CRM last confirmed before it is rewritten.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector.config.base import Strict


class MaterialityRule(Strict):
    round_to: float = Field(0.01, gt=0, description="The written value's unit: 0.01 = whole percentage points of a "
                            "probability, 0.1 = bands of ten points, 1 = whole currency units.")
    min_change: float = Field(0.0, ge=0, description="Rewrite only when the value moved at least this much from the "
                              "value the CRM last confirmed (0: any change of the rounded value).")
    min_relative_change: float = Field(0.0, ge=0, description="... and at least this share of that confirmed value "
                                       "(0.1 = 10 %); for money, where one step does not fit every customer.")


class MaterialityConfig(Strict):
    """Rules per written value. Scores: propensity, churn and conversion scores and p_alive (probabilities)."""

    scores: MaterialityRule = Field(
        default_factory=lambda: MaterialityRule(round_to=0.01, min_change=0.05),
        description="Every probability (each scoring target, p_alive): whole percentage points, rewritten when it "
        "moved 5 points or more.",
    )
    clv: MaterialityRule = Field(
        default_factory=lambda: MaterialityRule(round_to=1, min_change=1, min_relative_change=0.10),
        description="Customer lifetime value: whole currency units, rewritten when it moved 10 % (and at least 1).",
    )
    reasons: Literal["drivers", "text"] = Field(
        "drivers", description="<score>_reasons: rewritten with their score or when the drivers they name change "
        "(drivers), or on any change of the text, e.g. 'recency 94 days' -> '95 days' (text)."
    )
    keys: dict[str, MaterialityRule] = Field(
        default_factory=dict, description="Per desired-state key (a score's name, clv, p_alive): overrides the rule above."
    )

    def rule(self, key: str) -> MaterialityRule:
        """The rule of one written numeric value."""
        if key in self.keys:
            return self.keys[key]
        return self.clv if key == "clv" else self.scores
