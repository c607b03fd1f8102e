"""The transport's clock: monotonic seconds and a sleep, injectable so tests never sleep.

Everything that waits (retry backoff, rate-limit pacing, token lifetimes) reads time from a
`Clock`. Production uses `SystemClock`; tests use `ManualClock`, whose `sleep` just moves its
time forward and records the wait, so a test can assert "waited 10 s" without waiting.
`ServerClock` is the other time a connector needs: the CRM's own wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from connector.cursor import Cursor

#: HTTP dates have whole seconds.
DATE_RESOLUTION = timedelta(seconds=1)


class Clock(Protocol):
    """Monotonic seconds and a way to wait."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: `time.monotonic` and `time.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """Simulated time: `sleep` advances `now` at once and is recorded in `sleeps`.

    Thread-safe. With several threads each sleeping thread moves the shared time forward, so
    concurrent waits add up rather than overlap: good enough for counting calls and asserting
    that a wait happened, not for measuring throughput.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._now += seconds

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing elsewhere)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += seconds


class ServerClock:
    """The CRM's wall-clock time, which bounds where a pull cursor may go (connector.cursor).

    `now`, when injected (tests: the sandbox's clock), is the answer. Otherwise the `Date`
    header of the last reply `observe` saw, plus the time `clock` says has passed since (so a
    connector that lives across runs does not fall behind); the header has whole seconds, so
    the estimate errs early, the safe side. Before any reply: this machine's UTC clock.
    """

    def __init__(self, now: Callable[[], datetime] | None = None, clock: Clock | None = None) -> None:
        self._now = now
        self._clock: Clock = clock or SystemClock()
        self._seen: tuple[datetime, float] | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        known = self.known()
        return known if known is not None else datetime.now(UTC)

    def known(self) -> datetime | None:
        """The CRM's time if injected or seen in a reply; None before any reply."""
        if self._now is not None:
            return self._now()
        with self._lock:
            seen = self._seen
        if seen is None:
            return None
        return seen[0] + timedelta(seconds=max(0.0, self._clock.now() - seen[1]))

    def stamp(self, at: Cursor) -> Cursor:
        """`at` with its scan's start: kept when known, else (the time was unknown before the
        scan's first call) that call's reply time less the Date header's one-second resolution,
        so the start is never later than the CRM's clock was when the scan began."""
        if at.scan is None or at.scan.started_at is not None:
            return at
        return at.scanning(at.scan.query, at.scan.position, self.now() - DATE_RESOLUTION)

    def observe(self, response: httpx.Response) -> None:
        """Take the time from a reply's `Date` header, when it has a valid one."""
        date = response.headers.get("Date")
        if not date:
            return
        try:
            moment = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            return
        if moment.tzinfo is not None:
            with self._lock:
                self._seen = (moment, self._clock.now())
