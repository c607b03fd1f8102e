"""HubSpot's rate limits, on the sandbox clock.

- A 10-second rolling window per account: 100 (Free/Starter) or 190 (Pro/Enterprise)
  requests for private apps and service keys; 110 per OAuth app (reference §B6).
- A daily cap for service keys, reset at midnight in the account's time zone (UTC here);
  OAuth calls have no daily limit and get no Daily headers
  (HubSpot changelog "Rate limit headers will now appear for OAuth authenticated calls").
- Search has its own per-second limit (4/s per token) and answers "secondly limit".
Over a limit: 429 with errorType RATE_LIMIT and policyName, and no Retry-After header
(it is not always present in reality, reference §B6).
"""

from __future__ import annotations

import threading
from collections import deque

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot.errors import ApiError, CorrelationIds

WINDOW_SECONDS = 10.0


class RateLimiter:
    """Admits or refuses one request; `enabled=False` admits everything (benchmarks)."""

    def __init__(self, clock: SandboxClock, ids: CorrelationIds, *, tier_requests_per_10s: int,
                 oauth_requests_per_10s: int, daily_limit: int, search_requests_per_second: int,
                 portal_id: int, enabled: bool = True) -> None:
        self.clock = clock
        self.ids = ids
        self.enabled = enabled
        self.portal_id = portal_id
        self.max_per_window = {"static": tier_requests_per_10s, "oauth": oauth_requests_per_10s}
        self.daily_limit = daily_limit
        self.search_per_second = search_requests_per_second
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {"static": deque(), "oauth": deque()}
        self._search: deque[float] = deque()
        self._day = ""
        self.daily_used = 0

    def admit(self, principal: str, *, search: bool) -> list[tuple[str, str]]:
        """Count the request, or raise the 429; returns the rate-limit headers to send."""
        if not self.enabled:
            return []
        now = self.clock.monotonic()
        with self._lock:
            self._roll_day()
            if principal == "static" and self.daily_used >= self.daily_limit:
                raise self._refusal("DAILY", "You have reached your daily limit.", principal)
            if search:
                _trim(self._search, now - 1.0)
                if len(self._search) >= self.search_per_second:
                    raise self._refusal("SECONDLY", "You have reached your secondly limit.", principal)
                self._search.append(now)
            else:
                window = self._windows[principal]
                _trim(window, now - WINDOW_SECONDS)
                if len(window) >= self.max_per_window[principal]:
                    raise self._refusal("TEN_SECONDLY_ROLLING",
                                        "You have reached your ten_secondly_rolling limit.", principal)
                window.append(now)
            if principal == "static":
                self.daily_used += 1
            # The search endpoints don't send the standard rate-limit headers.
            return [] if search else self._headers(principal)

    def use(self, n: int) -> None:
        """Pretend `n` calls were already made today (other apps share the account's budget)."""
        with self._lock:
            self._roll_day()
            self.daily_used += n

    def _roll_day(self) -> None:
        day = self.clock.now().date().isoformat()
        if day != self._day:
            self._day = day
            self.daily_used = 0

    def _headers(self, principal: str) -> list[tuple[str, str]]:
        limit = self.max_per_window[principal]
        used = len(self._windows[principal])
        headers = [
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(WINDOW_SECONDS * 1000))),
            ("X-HubSpot-RateLimit-Max", str(limit)),
            ("X-HubSpot-RateLimit-Remaining", str(max(0, limit - used))),
            ("X-HubSpot-RateLimit-Secondly", str(limit // 10)),
            ("X-HubSpot-RateLimit-Secondly-Remaining", str(max(0, limit // 10 - self._last_second(principal)))),
        ]
        if principal == "static":
            headers[:0] = [("X-HubSpot-RateLimit-Daily", str(self.daily_limit)),
                           ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.daily_limit - self.daily_used)))]
        return headers

    def _last_second(self, principal: str) -> int:
        cutoff = self.clock.monotonic() - 1.0
        return sum(1 for t in self._windows[principal] if t > cutoff)

    def _refusal(self, policy: str, message: str, principal: str) -> ApiError:
        body = {"status": "error", "message": message, "errorType": "RATE_LIMIT",
                "correlationId": self.ids.next(), "policyName": policy,
                "groupName": f"{'oauth' if principal == 'oauth' else 'private-apps'}:{self.portal_id}"}
        headers = [] if policy == "SECONDLY" else self._headers(principal)
        return ApiError(429, body, headers)

    def refusal_body(self) -> dict:
        """The body of an injected 429 (the fault injector's, not a counted one)."""
        return self._refusal("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.",
                             "static").body or {}


def _trim(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()
