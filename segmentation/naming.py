"""Segment profiles and business names, both read relative to the whole population.

A segment's position on each feature is its *effect size*: the segment mean of the feature
after the same log / clip / standardise treatment the clustering uses, i.e. how many
population standard deviations it sits above or below everyone. Names come from the effect
sizes of recency, frequency, monetary value and tenure by fixed rules, so the same profile
always gets the same name; duplicates get a qualifier (spend, recency or frequency level),
then a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from segmentation.scaling import FeatureScaler

NOISE_NAME = "Unclassified"
_HIGH = 0.5  # effect size (population sd) that counts as clearly above or below everyone
_NAMING_COLUMNS = ("recency_days", "frequency", "monetary_total", "tenure_days")


def effect_sizes(features: pd.DataFrame, keys: pd.Series, columns: Sequence[str]) -> pd.DataFrame:
    """Per segment (rows, sorted) and per scaled column (one-hot columns read "attr=value"):
    the segment mean in population standard deviations. `keys` is aligned with `features`."""
    usable = [c for c in columns if c in features.columns]
    scaler = FeatureScaler(usable).fit(features)
    z = pd.DataFrame(scaler.transform(features), columns=scaler.columns_out_)
    return z.groupby(keys.to_numpy(), sort=True).mean()


def profile_segments(
    features: pd.DataFrame, keys: pd.Series, columns: Sequence[str], effects: pd.DataFrame
) -> pd.DataFrame:
    """One row per segment key (sorted): segment_id, size, share, revenue, revenue_share,
    mean_<c> and median_<c> for each numeric column, top_attributes (the three columns with
    the largest effect size, e.g. "recency_days +1.9 sd; plan=pro +0.8 sd").

    `keys` (aligned with `features`) holds each customer's segment id; revenue is the sum of
    monetary_total; `effects` comes from `effect_sizes`.
    """
    grouper = keys.to_numpy()
    numeric = [c for c in columns if c in features and pd.api.types.is_numeric_dtype(features[c])]
    grouped = features[numeric].groupby(grouper, sort=True)
    size = grouped.size()
    out = pd.DataFrame({"segment_id": size.index.astype(str), "size": size.to_numpy()})
    out["share"] = out["size"] / max(len(features), 1)
    if "monetary_total" in features:
        revenue = features["monetary_total"].groupby(grouper, sort=True).sum().to_numpy()
        out["revenue"] = revenue
        total = revenue.sum()
        out["revenue_share"] = revenue / total if total > 0 else 0.0
    means, medians = grouped.mean(), grouped.median()
    for c in numeric:
        out[f"mean_{c}"] = means[c].to_numpy()
        out[f"median_{c}"] = medians[c].to_numpy()
    out["top_attributes"] = [describe_effects(effects.loc[key]) for key in size.index]
    return out


def describe_effects(row: pd.Series, top: int = 3) -> str:
    """The `top` largest absolute effect sizes, e.g. "recency_days +1.9 sd; frequency -0.7 sd"."""
    ordered = row.dropna().abs().sort_values(ascending=False, kind="stable").index[:top]
    return "; ".join(f"{c} {row[c]:+.1f} sd" for c in ordered)


def name_segments(effects: pd.DataFrame, profiles: pd.DataFrame | None = None) -> pd.Series:
    """A unique business name per segment (index of `effects`), deterministic.

    `profiles` (optional, rows aligned with `effects`) supplies mean_frequency to spot
    segments that never bought.
    """
    never = np.zeros(len(effects), dtype=bool)
    if profiles is not None and "mean_frequency" in profiles:
        never = profiles["mean_frequency"].to_numpy() < 0.5
    base = pd.Series(
        [
            "Prospects (No Purchase)" if never[i] else name_from_effects(effects.iloc[i])
            for i in range(len(effects))
        ],
        index=effects.index,
    )
    return make_unique(base, effects)


def name_from_effects(row: pd.Series) -> str:
    """Business name from the effect sizes of recency, frequency, monetary and tenure."""
    r, f, m, t = (_effect(row, c) for c in _NAMING_COLUMNS)
    if r > _HIGH:  # lapsed: last purchase well before everyone else's
        if m > _HIGH:
            return "At-Risk Big Spenders"
        return "At-Risk Regulars" if f > _HIGH else "Dormant"
    if t < -_HIGH and r < 0 and f <= _HIGH:  # joined recently and bought recently
        return "Promising Newcomers" if m > _HIGH else "New Customers"
    if m > _HIGH and f > _HIGH:
        return "High-Value Loyalists" if r < -_HIGH else "Cooling High-Value"
    if f > _HIGH:
        return "Loyal Regulars"
    if m > _HIGH:
        return "Big Spenders"
    if m < -_HIGH and f < -_HIGH:
        return "Occasional Low Spenders"
    return "Recently Active" if r < -_HIGH else "Steady Customers"


# Qualifiers that tell same-named segments apart: (column, words from low to high effect).
_QUALIFIERS = (
    ("monetary_total", ("Very Low Spend", "Low Spend", "Mid Spend", "High Spend", "Top Spend")),
    ("recency_days", ("Very Recent", "Recent", "Mid Recency", "Lapsing", "Long Lapsed")),
    ("frequency", ("Rare", "Infrequent", "Regular", "Frequent", "Very Frequent")),
)
_LEVELS = (-3 * _HIGH, -_HIGH, _HIGH, 3 * _HIGH)  # effect-size cut points between the words


def make_unique(names: pd.Series, effects: pd.DataFrame) -> pd.Series:
    """Tell duplicate names apart with qualifiers (e.g. "Dormant (Low Spend)",
    "Dormant (Mid Spend)"): first the dimension giving the most distinct words, then the
    next for whoever still collides; numbers are the last resort. The result depends only
    on the names and effect sizes."""
    words: dict = {key: [] for key in names.index}
    for _, keys in names.groupby(names, sort=True).groups.items():
        if len(keys) > 1:
            _qualify(
                list(keys), effects, [q for q in _QUALIFIERS if q[0] in effects.columns], words
            )
    out = pd.Series(
        [f"{names[k]} ({', '.join(words[k])})" if words[k] else names[k] for k in names.index],
        index=names.index,
    )
    taken: set[str] = set()
    for key in sorted(out.index, key=str):
        candidate, n = out[key], 2
        while candidate in taken:
            candidate, n = f"{out[key]} {n}", n + 1
        out[key] = candidate
        taken.add(candidate)
    return out


def _qualify(keys: list, effects: pd.DataFrame, qualifiers: list, words: dict) -> None:
    if len(keys) < 2 or not qualifiers:
        return
    level = {
        q[0]: {k: int(np.searchsorted(_LEVELS, _effect(effects.loc[k], q[0]))) for k in keys}
        for q in qualifiers
    }
    # Most distinct words first; a wider spread of effect sizes breaks ties.
    column, vocab = max(
        qualifiers,
        key=lambda q: (
            len(set(level[q[0]].values())),
            np.ptp([_effect(effects.loc[k], q[0]) for k in keys]),
        ),
    )
    if len(set(level[column].values())) == 1:
        _rank_within(keys, effects, qualifiers, words)
        return
    for k in keys:
        words[k].append(vocab[level[column][k]])
    rest = [q for q in qualifiers if q[0] != column]
    for lvl in sorted(set(level[column].values())):
        _qualify([k for k in keys if level[column][k] == lvl], effects, rest, words)


_RELATIVE = {
    "monetary_total": ("Higher Spend", "Lower Spend", "Spend Rank"),
    "recency_days": ("Less Recent", "More Recent", "Recency Rank"),
    "frequency": ("More Frequent", "Less Frequent", "Frequency Rank"),
}


def _rank_within(keys: list, effects: pd.DataFrame, qualifiers: list, words: dict) -> None:
    """Same level on every dimension: rank the segments on the widest-spread one."""
    spread = {q[0]: [_effect(effects.loc[k], q[0]) for k in keys] for q in qualifiers}
    column = max(spread, key=lambda c: np.ptp(spread[c]))
    higher, lower, rank = _RELATIVE[column]
    order = sorted(keys, key=lambda k: (-_effect(effects.loc[k], column), str(k)))
    for i, k in enumerate(order):
        words[k].append((higher if i == 0 else lower) if len(keys) == 2 else f"{rank} {i + 1}")


def _effect(row: pd.Series, column: str) -> float:
    value = row.get(column, 0.0)
    return float(value) if pd.notna(value) else 0.0
