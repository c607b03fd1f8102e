"""The transport's clock: monotonic seconds and a sleep, injectable so tests never sleep.

Everything that waits (retry backoff, rate-limit pacing, token lifetimes) reads time from a
`Clock`. Production uses `SystemClock`; tests use `ManualClock`, whose `sleep` just moves its
time forward and records the wait, so a test can assert "waited 10 s" without waiting.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


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
