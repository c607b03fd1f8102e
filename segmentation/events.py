"""Usage features from canonical events, as of a cutoff, leak-free and vectorised.

Canonical events (DESIGN.md): customer_id, occurred_at (UTC), type, value, properties; a
``feature`` column may stand in for ``properties["feature"]`` (SQL and CSV sources carry it as
a column). Whatever their origin (files, SQL, the serving API, CRM tasks and tickets), they
become an :class:`EventLog`: integer-coded customers and types and a minute offset per event,
from which :func:`event_features` computes, per customer and configured type, with plain
reductions over integer keys (``np.bincount``, ``np.minimum.at``), never a loop per customer:

- ``<type>_count_<w>d``: events in the last ``w`` days (for every configured window);
- ``<type>_trend_<d>d``: the least-squares slope of daily counts over the last ``d`` days,
  times ``d - 1`` and divided by the mean daily count: the fitted change over the window as a
  share of its average level (-0.6 reads "down 60 %"); 0 without events in the window;
- ``days_since_<type>``: whole days since the latest one (NaN when there never was one);
- ``features_adopted``: distinct features used (``feature`` of ``feature_type`` events) so far.

Leak-free: an event counts only if it happened at or before the cutoff. Event times are
rounded up to the minute and cutoffs down, so an event seconds after a cutoff is never counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segmentation.features import _parse_dates as parse_dates

EVENT_COLUMNS = ("customer_id", "occurred_at", "type")
_MINUTES_PER_DAY = 1440
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass(frozen=True)
class EventFeatureSpec:
    """Which event features to build: ``types`` (event type names), count ``windows`` in days,
    ``trend_days`` for the slope, and ``feature_type`` whose events name an adopted feature."""

    types: tuple[str, ...] = ("login", "feature_used", "ticket")
    windows: tuple[int, ...] = (7, 14, 30, 90)
    trend_days: int = 14
    feature_type: str = "feature_used"

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("event features need at least one event type")
        if len(set(self.types)) != len(self.types):
            raise ValueError(f"event types list a name twice ({', '.join(self.types)})")
        bad = [w for w in self.windows if w < 1]
        if bad or self.trend_days < 2:
            raise ValueError(f"windows must be >= 1 day and trend_days >= 2 (got windows {list(self.windows)}, "
                             f"trend_days {self.trend_days})")

    @property
    def columns(self) -> list[str]:
        """The feature columns, in output order."""
        out = [f"{t}_count_{w}d" for t in self.types for w in sorted(set(self.windows))]
        out += [f"{t}_trend_{self.trend_days}d" for t in self.types]
        out += [f"days_since_{t}" for t in self.types]
        return [*out, "features_adopted"]


class EventLog:
    """Events as lean integer columns: ``customer`` (int32 code into ``customers``), ``kind``
    (int16 code into ``types``), ``minute`` (int32 minutes since ``origin``, rounded up) and
    ``feature`` (int32 code of the adopted feature, -1 for none; ``feature_names`` names the
    codes). Events of other types are left out when built from a frame."""

    def __init__(self, customer: np.ndarray, kind: np.ndarray, minute: np.ndarray, feature: np.ndarray,
                 customers: pd.Index, types: Sequence[str], origin: pd.Timestamp, feature_names: Sequence[str] = ()) -> None:
        if not (len(customer) == len(kind) == len(minute) == len(feature)):
            raise ValueError("event columns differ in length")
        self.customer, self.kind, self.minute, self.feature = customer, kind, minute, feature
        self.customers, self.types, self.origin = pd.Index(customers), tuple(types), origin
        self.feature_names = tuple(feature_names)  # feature code -> name (empty when built from codes alone)
        self._adoptions: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.customer)

    @classmethod
    def from_frame(cls, events: pd.DataFrame, spec: EventFeatureSpec, customers: pd.Index | None = None) -> EventLog:
        """Code a canonical events frame (must be clean: see :func:`clean_events`).

        ``customers`` fixes the customer order (events of other customers are dropped); by
        default every customer with an event of a configured type, sorted."""
        missing = [c for c in EVENT_COLUMNS if c not in events.columns]
        if missing:
            raise ValueError(f"events are missing column(s) {missing}")
        kind = pd.Index(list(spec.types)).get_indexer(events["type"].astype(str))
        keep = kind >= 0
        rows = events[keep] if not keep.all() else events
        ids = rows["customer_id"].astype(str)
        index = pd.Index(sorted(ids.unique()), dtype=str) if customers is None else pd.Index(customers.astype(str))
        code = index.get_indexer(ids)
        known = code >= 0
        when = pd.to_datetime(rows["occurred_at"], utc=True).to_numpy(dtype="datetime64[ns]")
        origin = pd.Timestamp(when.min(), tz="UTC").floor("D") if len(when) else _EPOCH
        minute = _ceil_minutes(when, origin)
        feature, names = _feature_codes(rows, kind[keep], spec)
        return cls(code[known].astype(np.int32), kind[keep][known].astype(np.int16), minute[known],
                   feature[known], index, spec.types, origin, names)

    def cutoff_minutes(self, cutoff: pd.Timestamp | pd.Series) -> np.ndarray | np.int64:
        """Minutes since ``origin``, rounded down: one cutoff, or one per customer (a Series
        indexed by customer_id; customers it leaves out get no events)."""
        if isinstance(cutoff, pd.Series):
            stamps = pd.to_datetime(cutoff, utc=True).reindex(self.customers)
            minutes = ((stamps - self.origin) // pd.Timedelta(minutes=1)).to_numpy(dtype="float64")
            return np.where(np.isnan(minutes), np.iinfo(np.int32).min, minutes).astype(np.int64)
        stamp = pd.Timestamp(cutoff)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return np.int64((stamp - self.origin) // pd.Timedelta(minutes=1))

    def adoptions(self, feature_kind: int) -> tuple[np.ndarray, np.ndarray]:
        """(customer code, first minute) of each distinct (customer, feature) pair; computed once."""
        if self._adoptions is None:
            used = (self.kind == feature_kind) & (self.feature >= 0)
            width = np.int64(max(int(self.feature.max(initial=0)) + 1, 1))
            pair = self.customer[used].astype(np.int64) * width + self.feature[used]
            order = np.lexsort((self.minute[used], pair))
            pair, minute = pair[order], self.minute[used][order]
            first = np.ones(len(pair), dtype=bool)
            first[1:] = pair[1:] != pair[:-1]
            self._adoptions = ((pair[first] // width).astype(np.int32), minute[first])
        return self._adoptions


def _ceil_minutes(when: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    ns = when.astype(np.int64) - origin.value
    minutes = -(-ns // 60_000_000_000)  # ceiling division
    if len(minutes) and minutes.max() > np.iinfo(np.int32).max:
        raise ValueError("events span more than 4,000 years; check occurred_at")
    return minutes.astype(np.int32)


def _feature_codes(rows: pd.DataFrame, kind: np.ndarray, spec: EventFeatureSpec) -> tuple[np.ndarray, list[str]]:
    """Code of the adopted feature per row, for ``feature_type`` rows only (-1 elsewhere), and
    the names of the codes."""
    out = np.full(len(rows), -1, dtype=np.int32)
    if spec.feature_type not in spec.types:
        return out, []
    used = kind == spec.types.index(spec.feature_type)
    if not used.any():
        return out, []
    names = feature_names(rows[used])
    codes, uniques = pd.factorize(names.where(names.notna(), None).to_numpy(dtype=object))
    out[used] = codes
    return out, [str(u) for u in uniques]


def feature_names(rows: pd.DataFrame) -> pd.Series:
    """The feature each event adopts (object, NaN for none), by position: the ``feature``
    column, else ``properties["feature"]``, else ``value``, the first one present."""
    names = pd.Series(None, index=range(len(rows)), dtype=object)
    if "feature" in rows.columns:
        names = pd.Series(rows["feature"].to_numpy(dtype=object))
    if "properties" in rows.columns and names.isna().any():
        gap = names.isna().to_numpy()
        names[gap] = [_feature_of(p) for p in rows["properties"].to_numpy(dtype=object)[gap]]
    if "value" in rows.columns and names.isna().any():
        gap = names.isna().to_numpy()
        names[gap] = rows["value"].to_numpy(dtype=object)[gap]
    return names


def _feature_of(properties: Any) -> Any:
    if isinstance(properties, str):
        try:
            properties = json.loads(properties)
        except ValueError:
            return None
    return properties.get("feature") if isinstance(properties, dict) else None


def clean_events(events: pd.DataFrame, latest: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split canonical events into (clean, rejected); every input row lands in one.

    clean: the same columns, customer_id and type as str, occurred_at as UTC datetime.
    rejected: customer_id, type, occurred_at (as given) and reason (the first problem found:
    missing customer_id, missing type, occurred_at not a date, or after ``latest``)."""
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events are missing column(s) {missing}")
    frame = events.reset_index(drop=True)
    raw = frame["occurred_at"]
    when = parse_dates(raw)
    reason = pd.Series(None, index=frame.index, dtype=object)
    blank_id = frame["customer_id"].isna() | (frame["customer_id"].astype(str).str.strip() == "")
    blank_type = frame["type"].isna() | (frame["type"].astype(str).str.strip() == "")
    checks = [(blank_id, lambda i: "missing customer_id"), (blank_type, lambda i: "missing type"),
              (when.isna(), lambda i: f"occurred_at is not a date ({raw[i]!r})")]
    if latest is not None:
        late = pd.Timestamp(latest)
        checks.append((when > late, lambda i: f"occurred_at is in the future ({when[i]:%Y-%m-%d} is after {late:%Y-%m-%d})"))
    for bad, describe in checks:
        new = bad.to_numpy() & reason.isna().to_numpy()
        if new.any():
            reason[new] = [describe(i) for i in frame.index[new]]
    ok = reason.isna().to_numpy()
    clean = frame.loc[ok].assign(customer_id=frame.loc[ok, "customer_id"].astype(str),
                                 type=frame.loc[ok, "type"].astype(str), occurred_at=when[ok])
    rejected = frame.loc[~ok, ["customer_id", "type", "occurred_at"]].assign(reason=reason[~ok])
    return clean.reset_index(drop=True), rejected.reset_index(drop=True)
