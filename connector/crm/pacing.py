"""Pacing: keep under a CRM's request rate, and back off for everyone when it says so.

A `RollingWindowPacer` grants at most `limit` request slots in any `window` seconds (HubSpot:
190 per 10 s rolling; its search endpoint: 4 per 1 s). Slots are reserved under a lock and
waited for outside it, so threads of a concurrent push share one budget without holding the
lock while they sleep. `penalize(seconds)` blocks every later slot until that time has passed:
the transport calls it when a 429 arrives, so the other threads stop too instead of each
collecting its own 429.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from connector.crm.clock import Clock, SystemClock


class Pacer(Protocol):
    """Something that makes a request wait for its turn."""

    def acquire(self) -> float:
        """Wait for a slot; return the seconds waited."""
        ...

    def penalize(self, seconds: float) -> None:
        """Grant no slot for the next `seconds` (the server asked us to slow down)."""
        ...


class Unpaced:
    """No rate limit (Salesforce has none per second, only a daily total)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._blocked_until = float("-inf")

    def acquire(self) -> float:
        with self._lock:
            wait = max(0.0, self._blocked_until - self._clock.now())
        if wait:
            self._clock.sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock.now() + seconds)

class RollingWindowPacer:
    """At most `limit` slots in any `window` seconds, slots in order of request.

    Invariant: each granted slot time is >= the slot `limit` places earlier plus `window`,
    so no window of that length ever holds more than `limit` requests.
    """

    def __init__(self, limit: int, window: float, clock: Clock | None = None) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"a rate needs limit >= 1 and window > 0 (got {limit} per {window} s)")
        self.limit = limit
        self.window = window
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._slots: deque[float] = deque(maxlen=limit)
        self._blocked_until = float("-inf")

    def _reserve(self) -> tuple[float, float]:
        with self._lock:
            now = self._clock.now()
            slot = max(now, self._blocked_until)
            if len(self._slots) == self.limit:
                slot = max(slot, self._slots[0] + self.window)
            self._slots.append(slot)
            return slot, now

    def acquire(self) -> float:
        slot, now = self._reserve()
        wait = slot - now
        if wait > 0:
            self._clock.sleep(wait)
            return wait
        return 0.0

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock.now() + seconds)

    def observe_remaining(self, remaining: int) -> int:
        """Take in the server's count of requests left in its window (HubSpot sends it on
        every reply). When it is lower than ours, other clients share the limit (another
        integration, an earlier process): book their slots now so we wait instead of meeting a
        429 and its whole-window penalty. Returns the slots booked.

        A reply counted its own request at the server, and every request we sent since is
        already in our count, so a stale reply can only make the server look freer than ours,
        never busier: booking is conservative.
        """
        with self._lock:
            now = self._clock.now()
            ours = sum(1 for slot in self._slots if slot > now - self.window)
            missing = (self.limit - ours) - max(int(remaining), 0)
            for _ in range(max(missing, 0)):
                # after the last slot, so slots stay in order and the invariant holds
                self._slots.append(max(now, self._slots[-1]) if self._slots else now)
            return max(missing, 0)
