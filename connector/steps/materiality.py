"""Materiality: how each written number is rounded, and when a move is worth a rewrite.

Two halves of one policy (connector.config.materiality): `round_scores` puts every score in
the desired state on its rule's unit (whole percentage points, bands, whole currency units),
and `settle` keeps the value the CRM last confirmed wherever the new one moved less than the
rule's step. The comparison is always against the confirmed value, never yesterday's desired
one, so a score drifting half a point a day is rewritten when the drift adds up to the step,
not never, and a record whose only moves are immaterial is not rewritten at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from connector.config.materiality import MaterialityConfig, MaterialityRule

#: Float noise allowed when a move is compared with a step: 0.28 - 0.23 is 0.05000000000000002.
_TOLERANCE = 1e-9
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def round_to(values: pd.Series, unit: float) -> pd.Series:
    """`values` on multiples of `unit` (half to even), without float residue (0.23, not 0.23000000000000001)."""
    decimals = max(0, -math.floor(math.log10(unit))) + 3
    return (np.round(values / unit) * unit).round(decimals)


def round_scores(scores: pd.DataFrame, policy: MaterialityConfig) -> pd.DataFrame:
    """Each float column (scores, p_alive, clv) of a customer-indexed frame on its rule's unit."""
    out = scores.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = round_to(out[col], policy.rule(str(col)).round_to)
    return out


def is_material(new: float, old: float, rule: MaterialityRule) -> bool:
    """Whether a value that moved from `old` (confirmed) to `new` is worth a rewrite."""
    step = max(rule.min_change, rule.min_relative_change * abs(old))
    return abs(new - old) >= step - _TOLERANCE


def settle(values: Mapping[str, Any], confirmed: Mapping[str, Any], policy: MaterialityConfig,
           numeric: Iterable[str]) -> dict[str, Any]:
    """`values` with every numeric key that moved immaterially from `confirmed` set back to it.

    A value appearing or disappearing (None on either side) is always material. A score's
    reason codes (`<score>_reasons`, e.g. "recency 94 days; frequency 1") follow their score:
    when the score was not rewritten, they are rewritten only if the drivers named changed, not
    because a day later recency reads 95 days.
    """
    out = dict(values)
    if out == confirmed:  # most records on most days: nothing moved at all
        return out
    for key in numeric:
        new, old = out.get(key), confirmed.get(key)
        if new != old and _number(new) and _number(old) and not is_material(new, old, policy.rule(key)):
            out[key] = old
    for key, new in values.items() if policy.reasons == "drivers" else ():
        old = confirmed.get(key)
        if new == old or not key.endswith("_reasons") or not isinstance(new, str) or not isinstance(old, str):
            continue
        score = key.removesuffix("_reasons")
        rewritten = score in out and out[score] != confirmed.get(score)
        if not rewritten and named_drivers(old) == named_drivers(new):
            out[key] = old
    return out


def named_drivers(reasons: str) -> list[str]:
    """The drivers a reason-code text names, without their values: "recency 94 days; total spend
    35.20" -> ["recency # days", "total spend #"]."""
    return [_NUMBER.sub("#", part.strip()) for part in reasons.split(";")]


def policy_fingerprint(policy: MaterialityConfig) -> str:
    """Empty for the default policy; otherwise a digest that changes with the rules (a changed unit or
    step rewrites every record once, like a changed field mapping)."""
    if policy == MaterialityConfig():
        return ""
    return hashlib.sha256(json.dumps(policy.model_dump(), sort_keys=True).encode()).hexdigest()[:16]


def _number(v: object) -> TypeGuard[float]:
    """A real number (not a bool, not NaN)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v
