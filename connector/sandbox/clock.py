"""The sandbox's clock: real time by default, or simulated time that advances by days.

Both emulators and the population simulator read the time from one SandboxClock, so records
created on simulated day 12 carry day 12's timestamps (SystemModstamp, lastmodifieddate,
CloseDate), and token lifetimes and rate-limit windows can be tested without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """A thread-safe clock. `frozen=False` follows the wall clock from an offset."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = True) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        wall = datetime.now(UTC)
        self._offset = (start - wall) if start is not None else timedelta(0)
        self._fixed = start or wall

    def now(self) -> datetime:
        """The current (possibly simulated) time, in UTC."""
        with self._lock:
            if self._frozen:
                return self._fixed
            return datetime.now(UTC) + self._offset

    def advance(self, *, days: float = 0, seconds: float = 0) -> datetime:
        """Move time forward (never back); returns the new now()."""
        if days < 0 or seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        step = timedelta(days=days, seconds=seconds)
        with self._lock:
            if self._frozen:
                self._fixed += step
                return self._fixed
            self._offset += step
            return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        """Seconds on this clock, for rate-limit windows and token lifetimes."""
        return self.now().timestamp()


class TransportClock:
    """The HTTP transport's clock (connector.crm.clock.Clock: now, sleep) on a SandboxClock.

    A connector's backoff and pacing then move simulated time instead of sleeping, so tests and
    simulations against the sandbox never wait, and rate-limit windows still pass.
    """

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.slept = 0.0

    def now(self) -> float:
        return self.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self.clock.advance(seconds=seconds)
