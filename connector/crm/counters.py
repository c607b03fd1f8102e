"""Request counting, for metrics and for the call-count benchmarks.

Every request the transport sends is counted once per attempt by (crm, kind, method,
status), where `kind` names the API call ("query", "collections_upsert", "auth", ...) and
`status` is the HTTP status or "timeout" / "connection_error". Listeners (the daemon's
Prometheus metrics) are called with each observation as it happens.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestObservation:
    crm: str
    kind: str
    method: str
    status: str
    seconds: float


Listener = Callable[[RequestObservation], None]


class RequestCounter:
    """Thread-safe request counts with listeners; one may be shared by several transports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every later observation (from the requesting thread)."""
        with self._lock:
            self._listeners.append(listener)

    def record(self, obs: RequestObservation) -> None:
        with self._lock:
            self._counts[(obs.crm, obs.kind, obs.method, obs.status)] += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(obs)

    def total(
        self,
        *,
        crm: str | None = None,
        kind: str | None = None,
        method: str | None = None,
        status: str | None = None,
    ) -> int:
        """Requests matching every given label."""
        with self._lock:
            items = list(self._counts.items())
        want = (crm, kind, method, status)
        return sum(n for key, n in items if all(w is None or w == k for w, k in zip(want, key, strict=True)))

    def by_kind(self, crm: str | None = None) -> dict[str, int]:
        """Requests per kind (all statuses), e.g. {"query": 3, "collections_upsert": 50}."""
        out: Counter[str] = Counter()
        with self._lock:
            for (c, kind, _m, _s), n in self._counts.items():
                if crm is None or c == crm:
                    out[kind] += n
        return dict(out)

    def snapshot(self) -> dict[tuple[str, str, str, str], int]:
        """All counts keyed by (crm, kind, method, status)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
