"""The org's daily API request allocation: a rolling 24 h window on the sandbox clock.

Every REST reply carries `Sforce-Limit-Info: api-usage=N/M; api-bursts=x/y` [REST API
Developer Guide, Limit Info Header]: api-bursts counts the times this month the org was let
past its daily limit, out of a monthly entitlement. Past Max (+ `burst_allowance` calls
once a burst is granted) a request is refused with 403
[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}].
"""

from __future__ import annotations

import threading
from collections import deque

from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce.wire import ApiError, sf_error

WINDOW_MINUTES = 24 * 60


class ApiLimits:
    def __init__(self, clock: SandboxClock, daily_max: int, *, burst_entitlement: int = 750,
                 burst_allowance: int = 0) -> None:
        if daily_max <= 0:
            raise ValueError("daily_api_limit must be > 0")
        self.clock = clock
        self.daily_max = daily_max
        self.burst_entitlement = burst_entitlement
        self.burst_allowance = burst_allowance
        self.bursts_used = 0
        self._in_burst = False
        self._buckets: deque[list[int]] = deque()  # [minute, count], oldest first
        self._used = 0
        self._lock = threading.Lock()
        self.bulk_query_jobs = 0

    def _expire(self, minute: int) -> None:
        while self._buckets and self._buckets[0][0] <= minute - WINDOW_MINUTES:
            self._used -= self._buckets.popleft()[1]
        if self._used < self.daily_max:
            self._in_burst = False

    def charge(self) -> None:
        """Count one API request, or raise the 403 when the allocation is spent."""
        minute = int(self.clock.monotonic() // 60)
        with self._lock:
            self._expire(minute)
            if self._used >= self.daily_max:
                if not self._in_burst and self.burst_allowance > 0 and \
                        self.bursts_used < self.burst_entitlement:
                    self._in_burst = True
                    self.bursts_used += 1
                if not self._in_burst or self._used >= self.daily_max + self.burst_allowance:
                    raise self.exceeded()
            if self._buckets and self._buckets[-1][0] == minute:
                self._buckets[-1][1] += 1
            else:
                self._buckets.append([minute, 1])
            self._used += 1

    def exceeded(self) -> ApiError:
        err = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        err.headers.append(("Sforce-Limit-Info", self.header()))
        return err

    @property
    def used(self) -> int:
        with self._lock:
            self._expire(int(self.clock.monotonic() // 60))
            return self._used

    def use(self, n: int) -> None:
        """Pretend `n` requests were already made now (other integrations share the org)."""
        minute = int(self.clock.monotonic() // 60)
        with self._lock:
            self._buckets.append([minute, n])
            self._used += n

    def header(self) -> str:
        return f"api-usage={self._used}/{self.daily_max}; " \
               f"api-bursts={self.bursts_used}/{self.burst_entitlement}"

    def body(self) -> dict:
        used = self.used
        return {
            "DailyApiRequests": {"Max": self.daily_max, "Remaining": max(0, self.daily_max - used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000,
                                     "Remaining": max(0, 10000 - self.bulk_query_jobs)},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "ConcurrentPerOrgLongTxn": {"Max": 10, "Remaining": 10},
        }
