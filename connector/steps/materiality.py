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

    A value appearing or disappearing (None on either side) is always material. With
    `reasons: drivers`, explanations follow what they explain: a score's reason codes
    (`<score>_reasons`, e.g. "recency 94 days; frequency 1") are rewritten with their score or
    when the drivers named change, not because a day later recency reads 95 days; offer_reasons
    with offer_1..3.
    """
    out = dict(values)
    if out == confirmed:  # most records on most days: nothing moved at all
        return out
    for key in numeric:
        new, old = out.get(key), confirmed.get(key)
        if new != old and _number(new) and _number(old) and not is_material(new, old, policy.rule(key)):
            out[key] = old
    if policy.reasons == "drivers":
        _keep_reasons(out, values, confirmed)
    return out


def _keep_reasons(out: dict[str, Any], values: Mapping[str, Any], confirmed: Mapping[str, Any]) -> None:
    """Confirmed reason texts stay when what they explain was not rewritten: `<score>_reasons`
    when the score kept its value and the drivers named are the same; offer_reasons (a share
    that moved, a later "last bought" date) when offer_1..3 are the same."""
    if "offer_reasons" in values and isinstance(confirmed.get("offer_reasons"), str) \
            and all(out.get(k) == confirmed.get(k) for k in ("offer_1", "offer_2", "offer_3")):
        out["offer_reasons"] = confirmed["offer_reasons"]
    for key, new in values.items():
        old = confirmed.get(key)
        if new == old or key == "offer_reasons" or not key.endswith("_reasons") or not isinstance(new, str) \
                or not isinstance(old, str):
            continue
        score = key.removesuffix("_reasons")
        rewritten = score in out and out[score] != confirmed.get(score)
        if not rewritten and named_drivers(old) == named_drivers(new):
            out[key] = old


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
