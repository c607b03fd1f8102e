"""Who may call the API, and how often: API keys by scope, and a token bucket per key.

The key ring caches the active keys' hashes and re-reads them every `refresh_seconds`, so a
revoked key stops working within that time without a database read per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.state import StateStore
from connector.state.api_keys import verify_token


class KeyRing:
    def __init__(self, store: StateStore, refresh_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._active: dict[str, tuple[str, frozenset[str]]] = {}
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def check(self, authorization: str | None) -> tuple[str, frozenset[str]] | None:
        """(key_id, scopes) for a valid `Bearer KEY` header, else None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        now = self.clock()
        if now - self._read_at >= self.refresh_seconds:
            with self._lock:
                if now - self._read_at >= self.refresh_seconds:
                    self._active = self.store.api_keys.active_hashes()
                    self._read_at = now
        return verify_token(token.strip(), self._active)


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key: `rate` tokens a second, at most `burst` banked."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """0 when the request may go ahead, else the seconds to wait before one would."""
        now = self.clock()
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(float(self.burst), now)
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            b.at = now
            if b.tokens >= cost:
                b.tokens -= cost
                return 0.0
            return (cost - b.tokens) / self.rate
