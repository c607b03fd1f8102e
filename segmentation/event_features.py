"""The usage features of :mod:`segmentation.events`, computed from an EventLog as of a cutoff.

Everything is a reduction over one integer key per event, ``customer * n_types + type``:
counts per window from one ``np.bincount`` over (key, window bucket) then a cumulative sum,
the trend from a weighted ``np.bincount`` (the least-squares slope is a sum over events of
``(x - mean x) / Sxx``), days since last from ``np.minimum.at``. Memory is a few int32 columns
of the event count plus small per-customer tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segmentation.events import EventFeatureSpec, EventLog, feature_names

_MINUTES_PER_DAY = 1440
_MINUTE_NS = 60_000_000_000


def build_event_features(log: EventLog, cutoff: pd.Timestamp | pd.Series, spec: EventFeatureSpec) -> pd.DataFrame:
    """One row per customer of ``log.customers`` (index customer_id, str), the columns of
    ``spec.columns``, from the events at or before ``cutoff``: one timestamp for everyone, or a
    Series of timestamps indexed by customer_id (each customer's own cutoff)."""
    if tuple(log.types) != tuple(spec.types):
        raise ValueError(f"the event log codes types {list(log.types)}, the spec asks for {list(spec.types)}")
    n, t = len(log.customers), len(spec.types)
    cut = log.cutoff_minutes(cutoff)
    limit = cut[log.customer] if isinstance(cut, np.ndarray) else cut
    kept = np.flatnonzero(log.minute <= limit)
    age = ((limit[kept] if isinstance(limit, np.ndarray) else limit) - log.minute[kept]) // _MINUTES_PER_DAY
    key = log.customer[kept].astype(np.int64) * t + log.kind[kept]
    del kept
    columns: dict[str, np.ndarray] = {}
    windows = sorted(set(spec.windows))
    counts = _window_counts(key, age, windows, n * t).reshape(n, t, len(windows))
    for j, name in enumerate(spec.types):
        for w, days in enumerate(windows):
            columns[f"{name}_count_{days}d"] = counts[:, j, w]
    trend = _trends(key, age, spec.trend_days, n * t).reshape(n, t)
    for j, name in enumerate(spec.types):
        columns[f"{name}_trend_{spec.trend_days}d"] = trend[:, j]
    since = _days_since(key, age, n * t).reshape(n, t)
    for j, name in enumerate(spec.types):
        columns[f"days_since_{name}"] = since[:, j]
    columns["features_adopted"] = _adopted(log, spec, cut, n)
    out = pd.DataFrame(columns, index=pd.Index(log.customers, name="customer_id", dtype=str))
    return out[spec.columns]


def _window_counts(key: np.ndarray, age: np.ndarray, windows: list[int], size: int) -> np.ndarray:
    """counts[key, w] = events younger than windows[w] days: one bincount over (key, bucket),
    where bucket is the first window an event falls in, then a running sum over buckets."""
    b = len(windows)
    inside = age < windows[-1]
    bucket = np.searchsorted(np.asarray(windows), age[inside], side="right")
    flat = np.bincount(key[inside] * b + bucket, minlength=size * b).reshape(size, b)
    return np.cumsum(flat, axis=1).astype(np.int32)


def _trends(key: np.ndarray, age: np.ndarray, days: int, size: int) -> np.ndarray:
    """Least-squares slope of daily counts over the last ``days`` days (x = 0 oldest .. days-1
    today), times (days - 1), over the mean daily count; 0 where the window holds no event.

    slope = sum_x (x - xbar) * y_x / Sxx, and each event adds 1 to its day's y_x, so the slope
    is a weighted count of events: no (customer, type, day) table is built."""
    inside = age < days
    x = (days - 1) - age[inside]
    xbar = (days - 1) / 2.0
    sxx = days * (days * days - 1) / 12.0
    slope = np.bincount(key[inside], weights=(x - xbar) / sxx, minlength=size)
    mean = np.bincount(key[inside], minlength=size) / days
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, slope * (days - 1) / mean, 0.0)


