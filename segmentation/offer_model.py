"""The offer model: what a run reuses between retrains, and when it is refitted.

Comparing every method out of time (segmentation.offer_evaluation) and fitting the ranker cost
far more than scoring with them, and neither moves much from one day to the next. So a fitted
`OfferModel` keeps the out-of-time table, the chosen method and why, and the fitted ranker
(when that is the method); later runs score with it until `retrain_reason` says a refit is due:

- no model yet, or it was fitted on another definition (the caller compares the settings' hash);
- it is `every_days` data days old or older (0 refits every run);
- the product mix moved: the total variation distance between the products' shares of the line
  items of the last horizon before the model's date and before today passes
  `product_shift_threshold` (new products selling, old ones fading);
- the segments it was fitted on were retrained (segment popularity and the ranker's segment
  features change meaning).

Rules (exclusions, eligibility, diversity) are applied when offers are selected, every run, so
a changed rule needs no refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from segmentation.offer_ranker import OfferRanker


@dataclass(frozen=True)
class OfferRetrain:
    """every_days: refit at least this often (data days; 0: every run); product_shift_threshold:
    refit when the product mix moved this much (total variation, 0 to 1; None: never)."""

    every_days: int = 7
    product_shift_threshold: float | None = 0.2

    def __post_init__(self) -> None:
        if self.every_days < 0:
            raise ValueError(f"offers retrain every_days {self.every_days!r}: expected 0 or more")
        if self.product_shift_threshold is not None and not 0 < self.product_shift_threshold <= 1:
            raise ValueError(f"offers product_shift_threshold {self.product_shift_threshold!r}: expected a share in (0, 1]")


@dataclass
class OfferModel:
    """A fitted offer model.

    as_of: the date it was fitted for; product_mix: product_id -> share of the line items in
    the horizon before as_of; segments_version: the segmentation model_version it saw (None
    without one); evaluation: the out-of-time table (None when not evaluated); method and
    reason: what was chosen and why; ranker: the fitted OfferRanker when method is "ranker".
    """

    as_of: pd.Timestamp
    product_mix: pd.Series
    segments_version: str | None
    evaluation: pd.DataFrame | None
    method: str
    reason: str
    ranker: OfferRanker | None = None


def product_mix(items: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int) -> pd.Series:
    """product_id (str) -> its share of the line items dated in [as_of - horizon_days, as_of)."""
    recent = items["occurred_at"] >= as_of - pd.Timedelta(days=horizon_days)
    ids = items.loc[recent & (items["occurred_at"] < as_of), "product_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        ids = ids.cat.remove_unused_categories()
    return mix_of(ids.astype(str).value_counts())


def mix_of(counts: pd.Series) -> pd.Series:
    """product_id (str) -> share, from each product's count of line items in the horizon."""
    shares = counts / counts.sum()
    return shares.rename_axis("product_id").rename("share").sort_index()


def mix_shift(before: pd.Series, now: pd.Series) -> float:
    """Total variation distance between two product mixes (0: the same shares, 1: no product in common)."""
    if before.empty and now.empty:
        return 0.0
    if before.empty or now.empty:
        return 1.0
    both = pd.concat([before.rename("a"), now.rename("b")], axis=1).fillna(0.0)
    return float(0.5 * (both["a"] - both["b"]).abs().sum())


def retrain_reason(
    previous: OfferModel | None, policy: OfferRetrain, as_of: pd.Timestamp, mix: pd.Series, segments_version: str | None,
) -> str | None:
    """Why the offer model must be refitted now, or None to reuse `previous` (see module doc)."""
    if previous is None:
        return "no offer model yet"
    age = (as_of - previous.as_of).days
    if policy.every_days == 0:
        return "retrain every_days 0: refit every run"
    if age >= policy.every_days or age < 0:
        return f"the offer model is {age} day(s) old (retrain every_days {policy.every_days})"
    if previous.segments_version != segments_version:
        return f"the segments were retrained ({previous.segments_version} -> {segments_version})"
    shift = mix_shift(previous.product_mix, mix)
    if policy.product_shift_threshold is not None and shift >= policy.product_shift_threshold:
        return f"the product mix moved {shift:.2f} (total variation; product_shift_threshold {policy.product_shift_threshold})"
    return None


def segments_version(segments: pd.DataFrame) -> str | None:
    """The segmentation model_version the segments table carries (the newest if it holds several)."""
    if "model_version" not in segments or segments.empty:
        return None
    versions = segments["model_version"].dropna().astype(str)
    return None if versions.empty else str(versions.max())
