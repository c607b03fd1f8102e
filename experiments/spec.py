"""Experiment specifications: what an experiment is, independent of where it is configured.

These frozen dataclasses mirror ``connector.config.ExperimentConfig`` and ``HoldoutConfig``
field for field, so the connector can build them with
``ExperimentSpec(**cfg.model_dump())`` and ``HoldoutSpec(**cfg.holdout.model_dump())``:
arms may arrive as mappings, lists become tuples and ISO date strings become dates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime

#: Arm recorded for customers in the global holdout. Reserved: no experiment arm may use it.
HOLDOUT_ARM = "holdout"

#: Metrics the analysis knows how to build from the outcomes table.
KNOWN_METRICS = ("conversion", "revenue")


@dataclass(frozen=True)
class ArmSpec:
    """One arm: its name, its share of covered traffic, and whether it is the control."""

    name: str
    weight: float
    control: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("arm name must not be empty")
        if self.name == HOLDOUT_ARM:
            raise ValueError(f"arm name {HOLDOUT_ARM!r} is reserved for the global holdout")
        if not (0 < self.weight <= 1):
            raise ValueError(f"arm {self.name!r}: weight must be in (0, 1] (got {self.weight!r})")



_ARM_FIELDS = frozenset(f.name for f in fields(ArmSpec))

@dataclass(frozen=True)
class HoldoutSpec:
    """The global holdout: ``share`` of all customers, chosen by hashing on its own ``seed``."""

    share: float = 0.0
    seed: str = "segsync-global-holdout"

    def __post_init__(self) -> None:
        if not (0 <= self.share < 1):
            raise ValueError(f"holdout share must be in [0, 1) (got {self.share!r})")
        if not self.seed:
            raise ValueError("holdout seed must not be empty")


def _to_date(value: date | str | None, name: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"{name} must be an ISO date (got {value!r})") from None


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment.

    ``key`` is the GrowthBook tracking key and the hash seed; ``segments`` are the target
    segment ids (empty means every segment); ``coverage`` is the share of each segment
    enrolled (raise it to ramp up; nobody assigned moves); ``start``/``end`` bound the days
    (inclusive, UTC) on which new customers are assigned. The control is the arm flagged
    ``control``, else the first arm (GrowthBook's variation 0).
    """

    key: str
    arms: tuple[ArmSpec, ...]
    segments: tuple[str, ...] = ()
    coverage: float = 1.0
    start: date | None = None
    end: date | None = None
    metrics: tuple[str, ...] = KNOWN_METRICS
    conversion_window_days: int = 30
    cuped_days: int = 90
    revenue_cap_quantile: float | None = 0.99
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        # A mapping (a config dump) may carry what only the connector uses (an arm's `offers`
        # source): the assignment needs name, weight and control.
        arms = tuple(a if isinstance(a, ArmSpec) else ArmSpec(**{k: v for k, v in dict(a).items() if k in _ARM_FIELDS})
                     for a in self._as_seq(self.arms))
        set_ = object.__setattr__
        set_(self, "arms", arms)
        set_(self, "segments", tuple(str(s) for s in self._as_seq(self.segments)))
        set_(self, "metrics", tuple(self._as_seq(self.metrics)))
        set_(self, "start", _to_date(self.start, "start"))
        set_(self, "end", _to_date(self.end, "end"))
        set_(self, "_names", tuple(a.name for a in arms))
        self._validate()

    @staticmethod
    def _as_seq(value: object) -> tuple:
        if isinstance(value, str | Mapping):
            return (value,)
        return tuple(value)  # type: ignore[arg-type]

    def _validate(self) -> None:
        where = f"experiment {self.key!r}"
        if not self.key:
            raise ValueError("experiment key must not be empty")
        if len(self.arms) < 2:
            raise ValueError(f"{where}: needs at least two arms")
        if len(set(self._names)) != len(self._names):
            raise ValueError(f"{where}: arm names must be unique (got {list(self._names)})")
        total = sum(a.weight for a in self.arms)
        if not 0.99 <= total <= 1.01:
            # The same tolerance GrowthBook's getBucketRanges applies before falling back.
            raise ValueError(f"{where}: arm weights must sum to 1 (got {total:g})")
        if sum(a.control for a in self.arms) > 1:
            raise ValueError(f"{where}: at most one arm may be the control")
        if not (0 < self.coverage <= 1):
            raise ValueError(f"{where}: coverage must be in (0, 1] (got {self.coverage!r})")
        unknown = sorted(set(self.metrics) - set(KNOWN_METRICS))
        if unknown:
            raise ValueError(f"{where}: unknown metrics {unknown} (known: {list(KNOWN_METRICS)})")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"{where}: end {self.end} is before start {self.start}")
        if self.conversion_window_days < 1 or self.cuped_days < 0:
            raise ValueError(f"{where}: conversion_window_days must be >= 1 and cuped_days >= 0")
        q = self.revenue_cap_quantile
        if q is not None and not (0 < q <= 1 and math.isfinite(q)):
            raise ValueError(f"{where}: revenue_cap_quantile must be in (0, 1] (got {q!r})")

    @property
    def arm_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(a.weight for a in self.arms)

    @property
    def control(self) -> str:
        """Name of the control arm."""
        return next((a.name for a in self.arms if a.control), self.arms[0].name)

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(n for n in self._names if n != self.control)

    def is_running(self, at: datetime | date) -> bool:
        """Whether new customers may be assigned at ``at`` (start and end days inclusive)."""
        day = at.date() if isinstance(at, datetime) else at
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)