def _days_since(key: np.ndarray, age: np.ndarray, size: int) -> np.ndarray:
    youngest = np.full(size, np.iinfo(np.int32).max, dtype=np.int64)
    np.minimum.at(youngest, key, age)
    return np.where(youngest == np.iinfo(np.int32).max, np.nan, youngest.astype("float64"))


def _adopted(log: EventLog, spec: EventFeatureSpec, cut: np.ndarray | np.int64, n: int) -> np.ndarray:
    if spec.feature_type not in spec.types:
        return np.zeros(n, dtype=np.int32)
    customer, first = log.adoptions(spec.types.index(spec.feature_type))
    limit = cut[customer] if isinstance(cut, np.ndarray) else cut
    return np.bincount(customer[first <= limit], minlength=n).astype(np.int32)


def event_features_of_one(events: pd.DataFrame, cutoff: pd.Timestamp, spec: EventFeatureSpec) -> dict[str, float]:
    """The usage features of one customer ({column of ``spec.columns``: value}) from their
    clean canonical events (occurred_at UTC, type, and feature/properties/value for adoptions; the
    customer_id column is ignored), as of ``cutoff``: the real-time API's path for a customer the
    snapshot does not hold. An event after the cutoff counts as made at the cutoff (the API's clock
    does not move between cycles, as in :mod:`segmentation.increment`). Without an event: counts,
    trends and features adopted 0 and days since NaN, what :func:`join_event_features` gives."""
    if not events["type"].astype(str).isin(spec.types).any():
        return no_event_values(spec)
    cutoff = pd.Timestamp(cutoff)
    cutoff = (cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")).floor("min")
    when = pd.to_datetime(events["occurred_at"], utc=True)
    one = events.assign(customer_id="one", occurred_at=when.where(when <= cutoff, cutoff))
    row = build_event_features(EventLog.from_frame(one, spec, pd.Index(["one"])), cutoff, spec).iloc[0]
    return {name: float(value) for name, value in row.items()}


def no_event_values(spec: EventFeatureSpec) -> dict[str, float]:
    """The usage features of a customer without any event: counts, trends and features adopted
    0, days since NaN (never); no frame is built (the real-time API's common case)."""
    return {c: 0.0 if _zero_without_events(c) else float("nan") for c in spec.columns}


def _zero_without_events(column: str) -> bool:
    return not column.startswith("days_since_")


def join_event_features(features: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """``features`` (indexed by customer_id) with the usage columns added; a customer without any
    event gets counts, trends and features adopted of 0 and days since last NaN (never)."""
    joined = features.join(usage.drop(columns=[c for c in usage.columns if c in features.columns]), how="left")
    fill = {c: 0 for c in usage.columns if _zero_without_events(c) and c not in features.columns}
    return joined.fillna(fill).astype({c: usage[c].dtype for c in fill if usage[c].dtype.kind in "iu"})


def with_event_features(base: Callable[..., pd.DataFrame], log: EventLog, spec: EventFeatureSpec) -> Callable[..., pd.DataFrame]:
    """A feature function (customers, transactions, cutoff) -> frame that adds the usage features
    as of the same cutoff: what scoring stacks over its training cutoffs."""

    def features(customers: pd.DataFrame | None, transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
        return join_event_features(base(customers, transactions, cutoff), build_event_features(log, cutoff, spec))

    return features


@dataclass(frozen=True)
class UsageState:
    """What :func:`add_events_one` needs besides a customer's usage features to move them exactly,
    one row per customer of ``customers``: ``trend_n`` (customers x types, int32) the events of
    each type in the trend window (the trend's mean daily count), and ``adopted`` (customers x
    words, uint64) the features adopted, as bit sets over ``features`` (feature j is bit j % 64 of
    word j // 64): 8 bytes a customer for up to 64 distinct features."""

    customers: pd.Index
    types: tuple[str, ...]
    trend_n: np.ndarray
    adopted: np.ndarray
    features: tuple[str, ...]

    def of(self, row: int) -> tuple[dict[str, int], tuple[str, ...]]:
        """(type -> events in the trend window, the features adopted) of the customer at ``row``."""
        return dict(zip(self.types, map(int, self.trend_n[row]), strict=True)), adopted_names(self.adopted[row], self.features)


def adopted_names(words: np.ndarray, features: tuple[str, ...]) -> tuple[str, ...]:
    """The names a row of :attr:`UsageState.adopted` holds."""
    bits = np.unpackbits(np.ascontiguousarray(words, dtype="<u8").view(np.uint8), bitorder="little")[:len(features)]
    return tuple(features[j] for j in np.flatnonzero(bits))


def usage_state(log: EventLog, cutoff: pd.Timestamp, spec: EventFeatureSpec) -> UsageState:
    """The :class:`UsageState` of every customer of ``log`` as of ``cutoff`` (leak-free, like
    :func:`build_event_features`): two reductions over the events, no loop per customer."""
    n, t = len(log.customers), len(spec.types)
    cut = log.cutoff_minutes(cutoff)
    kept = log.minute <= cut
    age = (cut - log.minute[kept]) // _MINUTES_PER_DAY
    key = log.customer[kept].astype(np.int64) * t + log.kind[kept]
    trend_n = np.bincount(key[age < spec.trend_days], minlength=n * t).reshape(n, t).astype(np.int32)
    features = log.feature_names if spec.feature_type in spec.types else ()
    adopted = np.zeros((n, max(1, -(-len(features) // 64))), dtype=np.uint64)
    if features:
        used = kept & (log.kind == spec.types.index(spec.feature_type)) & (log.feature >= 0)
        code = log.feature[used].astype(np.int64)
        np.bitwise_or.at(adopted, (log.customer[used], code // 64), np.left_shift(np.uint64(1), (code % 64).astype(np.uint64)))
    return UsageState(pd.Index(log.customers, name="customer_id", dtype=str), tuple(spec.types), trend_n, adopted,
                      tuple(features))


def add_events_one(features: Mapping[str, Any], trend_n: Mapping[str, int], adopted: Collection[str],
                   events: pd.DataFrame, cutoff: pd.Timestamp, spec: EventFeatureSpec) -> dict[str, Any]:
    """One customer's usage features (``features``: the columns of ``spec.columns`` among others,
    NaN for days since never) after new clean canonical ``events``, exactly as
    :func:`build_event_features` gives them on all of the customer's events as of ``cutoff``;
    ``trend_n`` (type -> count) and ``adopted`` are the customer's :meth:`UsageState.of`. An
    event after the cutoff counts as made at it, as in :func:`event_features_of_one`."""
    out = dict(features)
    when = pd.to_datetime(events["occurred_at"], utc=True).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    stamp = pd.Timestamp(cutoff)
    cut = (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).value // _MINUTE_NS
    age = (cut - np.minimum(-(-when // _MINUTE_NS), cut)) // _MINUTES_PER_DAY
    kinds = events["type"].astype(str).to_numpy()
    d = spec.trend_days
    for name in spec.types:
        mine = age[kinds == name]
        if not len(mine):
            continue
        for w in sorted(set(spec.windows)):
            out[f"{name}_count_{w}d"] = float(features[f"{name}_count_{w}d"]) + float((mine < w).sum())
        since = float(features[f"days_since_{name}"])
        out[f"days_since_{name}"] = float(mine.min()) if since != since else min(since, float(mine.min()))
        out[f"{name}_trend_{d}d"] = _moved_trend(float(features[f"{name}_trend_{d}d"]), int(trend_n[name]), mine[mine < d], d)
    if spec.feature_type in spec.types:
        used = feature_names(events[kinds == spec.feature_type])
        out["features_adopted"] = float(len(set(adopted) | {str(f) for f in used.dropna()}))
    return out


def _moved_trend(trend: float, n: int, ages: np.ndarray, days: int) -> float:
    """The trend of :func:`_trends` after events of these ages (all inside the window): its
    slope is a sum over events, so the old slope comes back from the old trend and count."""
    if not len(ages):
        return trend
    sxx = days * (days * days - 1) / 12.0
    slope = trend * n / (days * (days - 1)) if n else 0.0
    slope += float((((days - 1) - ages - (days - 1) / 2.0) / sxx).sum())
    return slope * (days - 1) / ((n + len(ages)) / days)
